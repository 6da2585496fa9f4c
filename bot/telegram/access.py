"""Who may use the bot (allow-list, admins) and how often (a per-user rate limit)."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


@dataclass
class AccessPolicy:
    """An empty allow-list lets everyone in; admins are always allowed."""

    allowed: frozenset[int] = frozenset()
    admins: frozenset[int] = frozenset()
    max_refused: int = 10_000
    _refused: OrderedDict[int, None] = field(default_factory=OrderedDict, repr=False)

    @classmethod
    def of(cls, allowed: Iterable[int], admins: Iterable[int]) -> AccessPolicy:
        return cls(frozenset(allowed), frozenset(admins))

    @property
    def open(self) -> bool:
        return not self.allowed

    def allows(self, user_id: int | None, chat_id: int | None) -> bool:
        """True when the user or the chat is on the allow-list (or there is none)."""
        if self.open:
            return True
        ids = {i for i in (user_id, chat_id) if i is not None}
        return bool(ids & (self.allowed | self.admins))

    def is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.admins

    def first_refusal(self, user_id: int) -> bool:
        """True the first time a refused user is seen: they get one polite refusal."""
        if user_id in self._refused:
            return False
        self._refused[user_id] = None
        while len(self._refused) > self.max_refused:
            self._refused.popitem(last=False)
        return True


class RateLimiter:
    """At most `per_minute` questions per user in any 60-second window.

    `check` returns 0 when the question may go ahead (and counts it), else the seconds
    until it may; `should_warn` is True once per limited stretch, so a burst gets one
    message, not one per question.
    """

    def __init__(
        self,
        per_minute: int,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_users: int = 10_000,
    ) -> None:
        self.per_minute = per_minute
        self.window_s = window_s
        self.clock = clock
        self.max_users = max_users
        self._hits: OrderedDict[int, deque[float]] = OrderedDict()
        self._warned: set[int] = set()
        self._lock = threading.Lock()

    def check(self, user_id: int) -> float:
        return self.take(user_id, 1)

    def take(self, user_id: int, count: int) -> float:
        """Record `count` uses at once, or none: 0.0 when they fit in the window, else the
        seconds until they would (never fitting when `count` exceeds the limit: inf)."""
        if count > self.per_minute:
            return math.inf
        now = self.clock()
        with self._lock:
            hits = self._hits.setdefault(user_id, deque())
            self._hits.move_to_end(user_id)
            while hits and now - hits[0] >= self.window_s:
                hits.popleft()
            over = len(hits) + count - self.per_minute
            if over > 0:  # the `over` oldest uses must leave the window first
                return max(0.1, self.window_s - (now - hits[over - 1]))
            hits.extend([now] * count)
            self._warned.discard(user_id)
            while len(self._hits) > self.max_users:
                old, _ = self._hits.popitem(last=False)
                self._warned.discard(old)
            return 0.0

    def should_warn(self, user_id: int) -> bool:
        with self._lock:
            if user_id in self._warned:
                return False
            self._warned.add(user_id)
            return True
