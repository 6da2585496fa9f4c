"""Which web articles are saved where: the link registry, in the shared database (the
SQLite file `links.sqlite` in the index folder by default; see `newsqa.database`).

For every article saved from the web it keeps the canonical URL, the file it went to,
the hash of its text and its near-duplicate signature; every other URL that led to it
(the link someone pasted, a redirect, a feed's link, another site's copy of the same
wire story) is an alias of it. `newsqa add` and `newsqa refresh` ask it before fetching,
so a link already saved is not fetched or embedded again, and a republished copy becomes
an extra source of the article it repeats. The files stay the source of truth for the
index; this only remembers where they came from. (Its tables: `newsqa.schema`.)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from newsqa.database import Database, connect


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
    """The registry: short transactions and a busy timeout (SQLite) or a pool
    (PostgreSQL), so several processes (on shared storage, or on several hosts) can use
    it at once."""

    def __init__(self, target: Path | str | Database) -> None:
        self.path = Path(target) if isinstance(target, Path) else None
        self._owned = not isinstance(target, Database)
        self._db: Database | None = target if isinstance(target, Database) else connect(target)

    def db(self) -> Database:
        if self._db is None:
            raise RuntimeError("the link registry is closed")
        return self._db

    def close(self) -> None:
        if self._db is not None and self._owned:
            self._db.close()
        self._db = None

    def lookup(self, url: str) -> SavedArticle | None:
        """The saved article that `url` is, or leads to (as canonical URL or alias)."""
        columns = "a.url, a.path, a.text_hash, a.signature, a.title, a.published, a.source"
        row = (
            self.db()
            .execute(
                f"SELECT {columns} FROM articles a WHERE a.url = ? UNION ALL "
                f"SELECT {columns} FROM aliases l JOIN articles a ON a.url = l.canonical "
                "WHERE l.url = ? LIMIT 1",
                (url, url),
            )
            .fetchone()
        )
        return _saved(row) if row else None

    def signatures(self) -> Iterator[tuple[str, bytes]]:
        """(canonical URL, signature) of every saved article."""
        rows = (
            self.db()
            .execute("SELECT url, signature FROM articles WHERE signature IS NOT NULL")
            .fetchall()
        )
        for url, signature in rows:
            yield url, bytes(signature)

    def save(self, article: SavedArticle, aliases: list[str]) -> None:
        now = time.time()
        with self.db().transaction() as db:
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
                        "INSERT INTO aliases VALUES (?, ?, 'link', NULL, ?) ON CONFLICT DO NOTHING",
                        (alias, article.url, now),
                    )

    def add_copy(self, canonical: str, urls: list[str], source: str | None) -> None:
        """Record `urls` as a republished copy of the article at `canonical`."""
        now = time.time()
        with self.db().transaction() as db:
            for url in dict.fromkeys(urls):
                if url != canonical:
                    db.execute(
                        "INSERT INTO aliases VALUES (?, ?, 'copy', ?, ?) ON CONFLICT DO NOTHING",
                        (url, canonical, source, now),
                    )

    def copies(self, canonical: str) -> list[tuple[str, str | None]]:
        """(URL, source) of every republished copy of an article."""
        return [
            (row[0], row[1])
            for row in self.db().execute(
                "SELECT url, source FROM aliases WHERE canonical = ? AND kind = 'copy' "
                "ORDER BY seen_at",
                (canonical,),
            )
        ]


def _saved(row: tuple[object, ...]) -> SavedArticle:
    url, path, text_hash, signature, title, published, source = row
    return SavedArticle(
        str(url),
        str(path),
        str(text_hash),
        bytes(signature) if signature is not None else None,  # type: ignore[arg-type]
        title,  # type: ignore[arg-type]
        published,  # type: ignore[arg-type]
        source,  # type: ignore[arg-type]
    )
