"""Reading an index: one generation opened read-only, and a handle that follows CURRENT.

Answering code leases the current `Snapshot` from an `IndexHandle` for the length of one
question (`with handle.lease() as snapshot:`); it never sees files or Chroma directly.
A snapshot replaced by a newer build is closed (SQLite and Chroma released) once the
last question still reading it has finished, so a long-running bot that rebuilds every
few minutes holds one or two generations open, never all of them.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from newsqa.index.audit import expected_counts
from newsqa.index.chroma import ChromaTarget, close_client
from newsqa.index.docstore import (
    BASE,
    DELTA,
    ArticleRecord,
    DocStore,
    PassageRecord,
    SentenceRecord,
)
from newsqa.index.errors import (
    IndexMissingError,
    IndexProblem,
    StoreUnavailableError,
    damaged,
    out_of_step,
)
from newsqa.index.generations import DOCSTORE, LEXICAL, IndexDir
from newsqa.index.lexical import Lexical
from newsqa.index.segments import segment_path
from newsqa.settings import Settings

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


RETRY_OPEN_S = 5.0  # after a failed open of the vector store, how long BM25 answers alone
OVERFETCH = 20  # extra hits asked of each part, for those the document store no longer holds
MAX_ASK = 2000  # the most hits asked of one vector segment for one search


class Snapshot:
    """One generation as it was when opened, read-only: dense search, BM25, texts and
    sentences.

    The document store is read in one read transaction, begun when the snapshot opens: its
    texts, passages and sentences stay those of that state. The vector segments and the
    lexical index, opened on first use, hold what they held then (a build never changes a
    named segment, and a tantivy searcher keeps its segments), give or take an update made
    meanwhile; the document store decides which of their hits are live: a search skips a
    passage it does not hold, or whose current vector it places in the other segment."""

    def __init__(self, path: Path, location: Path, target: ChromaTarget | None = None) -> None:
        self.path = path
        self.location = location
        self.target = target or ChromaTarget()
        try:
            self.docs = DocStore(path / DOCSTORE, readonly=True)
            # One read transaction for the snapshot's life: an update made in place after
            # it opened is not seen by the questions reading it (they see the old state or,
            # through a new snapshot, the new one; never a mix).
            self.docs.db.execute("BEGIN")
            self.meta = self.docs.get_meta()
            self._counted = self.docs.counts()
        except Exception as exc:
            raise damaged(location, f"document store: {exc}") from None
        if "model_slug" not in self.meta or not self.meta.get("vectors_base"):
            raise damaged(location, "document store has no build record")
        self.segments = [
            (kind, self.meta[key])
            for kind, key in ((BASE, "vectors_base"), (DELTA, "vectors_delta"))
            if self.meta.get(key)
        ]
        built_with = self.meta.get("store", "embedded")
        if built_with != (self.target.url or "embedded"):
            raise IndexProblem(
                f"the index in {location} was built for the {built_with} store, but the "
                f"settings name {self.target.url or 'the embedded store'}; run `newsqa index`"
            )
        self._lock = threading.RLock()  # the document store's connection, and closing
        self._lexical_lock = threading.Lock()  # loading BM25 once
        self._vectors_lock = threading.Lock()  # opening Chroma once
        self._vectors_failed: tuple[float, BaseException] | None = None
        self._clients: list[Any] = []
        self._store: dict[str, Any] | None = None  # segment kind → its Chroma collection
        self._lexical: Lexical | None = None
        self.users = 0  # questions reading it now (counted by `IndexHandle`)
        self.stamp: tuple[int, int] | None = None  # the pointer stamp it was opened under
        self.closed = False

    def close(self) -> None:
        """Release the document store and the Chroma client; the snapshot is unusable after."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            self.docs.close()
            clients, self._clients = self._clients, []
            self._store, self._lexical = None, None
        for client in clients:
            close_client(client)

    @property
    def model(self) -> str:
        return self.meta["model"]

    def status(self) -> IndexStatus:
        with self._lock:
            articles, passages, sentences = self.docs.counts()
            newest = self.docs.newest_published()
        return IndexStatus(
            location=str(self.location),
            articles=articles,
            passages=passages,
            sentences=sentences,
            model=self.model,
            built_at=self.meta.get("built_at"),
            generation=self.path.name,
            newest_published=newest,
            store=self.target.url or "embedded",
        )

    @property
    def lexical(self) -> Lexical:
        """The BM25 index, loaded once: questions on several threads share it."""
        if self._lexical is not None:
            return self._lexical
        with self._lexical_lock:
            if self._lexical is None:
                self._refuse_if_closed()
                try:
                    lexical = Lexical.open(self.path / LEXICAL)
                except Exception as exc:
                    raise damaged(self.location, f"lexical index: {exc}") from None
                with self._lock:
                    pending = bool(self.docs.lexical_pending())
                # An update still bringing it up to date, or one made since this snapshot
                # opened, may make it differ: only a difference nothing explains is damage.
                if not pending and self._version_now() == self.meta.get("version"):
                    self._check_count("the lexical index", lexical.count, "passages")
                self._lexical = lexical
            return self._lexical

    def _version_now(self) -> str | None:
        """The document store's version as committed now (outside this snapshot's read
        transaction)."""
        try:
            with DocStore(self.path / DOCSTORE, readonly=True) as now:
                return now.get_meta().get("version")
        except Exception:
            return None

    def follow(self, previous: Snapshot) -> None:
        """Open the vector segments now when the snapshot this one replaces had them open:
        its clients still hold the unchanged base loaded (clients of one database share
        it), so an update costs a reader the new delta, not a reload of the whole base."""
        if previous._store is None:
            return
        with contextlib.suppress(IndexProblem):  # opened on the first question instead
            _ = self._vectors

    def _refuse_if_closed(self) -> None:
        if self.closed:  # a replaced generation, closed once nobody leased it
            raise IndexProblem(f"{self.location}: this index generation was closed")

    @property
    def collection(self) -> str:
        """The base segment's collection (what error messages name)."""
        return self._collection_of(self.segments[0][1])

    def _collection_of(self, name: str) -> str:
        path = segment_path(self.path, name)
        return self.target.collection_name(self.meta["model_slug"], path)

    @property
    def _vectors(self) -> Any:
        """This generation's collection as a LangChain `Chroma` vector store, opened once:
        questions on several threads share it. Opening has its own lock, so a Chroma server
        that is slow to answer never holds up BM25 or the document store; a failed open is
        remembered for a few seconds, so questions meanwhile go to BM25 at once instead of
        queueing behind one connection attempt each."""
        if self._store is not None:
            return self._store
        with self._vectors_lock:
            if self._store is None:
                self._refuse_if_closed()
                failed = self._vectors_failed
                if failed is not None and time.monotonic() - failed[0] < RETRY_OPEN_S:
                    raise failed[1]
                try:
                    self._store = self._open_vectors()
                except IndexProblem as exc:
                    self._vectors_failed = (time.monotonic(), exc)
                    raise
                self._vectors_failed = None
            return self._store

    def _open_vectors(self) -> dict[str, Any]:
        """Open a client and the collection of each segment; clients that fail (the segment
        was retired before this first search) are closed at once. One used to stay
        referenced until the next attempt replaced it, and then never be closed: the deleted
        database stayed open, 4 descriptors each time (found by the soak test)."""
        clients: list[Any] = []
        stores: dict[str, Any] = {}
        name = self.collection
        try:
            for kind, segment in self.segments:
                name = self._collection_of(segment)
                if not clients or self.target.url is None:  # a server needs one client
                    clients.append(self.target.client(segment_path(self.path, segment)))
                collection = clients[-1].get_collection(name)
                self._check_count(f"Chroma segment {segment}", collection.count(), segment)
                stores[kind] = collection
        except BaseException as exc:
            for client in clients:
                close_client(client)
            if isinstance(exc, Exception):
                raise self.target.problem(exc, self.location, name) from None
            raise
        self._clients = clients
        return stores

    def _check_count(self, part: str, stored: int, key: str) -> None:
        """A part holding another number of entries than the build record: out of step."""
        expected = expected_counts(self.meta).get(key, 0)
        recorded = int(self.meta.get("passages", "0"))
        if self._counted[1] != recorded:  # the document store itself was changed by hand
            raise out_of_step(
                self.location,
                f"the document store holds {self._counted[1]} passages, its record {recorded}",
            )
        if stored != expected:
            raise out_of_step(
                self.location, f"{part} holds {stored}, the document store {expected}"
            )

    def _live(
        self, hits: list[tuple[str, float]], kind: str | None = None
    ) -> list[tuple[str, float]]:
        """The hits the document store holds now (with their vector in segment `kind`)."""
        with self._lock:
            live = self.docs.live([pid for pid, _ in hits], kind)
        return [(pid, score) for pid, score in hits if pid in live]

    def dense_search(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """Top `k` passage ids by cosine similarity to `vector`."""
        try:
            hits = self._query(vector, k)
        except IndexProblem:
            raise
        except Exception as first:
            if self.target.url:  # a server that fails is reported at once (BM25 answers)
                raise self.target.problem(first, self.location, self.collection) from None
            # An embedded client whose shared Chroma system was stopped under it (a build in this
            # process auditing the same database closed its own client on it): open a
            # fresh one and ask once more before calling the index damaged.
            log.warning("Chroma query failed (%s); reopening the client", first)
            self._reopen_vectors()
            try:
                hits = self._query(vector, k)
            except IndexProblem:
                raise
            except Exception as exc:
                raise self.target.problem(exc, self.location, self.collection) from None
        return hits[:k]

    def _query(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """Each segment's nearest live passages, merged by similarity. A segment is asked
        for more than `k`: some of its hits may be dead (deleted or replaced since); when
        too many were, it is asked again for more (dead vectors can cluster: a story
        whose old reports all left the index)."""
        stores = self._vectors
        merged: list[tuple[str, float]] = []
        for kind, store in stores.items():
            if not expected_counts(self.meta).get(dict(self.segments)[kind]):
                continue  # an empty delta (Chroma refuses to search an empty collection)
            ask = k + OVERFETCH
            while True:
                with self._lock:  # ids and distances only: documents are in the store
                    result = store.query(
                        query_embeddings=[vector.tolist()], n_results=ask, include=["distances"]
                    )
                found = list(zip(result["ids"][0], result["distances"][0], strict=True))
                # Chroma reports cosine distance; callers get similarity.
                live = self._live([(pid, 1.0 - float(d)) for pid, d in found], kind)
                if len(live) >= k or len(found) < ask or ask >= MAX_ASK:
                    break
                ask = min(MAX_ASK, ask * 4)
            merged += live
        merged.sort(key=lambda hit: -hit[1])
        return merged

    def _reopen_vectors(self) -> None:
        with self._vectors_lock:
            clients, self._clients, self._store = self._clients, [], None
        for client in clients:
            close_client(client)

    def reachable(self) -> bool:
        """Whether the vector store answers (for `newsqa status --json`)."""
        return self.store_problem() is None

    def store_problem(self) -> IndexProblem | None:
        """Why the vector store does not answer (its one-line error), or None when it does
        (for `newsqa health`)."""
        try:
            _ = self._vectors
        except IndexProblem as exc:
            return exc
        return None

    def lexical_search(self, query: str, k: int) -> list[tuple[str, float]]:
        ask = k + OVERFETCH
        while True:
            found = self.lexical.search(query, ask)
            live = self._live(found)
            if len(live) >= k or len(found) < ask or ask >= MAX_ASK:
                return live[:k]
            ask = min(MAX_ASK, ask * 4)

    def passages(self, ids: Sequence[str]) -> dict[str, PassageRecord]:
        with self._lock:
            return self.docs.passages(ids)

    def sentences_in(self, passages: Sequence[PassageRecord]) -> list[SentenceRecord]:
        with self._lock:
            return self.docs.sentences_in(passages)

    def articles(self, ids: Sequence[str]) -> dict[str, ArticleRecord]:
        with self._lock:
            return self.docs.articles(ids)

    def passage_vectors(self, article_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Each indexed article's passage vectors (unit length, one row per passage), read
        from the vector store: what topic watches compare a topic with."""

        with self._lock:
            owned = self.docs.passages_of(list(article_ids))
        ids = [pid for pids in owned.values() for pid in pids]
        if not ids:
            return {}
        stores = self._vectors
        by_id: dict[str, Any] = {}
        try:
            for kind, store in stores.items():
                with self._lock:
                    mine = sorted(self.docs.live(ids, kind))
                    got = store.get(ids=mine, include=["embeddings"]) if mine else None
                if got is not None:
                    by_id.update(zip(got["ids"], got["embeddings"], strict=True))
        except Exception as exc:
            raise self.target.problem(exc, self.location, self.collection) from None
        out = {}
        for article_id, pids in owned.items():
            rows = [by_id[p] for p in pids if p in by_id]
            if rows:
                matrix = np.asarray(rows, dtype=np.float32)
                norms = np.linalg.norm(matrix, axis=1, keepdims=True)
                out[article_id] = matrix / np.where(norms == 0, 1.0, norms)
        return out

    def newest(self, limit: int) -> list[ArticleRecord]:
        with self._lock:
            return self.docs.newest(limit)

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
        self._retired: list[Snapshot] = []
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def lease(self) -> Iterator[Snapshot]:
        """The current snapshot, kept open until the `with` block ends."""
        stamp = self._dir.pointer_stamp()
        with self._lock:
            if self._snapshot is None or stamp != self._stamp:
                snapshot = open_snapshot(self.index_dir, self.target)
                snapshot.stamp = stamp
                if self._snapshot is not None:
                    snapshot.follow(self._snapshot)
                    self._retired.append(self._snapshot)
                self._snapshot, self._stamp = snapshot, stamp
            snapshot = self._snapshot
            snapshot.users += 1
            self._close_idle()
        try:
            yield snapshot
        finally:
            with self._lock:
                snapshot.users -= 1
                self._close_idle()

    def _close_idle(self) -> None:
        """Close replaced snapshots that no question reads any more (under the lock)."""
        idle = [s for s in self._retired if s.users == 0]
        self._retired = [s for s in self._retired if s.users > 0]
        for snapshot in idle:
            snapshot.close()

    def status(self) -> IndexStatus:
        with self.lease() as snapshot:
            return snapshot.status()

    def superseded(self, snapshot: Snapshot) -> bool:
        """Whether a newer build or update has replaced `snapshot` (its vector segments may
        then be gone already: a question that failed on it deserves one more try)."""
        return self._dir.pointer_stamp() != snapshot.stamp

    def articles(self, ids: Sequence[str]) -> dict[str, ArticleRecord]:
        with self.lease() as snapshot:
            return snapshot.articles(ids)

    @property
    def open_generations(self) -> int:
        """Generations this handle holds open: the current one and those still being read."""
        with self._lock:
            return len(self._retired) + (self._snapshot is not None)

    def close(self) -> None:
        """Close every snapshot (at shutdown)."""
        with self._lock:
            for snapshot in [*self._retired, *([self._snapshot] if self._snapshot else [])]:
                snapshot.close()
            self._retired, self._snapshot, self._stamp = [], None, None


def index_status(settings: Settings) -> IndexStatus:
    return open_snapshot(settings.index_dir, ChromaTarget.from_settings(settings)).status()
