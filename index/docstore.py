"""The document store of one index generation (SQLite): article texts and metadata,
passages, sentences with their late-chunked vectors, and facts about the build.

Citations are checked against the texts kept here: `text[start:end]` is the quote.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from newsqa.index.articles import Article, FileRecord
from newsqa.index.chunking import Passage

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
  id TEXT PRIMARY KEY, text TEXT NOT NULL, title TEXT, url TEXT, published TEXT,
  source TEXT, origin TEXT, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS passages (
  id TEXT PRIMARY KEY, article_id TEXT NOT NULL, seq INTEGER NOT NULL,
  start INTEGER NOT NULL, "end" INTEGER NOT NULL, segment TEXT NOT NULL DEFAULT 'b');
CREATE INDEX IF NOT EXISTS passages_article ON passages(article_id);
CREATE TABLE IF NOT EXISTS sentences (
  passage_id TEXT NOT NULL, article_id TEXT NOT NULL, start INTEGER NOT NULL,
  "end" INTEGER NOT NULL, vector BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS sentences_passage ON sentences(passage_id);
CREATE INDEX IF NOT EXISTS sentences_article ON sentences(article_id);
CREATE TABLE IF NOT EXISTS passage_terms (passage_id TEXT PRIMARY KEY, terms TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS lexical_pending (article_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS files (
  path TEXT PRIMARY KEY, state TEXT NOT NULL, record TEXT NOT NULL);
"""

# Which vector segment holds a passage's current vector: the base (written by a full build
# or a compaction, never changed after) or the delta (every update since).
BASE, DELTA = "b", "d"


@dataclass(frozen=True)
class ArticleRecord:
    id: str
    text: str
    title: str | None
    url: str | None
    published: str | None
    source: str | None


@dataclass(frozen=True)
class PassageRecord:
    id: str
    article_id: str
    seq: int
    start: int
    end: int


@dataclass(frozen=True)
class SentenceRecord:
    passage_id: str
    article_id: str
    start: int
    end: int
    vector: np.ndarray


def _marks(values: Sequence[object]) -> str:
    return ",".join("?" * len(values))


def _open_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection. A reader of a write-ahead-logged database needs its shared
    memory file; on a disk too full to create it, the file is read as it stands (nothing can
    be committed to it then anyway), so the index still answers."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    try:
        db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return db
    except sqlite3.OperationalError:
        db.close()
        try:
            room = shutil.disk_usage(path.parent).free
        except OSError:
            room = 0
        if not path.is_file() or room >= 1 << 20:
            raise
    return sqlite3.connect(f"file:{path}?immutable=1", uri=True, check_same_thread=False)


class DocStore:
    """One generation's SQLite document store."""

    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path = path
        if readonly:
            self.db = _open_readonly(path)
        else:
            self.db = sqlite3.connect(path, check_same_thread=False)
            # Write-ahead logging: an update is one transaction written beside the pages
            # readers use, so a reader (a snapshot holding one read transaction for its
            # life) keeps the state it opened, and never waits for the writer.
            self.db.execute("PRAGMA journal_mode = WAL")
            # A log that grew while a long-lived reader held checkpoints back is cut back
            # once they can run again, not kept at its largest.
            self.db.execute("PRAGMA journal_size_limit = 67108864")
            self.db.executescript(SCHEMA)
        self.db.execute(f"PRAGMA query_only = {int(readonly)}")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> DocStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- meta ------------------------------------------------------------------------
    def get_meta(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT key, value FROM meta"))

    def set_meta(self, values: dict[str, str]) -> None:
        self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", values.items())

    # -- writing ---------------------------------------------------------------------
    def hashes(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT id, hash FROM articles"))

    def delete_articles(self, ids: Iterable[str]) -> list[str]:
        """Delete articles and their passages; returns the deleted passage ids."""
        removed: list[str] = []
        for article_id in ids:
            removed += [
                row[0]
                for row in self.db.execute(
                    "SELECT id FROM passages WHERE article_id = ?", (article_id,)
                )
            ]
            self.db.execute(
                "DELETE FROM passage_terms WHERE passage_id IN"
                " (SELECT id FROM passages WHERE article_id = ?)",
                (article_id,),
            )
            for table, column in (
                ("articles", "id"),
                ("passages", "article_id"),
                ("sentences", "article_id"),
            ):
                self.db.execute(f"DELETE FROM {table} WHERE {column} = ?", (article_id,))
        return removed

    def add_article(
        self,
        article: Article,
        passages: Sequence[Passage],
        sentence_vectors: Sequence[np.ndarray],
        segment: str = BASE,
    ) -> None:
        self.db.execute(
            "INSERT INTO articles VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                article.id,
                article.text,
                article.title,
                article.url,
                article.published,
                article.source,
                article.origin,
                article.content_hash,
            ),
        )
        self.db.executemany(
            "INSERT INTO passages VALUES (?, ?, ?, ?, ?, ?)",
            [(p.id, p.article_id, p.seq, p.start, p.end, segment) for p in passages],
        )
        rows = []
        for passage, vectors in zip(passages, sentence_vectors, strict=True):
            for (start, end), vector in zip(passage.sentences, vectors, strict=True):
                rows.append(
                    (
                        passage.id,
                        passage.article_id,
                        start,
                        end,
                        np.asarray(vector, dtype=np.float32).tobytes(),
                    )
                )
        self.db.executemany("INSERT INTO sentences VALUES (?, ?, ?, ?, ?)", rows)

    def commit(self) -> None:
        self.db.commit()

    # -- reading ---------------------------------------------------------------------
    def counts(self) -> tuple[int, int, int]:
        """Rows of articles, passages and sentences (SQLite counts a table by walking its
        smallest b-tree: about 60 ms for 2M sentence rows)."""
        row = self.db.execute(
            "SELECT (SELECT COUNT(*) FROM articles), (SELECT COUNT(*) FROM passages),"
            " (SELECT COUNT(*) FROM sentences)"
        ).fetchone()
        return int(row[0]), int(row[1]), int(row[2])

    def passage_ids(self) -> set[str]:
        return {row[0] for row in self.db.execute("SELECT id FROM passages")}

    def passages_of(self, article_ids: Sequence[str]) -> dict[str, list[str]]:
        """The passage ids of each of `article_ids` (in order), for those indexed."""
        out: dict[str, list[str]] = {}
        for at in range(0, len(article_ids), 500):
            chunk = list(article_ids[at : at + 500])
            rows = self.db.execute(
                f"SELECT article_id, id FROM passages WHERE article_id IN ({_marks(chunk)}) "
                "ORDER BY article_id, seq",
                chunk,
            )
            for article_id, passage_id in rows:
                out.setdefault(article_id, []).append(passage_id)
        return out

    def passage_terms(
        self, article_ids: Sequence[str], tokenize: Callable[[str], list[str]]
    ) -> list[tuple[str, str, list[str]]]:
        """(passage id, article id, lexical terms) of every passage of `article_ids`.

        The terms of each passage (with its article title) are made once, when it is added,
        and stored beside it, so the lexical index can be brought up to date from the
        document store alone (after an interrupted update) without tokenizing again."""
        out: list[tuple[str, str, list[str]]] = []
        made: list[tuple[str, str]] = []
        for at in range(0, len(article_ids), 500):
            chunk = list(article_ids[at : at + 500])
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                "SELECT p.id, p.article_id, a.title, t.terms, CASE WHEN t.terms IS NULL THEN"
                ' substr(a.text, p.start + 1, p."end" - p.start) END FROM passages p'
                " JOIN articles a ON a.id = p.article_id"
                " LEFT JOIN passage_terms t ON t.passage_id = p.id"
                f" WHERE p.article_id IN ({marks}) ORDER BY p.rowid",
                chunk,
            ).fetchall()
            for passage_id, article_id, title, stored, text in rows:
                if stored is None:
                    found = tokenize(f"{title}\n{text}" if title else text)
                    made.append((passage_id, " ".join(found)))
                else:
                    found = stored.split(" ") if stored else []
                out.append((passage_id, article_id, found))
        self.db.executemany("INSERT OR REPLACE INTO passage_terms VALUES (?, ?)", made)
        return out

    # -- the lexical index's to-do list ------------------------------------------------
    def mark_lexical_pending(self, article_ids: Iterable[str]) -> None:
        """Articles whose passages the lexical index must be brought up to date with; written
        in the transaction that changes them, cleared once the lexical index has them."""
        self.db.executemany(
            "INSERT OR IGNORE INTO lexical_pending VALUES (?)", [(i,) for i in article_ids]
        )

    def lexical_pending(self) -> list[str]:
        return [row[0] for row in self.db.execute("SELECT article_id FROM lexical_pending")]

    def clear_lexical_pending(self, article_ids: Sequence[str]) -> None:
        self.db.executemany(
            "DELETE FROM lexical_pending WHERE article_id = ?", [(i,) for i in article_ids]
        )

    # -- what each source file gave ----------------------------------------------------
    def known_files(self) -> dict[str, FileRecord]:
        rows = self.db.execute("SELECT path, record FROM files")
        return {path: FileRecord.from_json(record) for path, record in rows}

    def file_states(self) -> dict[str, str]:
        """Each known file's `state_key`, without what it gave (cheap to read)."""
        return dict(self.db.execute("SELECT path, state FROM files"))

    def save_files(self, records: dict[str, FileRecord], known: dict[str, FileRecord]) -> None:
        """Write the records that differ from `known` (what the table held), drop the files
        no longer there: the cost of what changed."""
        self.db.executemany(
            "INSERT OR REPLACE INTO files VALUES (?, ?, ?)",
            [(p, r.key, r.to_json()) for p, r in records.items() if known.get(p) != r],
        )
        self.db.executemany(
            "DELETE FROM files WHERE path = ?", [(p,) for p in known if p not in records]
        )

    # -- vector segments ---------------------------------------------------------------
    def live(self, hits: Sequence[str], segment: str | None = None) -> set[str]:
        """Which of the passage ids `hits` are in the index now (with their current vector in
        `segment`, when given): the vector and lexical indexes may hold a passage a moment
        longer than the document store, or an older vector of it."""
        out: set[str] = set()
        for at in range(0, len(hits), 500):
            chunk: list[str] = list(hits[at : at + 500])
            sql = f"SELECT id FROM passages WHERE id IN ({','.join('?' * len(chunk))})"
            if segment is not None:
                sql += " AND segment = ?"
                chunk.append(segment)
            out.update(row[0] for row in self.db.execute(sql, chunk))
        return out

    def segments_of(self, ids: Sequence[str]) -> dict[str, int]:
        """How many of the passages `ids` each segment holds the vector of."""
        out: dict[str, int] = {}
        for at in range(0, len(ids), 500):
            chunk = list(ids[at : at + 500])
            marks = ",".join("?" * len(chunk))
            for segment, count in self.db.execute(
                f"SELECT segment, COUNT(*) FROM passages WHERE id IN ({marks}) GROUP BY segment",
                chunk,
            ):
                out[segment] = out.get(segment, 0) + int(count)
        return out

    def ids_in_segment(self, segment: str) -> set[str]:
        rows = self.db.execute("SELECT id FROM passages WHERE segment = ?", (segment,))
        return {row[0] for row in rows}

    def set_all_segments(self, segment: str) -> None:
        self.db.execute("UPDATE passages SET segment = ?", (segment,))

    def article(self, article_id: str) -> ArticleRecord | None:
        row = self.db.execute(
            "SELECT id, text, title, url, published, source FROM articles WHERE id = ?",
            (article_id,),
        ).fetchone()
        return ArticleRecord(*row) if row else None

    def articles(self, ids: Iterable[str]) -> dict[str, ArticleRecord]:
        return {i: record for i in dict.fromkeys(ids) if (record := self.article(i))}

    def passages(self, ids: Sequence[str]) -> dict[str, PassageRecord]:
        out: dict[str, PassageRecord] = {}
        for at in range(0, len(ids), 500):
            chunk = list(ids[at : at + 500])
            rows = self.db.execute(
                'SELECT id, article_id, seq, start, "end" FROM passages'
                f" WHERE id IN ({_marks(chunk)})",
                chunk,
            )
            out.update((row[0], PassageRecord(*row)) for row in rows)
        return out

    def sentences_in(self, passages: Sequence[PassageRecord]) -> list[SentenceRecord]:
        """Sentences inside the given passages (including ones owned by a neighbour)."""
        out: list[SentenceRecord] = []
        seen: set[tuple[str, int]] = set()
        for passage in passages:
            rows = self.db.execute(
                'SELECT passage_id, article_id, start, "end", vector FROM sentences '
                'WHERE article_id = ? AND start >= ? AND "end" <= ? ORDER BY start',
                (passage.article_id, passage.start, passage.end),
            )
            for pid, aid, start, end, blob in rows:
                if (aid, start) in seen:
                    continue
                seen.add((aid, start))
                out.append(SentenceRecord(pid, aid, start, end, np.frombuffer(blob, np.float32)))
        return out

    def newest(self, limit: int) -> list[ArticleRecord]:
        """The `limit` newest articles by publication date (undated ones last)."""
        rows = self.db.execute(
            "SELECT id, text, title, url, published, source FROM articles "
            "ORDER BY published IS NULL, published DESC, id LIMIT ?",
            (limit,),
        )
        return [ArticleRecord(*row) for row in rows]

    def newest_published(self) -> str | None:
        row = self.db.execute("SELECT MAX(published) FROM articles").fetchone()
        return row[0] if row else None
