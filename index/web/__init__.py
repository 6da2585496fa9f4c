"""Following news on the web: `fetch` gets pages and feeds over HTTP safely (only public
addresses, bounded size and time, a per-host concurrency limit), and `page` turns a fetched
page into an article file that the index loader reads. Nothing is imported here, so
`import newsqa.index.web` costs nothing; import `newsqa.index.web.fetch` or
`newsqa.index.web.page` directly.
"""
