"""Reading an index: one generation opened read-only, and a handle that follows CURRENT.

`open_index` is what answering code uses; it never sees files or Chroma directly.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from index.docstore import ArticleRecord, DocStore, PassageRecord, SentenceRecord
from index.lexical import Lexical
from index.settings import Settings
from index.store import (
    BM25,
    DOCSTORE,
    ChromaTarget,
    IndexDir,
    IndexMissingError,
    IndexProblem,
    StoreUnavailableError,
    damaged,
    out_of_step,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexStatus:
    location: str
    articles: int
    passages: int
    sentences: int
    model: str
    built_at: str | None
    generation: str
    newest_published: str | None
    store: str


class Snapshot:
    """One complete generation, read-only: dense search, BM25, texts and sentences."""

    def __init__(self, path: Path, location: Path, target: ChromaTarget | None = None) -> None:
        self.path = path
        self.location = location
        self.target = target or ChromaTarget()
        try:
            self.docs = DocStore(path / DOCSTORE, readonly=True)
            self.meta = self.docs.get_meta()
            self.docs.counts()
        except Exception as exc:
            raise damaged(location, f"document store: {exc}") from None
        if "model_slug" not in self.meta:
            raise damaged(location, "document store has no build record")
        built_with = self.meta.get("store", "embedded")
        if built_with != (self.target.url or "embedded"):
            raise IndexProblem(
                f"the index in {location} was built for the {built_with} store, but the "
                f"settings name {self.target.url or 'the embedded store'}; run `newsqa index`"
            )
        self._lock = threading.Lock()

    @property
    def model(self) -> str:
        return self.meta["model"]

    def status(self) -> IndexStatus:
        articles, passages, sentences = self.docs.counts()
        return IndexStatus(
            location=str(self.location),
            articles=articles,
            passages=passages,
            sentences=sentences,
            model=self.model,
            built_at=self.meta.get("built_at"),
            generation=self.path.name,
            newest_published=self.docs.newest_published(),
            store=self.target.url or "embedded",
        )

    @cached_property
    def lexical(self) -> Lexical:
        try:
            lexical = Lexical.load(self.path / BM25)
        except Exception as exc:
            raise damaged(self.location, f"BM25 files: {exc}") from None
        self._check_count("BM25", len(lexical.ids))
        return lexical

    @property
    def collection(self) -> str:
        return self.target.collection_name(self.meta["model_slug"], self.path)

    @cached_property
    def _vectors(self) -> Any:
        """This generation's collection as a LangChain `Chroma` vector store."""
        from langchain_chroma import Chroma

        name = self.collection
        try:
            client = self.target.client(self.path)
            stored = client.get_collection(name).count()
            vectors = Chroma(
                client=client, collection_name=name, create_collection_if_not_exists=False
            )
        except Exception as exc:
            raise self.target.problem(exc, self.location, name) from None
        self._check_count("Chroma", stored)
        return vectors

    def _check_count(self, part: str, stored: int) -> None:
        """A part holding another number of passages than the document store: out of step."""
        with self._lock:
            expected = self.docs.counts()[1]
        if stored != expected:
            raise out_of_step(
                self.location, f"{part} holds {stored} passages, the document store {expected}"
            )

    def dense_search(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """Top `k` passage ids by cosine similarity to `vector`."""
        store = self._vectors
        try:
            with self._lock:
                hits = store.similarity_search_by_vector_with_relevance_scores(
                    vector.tolist(), k=k
                )
        except Exception as exc:
            raise self.target.problem(exc, self.location, self.collection) from None
        # Chroma reports cosine distance; callers get similarity.
        return [(doc.id, 1.0 - float(distance)) for doc, distance in hits]

    def reachable(self) -> bool:
        """Whether the vector store answers (for `newsqa status --json`)."""
        try:
            _ = self._vectors
        except IndexProblem:
            return False
        return True

    def lexical_search(self, query: str, k: int) -> list[tuple[str, float]]:
        return self.lexical.search(query, k)

    def passages(self, ids: Sequence[str]) -> dict[str, PassageRecord]:
        with self._lock:
            return self.docs.passages(ids)

    def sentences_in(self, passages: Sequence[PassageRecord]) -> list[SentenceRecord]:
        with self._lock:
            return self.docs.sentences_in(passages)

    def articles(self, ids: Sequence[str]) -> dict[str, ArticleRecord]:
        with self._lock:
            return self.docs.articles(ids)

    def warm(self) -> None:
        """Open everything now rather than on the first question.

        A vector store out of reach is not fatal: questions are answered from BM25 until
        it is back (see `bot.retrieve`).
        """
        _ = self.lexical
        try:
            _ = self._vectors
        except StoreUnavailableError as exc:
            log.warning("%s; answering from BM25 alone until it is back", exc)


def open_snapshot(index_dir: Path, target: ChromaTarget | None = None) -> Snapshot:
    """The current generation of the index in `index_dir`."""
    current = IndexDir(index_dir).current()
    if current is None:
        raise IndexMissingError(f"no index in {index_dir}; build one with `newsqa index`")
    return Snapshot(current, index_dir, target)


class IndexHandle:
    """Follows `CURRENT`: long-running front-ends see a new build on their next question."""

    def __init__(self, settings: Settings) -> None:
        self.index_dir = settings.index_dir
        self.target = ChromaTarget.from_settings(settings)
        self._dir = IndexDir(settings.index_dir)
        self._stamp: tuple[int, int] | None = None
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()

    def get(self) -> Snapshot:
        stamp = self._dir.pointer_stamp()
        with self._lock:
            if self._snapshot is None or stamp != self._stamp:
                snapshot = open_snapshot(self.index_dir, self.target)
                self._snapshot, self._stamp = snapshot, stamp
            return self._snapshot


def index_status(settings: Settings) -> IndexStatus:
    return open_snapshot(settings.index_dir, ChromaTarget.from_settings(settings)).status()
