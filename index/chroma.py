"""The vector store: embedded Chroma in each generation folder or a Chroma server, its
clients, and how its errors are told apart (server down, disk full, damaged)."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from newsqa.index.errors import (
    IndexProblem,
    StoreUnavailableError,
    damaged,
    is_disk_full,
    out_of_step,
    too_full_to_read,
)


@dataclass(frozen=True)
class ChromaTarget:
    """Where vectors live: embedded Chroma databases in the generation folder, or a Chroma
    server.

    A generation's vectors are in segments (see `index.segments`): a base, written whole and
    never changed after, and a small delta with every update since. Embedded, each segment
    is its own database folder (`<generation>/vectors/<segment>`); with a server, each is a
    collection (`newsqa-<model>-<generation>-<segment>`), and the index folder (on storage
    every reader can read) keeps the article texts, sentence vectors, the lexical index and
    the CURRENT pointer; see the README ("Deploy").
    """

    url: str | None = None
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_settings(cls, settings: Any) -> ChromaTarget:
        headers = tuple(sorted((settings.chroma_headers or {}).items()))
        return cls(settings.chroma_url or None, headers)

    @property
    def kind(self) -> str:
        return "server" if self.url else "embedded"

    def collection_name(self, model_slug: str, segment: Path) -> str:
        """Named after the model, so that vectors of two models can never mix; on a server
        also after the generation and the segment (`segment` is `<generation>/vectors/<name>`)."""
        base = f"newsqa-{model_slug}"
        return f"{base}-{segment.parent.parent.name}-{segment.name}" if self.url else base

    def client(self, segment: Path) -> Any:
        """A client for the vector segment at `segment`; whoever opens one closes it
        (`close_client`)."""
        if self.url is None:
            return _persistent_client(segment)
        return _http_client(self.url, self.headers)

    @contextlib.contextmanager
    def connected(self, segment: Path) -> Iterator[Any]:
        """A client for the length of a `with` block: a long-running process that builds
        every few minutes must not keep every segment's database open."""
        client = self.client(segment)
        try:
            yield client
        finally:
            close_client(client)

    def unavailable(self, exc: BaseException) -> StoreUnavailableError:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return StoreUnavailableError(
            f"cannot reach the Chroma server at {self.url} ({reason}); start it, or unset "
            "NEWSQA_CHROMA_URL to use the embedded store"
        )

    def problem(self, exc: BaseException, location: Path, collection: str) -> IndexProblem:
        """What an error from this Chroma means: the collection gone (out of step), the
        server down, a local disk too full for Chroma, or a damaged database."""
        from chromadb.errors import NotFoundError

        if isinstance(exc, IndexProblem):
            return exc
        if isinstance(exc, NotFoundError):
            where = f"the Chroma server at {self.url}" if self.url else "Chroma"
            return out_of_step(location, f"{where} has no collection {collection}")
        if self.url:
            return self.unavailable(exc)
        if is_disk_full(exc):
            return too_full_to_read(location)
        return damaged(location, f"Chroma: {exc}")

    def drop(self, model_slug: str, segments: list[Path]) -> None:
        """Delete the server collections of removed segments (best effort)."""
        if self.url is None or not segments:
            return
        with contextlib.suppress(Exception), self.connected(segments[0]) as client:
            for segment in segments:
                with contextlib.suppress(Exception):
                    client.delete_collection(self.collection_name(model_slug, segment))


    def drop_generations(self, model_slug: str, generations: list[Path]) -> None:
        """Delete the server collections of removed generations (best effort)."""
        if self.url is None or not generations:
            return
        prefixes = tuple(f"newsqa-{model_slug}-{g.name}-" for g in generations)
        with contextlib.suppress(Exception), self.connected(generations[0]) as client:
            for item in client.list_collections():
                name = getattr(item, "name", item)
                if isinstance(name, str) and name.startswith(prefixes):
                    with contextlib.suppress(Exception):
                        client.delete_collection(name)


# chromadb shares one "system" among the clients of a path and counts them, but its
# create-then-count and count-then-stop steps are not one atomic step: a client opened in
# one thread while another thread closed the last client of that path got a stopped system
# ("'RustBindingsAPI' object has no attribute 'bindings'"). Every embedded open and close
# in this process goes through this lock.
_CLIENTS = threading.Lock()


def stored_records(folder: Path) -> int | None:
    """How many records the embedded Chroma database in `folder` holds, read from its SQLite
    file: asking Chroma loads the whole vector index first (1.3 s at 10k passages, in
    proportion to the index), which a check that must cost the same at any size cannot
    pay. None when the file cannot say (missing, damaged, another schema): ask Chroma then."""
    path = folder / "chroma.sqlite3"
    if not path.is_file():
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            row = db.execute(
                "SELECT COUNT(*) FROM embeddings e JOIN segments s ON s.id = e.segment_id"
                " WHERE s.scope = 'METADATA'"
            ).fetchone()
    except sqlite3.Error:
        return None
    return int(row[0])


def close_client(client: Any) -> None:
    """Release a Chroma client's files and connections (chromadb counts the clients that
    share one database, and stops it with the last one); best effort."""
    with _CLIENTS, contextlib.suppress(Exception):
        client.close()


def _chroma_settings() -> Any:
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


def _persistent_client(path: Path) -> Any:
    """A persistent Chroma client on `path`, with telemetry off (nothing leaves the host)."""
    import chromadb

    with _CLIENTS:
        return chromadb.PersistentClient(path=str(path), settings=_chroma_settings())


def _http_client(url: str, headers: tuple[tuple[str, str], ...]) -> Any:
    import chromadb

    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise IndexProblem(f"NEWSQA_CHROMA_URL={url!r} is not an http(s)://host:port URL")
    target = ChromaTarget(url, headers)
    try:
        client = chromadb.HttpClient(
            host=parsed.hostname,
            port=parsed.port or (443 if parsed.scheme == "https" else 8000),
            ssl=parsed.scheme == "https",
            headers=dict(headers) or None,
            settings=_chroma_settings(),
        )
        client.heartbeat()
    except Exception as exc:
        raise target.unavailable(exc) from None
    return client
