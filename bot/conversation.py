"""Conversations: each one's recent turns (what was asked, what was answered, and which
passages were retrieved and cited), bounded in turns, idle time and number, in memory or
in the database that several bot processes share (a SQLite file, or PostgreSQL). The last
turn is the one place that says what a conversation's last answer was: follow-ups and
`/sources` read it from here.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict, deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

from newsqa.database import Database, connect


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


class DatabaseConversationStore:
    """The same store in a database: a SQLite file shared by the bot processes of one
    host (`NEWSQA_CONVERSATIONS_DB`), or the PostgreSQL database of several hosts
    (`NEWSQA_DATABASE_URL`).

    When several processes serve one bot, a chat's next update may reach another
    process; they all read and write the same turns.
    """

    def __init__(
        self,
        target: Path | str | Database,
        max_turns: int = 6,
        max_conversations: int = 10_000,
        idle_seconds: float = 3600.0,
    ) -> None:
        self.max_turns = max_turns
        self.max_conversations = max_conversations
        self.idle_seconds = idle_seconds
        self._owned = not isinstance(target, Database)
        self.db = connect(target, wal=True) if not isinstance(target, Database) else target

    def close(self) -> None:
        if self._owned:
            self.db.close()

    def __len__(self) -> int:
        return int(self.db.execute("SELECT COUNT(DISTINCT key) FROM turns").scalar() or 0)

    def history(self, key: str) -> list[Turn]:
        since = time.time() - self.idle_seconds
        rows = self.db.execute(
            "SELECT turn FROM turns WHERE key = ? AND at >= ? ORDER BY at DESC LIMIT ?",
            (key, since, self.max_turns),
        ).fetchall()
        # A conversation whose last turn is too old is over: drop it.
        if not rows:
            self.db.execute("DELETE FROM turns WHERE key = ?", (key,))
        return [_turn_from_json(row[0]) for row in reversed(rows)]

    def add(self, key: str, turn: Turn) -> None:
        with self.db.transaction() as db:
            db.execute(
                "INSERT INTO turns (key, at, turn) VALUES (?, ?, ?)",
                (key, time.time(), json.dumps(asdict(turn))),
            )
            db.execute(
                "DELETE FROM turns WHERE key = ? AND at < (SELECT MIN(at) FROM (SELECT at "
                "FROM turns WHERE key = ? ORDER BY at DESC LIMIT ?) kept)",
                (key, key, self.max_turns),
            )
            db.execute(
                "DELETE FROM turns WHERE key IN (SELECT key FROM turns GROUP BY key "
                "ORDER BY MAX(at) DESC LIMIT ? OFFSET ?)",
                (_ALL, self.max_conversations),
            )

    def reset(self, key: str) -> None:
        self.db.execute("DELETE FROM turns WHERE key = ?", (key,))


SqliteConversationStore = DatabaseConversationStore  # its name before PostgreSQL
_ALL = 2**62  # "no limit" in a LIMIT … OFFSET that both SQLite and PostgreSQL accept


def _turn_from_json(text: str) -> Turn:
    data = json.loads(text)
    data["passages"] = tuple(data.get("passages") or ())
    data["retrieved"] = tuple(data.get("retrieved") or ())
    return Turn(**data)


Conversations = ConversationStore | DatabaseConversationStore
