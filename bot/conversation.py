"""Conversations: each one's recent turns (what was asked, what was answered, and which
passages were retrieved and cited), bounded in turns, idle time and number, in memory or
in a SQLite file that several bot processes share. The last turn is the one place that
says what a conversation's last answer was: follow-ups and `/sources` read it from here.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import OrderedDict, deque
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Turn:
    question: str
    standalone: str
    short_answer: str | None
    quote: str | None
    passages: tuple[str, ...] = ()  # ids of the passages the answer cited: a retrieval hint
    retrieved: tuple[str, ...] = ()  # ids of every passage retrieved, best first (/sources)


@dataclass
class Conversation:
    turns: deque[Turn]
    touched: float = field(default_factory=time.monotonic)


class ConversationStore:
    """Histories keyed by conversation id, bounded in turns, idle time and count."""

    def __init__(
        self, max_turns: int = 6, max_conversations: int = 10_000, idle_seconds: float = 3600.0
    ) -> None:
        self.max_turns = max_turns
        self.max_conversations = max_conversations
        self.idle_seconds = idle_seconds
        self._items: OrderedDict[str, Conversation] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def history(self, key: str) -> list[Turn]:
        with self._lock:
            item = self._items.get(key)
            if item is None or time.monotonic() - item.touched > self.idle_seconds:
                self._items.pop(key, None)
                return []
            return list(item.turns)

    def add(self, key: str, turn: Turn) -> None:
        with self._lock:
            item = self._items.pop(key, None)
            if item is None:
                item = Conversation(deque(maxlen=self.max_turns))
            item.turns.append(turn)
            item.touched = time.monotonic()
            self._items[key] = item
            while len(self._items) > self.max_conversations:
                self._items.popitem(last=False)

    def reset(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)


class SqliteConversationStore:
    """The same store in a SQLite file, shared by every bot process on one host.

    When several processes serve one bot, a chat's next update may reach another
    process; with `NEWSQA_CONVERSATIONS_DB` set they all read and write the same turns.
    """

    def __init__(
        self,
        path: Path,
        max_turns: int = 6,
        max_conversations: int = 10_000,
        idle_seconds: float = 3600.0,
    ) -> None:
        self.max_turns = max_turns
        self.max_conversations = max_conversations
        self.idle_seconds = idle_seconds
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            path, timeout=10.0, check_same_thread=False, isolation_level=None
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS turns (key TEXT NOT NULL, at REAL NOT NULL, "
            "turn TEXT NOT NULL)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS turns_key ON turns(key, at)")
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(DISTINCT key) FROM turns").fetchone()[0])

    def history(self, key: str) -> list[Turn]:
        since = time.time() - self.idle_seconds
        with self._lock:
            rows = self._db.execute(
                "SELECT turn FROM turns WHERE key = ? AND at >= ? ORDER BY at DESC, rowid DESC "
                "LIMIT ?",
                (key, since, self.max_turns),
            ).fetchall()
            # A conversation whose last turn is too old is over: drop it.
            if not rows:
                self._db.execute("DELETE FROM turns WHERE key = ?", (key,))
        return [_turn_from_json(row[0]) for row in reversed(rows)]

    def add(self, key: str, turn: Turn) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT INTO turns VALUES (?, ?, ?)",
                    (key, time.time(), json.dumps(asdict(turn))),
                )
                self._db.execute(
                    "DELETE FROM turns WHERE key = ? AND rowid NOT IN (SELECT rowid FROM turns "
                    "WHERE key = ? ORDER BY at DESC, rowid DESC LIMIT ?)",
                    (key, key, self.max_turns),
                )
                self._db.execute(
                    "DELETE FROM turns WHERE key IN (SELECT key FROM turns GROUP BY key "
                    "ORDER BY MAX(at) DESC LIMIT -1 OFFSET ?)",
                    (self.max_conversations,),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def reset(self, key: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM turns WHERE key = ?", (key,))


def _turn_from_json(text: str) -> Turn:
    data = json.loads(text)
    data["passages"] = tuple(data.get("passages") or ())
    data["retrieved"] = tuple(data.get("retrieved") or ())
    return Turn(**data)


Conversations = ConversationStore | SqliteConversationStore
