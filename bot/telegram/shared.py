"""What the bot's processes share through the database (`NEWSQA_DATABASE_URL`), so that
any of them can take any update: the passages behind each answer's "Source N" buttons,
and the rate-limit windows (questions per minute, /add links per hour) of each user.

Without a shared database one process keeps both itself (`state.py`, `access.py`).
"""

from __future__ import annotations

import json
import math
import secrets
import time
from collections.abc import Callable

from newsqa.bot.answer import Citation
from newsqa.database import Database

# Button passages are kept this long and at most this many (the oldest go first); the
# check runs once every CLEAN_EVERY writes, not at each.
SOURCES_KEEP_S = 7 * 24 * 3600.0
SOURCES_KEEP = 100_000
CLEAN_EVERY = 200


def sources_json(citations: list[Citation], passages: dict[int, tuple[str, int]]) -> str:
    return json.dumps(
        {
            "citations": [c.model_dump(mode="json") for c in citations],
            "passages": {str(n): [text, offset] for n, (text, offset) in passages.items()},
        }
    )


def sources_from_json(text: str) -> tuple[list[Citation], dict[int, tuple[str, int]]]:
    data = json.loads(text)
    citations = [Citation.model_validate(c) for c in data["citations"]]
    passages = {int(n): (str(p[0]), int(p[1])) for n, p in data["passages"].items()}
    return citations, passages


class DatabaseSources:
    """The buttons' passages by key (the key travels in the buttons' callback data), in
    the shared database: a press answered by another process finds them."""

    def __init__(self, db: Database, keep: int = SOURCES_KEEP, keep_s: float = SOURCES_KEEP_S):
        self.db = db
        self.keep = keep
        self.keep_s = keep_s
        self._writes = secrets.randbelow(CLEAN_EVERY)  # processes clean at different times

    def put(self, key: str, value: object) -> None:
        from newsqa.bot.telegram.state import Sources

        assert isinstance(value, Sources)
        now = time.time()
        with self.db.transaction() as db:
            db.execute(
                "INSERT INTO button_sources (key, created, body) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET created = excluded.created, body = excluded.body",
                (key, now, sources_json(value.citations, value.passages)),
            )
            self._writes += 1
            if self._writes % CLEAN_EVERY == 0:
                db.execute("DELETE FROM button_sources WHERE created < ?", (now - self.keep_s,))
                db.execute(
                    "DELETE FROM button_sources WHERE created < (SELECT created FROM "
                    "button_sources ORDER BY created DESC LIMIT 1 OFFSET ?)",
                    (self.keep,),
                )

    def get(self, key: str) -> object | None:
        from newsqa.bot.telegram.state import Sources

        body = self.db.execute("SELECT body FROM button_sources WHERE key = ?", (key,)).scalar()
        if body is None:
            return None
        citations, passages = sources_from_json(str(body))
        return Sources(citations, passages)


class DatabaseRateLimiter:
    """`access.RateLimiter` over the shared database: at most `per_minute` uses per user
    in any `window_s` seconds, counted over every process. A use is one row; a user's
    row in `rate_users` is locked (PostgreSQL: by the upsert; SQLite: by the write
    transaction) while their uses are counted, so two processes never both let the last
    one through."""

    def __init__(
        self,
        db: Database,
        scope: str,
        per_minute: int,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.scope = scope
        self.per_minute = per_minute
        self.window_s = window_s
        self.clock = clock
        self._takes = secrets.randbelow(CLEAN_EVERY)

    def check(self, user_id: int) -> float:
        return self.take(user_id, 1)

    def take(self, user_id: int, count: int) -> float:
        """Record `count` uses at once, or none: 0.0 when they fit in the window, else the
        seconds until they would (never fitting when `count` exceeds the limit: inf)."""
        if count > self.per_minute:
            return math.inf
        now = self.clock()
        scope = self.scope
        with self.db.transaction() as db:
            db.execute(
                "INSERT INTO rate_users (scope, user_id, warned, touched) VALUES (?, ?, 0, ?) "
                "ON CONFLICT (scope, user_id) DO UPDATE SET touched = excluded.touched",
                (scope, user_id, now),
            )
            db.execute(
                "DELETE FROM rate_hits WHERE scope = ? AND user_id = ? AND at <= ?",
                (scope, user_id, now - self.window_s),
            )
            hits = [
                float(row[0])
                for row in db.execute(
                    "SELECT at FROM rate_hits WHERE scope = ? AND user_id = ? ORDER BY at",
                    (scope, user_id),
                )
            ]
            over = len(hits) + count - self.per_minute
            if over > 0:  # the `over` oldest uses must leave the window first
                return max(0.1, self.window_s - (now - hits[over - 1]))
            for _ in range(count):
                db.execute(
                    "INSERT INTO rate_hits (scope, user_id, at) VALUES (?, ?, ?)",
                    (scope, user_id, now),
                )
            db.execute(
                "UPDATE rate_users SET warned = 0 WHERE scope = ? AND user_id = ?",
                (scope, user_id),
            )
            self._takes += 1
            if self._takes % CLEAN_EVERY == 0:  # users not seen for a window
                old = now - self.window_s
                db.execute("DELETE FROM rate_hits WHERE scope = ? AND at <= ?", (scope, old))
                db.execute("DELETE FROM rate_users WHERE scope = ? AND touched <= ?", (scope, old))
        return 0.0

    def should_warn(self, user_id: int) -> bool:
        """True once per limited stretch (over every process)."""
        changed = self.db.execute(
            "UPDATE rate_users SET warned = 1 WHERE scope = ? AND user_id = ? AND warned = 0",
            (self.scope, user_id),
        ).rowcount
        return changed > 0
