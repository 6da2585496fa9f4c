"""The shared-state database: one small layer over SQLite (the default, a file) and
PostgreSQL (`NEWSQA_DATABASE_URL=postgresql://…`, for several processes on several hosts).

The stores (conversations, watches, feeds, the link registry, the Telegram front-end's
source buttons, rate limits and leases) write their SQL once, portably: `?` placeholders
(turned into psycopg's `%s` here), `ON CONFLICT` upserts, `RETURNING`. What differs in the
tables' definitions is spelled by `schema.py`. Opening a database brings its schema up to
date (`schema_version`), and refuses a database written by a newer newsqa.

psycopg is imported only when a PostgreSQL URL is opened.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from newsqa.settings import Settings

Dialect = Literal["sqlite", "postgresql"]
CONNECT_TIMEOUT_S = 10
BUSY_TIMEOUT_S = 15.0  # how long a SQLite write waits for another process's transaction


class DatabaseError(Exception):
    """The database cannot be used; `str(exc)` is one line naming it and why."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


@dataclass
class Result:
    """The rows a statement returned (all of them, fetched) and how many it changed."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    rowcount: int = 0

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return list(self.rows)

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows)


class Session(Protocol):
    """One transaction's statements (see `Database.transaction`)."""

    dialect: Dialect

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result: ...


def is_postgres_url(url: str | None) -> bool:
    return bool(url) and urlsplit(str(url)).scheme in ("postgres", "postgresql")


def shown(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    try:
        if parts.password is None:
            return url
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
    except ValueError:  # a port that is not a number: show the scheme only
        return f"{parts.scheme}://…"
    netloc = f"{parts.username}:***@{host}" if parts.username else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def sqlite_path(url: str) -> Path | None:
    """The file a SQLite URL names: `sqlite:///relative/path`, `sqlite:////absolute/path`
    (None for another scheme)."""
    scheme, sep, rest = url.partition("://")
    if scheme != "sqlite" or not sep or not rest.startswith("/") or len(rest) < 2:
        return None
    return Path(rest[1:])


def open_database(settings: Settings, default_file: Path | str, *, wal: bool = False) -> Database:
    """The database `NEWSQA_DATABASE_URL` names; unset: the SQLite file `default_file`
    (relative to the index folder), today's per-store files. Raises `DatabaseError`."""
    url = settings.database_url
    if url:
        return connect(url, wal=wal)
    path = Path(default_file)
    if not path.is_absolute() and not str(default_file).startswith("."):
        path = settings.index_dir / path
    return connect(path, wal=wal)


def shared_database(settings: Settings) -> Database | None:
    """The database several processes share when the settings name one, else None (the
    process keeps that state itself, as a single process on a laptop does)."""
    return connect(settings.database_url) if settings.database_url else None


def connect(target: str | Path, *, wal: bool = False, upgrade: bool = True) -> Database:
    """Open a database: a SQLite file (a path or `sqlite:///path`) or a PostgreSQL URL,
    with its schema brought up to date (unless `upgrade` is False). Raises
    `DatabaseError` (one line)."""
    from newsqa.schema import migrate

    text = str(target)
    if isinstance(target, str) and is_postgres_url(text):
        db: Database = PostgresDatabase(text)
    elif isinstance(target, str) and "://" in text:
        path = sqlite_path(text)
        if path is None:
            raise DatabaseError(
                f"NEWSQA_DATABASE_URL: not a database URL {shown(text)!r}; "
                "give postgresql://user:password@host:5432/name or sqlite:///path"
            )
        db = SqliteDatabase(path, wal=wal)
    else:
        db = SqliteDatabase(Path(target), wal=wal)
    if not upgrade:
        return db
    try:
        migrate(db)
    except DatabaseError:
        db.close()
        raise
    except Exception as exc:
        db.close()
        if isinstance(exc, sqlite3.Error) or type(exc).__module__.startswith("psycopg"):
            raise DatabaseError(f"cannot use the database {db.where}: {exc}") from None
        raise
    return db


class Database:
    """A connection (SQLite) or a small pool of them (PostgreSQL), safe across threads."""

    dialect: Dialect
    where: str  # what messages call it: the file, or the URL without its password
    IntegrityError: type[Exception]  # a constraint refused a write (unique, foreign key)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back on an exception.
        SQLite takes the write lock at the start (`BEGIN IMMEDIATE`)."""
        raise NotImplementedError
        yield  # pragma: no cover

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        """One statement in its own transaction."""
        with self.transaction() as session:
            return session.execute(sql, params)

    def now(self) -> float:
        """Seconds since the epoch by the database's clock (the one every host shares)."""
        return time.time()

    def ping(self) -> None:
        """Raises `DatabaseError` unless the database answers a query now."""
        try:
            self.execute("SELECT 1")
        except DatabaseError:
            raise
        except Exception as exc:
            raise DatabaseError(f"the database at {self.where} does not answer: {exc}") from None

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _SqliteSession:
    dialect: Dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        cursor = self.conn.execute(sql, tuple(params))
        rows = cursor.fetchall() if cursor.description else []
        return Result(rows, cursor.rowcount)


class SqliteDatabase(Database):
    """One SQLite file: one connection shared by the process's threads under a lock, a
    busy timeout and short `BEGIN IMMEDIATE` transactions, so several processes on one
    host can use it at once. The rollback journal by default (WAL needs shared memory
    between the processes, which a network filesystem does not give); `wal` for files
    that stay on a local disk."""

    dialect: Dialect = "sqlite"

    def __init__(self, path: Path, *, wal: bool = False, busy_timeout: float = BUSY_TIMEOUT_S):
        self.path = Path(path)
        self.where = str(self.path)
        self.IntegrityError = sqlite3.IntegrityError
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn: sqlite3.Connection | None = sqlite3.connect(
                self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
            self._conn.execute("PRAGMA foreign_keys = ON")
            if wal:
                self._conn.execute("PRAGMA journal_mode=WAL")
        except (OSError, sqlite3.Error) as exc:
            raise DatabaseError(f"cannot open the database {self.path}: {exc}") from None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise DatabaseError(f"the database {self.path} is closed")
        return self._conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        with self._lock:
            conn = self._db()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteSession(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            finally:
                # A COMMIT that failed (locked too long) leaves the transaction open:
                # roll it back, or every later one fails on this shared connection.
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        with self._lock:
            return _SqliteSession(self._db()).execute(sql, params)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


@functools.lru_cache(maxsize=512)
def to_psycopg(sql: str) -> str:
    """`?` placeholders as psycopg's `%s` (a literal `%` doubled). The stores' SQL holds
    no `?` or `%` inside string literals."""
    return sql.replace("%", "%%").replace("?", "%s")


class _PostgresSession:
    dialect: Dialect = "postgresql"

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        cursor = self.conn.execute(to_psycopg(sql), tuple(params), prepare=False)
        rows = cursor.fetchall() if cursor.description else []
        return Result([tuple(row) for row in rows], cursor.rowcount)


class PostgresDatabase(Database):
    """A PostgreSQL database through a small psycopg pool (connections opened as threads
    need them, at most `max_size`; a bot process opens a few such databases, so budget
    about 20 connections a process in the server's `max_connections`)."""

    dialect: Dialect = "postgresql"

    def __init__(self, url: str, *, max_size: int = 4) -> None:
        self.url = url
        self.where = shown(url)
        try:
            import psycopg
            from psycopg_pool import ConnectionPool
        except ImportError:
            raise DatabaseError(
                "NEWSQA_DATABASE_URL names PostgreSQL, but psycopg is not installed: "
                "pip install 'psycopg[binary]' psycopg-pool"
            ) from None
        self.IntegrityError = psycopg.IntegrityError
        # Fail fast with one line when the server is not there, before a pool retries.
        try:
            with self._connect():
                pass
        except psycopg.Error as exc:
            raise DatabaseError(f"cannot connect to the database at {self.where}: {exc}") from None
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S},
            timeout=30.0,
            name="newsqa",
            open=True,
        )

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            with self._pool.connection() as conn, conn.transaction():
                yield _PostgresSession(conn)
        except (PoolTimeout, psycopg.OperationalError) as exc:
            raise DatabaseError(f"the database at {self.where} does not answer: {exc}") from None

    def now(self) -> float:
        return float(self.execute("SELECT EXTRACT(EPOCH FROM clock_timestamp())").scalar())

    def close(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.close()
