"""RSS/Atom feed subscriptions: their state in the database, parsing, and the feed half of a
refresh.

`FeedStore` keeps the feed list and each feed's state (conditional-request validators,
consecutive failures and backoff, entries already seen) in the shared database: usually the
SQLite file `<index_dir>/feeds.sqlite`, shared safely by several processes, or the
PostgreSQL database `NEWSQA_DATABASE_URL` names (see `newsqa.database`).

`parse_feed` turns a fetched body into a `ParsedFeed` of `FeedEntry`s with stable keys.

`refresh_feeds` fetches every due feed concurrently with conditional GETs and returns a
`FeedsReport` with the new entries per feed. It does not mark entries seen: the caller
fetches the articles and calls `FeedStore.mark_seen` for those it saved (or gave up on
for good), so an article fetch that fails is tried again at the next refresh.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import io
import json
import re
import time
from collections.abc import Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit, urlunsplit

from newsqa.database import BUSY_TIMEOUT_S, Database, DatabaseError, connect
from newsqa.index.web.fetch import FEED_TYPES, Fetched, Fetcher, FetchError

RETRY_BASE = timedelta(minutes=30)  # the first wait after a failure; doubles each time
MAX_BACKOFF = timedelta(hours=24)
SUMMARY_CHARS = 1000
# HTML is accepted from the server (FEED_TYPES has text/html already), so that a feed URL
# that now serves a web page gets a clear message from `parse_feed`, not a type refusal.
FEED_ACCEPT: frozenset[str] = frozenset(FEED_TYPES) | {"text/html", "application/xhtml+xml"}

Outcome = Literal["new", "unchanged", "failed", "skipped"]


class FeedError(Exception):
    """A feed problem for the user; `str(exc)` is one line."""

    def __init__(self, message: str) -> None:
        super().__init__(_one_line(message))


# --------------------------------------------------------------------------------------
# Data


@dataclass(frozen=True)
class FeedEntry:
    """One feed item: `key` identifies it within its feed (id/guid, else link, else a hash)."""

    key: str
    link: str
    title: str | None = None
    published: str | None = None  # ISO 8601, UTC, when the feed gave a date
    summary: str | None = None  # plain text, at most SUMMARY_CHARS
    feed_id: int | None = None  # set by `refresh_feeds`


@dataclass(frozen=True)
class ParsedFeed:
    """What `parse_feed` found: the feed's title, its usable entries, and what it skipped."""

    title: str | None
    entries: list[FeedEntry]
    skipped_without_link: int = 0
    duplicates: int = 0
    warning: str | None = None  # why feedparser found the feed malformed, if it did


@dataclass(frozen=True)
class Feed:
    """A subscription and its state. Times are timezone-aware UTC datetimes."""

    id: int
    url: str
    title: str | None
    added_at: datetime
    etag: str | None = None
    last_modified: str | None = None
    last_checked: datetime | None = None
    last_ok: datetime | None = None
    failures: int = 0  # consecutive
    failing_since: datetime | None = None
    next_try: datetime | None = None  # set while backing off after failures
    last_error: str | None = None
    last_new: int | None = None  # new entries found at the last successful refresh

    @property
    def name(self) -> str:
        """The title if known, else the URL."""
        return self.title or self.url

    @property
    def status(self) -> str:
        """One line for listings (times in UTC), e.g. "ok, 3 new at 2026-11-30 10:02" or
        "failing ×4 since 2026-11-30 08:00: example.com: 404 Not Found; next try 11:40"."""
        if self.failures:
            return f"{self._failing}: {self.last_error or 'unknown error'}{self._next}"
        if self.last_ok is not None:
            return f"ok, {self.last_new or 0} new at {_show(self.last_ok)}"
        return "not checked yet"

    @property
    def _failing(self) -> str:
        return f"failing ×{self.failures} since {_show(self.failing_since or self.last_checked)}"

    @property
    def _next(self) -> str:
        if self.next_try is None:
            return ""
        same_day = (
            self.last_checked is not None and self.next_try.date() == self.last_checked.date()
        )
        return "; next try " + (
            self.next_try.strftime("%H:%M") if same_day else _show(self.next_try)
        )


@dataclass(frozen=True)
class FeedResult:
    """What one refresh did with one feed."""

    feed: Feed
    outcome: Outcome
    entries: list[FeedEntry] = field(default_factory=list)  # new entries, with feed_id set
    error: str | None = None
    skipped_without_link: int = 0
    status: int | None = None  # HTTP status: 200, 304, or None when it was not fetched

    @property
    def summary(self) -> str:
        """One line for the user, e.g. "Example News: 3 new"."""
        name = self.feed.name
        if self.outcome == "new":
            text = f"{name}: {len(self.entries)} new"
        elif self.outcome == "unchanged":
            text = f"{name}: unchanged"
        elif self.outcome == "failed":
            text = f"{name}: failed: {self.error} ({self.feed._failing}{self.feed._next})"
        else:
            until = _show(self.feed.next_try) if self.feed.next_try else "later"
            text = f"{name}: skipped (backing off until {until}): {self.feed.last_error}"
        if self.skipped_without_link:
            text += f"; {self.skipped_without_link} entries without a link skipped"
        return text


@dataclass(frozen=True)
class FeedsReport:
    """Everything one `refresh_feeds` call did, one `FeedResult` per feed, in feed order."""

    results: list[FeedResult]
    seconds: float = 0.0

    @property
    def new_entries(self) -> list[FeedEntry]:
        return [entry for result in self.results for entry in result.entries]

    @property
    def failed(self) -> list[FeedResult]:
        return [result for result in self.results if result.outcome == "failed"]

    @property
    def skipped(self) -> list[FeedResult]:
        return [result for result in self.results if result.outcome == "skipped"]

    def lines(self) -> list[str]:
        return [result.summary for result in self.results]


# --------------------------------------------------------------------------------------
# The store


_FEED_COLUMNS = (
    "id, url, title, added_at, etag, last_modified, last_checked, last_ok, failures, "
    "failing_since, next_try, last_error, last_new"
)
_CHUNK = 500  # bound parameters per statement


class FeedStore:
    """The feed list and each feed's state, in a database shared by processes (the
    tables are in `newsqa.schema`).

    A SQLite file uses SQLite's default rollback journal, not WAL: WAL needs shared memory
    between all processes using the file, which does not work when the index folder is
    on a network filesystem. Feeds change a few times per refresh, so the rollback
    journal's cost is negligible. A write waits up to BUSY_TIMEOUT_S for another writer
    and takes its lock at the start (`BEGIN IMMEDIATE`), so a reader never has to upgrade
    to a writer and fail.
    """

    def __init__(
        self, target: Path | str | Database, *, busy_timeout: float = BUSY_TIMEOUT_S
    ) -> None:
        self._owned = not isinstance(target, Database)
        self.path = Path(target) if isinstance(target, Path) else None
        if isinstance(target, Database):
            self.db = target
            return
        try:
            self.db = connect(target)
        except DatabaseError as exc:
            raise FeedError(str(exc)) from None

    def close(self) -> None:
        """Close the database (when this store opened it)."""
        if self._owned:
            self.db.close()

    def __enter__(self) -> FeedStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the feed list

    def add(self, url: str, *, now: datetime | None = None) -> Feed:
        """Subscribe to `url` (normalized); FeedError for a bad URL or a duplicate."""
        url = normalize_feed_url(url)
        try:
            with self.db.transaction() as db:
                feed_id = db.execute(
                    "INSERT INTO feeds (url, added_at) VALUES (?, ?) RETURNING id",
                    (url, _iso(_now(now))),
                ).scalar()
        except self.db.IntegrityError:
            existing = self._find_url(url)
            number = f" (feed {existing.id})" if existing else ""
            raise FeedError(f"already subscribed to {url}{number}") from None
        assert feed_id is not None
        return self.get(feed_id)

    def list(self) -> list[Feed]:
        rows = self.db.execute(f"SELECT {_FEED_COLUMNS} FROM feeds ORDER BY id").fetchall()
        return [_feed(row) for row in rows]

    def get(self, feed_id: int) -> Feed:
        row = self.db.execute(
            f"SELECT {_FEED_COLUMNS} FROM feeds WHERE id = ?", (feed_id,)
        ).fetchone()
        if row is None:
            raise FeedError(f"no feed {feed_id}; see `newsqa feeds list`")
        return _feed(row)

    def _find_url(self, url: str) -> Feed | None:
        query = f"SELECT {_FEED_COLUMNS} FROM feeds WHERE url = ?"
        row = self.db.execute(query, (url,)).fetchone()
        return _feed(row) if row else None

    def find(self, id_or_url: int | str) -> Feed:
        """The feed with this id (a number, or digits) or URL; FeedError when there is none."""
        if isinstance(id_or_url, int) or str(id_or_url).strip().isdigit():
            return self.get(int(id_or_url))
        try:
            url = normalize_feed_url(str(id_or_url))
        except FeedError:
            url = str(id_or_url).strip()
        feed = self._find_url(url)
        if feed is None:
            raise FeedError(f"no feed {url}; see `newsqa feeds list`")
        return feed

    def remove(self, id_or_url: int | str) -> Feed:
        """Unsubscribe (the feed's seen entries go with it); returns the removed feed."""
        feed = self.find(id_or_url)
        with self.db.transaction() as db:
            db.execute("DELETE FROM feeds WHERE id = ?", (feed.id,))
        return feed

    def due(self, now: datetime | None = None) -> list[Feed]:
        """Feeds to fetch now: all but those backing off after failures."""
        rows = self.db.execute(
            f"SELECT {_FEED_COLUMNS} FROM feeds WHERE next_try IS NULL OR next_try <= ? "
            "ORDER BY id",
            (_iso(_now(now)),),
        ).fetchall()
        return [_feed(row) for row in rows]

    # -- refresh outcomes

    def record_success(
        self,
        feed_id: int,
        *,
        now: datetime | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        title: str | None = None,
        new: int = 0,
    ) -> None:
        """A fetch worked: store the validators, clear failures, set the title if unset."""
        stamp = _iso(_now(now))
        with self.db.transaction() as db:
            db.execute(
                "UPDATE feeds SET etag = ?, last_modified = ?, last_checked = ?, last_ok = ?, "
                "failures = 0, failing_since = NULL, next_try = NULL, last_error = NULL, "
                "last_new = ?, title = COALESCE(NULLIF(title, ''), ?) WHERE id = ?",
                (etag, last_modified, stamp, stamp, new, title or None, feed_id),
            )

    def forget_validators(self, feed_id: int) -> None:
        """Make the next request for this feed a full one (no If-None-Match or
        If-Modified-Since): some of its entries were not taken and must be seen again."""
        with self.db.transaction() as db:
            db.execute(
                "UPDATE feeds SET etag = NULL, last_modified = NULL WHERE id = ?", (feed_id,)
            )

    def record_failure(
        self,
        feed_id: int,
        error: str,
        *,
        now: datetime | None = None,
        retry_base: timedelta = RETRY_BASE,
        max_backoff: timedelta = MAX_BACKOFF,
    ) -> Feed:
        """A fetch failed: count it and back off; the feed stays. Returns its new state.

        next_try = now + min(max_backoff, retry_base * 2 ** (failures - 1)), where
        `failures` counts consecutive failures including this one.
        """
        when = _now(now)
        with self.db.transaction() as db:
            row = db.execute("SELECT failures FROM feeds WHERE id = ?", (feed_id,)).fetchone()
            if row is None:
                raise FeedError(f"no feed {feed_id}; see `newsqa feeds list`")
            failures = int(row[0]) + 1
            db.execute(
                "UPDATE feeds SET failures = ?, failing_since = COALESCE(failing_since, ?), "
                "last_checked = ?, next_try = ?, last_error = ? WHERE id = ?",
                (
                    failures,
                    _iso(when),
                    _iso(when),
                    _iso(when + backoff(failures, retry_base, max_backoff)),
                    _one_line(error),
                    feed_id,
                ),
            )
        return self.get(feed_id)

    # -- entries already seen

    def seen(self, feed_id: int, keys: Iterable[str]) -> set[str]:
        """Which of `keys` were already marked seen for this feed."""
        keys = list(dict.fromkeys(keys))
        found: set[str] = set()
        db = self.db
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = db.execute(
                f"SELECT entry_key FROM seen WHERE feed_id = ? AND entry_key IN ({marks})",
                (feed_id, *chunk),
            )
            found.update(row[0] for row in rows)
        return found

    def mark_seen(
        self, feed_id: int, entries: Iterable[FeedEntry], *, now: datetime | None = None
    ) -> int:
        """Remember entries so later refreshes skip them; returns how many were new.

        A no-op for a feed removed in the meantime.
        """
        stamp = _iso(_now(now))
        rows = [(feed_id, e.key, e.link, e.published, stamp, feed_id) for e in entries]
        if not rows:
            return 0
        added = 0
        with self.db.transaction() as db:
            for row in rows:
                added += db.execute(
                    "INSERT INTO seen (feed_id, entry_key, link, published, first_seen) "
                    "SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM feeds WHERE id = ?) "
                    "ON CONFLICT DO NOTHING",
                    row,
                ).rowcount
        return added

    def seen_count(self, feed_id: int) -> int:
        row = self.db.execute("SELECT COUNT(*) FROM seen WHERE feed_id = ?", (feed_id,))
        return int(row.scalar())


def backoff(
    failures: int, retry_base: timedelta = RETRY_BASE, max_backoff: timedelta = MAX_BACKOFF
) -> timedelta:
    """The wait after `failures` consecutive failures: base, 2×base, 4×base, … up to max."""
    if failures <= 0:
        return timedelta(0)
    return min(max_backoff, retry_base * 2 ** min(failures - 1, 30))


def normalize_feed_url(url: str) -> str:
    """The canonical form of a feed URL; FeedError unless it is a plain http(s) URL."""
    text = url.strip()
    if not text:
        raise FeedError("no feed URL given")
    if text.lower().startswith("feed://"):
        text = "http://" + text[len("feed://") :]
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise FeedError(f"not a valid URL: {text} ({exc})") from None
    scheme = parts.scheme.lower()
    has_scheme = "://" in text or scheme in ("file", "ftp", "mailto", "javascript", "data")
    if has_scheme and scheme not in ("http", "https"):
        raise FeedError(f"only http and https feeds are supported, not {scheme}: {text}")
    if not has_scheme or not parts.netloc:
        raise FeedError(f"not a full URL: {text}; give it as https://example.com/feed.xml")
    if parts.username is not None or parts.password is not None:
        raise FeedError(f"feed URLs with a user name or password are not supported: {text}")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise FeedError(f"the URL has no host name: {text}")
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[scheme]
    netloc = host if port in (None, default) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def _feed(row: Sequence[Any]) -> Feed:
    return Feed(
        id=row[0],
        url=row[1],
        title=row[2],
        added_at=_parse_iso(row[3]) or datetime.fromtimestamp(0, UTC),
        etag=row[4],
        last_modified=row[5],
        last_checked=_parse_iso(row[6]),
        last_ok=_parse_iso(row[7]),
        failures=row[8] or 0,
        failing_since=_parse_iso(row[9]),
        next_try=_parse_iso(row[10]),
        last_error=row[11],
        last_new=row[12],
    )


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def _iso(when: datetime) -> str:
    # One fixed format in UTC, so that text comparison in SQL is time comparison.
    return _now(when).isoformat(timespec="seconds")


def _parse_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _show(when: datetime | None) -> str:
    return when.strftime("%Y-%m-%d %H:%M") if when else "?"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


# --------------------------------------------------------------------------------------
# Parsing

_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html[\s>])", re.I | re.S)
_TAG = re.compile(r"<[^>]*>")


def parse_feed(fetched: Fetched) -> ParsedFeed:
    """The entries of an RSS, Atom or JSON Feed document; FeedError when it is not a feed.

    A malformed ("bozo") feed is accepted when feedparser still found entries in it.
    Duplicate keys keep the first entry; entries without an http(s) link are skipped
    and counted; relative links are resolved against the feed's final URL.
    """
    body = fetched.body.lstrip(b"\xef\xbb\xbf")
    if not body.strip():
        raise FeedError("the feed URL returned an empty document")
    if body.lstrip()[:1] == b"{":
        return _parse_json_feed(fetched, body)

    import feedparser  # imported on first use: it is slow to import

    headers = {"content-location": fetched.final_url or fetched.url}
    content_type = fetched.headers.get("content-type")
    if content_type:
        headers["content-type"] = content_type
    parsed = feedparser.parse(io.BytesIO(fetched.body), response_headers=headers)
    version = parsed.get("version") or ""
    raw_entries = parsed.get("entries") or []
    problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
    warning = _one_line(f"{type(problem).__name__}: {problem}") if problem else None
    if not raw_entries:
        looks_html = bool(_HTML_START.match(body[:2048])) or (
            not version and fetched.content_type in ("text/html", "application/xhtml+xml")
        )
        if looks_html:
            raise FeedError("the feed URL now serves a web page, not RSS/Atom")
        if not version:
            raise FeedError(
                "the feed URL does not serve RSS or Atom" + (f" ({warning})" if warning else "")
            )
        if problem is not None:
            raise FeedError(f"the feed is malformed and has no usable entries ({warning})")
    items = (
        (raw.get("id"), raw.get("link"), raw.get("title"), raw.get("summary"), _entry_date(raw))
        for raw in raw_entries
    )
    entries, without_link, duplicates = _entries(items, fetched.final_url or fetched.url)
    return ParsedFeed(
        title=_plain((parsed.get("feed") or {}).get("title")),
        entries=entries,
        skipped_without_link=without_link,
        duplicates=duplicates,
        warning=warning,
    )


def _parse_json_feed(fetched: Fetched, body: bytes) -> ParsedFeed:
    """A JSON Feed (https://jsonfeed.org) document; feedparser does not read these."""
    try:
        data = json.loads(body.decode(fetched.charset or "utf-8", errors="replace"))
    except (ValueError, LookupError) as exc:
        raise FeedError(f"the feed URL serves broken JSON ({exc})") from None
    version = data.get("version") if isinstance(data, dict) else None
    if not isinstance(version, str) or "jsonfeed.org" not in version:
        raise FeedError("the feed URL serves JSON that is not a JSON Feed")
    raw_items = data.get("items")
    items = (
        (
            raw.get("id"),
            raw.get("url") or raw.get("external_url"),
            raw.get("title"),
            raw.get("summary") or raw.get("content_text") or raw.get("content_html"),
            _json_date(raw.get("date_published") or raw.get("date_modified")),
        )
        for raw in (raw_items if isinstance(raw_items, list) else [])
        if isinstance(raw, dict)
    )
    entries, without_link, duplicates = _entries(items, fetched.final_url or fetched.url)
    return ParsedFeed(
        title=_plain(data.get("title")),
        entries=entries,
        skipped_without_link=without_link,
        duplicates=duplicates,
    )


def _entries(
    items: Iterable[tuple[object, object, object, object, str | None]], base: str
) -> tuple[list[FeedEntry], int, int]:
    """FeedEntries from (id, link, title, summary, published) tuples, first of each key."""
    entries: list[FeedEntry] = []
    keys: set[str] = set()
    without_link = duplicates = 0
    for raw_id, raw_link, raw_title, raw_summary, published in items:
        link = _http_link(base, raw_link)
        if link is None:
            without_link += 1
            continue
        title = _plain(raw_title)
        summary = _plain(raw_summary)
        key = entry_key(raw_id, link, title, summary)
        if key in keys:
            duplicates += 1
            continue
        keys.add(key)
        summary = summary[:SUMMARY_CHARS] if summary else None
        entries.append(FeedEntry(key, link, title, published, summary))
    return entries, without_link, duplicates


def entry_key(raw_id: object, link: str | None, title: str | None, summary: str | None) -> str:
    """An entry's key in its feed: its id/guid, else its link, else sha1 of title and summary."""
    key = _one_line(str(raw_id)) if raw_id not in (None, "") else ""
    if key:
        return key
    if link:
        return link
    return "sha1:" + hashlib.sha1(f"{title or ''}\n{summary or ''}".encode()).hexdigest()


def _http_link(base: str, link: object) -> str | None:
    if not isinstance(link, str) or not link.strip():
        return None
    absolute = urljoin(base, link.strip())
    try:
        parts = urlsplit(absolute)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return absolute


def _plain(text: object) -> str | None:
    if not isinstance(text, str):
        return None
    plain = _one_line(html.unescape(_TAG.sub(" ", text)))
    return plain or None


def _json_date(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return _iso(when)


def _entry_date(raw: Any) -> str | None:
    for name in ("published_parsed", "updated_parsed", "created_parsed"):
        value = raw.get(name)
        if value:
            try:
                return datetime(*value[:6], tzinfo=UTC).isoformat(timespec="seconds")
            except (TypeError, ValueError, OverflowError):
                continue
    return None


# --------------------------------------------------------------------------------------
# Refresh


@dataclass(frozen=True)
class _Fetch:
    feed: Feed
    fetched: Fetched | None = None
    parsed: ParsedFeed | None = None
    error: str | None = None


def _fetch_one(fetcher: Fetcher, feed: Feed, accept: Collection[str]) -> _Fetch:
    try:
        fetched = fetcher.get(
            feed.url, accept=accept, etag=feed.etag, last_modified=feed.last_modified
        )
        if fetched.status == 304:
            return _Fetch(feed, fetched)
        return _Fetch(feed, fetched, parse_feed(fetched))
    except (FetchError, FeedError) as exc:
        return _Fetch(feed, error=_one_line(str(exc)) or type(exc).__name__)
    except Exception as exc:  # one broken feed must not stop the others
        return _Fetch(feed, error=_one_line(f"unexpected {type(exc).__name__}: {exc}"))


def refresh_feeds(
    store: FeedStore,
    fetcher: Fetcher,
    *,
    now: datetime | None = None,
    workers: int = 8,
    max_entries_per_feed: int = 50,
    retry_base: timedelta = RETRY_BASE,
    max_backoff: timedelta = MAX_BACKOFF,
    force: bool = False,
) -> FeedsReport:
    """Fetch every due feed (all of them with `force`) and report what is new.

    Fetching and parsing run in `workers` threads; the store is only touched from the
    calling thread, one short transaction per feed. New entries are the newest
    `max_entries_per_feed` not yet seen; they are NOT marked seen here: call
    `store.mark_seen(entry.feed_id, ...)` once their articles are saved. A failed feed
    is kept and backs off (see `FeedStore.record_failure`).
    """
    started = time.perf_counter()
    when = _now(now)
    feeds = store.list()
    due_ids = {feed.id for feed in (feeds if force else store.due(when))}
    results: dict[int, FeedResult] = {
        feed.id: FeedResult(feed, "skipped") for feed in feeds if feed.id not in due_ids
    }
    to_fetch = [feed for feed in feeds if feed.id in due_ids]
    if to_fetch:
        pool_size = max(1, min(workers, len(to_fetch)))
        with ThreadPoolExecutor(pool_size, thread_name_prefix="feed") as pool:
            futures = [pool.submit(_fetch_one, fetcher, f, FEED_ACCEPT) for f in to_fetch]
            for future in futures:
                done = future.result()
                results[done.feed.id] = _record(
                    store, done, when, max_entries_per_feed, retry_base, max_backoff
                )
    ordered = [results[feed.id] for feed in feeds]
    return FeedsReport(ordered, seconds=time.perf_counter() - started)


def _record(
    store: FeedStore,
    done: _Fetch,
    when: datetime,
    max_entries: int,
    retry_base: timedelta,
    max_backoff: timedelta,
) -> FeedResult:
    feed = done.feed
    fetched = done.fetched
    if done.error is not None or fetched is None:
        error = done.error or "no response"
        try:
            updated = store.record_failure(
                feed.id, error, now=when, retry_base=retry_base, max_backoff=max_backoff
            )
        except FeedError:  # removed while we fetched it
            updated = feed
        return FeedResult(updated, "failed", error=error)

    etag = fetched.headers.get("etag")
    last_modified = fetched.headers.get("last-modified")
    if fetched.status == 304 or done.parsed is None:
        # A 304 may repeat or refresh the validators; keep the old ones otherwise.
        store.record_success(
            feed.id,
            now=when,
            etag=etag or feed.etag,
            last_modified=last_modified or feed.last_modified,
            new=0,
        )
        return FeedResult(_fresh(store, feed), "unchanged", status=fetched.status)

    parsed = done.parsed
    # Newest first (stable: undated entries keep feed order, after dated ones).
    candidates = sorted(parsed.entries, key=lambda e: e.published or "", reverse=True)
    seen = store.seen(feed.id, [entry.key for entry in candidates])
    unseen = [
        dataclasses.replace(entry, feed_id=feed.id) for entry in candidates if entry.key not in seen
    ]
    new = unseen[: max(0, max_entries)]
    # Entries left for a later refresh must come back then: without validators the next
    # request is a full one, not a 304 that would hide them until the feed changes.
    held_back = len(unseen) > len(new)
    store.record_success(
        feed.id,
        now=when,
        etag=None if held_back else etag,
        last_modified=None if held_back else last_modified,
        title=parsed.title,
        new=len(new),
    )
    return FeedResult(
        _fresh(store, feed),
        "new" if new else "unchanged",
        entries=new,
        skipped_without_link=parsed.skipped_without_link,
        status=fetched.status,
    )


def _fresh(store: FeedStore, feed: Feed) -> Feed:
    try:
        return store.get(feed.id)
    except FeedError:  # removed while we fetched it
        return feed
