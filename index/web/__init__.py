"""Following news on the web: `fetch` gets pages and feeds over HTTP safely (only public
addresses, bounded size and time, a per-host concurrency limit), `page` turns a fetched
page into an article file that the index loader reads, `feeds` keeps the subscriptions
and their state, `links` remembers which link became which file, `follow` runs `add` and
`refresh` (and updates the index once), and `cli` is their command line. Nothing is
imported here, so `import newsqa.index.web` costs nothing.
"""
