"""Where an index lives: generation folders, the CURRENT pointer, the build lock, Chroma.

An index folder holds numbered generations (`gen-000001-<random>`, …), each complete in itself:
a Chroma database, the document store and the BM25 files. `CURRENT` names the one
readers use. A build writes a new generation beside it and switches `CURRENT` with an
atomic rename only when that generation is complete, so a build that is killed, runs
out of disk or fails leaves the previous generation answering.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

CURRENT = "CURRENT"
LOCK = ".build.lock"
_GEN = re.compile(r"^gen-(\d{6})-[0-9a-f]{8}$")
KEEP_PREVIOUS = 1  # generations kept after the current one, for readers still on them


class IndexProblem(RuntimeError):
    """Base for index problems; the message is one line naming the folder and the fix."""


class IndexMissingError(IndexProblem):
    pass


class IndexCorruptError(IndexProblem):
    """The index cannot be used as it is; `what` says which part and why."""

    def __init__(self, message: str, what: str = "") -> None:
        super().__init__(message)
        self.what = what or message


def damaged(location: Path, what: str) -> IndexCorruptError:
    return IndexCorruptError(
        f"the index in {location} is damaged ({what}); rebuild it with `newsqa index --full`",
        what,
    )


def out_of_step(location: Path, what: str) -> IndexCorruptError:
    """Its parts disagree (see `index.audit`); a plain `newsqa index` rebuilds it."""
    return IndexCorruptError(
        f"the index in {location} is out of step ({what}); repair it with `newsqa index`", what
    )


class BuildLockedError(IndexProblem):
    pass


class StoreUnavailableError(IndexProblem):
    """The vector store cannot be used now (server down, or no room to open it); BM25 can
    still answer."""


class DiskFullError(StoreUnavailableError):
    """The disk holding the index is full."""


# How a full disk shows itself through SQLite, Chroma's Rust core and shutil.copytree.
_DISK_FULL_TEXT = ("database or disk is full", "no space left on device", "disk quota exceeded")


def disk_full(index_dir: Path) -> DiskFullError:
    """The one-line error of a build that ran out of space."""
    return DiskFullError(
        f"disk full while writing {index_dir}; the previous index is unchanged and still "
        "answering; free some space and run `newsqa index` again"
    )


def too_full_to_read(location: Path) -> DiskFullError:
    return DiskFullError(
        f"the disk holding {location} is full and Chroma cannot use its database; "
        "free some space"
    )


def is_disk_full(exc: BaseException | None, local_only: bool = False) -> bool:
    """Whether `exc`, or anything it was raised from, says the disk is full.

    `local_only`: count only errors of this machine's files (OS and SQLite), not the text
    of an error a Chroma server sent about its own disk.
    """
    import sqlite3

    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        local = isinstance(exc, OSError | sqlite3.Error)
        if (local or not local_only) and any(t in str(exc).lower() for t in _DISK_FULL_TEXT):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


CHROMA_DIR = "chroma"
DOCSTORE = "docstore.sqlite"  # in each generation: articles, passages, sentences, hashes
BM25 = "bm25"  # in each generation: the BM25 index and its passage ids


@dataclass(frozen=True)
class ChromaTarget:
    """Where vectors live: embedded Chroma in each generation folder, or a Chroma server.

    With a server, each generation is its own collection (`newsqa-<model>-<generation>`)
    and the index folder (on storage every reader can read) keeps the article texts,
    sentence vectors, BM25 files and the CURRENT pointer; see the README ("Deploy").
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

    def collection_name(self, model_slug: str, generation: Path) -> str:
        """Named after the model, so that vectors of two models can never mix."""
        base = f"newsqa-{model_slug}"
        return f"{base}-{generation.name}" if self.url else base

    def client(self, generation: Path) -> Any:
        """A client for `generation`; whoever opens one closes it (`close_client`)."""
        if self.url is None:
            return _persistent_client(generation / CHROMA_DIR)
        return _http_client(self.url, self.headers)

    @contextlib.contextmanager
    def connected(self, generation: Path) -> Iterator[Any]:
        """A client for the length of a `with` block: a long-running process that builds
        every few minutes must not keep every generation's database open."""
        client = self.client(generation)
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

    def drop(self, model_slug: str, generations: list[Path]) -> None:
        """Delete the server collections of removed generations (best effort)."""
        if self.url is None or not generations:
            return
        with contextlib.suppress(Exception), self.connected(generations[0]) as client:
            for generation in generations:
                with contextlib.suppress(Exception):
                    client.delete_collection(self.collection_name(model_slug, generation))


def close_client(client: Any) -> None:
    """Release a Chroma client's files and connections (chromadb counts the clients that
    share one database, and stops it with the last one); best effort."""
    with contextlib.suppress(Exception):
        client.close()


def _chroma_settings() -> Any:
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


def _persistent_client(path: Path) -> Any:
    """A persistent Chroma client on `path`, with telemetry off (nothing leaves the host)."""
    import chromadb

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


class IndexDir:
    """The generations inside one index folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def generations(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        gens = [p for p in self.root.iterdir() if p.is_dir() and _GEN.match(p.name)]
        return sorted(gens, key=lambda p: p.name)

    def current(self) -> Path | None:
        """The generation readers use, or None when there is no index yet."""
        pointer = self.root / CURRENT
        try:
            name = pointer.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise IndexCorruptError(
                f"cannot read {pointer} ({exc.strerror}); rebuild with `newsqa index --full`"
            ) from None
        if not _GEN.match(name) or not (self.root / name).is_dir():
            raise IndexCorruptError(
                f"{pointer} names a missing generation {name!r}; rebuild with `newsqa index --full`"
            )
        return self.root / name

    def pointer_stamp(self) -> tuple[int, int] | None:
        """Cheap change detector for `CURRENT` (inode, mtime), used by long-running readers."""
        try:
            stat = (self.root / CURRENT).stat()
        except OSError:
            return None
        return stat.st_ino, stat.st_mtime_ns

    def new_generation(self) -> Path:
        gens = self.generations()
        number = int(_GEN.match(gens[-1].name).group(1)) + 1 if gens else 1  # type: ignore[union-attr]
        # The random part keeps paths unique even if the folder is wiped and rebuilt while a
        # process runs: Chroma caches one client per path for the life of the process.
        path = self.root / f"gen-{number:06d}-{secrets.token_hex(4)}"
        path.mkdir(parents=True)
        return path

    def publish(self, generation: Path) -> None:
        """Make `generation` current, atomically and durably."""
        tmp = self.root / f".{CURRENT}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(generation.name + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.root / CURRENT)
        _fsync_dir(self.root)

    def prune(self) -> list[Path]:
        """Remove unfinished generations and all but the newest finished ones."""
        current = self.current()
        if current is None:
            return []
        older = [g for g in self.generations() if g.name < current.name]
        newer = [g for g in self.generations() if g.name > current.name]  # unfinished builds
        removed = older[: max(0, len(older) - KEEP_PREVIOUS)] + newer
        for path in removed:
            shutil.rmtree(path, ignore_errors=True)
        return removed

    @contextlib.contextmanager
    def build_lock(self) -> Iterator[None]:
        """Held for a whole build; a second build on the same folder is refused."""
        from filelock import FileLock, Timeout

        self.root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.root / LOCK), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise BuildLockedError(
                f"another `newsqa index` is already building {self.root}; "
                "wait for it to finish and run again"
            ) from None
        try:
            yield
        finally:
            lock.release()


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
