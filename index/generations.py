"""Where an index lives: generation folders, the CURRENT pointer and the build lock.

An index folder holds numbered generations (`gen-000001-<random>`, …), each complete in
itself: the document store, the lexical index and the vector segments. `CURRENT` names the
one readers use. A full build writes a new generation beside it and switches `CURRENT`
with an atomic rename only when that generation is complete, so a full build that is
killed, runs out of disk or fails leaves the previous generation answering.

An update does not make a generation: it changes the current one in place, at the cost of
what changed (see `index.build`), and then rewrites `CURRENT` with the same name, so that
long-running readers, which watch the pointer's inode and time, open the new state.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from newsqa.index.errors import BuildLockedError, IndexCorruptError

CURRENT = "CURRENT"
LOCK = ".build.lock"
_GEN = re.compile(r"^gen-(\d{6})-[0-9a-f]{8}$")
KEEP_PREVIOUS = 1  # generations kept after the current one, for readers still on them
VECTORS = "vectors"  # in each generation: one folder (or server collection) per vector segment
DOCSTORE = "docstore.sqlite"  # in each generation: articles, passages, sentences, hashes
LEXICAL = "lexical"  # in each generation: the BM25 index (tantivy), updated in place


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

    def touch(self) -> None:
        """Tell readers that the current generation changed in place (a new pointer stamp)."""
        current = self.current()
        if current is not None:
            self.publish(current)

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
