"""The index's error types, each a one-line message naming the folder and the fix, and
the detection of a full disk behind any of SQLite's, Chroma's or the OS's errors."""

from __future__ import annotations

import errno
from pathlib import Path


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
