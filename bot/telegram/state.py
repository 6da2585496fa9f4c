"""What the handlers share, kept in `application.bot_data` (never in module globals)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from weakref import WeakValueDictionary

from newsqa.bot.answer import Citation
from newsqa.bot.bounded import Bounded
from newsqa.bot.retrieve import Candidate
from newsqa.bot.telegram.access import AccessPolicy, RateLimiter
from newsqa.leases import holder_name

if TYPE_CHECKING:
    from telegram.ext import CallbackContext

    from newsqa.bot.chain import Answerer
    from newsqa.bot.telegram.shared import DatabaseRateLimiter
    from newsqa.bot.watches import WatchStore
    from newsqa.database import Database
    from newsqa.index import BuildSummary
    from newsqa.index.web.follow import Follower
    from newsqa.leases import Refresher
    from newsqa.settings import Settings

STATE_KEY = "newsqa"


@dataclass(frozen=True)
class Sources:
    """What the "Source N" buttons of one answer show, kept so pressing one never re-runs
    the question: each citation with the passage around its quote (text and offset), not
    the retrieved articles, which can be long, 2,000 answers times over."""

    citations: list[Citation]
    passages: dict[int, tuple[str, int]]  # citation number -> (passage text, its offset)


class SourceKeeper(Protocol):
    """Where the buttons' sources are kept: this process (`Bounded`), or the shared
    database (`shared.DatabaseSources`)."""

    def put(self, key: str, value: Sources) -> None: ...

    def get(self, key: str) -> Sources | None: ...


@dataclass
class BotState:
    settings: Settings
    answerer: Answerer
    policy: AccessPolicy
    limiter: RateLimiter | DatabaseRateLimiter
    executor: ThreadPoolExecutor
    build: Callable[[], BuildSummary]
    follow: Follower
    add_limiter: RateLimiter | DatabaseRateLimiter
    answer_timeout_s: float = 30.0
    max_question_chars: int = 1000
    typing_every_s: float = 4.0
    sources: SourceKeeper = field(default_factory=lambda: Bounded(2000))
    reindexing: asyncio.Lock = field(default_factory=asyncio.Lock)
    pushing: asyncio.Lock = field(default_factory=asyncio.Lock)  # one outbox sender at a time
    _locks: WeakValueDictionary[str, asyncio.Lock] = field(default_factory=WeakValueDictionary)
    undo: list[Callable[[], None]] = field(default_factory=list)
    watches: WatchStore | None = None  # opened on first use (a bot starts writing nothing)
    database: Database | None = None  # the database processes share, when there is one
    holder: str = field(default_factory=holder_name)  # this process, as leases name it
    refresher: Refresher | None = None  # the timed refresh's lease, opened on first use

    def watch_store(self) -> WatchStore:
        """The watches and their outbox (`bot.watches`), opened on first use."""
        if self.watches is None:
            from newsqa.bot.watches import open_watches

            self.watches = open_watches(self.settings)
        return self.watches

    def feed_refresher(self) -> Refresher:
        """The lease that picks the one process that runs each timed refresh: in the shared
        database, else in the feeds file beside the index (this host's processes)."""
        if self.refresher is None:
            from newsqa.database import connect
            from newsqa.index.web.follow import FEEDS_FILE
            from newsqa.leases import Refresher

            db = self.database or connect(self.settings.index_dir / FEEDS_FILE)
            period = self.settings.refresh_minutes * 60
            self.refresher = Refresher(db, period, first_s=min(period, 10.0))
        return self.refresher

    def keep_sources(self, citations: list[Citation], candidates: list[Candidate]) -> str:
        """Store an answer's sources; the returned key goes into the buttons' callback data."""
        from newsqa.bot.telegram.format import passage_for

        key = secrets.token_hex(6)
        passages = {c.n: found for c in citations if (found := passage_for(c, candidates))}
        self.sources.put(key, Sources(list(citations), passages))
        return key

    def lock_for(self, conversation: str) -> asyncio.Lock:
        """One lock per conversation: its questions are answered in order."""
        lock = self._locks.get(conversation)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[conversation] = lock
        return lock


def get_state(holder: CallbackContext[Any, Any, Any, Any] | Any) -> BotState:
    """The shared state of a context's (or an application's) bot."""
    return holder.bot_data[STATE_KEY]  # type: ignore[no-any-return]
