"""newsqa: question answering over news articles, with a citation for every claim.

The repository's top-level folders install under this package: `bot/` as `newsqa.bot`
(answering and the front-ends), `index/` as `newsqa.index` (articles in, the index out)
and `prompts/` as `newsqa.prompts` (every text a model or a user reads). What belongs to
the whole application, not to one layer, lives here: `newsqa.settings`, and the two
pieces a LangChain app can use (`bot/library.py`):

- `newsqa.retriever(settings)`: a `BaseRetriever` over the hybrid retrieval;
- `newsqa.answerer(settings)`: the verified answerer as a Runnable, `Question` in,
  `Answer` out.

Importing `newsqa` loads neither LangChain nor any model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from langchain_core.runnables import Runnable

    from newsqa.bot.answer import Answer
    from newsqa.bot.library import NewsRetriever, Question
    from newsqa.index import Embedder
    from newsqa.settings import Settings


def _settings(settings: Settings | None) -> Settings:
    if settings is not None:
        return settings
    from newsqa.settings import load_settings

    return load_settings()


def retriever(
    settings: Settings | None = None, *, embedder: Embedder | None = None, k: int | None = None
) -> NewsRetriever:
    """A LangChain `BaseRetriever` over the index `settings` names (None: the environment
    and `.env`). Its `Document`s hold the passage text verbatim, and in their metadata the
    article's id, title, url, published date and source, the passage's `start`/`end`
    offsets into the article text, and its scores (`score`: fused; `dense_score`,
    `lexical_score`: None when that search did not find it). `k`: passages returned
    (default: the `top_k` setting)."""
    from newsqa.bot.library import build_retriever

    return build_retriever(_settings(settings), embedder, k)


def answerer(
    settings: Settings | None = None, *, embedder: Embedder | None = None
) -> Runnable[Question, Answer]:
    """The answerer as a Runnable: a `newsqa.bot.library.Question` (question, optional
    conversation and id; a dict or a plain string also do) in, the `Answer` out, with
    `invoke`, `batch`, `stream` and their async forms."""
    from newsqa.bot.library import build_answer_runnable

    return build_answer_runnable(_settings(settings), embedder)


def __getattr__(name: str) -> object:
    """`newsqa.Question`, the answerer's input type, imported on first use."""
    if name == "Question":
        from newsqa.bot.library import Question

        return Question
    raise AttributeError(f"module 'newsqa' has no attribute {name!r}")
