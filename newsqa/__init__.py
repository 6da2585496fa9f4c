"""newsqa: question answering over news articles, with a citation for every claim.

The repository's top-level folders install under this package: `bot/` as `newsqa.bot`
(answering and the front-ends), `index/` as `newsqa.index` (articles in, the index out)
and `prompts/` as `newsqa.prompts` (every text a model or a user reads). What belongs to
the whole application, not to one layer, lives here: `newsqa.settings`.
"""
