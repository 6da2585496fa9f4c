"""newsqa inside someone else's LangChain app: the hybrid retriever as a `BaseRetriever`,
and the answerer as a typed Runnable (`Question` in, `Answer` out).

`newsqa.retriever(settings)` and `newsqa.answerer(settings)` build them; nothing here
runs at import time, and LangChain is imported only when one is built.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import BaseModel, ConfigDict

from newsqa.bot.answer import Answer
from newsqa.bot.question import clean_question
from newsqa.bot.retrieve import Candidate, Retrieval, asks_for_recent, retrieve
from newsqa.index import Embedder, IndexCorruptError, IndexHandle
from newsqa.settings import Settings

if TYPE_CHECKING:
    from langchain_core.runnables import Runnable, RunnableConfig

    from newsqa.bot.chain import Answerer


class Question(BaseModel):
    """The answerer's input: a question, and optionally the conversation it belongs to
    (a follow-up is read against that conversation's previous answers)."""

    question: str
    conversation: str | None = None
    id: str | None = None  # echoed in the Answer


def document(candidate: Candidate) -> Document:
    """One retrieved passage as a LangChain `Document`: the passage text verbatim
    (`article_text[start:end]`), its article and its scores in the metadata. Every key is
    always there; a score the passage did not get (not among the dense or BM25 hits) is
    None."""
    passage, article = candidate.passage, candidate.article
    return Document(
        id=passage.id,
        page_content=candidate.text,
        metadata={
            "article_id": article.id,
            "title": article.title,
            "url": article.url,
            "published": article.published,
            "source": article.source,
            "passage_id": passage.id,
            "start": passage.start,
            "end": passage.end,
            "rank": candidate.rank,
            "score": candidate.fused,
            "dense_score": candidate.dense,
            "lexical_score": candidate.lexical,
        },
    )


class NewsRetriever(BaseRetriever):
    """newsqa's hybrid retrieval (dense + BM25, fused by reciprocal rank, near-duplicates
    collapsed, newer articles raised for "latest" questions) over the current index."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    settings: Settings
    index: IndexHandle
    embedder: Embedder
    k: int | None = None  # passages returned; None: the settings' `top_k`

    def search(self, query: str) -> Retrieval:
        """The project's own `Retrieval` for `query` (cleaned as questions are)."""
        query = clean_question(query, self.settings.max_question_chars)
        vector = self.embedder.embed_query(query)
        s = self.settings
        args = (vector, query, self.k or s.top_k, max(s.candidates_k, self.k or 0), s.rrf_k)
        recent = asks_for_recent(query)
        with self.index.lease() as snapshot:
            try:
                return retrieve(snapshot, *args, recent=recent)
            except IndexCorruptError:
                if not self.index.superseded(snapshot):
                    raise
        with self.index.lease() as snapshot:  # a build replaced it mid-search: the new one
            return retrieve(snapshot, *args, recent=recent)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return [document(c) for c in self.search(query).candidates]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        return await asyncio.to_thread(
            self._get_relevant_documents, query, run_manager=run_manager.get_sync()
        )


def _opened(settings: Settings, embedder: Embedder | None) -> tuple[IndexHandle, Embedder]:
    from newsqa.bot.components import open_index

    return open_index(settings, embedder)


def build_retriever(
    settings: Settings, embedder: Embedder | None = None, k: int | None = None
) -> NewsRetriever:
    """The retriever over the index `settings` names; raises `IndexMissingError`,
    `IndexCorruptError` or `IndexProblem` (one-line messages) when it cannot be used."""
    index, embedder = _opened(settings, embedder)
    return NewsRetriever(settings=settings, index=index, embedder=embedder, k=k)


def _question(value: Question | Mapping[str, Any] | str) -> Question:
    if isinstance(value, Question):
        return value
    if isinstance(value, str):
        return Question(question=value)
    return Question.model_validate(value)


def answer_runnable(answerer: Answerer) -> Runnable[Question, Answer]:
    """`answerer` as a Runnable named "newsqa": a `Question` (or a dict of its fields, or
    a plain string) in, the `Answer` out. `invoke`, `batch` (questions in parallel, the
    answerer is thread-safe), `stream` (one chunk: the Answer) and their async forms;
    under tracing or `astream_events` its five steps appear as its children."""
    from langchain_core.runnables import RunnableLambda

    def newsqa(value: Question, config: RunnableConfig) -> Answer:
        asked = _question(value)
        return answerer.run(asked.question, asked.conversation, asked.id, config=config)[0]

    return RunnableLambda(newsqa, name="newsqa").with_types(input_type=Question, output_type=Answer)


def build_answer_runnable(
    settings: Settings, embedder: Embedder | None = None
) -> Runnable[Question, Answer]:
    """The answerer `build_answerer(settings)` makes, as a typed Runnable."""
    from newsqa.bot.components import build_answerer

    return answer_runnable(build_answerer(settings, embedder=embedder))
