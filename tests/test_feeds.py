"""Feed subscriptions: the SQLite store, parsing real-world RSS/Atom quirks, and refreshes
with conditional requests and backoff, against a fake fetcher (and once against the
loopback test server with the real fetcher)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from web_server import WebServer

from newsqa.index.web.feeds import (
    Feed,
    FeedEntry,
    FeedError,
    FeedStore,
    backoff,
    normalize_feed_url,
    parse_feed,
    refresh_feeds,
)
from newsqa.index.web.fetch import Fetched, Fetcher, FetchError, FetchPolicy
from newsqa.schema import SCHEMA_VERSION

DATA = Path(__file__).resolve().parent / "data" / "feeds"
ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 30, 10, 2, tzinfo=UTC)


def fixture(name: str) -> bytes:
    return (DATA / name).read_bytes()


def fetched(
    body: bytes,
    url: str = "https://news.example.com/feed.xml",
    content_type: str = "application/rss+xml",
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Fetched:
    return Fetched(
        url=url,
        final_url=url,
        status=status,
        headers={"content-type": content_type, **(headers or {})},
        body=body,
        content_type=content_type,
        charset=None,
    )


# --------------------------------------------------------------------------------------
# A fake fetcher with the real Fetcher's interface


@dataclass
class Route:
    body: bytes = b""
    content_type: str = "application/rss+xml"
    etag: str | None = None
    last_modified: str | None = None
    error: Exception | None = None


@dataclass(frozen=True)
class Call:
    url: str
    accept: frozenset[str]
    etag: str | None
    last_modified: str | None


@dataclass
class FakeFetcher:
    routes: dict[str, Route] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(
        self,
        url: str,
        *,
        accept: Collection[str],
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> Fetched:
        with self.lock:
            self.calls.append(Call(url, frozenset(accept), etag, last_modified))
        route = self.routes[url]
        if route.error is not None:
            raise route.error
        headers = {"content-type": route.content_type}
        if route.etag:
            headers["etag"] = route.etag
        if route.last_modified:
            headers["last-modified"] = route.last_modified
        matched = (etag is not None and etag == route.etag) or (
            etag is None and last_modified is not None and last_modified == route.last_modified
        )
        return Fetched(
            url=url,
            final_url=url,
            status=304 if matched else 200,
            headers=headers,
            body=b"" if matched else route.body,
            content_type=route.content_type,
            charset=None,
        )

    def calls_to(self, url: str) -> list[Call]:
        return [call for call in self.calls if call.url == url]


@pytest.fixture
def store(tmp_path: Path) -> FeedStore:
    return FeedStore(tmp_path / "feeds.sqlite")


# --------------------------------------------------------------------------------------
# Parsing


def test_rss20_entries_keys_dates_and_plain_summaries() -> None:
    parsed = parse_feed(fetched(fixture("rss20.xml")))
    assert parsed.title == "Example News"
    assert parsed.warning is None
    assert [e.key for e in parsed.entries] == ["example-1001", "example-1000"]
    first, second = parsed.entries
    assert first.link == "https://news.example.com/2026/11/talks-resume"
    assert first.title == "Talks resume in Abu Dhabi"
    assert first.published == "2026-11-30T09:15:00+00:00"
    assert first.summary == "Negotiators met again on Monday."
    assert second.published == "2026-11-29T17:00:00+00:00"  # +0100 converted to UTC
    assert first.feed_id is None


def test_atom10_entries_use_ids_and_fall_back_to_updated() -> None:
    parsed = parse_feed(fetched(fixture("atom10.xml"), content_type="application/atom+xml"))
    assert parsed.title == "Atom Daily"
    rain, updated = parsed.entries
    assert rain.key == "tag:atom.example.org,2026:weather-rain"
    assert rain.link == "https://atom.example.org/weather/rain"
    assert rain.published == "2026-11-30T06:00:00+00:00"
    assert updated.published == "2026-11-29T12:00:00+00:00"
    assert updated.summary == "Tom & Jerry return"


def test_malformed_feed_with_entries_is_accepted() -> None:
    parsed = parse_feed(fetched(fixture("malformed.xml")))
    assert parsed.warning  # feedparser's bozo reason, one line
    assert "\n" not in parsed.warning
    assert parsed.title == "Sloppy Times"
    assert [e.link for e in parsed.entries] == [
        "https://sloppy.example.net/a/1",
        "https://sloppy.example.net/a/2",
    ]
    # No guid: the link is the key.
    assert parsed.entries[1].key == "https://sloppy.example.net/a/2"


@pytest.mark.parametrize("content_type", ["text/html", "application/rss+xml"])
def test_feed_that_became_a_web_page_is_a_clear_error(content_type: str) -> None:
    with pytest.raises(FeedError) as info:
        parse_feed(fetched(fixture("html_page.html"), content_type=content_type))
    assert str(info.value) == "the feed URL now serves a web page, not RSS/Atom"


def test_xml_without_feed_structure_is_an_error() -> None:
    with pytest.raises(FeedError, match="does not serve RSS or Atom"):
        parse_feed(fetched(fixture("not_a_feed.xml"), content_type="application/xml"))


def test_empty_or_truncated_feed_is_an_error() -> None:
    with pytest.raises(FeedError, match="empty document"):
        parse_feed(fetched(b"  \n"))
    truncated = fixture("rss20.xml")[:180]  # cut inside the channel, before any item
    with pytest.raises(FeedError) as info:
        parse_feed(fetched(truncated))
    assert "\n" not in str(info.value)


def test_well_formed_feed_without_entries_is_fine() -> None:
    body = b'<?xml version="1.0"?><rss version="2.0"><channel><title>Quiet</title></channel></rss>'
    parsed = parse_feed(fetched(body))
    assert parsed.title == "Quiet"
    assert parsed.entries == []


def test_duplicate_guids_keep_the_first_entry() -> None:
    parsed = parse_feed(fetched(fixture("duplicates.xml")))
    assert [(e.key, e.link) for e in parsed.entries] == [
        ("story-a", "https://echo.example.com/story-a"),
        ("story-b", "https://echo.example.com/story-b"),
    ]
    assert parsed.duplicates == 1


def test_entries_without_link_are_counted_and_relative_links_resolved() -> None:
    url = "https://odd.example.com/feeds/odd.xml"
    parsed = parse_feed(fetched(fixture("odd_entries.xml"), url=url))
    assert parsed.skipped_without_link == 2  # no link; a javascript: link
    no_date, relative = parsed.entries
    assert no_date.link == "https://odd.example.com/news/2026/no-date"
    assert no_date.published is None
    assert no_date.key == no_date.link
    assert relative.link == "https://odd.example.com/feeds/story.html?id=7"
    assert relative.published == "2026-11-30T08:00:00+00:00"


def test_json_feed() -> None:
    url = "https://json.example.com/feed.json"
    parsed = parse_feed(fetched(fixture("jsonfeed.json"), url=url, content_type="application/json"))
    assert parsed.title == "JSON Wire"
    assert parsed.skipped_without_link == 1
    first, second = parsed.entries
    assert (first.key, first.link) == ("42", "https://json.example.com/stories/42")
    assert first.published == "2026-11-30T10:00:00+00:00"
    assert (second.title, second.published, second.summary) == (None, None, "Undated & untitled")
    with pytest.raises(FeedError, match="not a JSON Feed"):
        parse_feed(fetched(b'{"hello": 1}', content_type="application/json"))


# --------------------------------------------------------------------------------------
# The store


def test_add_list_get_remove(store: FeedStore) -> None:
    a = store.add("HTTPS://News.Example.com:443/rss.xml#top", now=NOW)
    b = store.add("http://atom.example.org:8080/feed", now=NOW)
    assert a.url == "https://news.example.com/rss.xml"
    assert b.url == "http://atom.example.org:8080/feed"
    assert a.added_at == NOW
    assert a.status == "not checked yet"
    assert [f.id for f in store.list()] == [a.id, b.id]
    assert store.get(b.id) == b
    assert store.remove(str(a.id)) == a
    assert store.remove("http://atom.example.org:8080/feed").id == b.id
    assert store.list() == []
    # Ids are never reused, so a stale id cannot reach a new feed.
    assert store.add("https://news.example.com/rss.xml").id > b.id


def test_bad_and_duplicate_urls_are_refused(store: FeedStore) -> None:
    feed = store.add("https://news.example.com/rss")
    with pytest.raises(FeedError) as info:
        store.add(" https://NEWS.example.com/rss ")
    assert str(info.value) == f"already subscribed to https://news.example.com/rss (feed {feed.id})"
    for bad, words in [
        ("ftp://example.com/feed", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("example.com/feed", "not a full URL"),
        ("localhost:8080/feed", "not a full URL"),
        ("https://user:secret@example.com/feed", "user name or password"),
        ("", "no feed URL"),
    ]:
        with pytest.raises(FeedError, match=words):
            store.add(bad)
    assert len(store.list()) == 1
    assert normalize_feed_url("feed://example.com") == "http://example.com/"


def test_unknown_feed_messages(store: FeedStore) -> None:
    with pytest.raises(FeedError) as info:
        store.remove(7)
    assert str(info.value) == "no feed 7; see `newsqa feeds list`"
    with pytest.raises(FeedError, match="no feed 7; see"):
        store.get(7)
    with pytest.raises(FeedError, match=r"no feed https://nowhere\.example/; see"):
        store.remove("https://nowhere.example")


def test_seen_entries_and_cascade_on_remove(store: FeedStore) -> None:
    feed = store.add("https://news.example.com/rss")
    entries = [FeedEntry(key=f"k{i}", link=f"https://news.example.com/{i}") for i in range(3)]
    assert store.mark_seen(feed.id, entries[:2], now=NOW) == 2
    assert store.mark_seen(feed.id, entries[:2], now=NOW) == 0
    assert store.seen(feed.id, ["k0", "k1", "k2", "other"]) == {"k0", "k1"}
    assert store.seen(feed.id, [f"k{i}" for i in range(1200)]) == {"k0", "k1"}  # chunked
    store.remove(feed.id)
    with sqlite3.connect(store.path) as db:
        assert db.execute("SELECT COUNT(*) FROM seen").fetchone()[0] == 0
    # Marking entries of a feed removed meanwhile is a no-op, not an error.
    assert store.mark_seen(feed.id, entries, now=NOW) == 0


def test_backoff_grows_is_reported_and_the_feed_stays(store: FeedStore) -> None:
    feed = store.add("https://news.example.com/rss", now=NOW)
    waits = []
    for _ in range(8):
        state = store.record_failure(feed.id, "404 Not Found", now=NOW)
        waits.append(state.next_try - NOW)
    assert waits[:4] == [timedelta(minutes=m) for m in (30, 60, 120, 240)]
    assert waits[-1] == timedelta(hours=24)  # capped
    assert backoff(3, timedelta(minutes=10), timedelta(hours=1)) == timedelta(minutes=40)
    assert backoff(9, timedelta(minutes=10), timedelta(hours=1)) == timedelta(hours=1)
    state = store.get(feed.id)
    assert state.failures == 8
    assert state.failing_since == NOW
    assert state.status == (
        "failing ×8 since 2026-11-30 10:02: 404 Not Found; next try 2026-12-01 10:02"
    )
    assert store.due(NOW) == []
    assert [f.id for f in store.due(NOW + timedelta(hours=24))] == [feed.id]
    assert [f.id for f in store.list()] == [feed.id]

    later = NOW + timedelta(hours=25)
    store.record_success(feed.id, now=later, etag='"v2"', title="Example News", new=3)
    state = store.get(feed.id)
    assert (state.failures, state.next_try, state.last_error) == (0, None, None)
    assert state.status == "ok, 3 new at 2026-12-01 11:02"
    assert state.title == "Example News"
    # The title is only filled when the feed had none.
    store.record_success(feed.id, now=later, title="Renamed")
    assert store.get(feed.id).title == "Example News"


def test_short_backoff_status_shows_the_time_only(store: FeedStore) -> None:
    feed = store.add("https://news.example.com/rss", now=NOW)
    state = store.record_failure(feed.id, "timed out\nafter 10 s", now=NOW)
    assert state.status == "failing ×1 since 2026-11-30 10:02: timed out after 10 s; next try 10:32"


def test_state_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "index" / "feeds.sqlite"
    first = FeedStore(path)
    feed = first.add("https://news.example.com/rss", now=NOW)
    first.record_success(feed.id, now=NOW, etag='"abc"', last_modified="Mon, 30 Nov 2026", new=2)
    first.mark_seen(feed.id, [FeedEntry("k1", "https://news.example.com/1")], now=NOW)
    first.close()
    again = FeedStore(path)
    state = again.get(feed.id)
    assert (state.etag, state.last_modified, state.last_new) == ('"abc"', "Mon, 30 Nov 2026", 2)
    assert again.seen(feed.id, ["k1"]) == {"k1"}
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version FROM schema_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "feeds.sqlite"
    FeedStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(FeedError) as refused:
        FeedStore(path)
    assert str(refused.value) == (
        f"the database at {path} has schema version 99, newer than this newsqa "
        f"({SCHEMA_VERSION}); upgrade newsqa"
    )
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not a database" * 100)
    with pytest.raises(FeedError, match=r"cannot use the database .*garbage\.sqlite"):
        FeedStore(garbage)


def test_a_feeds_file_from_before_versioning_is_adopted(tmp_path: Path) -> None:
    """A feeds.sqlite written before `schema_version` (PRAGMA user_version 1) keeps its
    feeds and seen entries, and gets the version."""
    path = tmp_path / "feeds.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE feeds (id INTEGER PRIMARY KEY AUTOINCREMENT, url TEXT NOT NULL UNIQUE, "
            "title TEXT, added_at TEXT NOT NULL, etag TEXT, last_modified TEXT, "
            "last_checked TEXT, last_ok TEXT, failures INTEGER NOT NULL DEFAULT 0, "
            "failing_since TEXT, next_try TEXT, last_error TEXT, last_new INTEGER);"
            "CREATE TABLE seen (feed_id INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,"
            " entry_key TEXT NOT NULL, link TEXT, published TEXT, first_seen TEXT NOT NULL,"
            " PRIMARY KEY (feed_id, entry_key)) WITHOUT ROWID;"
            "INSERT INTO feeds (url, added_at, etag) VALUES ('https://old.example/rss', "
            "'2026-01-01T00:00:00+00:00', '\"v1\"');"
            "INSERT INTO seen VALUES (1, 'k1', NULL, NULL, '2026-01-01T00:00:00+00:00');"
            "PRAGMA user_version = 1;"
        )
    store = FeedStore(path)
    assert [(f.id, f.url, f.etag) for f in store.list()] == [(1, "https://old.example/rss", '"v1"')]
    assert store.seen(1, ["k1", "k2"]) == {"k1"}
    assert store.add("https://new.example/rss").id == 2
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version FROM schema_version").fetchone()[0] == SCHEMA_VERSION


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from newsqa.index.web.feeds import FeedEntry, FeedStore
    store = FeedStore(Path(sys.argv[1]))
    print("ready", flush=True)
    sys.stdin.readline()  # go: start together with the threads
    for i in range(15):
        feed = store.add(f"https://proc.example.com/{i}")
        store.mark_seen(
            feed.id, [FeedEntry(f"p{j}", f"https://proc.example.com/{i}/{j}") for j in range(20)]
        )
        store.record_failure(feed.id, "boom")
    """
)


def test_concurrent_stores_threads_and_a_process_do_not_lock(tmp_path: Path) -> None:
    path = tmp_path / "feeds.sqlite"
    FeedStore(path).close()
    other = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert other.stdout is not None and other.stdin is not None
    assert other.stdout.readline().strip() == "ready"
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            store = FeedStore(path)  # one store object per thread, as two processes would
            for i in range(15):
                feed = store.add(f"https://{name}.example.com/{i}")
                keys = [f"{name}{j}" for j in range(20)]
                store.mark_seen(feed.id, [FeedEntry(k, f"https://x.example/{k}") for k in keys])
                assert store.seen(feed.id, keys) == set(keys)
                store.record_success(feed.id, etag=name, new=1)
                store.list()
            store.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(name,)) for name in ("a", "b", "c")]
    other.stdin.write("go\n")
    other.stdin.close()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert other.wait(timeout=60) == 0
    assert errors == []
    store = FeedStore(path)
    assert len(store.list()) == 60
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM seen").fetchone()[0] == 60 * 20


def test_one_store_shared_by_threads(store: FeedStore) -> None:
    feed = store.add("https://news.example.com/rss")

    def mark(start: int) -> None:
        for i in range(start, start + 25):
            store.mark_seen(feed.id, [FeedEntry(f"k{i}", f"https://news.example.com/{i}")])

    threads = [threading.Thread(target=mark, args=(n * 25,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.seen_count(feed.id) == 100


# --------------------------------------------------------------------------------------
# Refreshing


def test_refresh_conditional_requests_and_304(store: FeedStore) -> None:
    url = "https://news.example.com/rss.xml"
    feed = store.add(url, now=NOW)
    fetcher = FakeFetcher(
        {url: Route(fixture("rss20.xml"), etag='"v1"', last_modified="Mon, 30 Nov 2026 09:20 GMT")}
    )
    report = refresh_feeds(store, fetcher, now=NOW)
    (result,) = report.results
    assert result.outcome == "new"
    assert [e.key for e in report.new_entries] == ["example-1001", "example-1000"]
    assert {e.feed_id for e in report.new_entries} == {feed.id}
    assert result.feed.title == "Example News"
    assert result.feed.status == "ok, 2 new at 2026-11-30 10:02"
    first = fetcher.calls_to(url)[0]
    assert (first.etag, first.last_modified) == (None, None)
    assert "application/rss+xml" in first.accept
    store.mark_seen(feed.id, report.new_entries, now=NOW)

    report = refresh_feeds(store, fetcher, now=NOW + timedelta(minutes=5))
    second = fetcher.calls_to(url)[1]
    assert (second.etag, second.last_modified) == ('"v1"', "Mon, 30 Nov 2026 09:20 GMT")
    assert report.results[0].status == 304
    assert report.results[0].outcome == "unchanged"
    assert report.new_entries == []
    assert store.get(feed.id).etag == '"v1"'  # kept after a 304

    # A server with Last-Modified only is asked with If-Modified-Since.
    fetcher.routes[url] = Route(fixture("rss20.xml"), last_modified="Tue, 01 Dec 2026 GMT")
    refresh_feeds(store, fetcher, now=NOW)
    refresh_feeds(store, fetcher, now=NOW)
    fourth = fetcher.calls_to(url)[3]
    assert fourth.etag is None and fourth.last_modified == "Tue, 01 Dec 2026 GMT"
    assert store.get(feed.id).last_new == 0


def test_refresh_does_not_mark_entries_seen(store: FeedStore) -> None:
    url = "https://news.example.com/rss.xml"
    feed = store.add(url)
    fetcher = FakeFetcher({url: Route(fixture("rss20.xml"))})  # no validators: always 200
    first = refresh_feeds(store, fetcher, now=NOW)
    again = refresh_feeds(store, fetcher, now=NOW)
    assert [e.key for e in again.new_entries] == [e.key for e in first.new_entries]
    store.mark_seen(feed.id, first.new_entries[:1])  # the article of the first was saved
    third = refresh_feeds(store, fetcher, now=NOW)
    assert [e.key for e in third.new_entries] == ["example-1000"]
    store.mark_seen(feed.id, third.new_entries)
    last = refresh_feeds(store, fetcher, now=NOW)
    assert last.results[0].outcome == "unchanged"
    assert last.results[0].status == 200


def test_max_entries_per_feed_takes_the_newest(store: FeedStore) -> None:
    url = "https://atom.example.org/feed"
    store.add(url)
    fetcher = FakeFetcher({url: Route(fixture("atom10.xml"), "application/atom+xml")})
    report = refresh_feeds(store, fetcher, now=NOW, max_entries_per_feed=1)
    assert [e.key for e in report.new_entries] == ["tag:atom.example.org,2026:weather-rain"]


def test_failures_back_off_are_reported_and_feeds_kept(store: FeedStore) -> None:
    ok = "https://news.example.com/rss.xml"
    gone = "https://gone.example.com/rss"
    page = "https://page.example.com/rss"
    odd = "https://odd.example.com/feeds/odd.xml"
    broken = "https://broken.example.com/rss"
    for url in (ok, gone, page, odd, broken):
        store.add(url, now=NOW)
    fetcher = FakeFetcher(
        {
            ok: Route(fixture("rss20.xml")),
            gone: Route(
                error=FetchError("gone.example.com: 404 Not Found", kind="status", url=gone)
            ),
            page: Route(fixture("html_page.html"), "text/html"),
            odd: Route(fixture("odd_entries.xml")),
            broken: Route(error=RuntimeError("bug in a library")),
        }
    )
    report = refresh_feeds(store, fetcher, now=NOW, retry_base=timedelta(minutes=10))
    outcomes = {r.feed.url: r.outcome for r in report.results}
    assert outcomes == {ok: "new", gone: "failed", page: "failed", odd: "new", broken: "failed"}
    assert [r.feed.url for r in report.failed] == [gone, page, broken]
    errors = {r.feed.url: r.error for r in report.failed}
    assert errors[gone] == "gone.example.com: 404 Not Found"
    assert errors[page] == "the feed URL now serves a web page, not RSS/Atom"
    assert errors[broken] == "unexpected RuntimeError: bug in a library"
    (odd_result,) = [r for r in report.results if r.feed.url == odd]
    assert odd_result.skipped_without_link == 2
    assert "2 entries without a link skipped" in odd_result.summary
    gone_result = report.failed[0]
    assert gone_result.feed.next_try == NOW + timedelta(minutes=10)
    assert gone_result.summary == (
        "https://gone.example.com/rss: failed: gone.example.com: 404 Not Found "
        "(failing ×1 since 2026-11-30 10:02; next try 10:12)"
    )
    assert all("\n" not in line for line in report.lines())

    # Backing off: skipped (and reported) until next_try, then tried again, twice as long.
    soon = refresh_feeds(store, fetcher, now=NOW + timedelta(minutes=5))
    skipped = {r.feed.url for r in soon.skipped}
    assert skipped == {gone, page, broken}
    assert all(
        r.summary.startswith(r.feed.name + ": skipped (backing off until") for r in soon.skipped
    )
    assert len(fetcher.calls_to(gone)) == 1
    later = refresh_feeds(
        store, fetcher, now=NOW + timedelta(minutes=11), retry_base=timedelta(minutes=10)
    )
    assert len(fetcher.calls_to(gone)) == 2
    state = store.get(later.failed[0].feed.id)
    assert state.failures == 2
    assert state.next_try == NOW + timedelta(minutes=11 + 20)
    assert len(store.list()) == 5
    # force ignores the backoff.
    refresh_feeds(store, fetcher, now=NOW + timedelta(minutes=12), force=True)
    assert len(fetcher.calls_to(gone)) == 3


def test_twenty_unchanged_feeds_refresh_fast(store: FeedStore) -> None:
    urls = [f"https://feed{i}.example.com/rss.xml" for i in range(20)]
    routes = {url: Route(fixture("rss20.xml"), etag=f'"e{i}"') for i, url in enumerate(urls)}
    for url in urls:
        store.add(url)
    fetcher = FakeFetcher(routes)
    refresh_feeds(store, fetcher, now=NOW)
    started = time.perf_counter()
    report = refresh_feeds(store, fetcher, now=NOW)
    elapsed = time.perf_counter() - started
    assert [r.status for r in report.results] == [304] * 20
    assert report.new_entries == []
    assert elapsed < 1.5, elapsed  # the target is well under 2 s; ~0.1 s when idle


def test_feed_dataclass_is_frozen(store: FeedStore) -> None:
    feed = store.add("https://news.example.com/rss")
    assert isinstance(feed, Feed)
    with pytest.raises(AttributeError):
        feed.url = "x"  # type: ignore[misc]


# --------------------------------------------------------------------------------------
# Against the loopback server with the real fetcher


def test_refresh_from_loopback_server_then_304s(store: FeedStore) -> None:
    with WebServer.with_fixtures() as server, Fetcher(FetchPolicy(allow_private=True)) as fetcher:
        server.add_page(
            "/news.xml",
            fixture("rss20.xml"),
            "application/rss+xml",
            last_modified="Mon, 30 Nov 2026 09:20:00 GMT",
        )
        paths = ["/feed.rss", "/feed.atom", "/news.xml"]
        feeds = [store.add(server.url(path), now=NOW) for path in paths]
        report = refresh_feeds(store, fetcher, now=NOW)
        assert [r.outcome for r in report.results] == ["new"] * 3, report.lines()
        assert [r.status for r in report.results] == [200] * 3
        rss = report.results[0]
        assert rss.feed.title == "The Harbour Times: News"
        assert rss.entries[0].link.startswith(server.base_url + "/article.html")
        for result in report.results:
            store.mark_seen(result.feed.id, result.entries)

        report = refresh_feeds(store, fetcher, now=NOW + timedelta(hours=1))
        assert [r.status for r in report.results] == [304] * 3
        assert report.new_entries == []
        assert [server.requests(path) for path in paths] == [2, 2, 2]
        assert server.last_headers("/feed.rss")["if-none-match"] == '"feed-v1"'
        assert server.last_headers("/news.xml")["if-modified-since"] == (
            "Mon, 30 Nov 2026 09:20:00 GMT"
        )
        assert [f.status for f in store.list()] == ["ok, 0 new at 2026-11-30 11:02"] * 3
        assert [f.id for f in store.list()] == [f.id for f in feeds]


def test_twenty_unchanged_feeds_on_loopback_well_under_two_seconds(store: FeedStore) -> None:
    with WebServer() as server, Fetcher(FetchPolicy(allow_private=True)) as fetcher:
        for i in range(20):
            server.add_page(
                f"/feed{i}.xml", fixture("atom10.xml"), "application/atom+xml", etag=f'"f{i}"'
            )
            store.add(server.url(f"/feed{i}.xml"))
        first = refresh_feeds(store, fetcher, now=NOW)
        assert len(first.new_entries) == 40
        started = time.perf_counter()
        report = refresh_feeds(store, fetcher, now=NOW)
        elapsed = time.perf_counter() - started
        assert [r.status for r in report.results] == [304] * 20
        assert elapsed < 1.5, elapsed  # the target is well under 2 s; ~0.1 s when idle
