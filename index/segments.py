"""Vector segments: how a generation's vectors are kept so that an update costs what changed.

A generation's passage vectors live in two Chroma segments:

- the **base**, written whole by a full build or a compaction and never changed after;
- the **delta**, holding every passage added or changed since the base was written.

An update writes a new delta beside the old one (the old delta's vectors, less those of the
articles it removes or replaces, plus the new ones: the cost of the delta, never of the
base) and names it in the document store in the same transaction that changes the texts.
The document store is the record of what is live: each passage row says which segment holds
its current vector, so a base vector of a passage that was since changed or deleted is
skipped by searches rather than rewritten. When the delta and those dead base vectors
together pass a share of the index (`COMPACT_SHARE`, and at least `COMPACT_MIN` passages),
the update writes a new base from the live vectors instead, and the delta starts empty.

Segments never change once they are named in the document store, so readers in other
processes (an embedded Chroma database is not safe to read while another process writes
it) keep reading the ones they opened until they see the new pointer stamp.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from newsqa.index.chroma import ChromaTarget, close_client
from newsqa.index.generations import VECTORS

COMPACT_SHARE = 0.10  # delta + dead base vectors past this share of live passages: compact
COMPACT_MIN = 5000  # … and past this many passages (small indexes keep their delta)
PAGE = 2000  # records per read or write when copying between segments
_NAME = re.compile(r"^(base|delta)-(\d{6})$")


def segment_path(generation: Path, name: str) -> Path:
    return generation / VECTORS / name


def segment_name(kind: str, version: int) -> str:
    return f"{kind}-{version:06d}"


def folders(generation: Path) -> list[Path]:
    """The embedded segment folders in `generation` (named or left by an interrupted update)."""
    root = generation / VECTORS
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and _NAME.match(p.name))


def should_compact(live: int, delta: int, dead: int) -> bool:
    stale = delta + dead
    return stale >= COMPACT_MIN and stale > COMPACT_SHARE * max(live, 1)


class SegmentWriter:
    """A new segment being written: opened empty (or as a copy of `source`), then added to."""

    def __init__(
        self,
        target: ChromaTarget,
        generation: Path,
        name: str,
        model_slug: str,
        source: str | None = None,
        source_ids: Sequence[str] = (),
    ) -> None:
        """`source`: the segment to start from (embedded, its folder is copied whole; on a
        server, its records `source_ids` are copied over)."""
        self.target = target
        self.path = segment_path(generation, name)
        self.name = name
        self.slug = model_slug
        self.collection_name = target.collection_name(model_slug, self.path)
        self.client: Any = None
        discard(target, model_slug, [self.path])  # left by an interrupted update
        try:
            if target.url is None:
                if source:
                    shutil.copytree(segment_path(generation, source), self.path)
                else:
                    self.path.mkdir(parents=True, exist_ok=True)
            self.client = target.client(self.path)
            self.collection = self.client.get_or_create_collection(
                self.collection_name, configuration={"hnsw": {"space": "cosine"}}
            )
            if source and target.url is not None:  # a server copies record by record
                old = self.client.get_collection(
                    target.collection_name(model_slug, segment_path(generation, source))
                )
                copy_records(old, self.collection, source_ids)
        except BaseException:
            self.close()
            discard(target, model_slug, [self.path])  # a half copy must not fill the disk
            raise

    def add(self, ids: list[str], vectors: list, documents: list[str], metadatas: list) -> None:
        if ids:
            self.collection.upsert(
                ids=ids, embeddings=vectors, documents=documents, metadatas=metadatas
            )

    def delete(self, ids: Sequence[str]) -> None:
        for at in range(0, len(ids), PAGE):
            self.collection.delete(ids=list(ids[at : at + PAGE]))

    def count(self) -> int:
        return int(self.collection.count())

    def close(self) -> None:
        if self.client is not None:
            close_client(self.client)
            self.client = None


def copy_records(source: Any, target: Any, ids: Iterable[str], page: int = PAGE) -> None:
    """Copy the records `ids` (vectors, documents, metadata) between collections, a page of
    ids at a time (paging by offset would rescan what came before at every page)."""
    wanted = sorted(ids)
    for at in range(0, len(wanted), page):
        batch = source.get(
            ids=wanted[at : at + page], include=["embeddings", "documents", "metadatas"]
        )
        if batch["ids"]:
            target.add(
                ids=batch["ids"],
                embeddings=batch["embeddings"],
                documents=batch["documents"],
                metadatas=batch["metadatas"],
            )


@contextlib.contextmanager
def opened(target: ChromaTarget, generation: Path, name: str, model_slug: str) -> Iterator[Any]:
    """An existing segment's collection, for the length of a `with` block."""
    path = segment_path(generation, name)
    with target.connected(path) as client:
        yield client.get_collection(target.collection_name(model_slug, path))


def discard(target: ChromaTarget, model_slug: str, paths: list[Path]) -> None:
    """Remove segments (their folders, or their server collections); best effort."""
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)
    target.drop(model_slug, paths)


def retire(
    target: ChromaTarget, generation: Path, model_slug: str, keep: Sequence[str]
) -> list[str]:
    """Remove the segments of `generation` that are not in `keep` (the current ones and
    those readers may still hold): folders embedded, this generation's collections with a
    server. Returns the names removed."""
    names = {p.name for p in folders(generation)}
    if target.url is not None:
        names |= set(_server_segments(target, generation, model_slug))
    gone = sorted(n for n in names if n not in keep)
    discard(target, model_slug, [segment_path(generation, n) for n in gone])
    return gone


def _server_segments(target: ChromaTarget, generation: Path, model_slug: str) -> list[str]:
    prefix = target.collection_name(model_slug, segment_path(generation, "x"))[:-1]
    try:
        with target.connected(generation) as client:
            listed = client.list_collections()
    except Exception:
        return []
    out = []
    for item in listed:
        name = getattr(item, "name", item)
        if isinstance(name, str) and name.startswith(prefix) and _NAME.match(name[len(prefix) :]):
            out.append(name[len(prefix) :])
    return out
