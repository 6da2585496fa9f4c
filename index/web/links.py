"""Which web articles are saved where: the link registry, in SQLite in the index folder.

For every article saved from the web it keeps the canonical URL, the file it went to,
the hash of its text and its near-duplicate signature; every other URL that led to it
(the link someone pasted, a redirect, a feed's link, another site's copy of the same
wire story) is an alias of it. `newsqa add` and `newsqa refresh` ask it before fetching,
so a link already saved is not fetched or embedded again, and a republished copy becomes
an extra source of the article it repeats. The files stay the source of truth for the
index; this only remembers where they came from.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
  url TEXT PRIMARY KEY,          -- canonical
  path TEXT NOT NULL,            -- relative to the articles folder
  text_hash TEXT NOT NULL,
  signature BLOB,
  title TEXT, published TEXT, source TEXT,
  saved_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS aliases (
  url TEXT PRIMARY KEY,          -- any URL that led to an article
  canonical TEXT NOT NULL REFERENCES articles(url) ON DELETE CASCADE,
  kind TEXT NOT NULL,            -- "link" (fetched, redirect, feed) or "copy" (republished)
  source TEXT,
  seen_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS aliases_canonical ON aliases(canonical);
"""


@dataclass(frozen=True)
class SavedArticle:
    url: str
    path: str
    text_hash: str
    signature: bytes | None
    title: str | None
    published: str | None
    source: str | None


class LinkRegistry:
    """The registry file: one connection shared by the threads of a process under a lock,
    short transactions and a busy timeout, so several processes on shared storage can use
    it at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn: sqlite3.Connection | None = sqlite3.connect(
            path, timeout=15.0, isolation_level=None, check_same_thread=False
        )
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.executescript(SCHEMA)  # idempotent; executescript commits by itself

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the link registry is closed")
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _tx(self) -> _Transaction:
        return _Transaction(self._db(), self._lock)

    def lookup(self, url: str) -> SavedArticle | None:
        """The saved article that `url` is, or leads to (as canonical URL or alias)."""
        columns = "a.url, a.path, a.text_hash, a.signature, a.title, a.published, a.source"
        with self._lock:
            row = (
                self._db()
                .execute(
                    f"SELECT {columns} FROM articles a WHERE a.url = ? UNION ALL "
                    f"SELECT {columns} FROM aliases l JOIN articles a ON a.url = l.canonical "
                    "WHERE l.url = ? LIMIT 1",
                    (url, url),
                )
                .fetchone()
            )
        return SavedArticle(*row) if row else None

    def signatures(self) -> Iterator[tuple[str, bytes]]:
        """(canonical URL, signature) of every saved article."""
        with self._lock:
            rows = (
                self._db()
                .execute("SELECT url, signature FROM articles WHERE signature IS NOT NULL")
                .fetchall()
            )
        yield from rows

    def save(self, article: SavedArticle, aliases: list[str]) -> None:
        now = time.time()
        with self._tx() as db:
            db.execute(
                "INSERT INTO articles VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(url) DO UPDATE "
                "SET path=excluded.path, text_hash=excluded.text_hash, "
                "signature=excluded.signature, title=excluded.title, "
                "published=excluded.published, source=excluded.source, saved_at=excluded.saved_at",
                (
                    article.url,
                    article.path,
                    article.text_hash,
                    article.signature,
                    article.title,
                    article.published,
                    article.source,
                    now,
                ),
            )
            for alias in dict.fromkeys(aliases):
                if alias != article.url:
                    db.execute(
                        "INSERT OR IGNORE INTO aliases VALUES (?, ?, 'link', NULL, ?)",
                        (alias, article.url, now),
                    )

    def add_copy(self, canonical: str, urls: list[str], source: str | None) -> None:
        """Record `urls` as a republished copy of the article at `canonical`."""
        now = time.time()
        with self._tx() as db:
            for url in dict.fromkeys(urls):
                if url != canonical:
                    db.execute(
                        "INSERT OR IGNORE INTO aliases VALUES (?, ?, 'copy', ?, ?)",
                        (url, canonical, source, now),
                    )

    def copies(self, canonical: str) -> list[tuple[str, str | None]]:
        """(URL, source) of every republished copy of an article."""
        with self._lock:
            return list(
                self._db().execute(
                    "SELECT url, source FROM aliases WHERE canonical = ? AND kind = 'copy' "
                    "ORDER BY seen_at",
                    (canonical,),
                )
            )


class _Transaction:
    """`BEGIN IMMEDIATE … COMMIT` under the registry's lock, rolled back on any error."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self.db = db
        self.lock = lock

    def __enter__(self) -> sqlite3.Connection:
        self.lock.acquire()
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self.lock.release()
            raise
        return self.db

    def __exit__(self, kind: object, *rest: object) -> None:
        try:
            self.db.execute("COMMIT" if kind is None else "ROLLBACK")
        finally:
            # A COMMIT that failed (the database locked too long) leaves the transaction
            # open: roll it back, or every later one fails on this shared connection.
            if self.db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self.db.execute("ROLLBACK")
            self.lock.release()
