"""Conversations: bounded per-conversation history, and follow-up rewriting.

Every question is rewritten into a standalone one before retrieval. Without an LLM
the rewrite is deterministic: a pronoun that points at a person takes the name from
the previous answer, "it"/"they"/"there" take the previous question's topic, and
"What about X?" repeats the previous question about X.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from collections import OrderedDict, deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bot.answer_types import AType, candidates, question_type

_PERSON_PRONOUN = re.compile(r"\b(he|she|him|his|her|hers)\b", re.I)
_THING_PRONOUN = re.compile(r"\b(it|its|they|them|their|there|this|that|these|those)\b", re.I)
_WHAT_ABOUT = re.compile(r"^\s*(?:(?:and\s+)?what\s+about|how\s+about|and)\s+(.+?)\s*\??\s*$", re.I)
_LEAD = re.compile(
    r"^\s*(?:who|whom|whose|what|which|when|where|why|how(?:\s+many|\s+much)?)\s+"
    r"(?:is|are|was|were|will|would|did|does|do|has|have|had|can|could|should)\s+",
    re.I,
)


@dataclass(frozen=True)
class Turn:
    question: str
    standalone: str
    short_answer: str | None
    quote: str | None
    passages: tuple[str, ...] = ()  # ids of the passages the answer cited: a retrieval hint


@dataclass
class Conversation:
    turns: deque[Turn]
    touched: float = field(default_factory=time.monotonic)


def _topic(standalone: str) -> str | None:
    """The noun phrase a question was about: "When is the next round?" → "the next round"."""
    match = _LEAD.match(standalone)
    if not match:
        return None
    rest = standalone[match.end() :].rstrip(" ?.!")
    words = rest.split()
    # Stop before a trailing verb phrase ("the talks held" → "the talks").
    for i, word in enumerate(words[1:], start=1):
        if word.lower() in {
            "be",
            "been",
            "take",
            "took",
            "held",
            "begin",
            "start",
            "end",
            "happen",
            "say",
            "said",
            "send",
            "sent",
            "do",
            "go",
            "meet",
        }:
            words = words[:i]
            break
    return " ".join(words) or None


def _person(turn: Turn) -> str | None:
    if turn.short_answer and question_type(turn.standalone) is AType.PERSON:
        return turn.short_answer
    for text in (turn.short_answer, turn.quote):
        if text:
            names = [s.text for s in candidates(text, AType.PERSON, turn.standalone)]
            multiword = [n for n in names if len(n.split()) > 1]
            if multiword or names:
                return (multiword or names)[-1]
    return None


def rewrite(question: str, history: list[Turn]) -> str:
    """A standalone version of `question` given the turns before it."""
    if not history:
        return question
    previous = history[-1]
    about = _WHAT_ABOUT.match(question)
    if about:
        subject = about.group(1)
        names = candidates(previous.standalone, AType.ENTITY, "")
        if names:
            swap = names[-1]
            head = previous.standalone[: swap.start]
            if subject[:1].isupper() and head.lower().endswith("the "):
                head = head[:-4]  # "the US" → "Russia", not "the Russia"
            return head + subject + previous.standalone[swap.end :]
        return f"{previous.standalone.rstrip(' ?')} ({subject})?"
    if _PERSON_PRONOUN.search(question):
        person = _person(previous)
        if person:

            def name(match: re.Match[str]) -> str:
                word = match.group(1).lower()
                return (
                    f"{person}'s"
                    if word in {"his", "hers"}
                    or (word == "her" and _possessive_her(question, match.end()))
                    else person
                )

            return _PERSON_PRONOUN.sub(name, question)
    if _THING_PRONOUN.search(question):
        topic = _topic(previous.standalone)
        if topic:
            return _THING_PRONOUN.sub(
                lambda m: (
                    topic
                    if m.group(1).lower()
                    in {"it", "they", "them", "this", "that", "these", "those"}
                    else f"{topic}'s"
                    if m.group(1).lower() in {"its", "their"}
                    else m.group(0)
                ),
                question,
                count=1,
            )
        return f"{question.rstrip(' ?')} ({previous.standalone.rstrip(' ?')})?"
    return question


def _possessive_her(question: str, after: int) -> bool:
    """ "her job" (possessive) rather than "ask her" (object)."""
    rest = question[after:].lstrip()
    return bool(rest) and rest[0].isalpha() and not rest.lower().startswith(("and ", "or "))


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
    return Turn(**data)


Conversations = ConversationStore | SqliteConversationStore
