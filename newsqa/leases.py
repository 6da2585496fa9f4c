"""Leases in the shared database: which process may do a job that only one may do at a
time, on any host.

A lease is a row (`leases`: name, holder, expires, due) taken atomically by one upsert:
a process gets it when nobody holds it, when it holds it already, or when the holder's
time ran out (a holder that died stops renewing). Times are the database's clock, which
every host shares.

- `IndexBuildLock`: held around every index build that the bot, `newsqa index`, `add` and
  `refresh` start when processes share a database, renewed by a thread while the build
  runs, so builds from several hosts against one Chroma server never interleave.
- `Refresher`: the timed feed refresh. Every process asks often (a fifth of the period);
  the holder renews its lease each time, and runs a refresh when the shared `due` time
  has come, moving it one period on in the same transaction. So exactly one refresh runs
  per period whoever holds the lease, and when the holder dies another process takes the
  lease, and the schedule with it, within one period.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TypeVar

from newsqa.database import Database, DatabaseError, Session

BUILD_LEASE = "index-build"
REFRESH_LEASE = "feed-refresh"
T = TypeVar("T")


def holder_name() -> str:
    """This process, as a lease names it: host, pid and a random part (pids repeat)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def clock(session: Session) -> float:
    """The database's time, in seconds since the epoch."""
    if session.dialect == "postgresql":
        return float(session.execute("SELECT EXTRACT(EPOCH FROM clock_timestamp())").scalar())
    return time.time()


def _take(
    session: Session, name: str, holder: str, ttl: float, first_due: float | None
) -> tuple[bool, float | None]:
    now = clock(session)
    row = session.execute(
        "INSERT INTO leases (name, holder, expires, due) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires "
        "WHERE leases.holder = excluded.holder OR leases.expires < ? RETURNING due",
        (name, holder, now + ttl, None if first_due is None else now + first_due, now),
    ).fetchone()
    if row is None:
        return False, None
    return True, None if row[0] is None else float(row[0])


def take(db: Database, name: str, holder: str, ttl: float) -> bool:
    """Take or renew the lease `name` for `ttl` seconds; False while another holds it."""
    with db.transaction() as session:
        return _take(session, name, holder, ttl, None)[0]


def release(db: Database, name: str, holder: str) -> None:
    """Give the lease back (nothing happens when `holder` does not hold it)."""
    db.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))


def holder_of(db: Database, name: str) -> str | None:
    """Who holds the lease now (None: nobody, or the holder's time ran out)."""
    with db.transaction() as session:
        now = clock(session)
        return session.execute(
            "SELECT holder FROM leases WHERE name = ? AND expires >= ?", (name, now)
        ).scalar()


class LeaseTimeout(DatabaseError):
    """Another process held the lease for longer than the caller would wait."""


class IndexBuildLock:
    """`with IndexBuildLock(db):` waits (up to `wait_s`) until no other process builds,
    and holds the lease, renewed every `ttl_s / 3`, until the block ends. A holder that
    dies lets the next one in after `ttl_s`."""

    def __init__(
        self,
        db: Database,
        name: str = BUILD_LEASE,
        *,
        ttl_s: float = 30.0,
        wait_s: float = 1800.0,
        poll_s: float = 0.5,
    ) -> None:
        self.db = db
        self.name = name
        self.ttl_s = ttl_s
        self.wait_s = wait_s
        self.poll_s = poll_s
        self.holder = holder_name()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def __enter__(self) -> IndexBuildLock:
        deadline = time.monotonic() + self.wait_s
        while not take(self.db, self.name, self.holder, self.ttl_s):
            if time.monotonic() >= deadline:
                raise LeaseTimeout(
                    f"another process has been building the index for over {self.wait_s:.0f} s "
                    f"(lease {self.name!r} in {self.db.where}); try again later"
                )
            time.sleep(self.poll_s)
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew, name="newsqa-build-lease", daemon=True)
        self._renewer.start()
        return self

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            try:
                take(self.db, self.name, self.holder, self.ttl_s)
            except Exception:  # the database away for a moment: try again next time
                continue

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=10)
        release(self.db, self.name, self.holder)


def guarded(db: Database | None, work: Callable[[], T], **lock: float) -> T:
    """`work()` under the index build lease of `db` (just `work()` without a database)."""
    if db is None:
        return work()
    with IndexBuildLock(db, **lock):
        return work()


class Refresher:
    """One process among many runs the timed refresh (see the module's text)."""

    def __init__(
        self,
        db: Database,
        period_s: float,
        *,
        first_s: float | None = None,
        name: str = REFRESH_LEASE,
    ) -> None:
        self.db = db
        self.period_s = period_s
        self.first_s = period_s if first_s is None else first_s
        self.name = name
        self.holder = holder_name()
        # Held for most of a period: a holder that dies is replaced within one period
        # (its lease runs out, and the next ask, a fifth of a period later, takes it).
        self.ttl_s = period_s * 0.75

    @property
    def tick_s(self) -> float:
        """How often each process asks."""
        return min(60.0, max(0.1, self.period_s / 5))

    def due(self) -> bool:
        """Take or renew the lease; True when this process should refresh now (the
        shared schedule is then one period on)."""
        with self.db.transaction() as session:
            held, due = _take(session, self.name, self.holder, self.ttl_s, self.first_s)
            if not held:
                return False
            now = clock(session)
            if due is not None and due > now:
                return False
            # One period on; a run that came late (a takeover, a busy host) keeps at least
            # half a period before the next, and after every process was down the schedule
            # starts afresh from now.
            following = now + self.period_s
            if due is not None and due + self.period_s > now:
                following = max(due + self.period_s, now + self.period_s / 2)
            session.execute(
                "UPDATE leases SET due = ? WHERE name = ? AND holder = ?",
                (following, self.name, self.holder),
            )
            return True

    def resign(self) -> None:
        """Hand the lease on (a process shutting down): another takes it at its next ask."""
        try:
            with self.db.transaction() as session:
                session.execute(
                    "UPDATE leases SET expires = 0 WHERE name = ? AND holder = ?",
                    (self.name, self.holder),
                )
        except Exception:  # shutting down: the lease runs out by itself
            return
