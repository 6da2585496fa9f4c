"""The shared-state database (`newsqa.database`, `newsqa.schema`, `newsqa.leases`) and the
stores on it, each test run against a SQLite file and against a real PostgreSQL server
that the suite starts (`postgres_server.py`)."""

from __future__ import annotations

import itertools
import sqlite3
import threading
import time
from pathlib import Path

import psycopg
import pytest
from conftest import make_settings

from newsqa.bot.answer import Citation
from newsqa.bot.conversation import DatabaseConversationStore, Turn
from newsqa.bot.telegram.shared import DatabaseRateLimiter, DatabaseSources
from newsqa.bot.telegram.state import Sources
from newsqa.bot.watches import Baseline, WatchStore
from newsqa.database import DatabaseError, connect, shown
from newsqa.index.web.feeds import FeedEntry, FeedError, FeedStore
from newsqa.index.web.links import LinkRegistry, SavedArticle
from newsqa.leases import IndexBuildLock, Refresher, holder_of, take
from newsqa.schema import SCHEMA_VERSION, migrate, version_of

pytestmark = pytest.mark.timeout(120)


def _version(url: str) -> int:
    with connect(url, upgrade=False) as db, db.transaction() as session:
        return version_of(session)


def test_a_new_database_gets_every_table_at_the_newest_version(database_url: str) -> None:
    with connect(database_url) as db:
        for table in ("turns", "watches", "watch_outbox", "feeds", "seen", "articles"):
            assert db.execute(f"SELECT COUNT(*) FROM {table}").scalar() == 0
        for table in ("aliases", "button_sources", "rate_hits", "rate_users", "leases"):
            assert db.execute(f"SELECT COUNT(*) FROM {table}").scalar() == 0
    assert _version(database_url) == SCHEMA_VERSION == 2
    connect(database_url).close()  # opening again migrates nothing
    assert _version(database_url) == SCHEMA_VERSION


def test_an_older_database_is_upgraded_in_place(database_url: str) -> None:
    with connect(database_url, upgrade=False) as db:
        assert migrate(db, target=1) == 0
        store = FeedStore(db)
        feed = store.add("https://news.example.com/rss")
        WatchStore(db).add("tg:1", "Who won?", Baseline("none", None), chat_id=1, user_id=1)
        with pytest.raises((sqlite3.OperationalError, psycopg.errors.UndefinedTable)):
            db.execute("SELECT COUNT(*) FROM button_sources")  # version 1 has no such table
    assert _version(database_url) == 1
    with connect(database_url) as db:  # the code knows version 2: upgraded, nothing lost
        assert [f.url for f in FeedStore(db).list()] == [feed.url]
        assert [w.question for w in WatchStore(db).list("tg:1")] == ["Who won?"]
        DatabaseSources(db).put("k", Sources([], {}))
        assert DatabaseSources(db).get("k") == Sources([], {})
    assert _version(database_url) == 2


def test_a_newer_database_is_refused_in_one_line(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from newsqa.bot.cli import main

    with connect(database_url) as db:
        db.execute("UPDATE schema_version SET version = 7")
        where = db.where
    with pytest.raises(DatabaseError) as refused:
        connect(database_url)
    line = (
        f"the database at {where} has schema version 7, newer than this newsqa "
        f"({SCHEMA_VERSION}); upgrade newsqa"
    )
    assert str(refused.value) == line
    monkeypatch.setenv("NEWSQA_DATABASE_URL", database_url)
    code = main(["watch", "list", "--index-dir", str(tmp_path / "index")])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err == f"newsqa: error: {line}\n"


def test_bad_database_urls_are_one_line(tmp_path: Path, postgres) -> None:
    from postgres_server import free_port

    with pytest.raises(DatabaseError, match="not a database URL 'mysql://u:"):
        connect("mysql://u:secret@host/db")
    down = f"postgresql://newsqa:secret@127.0.0.1:{free_port()}/x"
    with pytest.raises(DatabaseError) as failed:
        connect(down)
    message = str(failed.value)
    assert message.startswith("cannot connect to the database at postgresql://newsqa:***@")
    assert "secret" not in message and "\n" not in message
    assert shown("postgresql://a:b@h:5/d") == "postgresql://a:***@h:5/d"


def test_health_fails_in_one_line_when_the_database_is_down(
    sample_index: Path, postgres, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from postgres_server import free_port

    from newsqa.bot.cli import main

    monkeypatch.setenv("NEWSQA_DATABASE_URL", postgres.url)
    assert main(["health", "--index-dir", str(sample_index)]) == 0
    out, err = capsys.readouterr()
    assert out.rstrip().endswith(f"database {postgres.url}") and err == ""
    monkeypatch.setenv("NEWSQA_DATABASE_URL", f"postgresql://newsqa@127.0.0.1:{free_port()}/x")
    assert main(["health", "--index-dir", str(sample_index)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith("newsqa: error: cannot connect to the database at postgresql://")


# -- the stores on both databases ------------------------------------------------------------
def _turn(n: int) -> Turn:
    return Turn(f"q{n}", f"q{n}", f"a{n}", f"quote {n}", (f"p{n}",), (f"p{n}", "other"))


def test_conversations_are_shared_bounded_and_reset(database_url: str) -> None:
    one = DatabaseConversationStore(database_url, max_turns=2, max_conversations=2)
    two = DatabaseConversationStore(database_url, max_turns=2, max_conversations=2)
    for n in range(3):
        one.add("a", _turn(n))
        time.sleep(0.002)
    assert two.history("a") == [_turn(1), _turn(2)]  # the other "process" sees them, in order
    two.add("b", _turn(5))
    time.sleep(0.002)
    one.add("c", _turn(6))
    assert len(two) == 2 and one.history("a") == []  # the least recently active went
    assert two.history("c") == [_turn(6)]
    one.reset("c")
    assert two.history("c") == []
    one.close()
    two.close()


def test_conversations_end_when_idle(database_url: str) -> None:
    store = DatabaseConversationStore(database_url, idle_seconds=0.2)
    store.add("a", _turn(1))
    assert store.history("a") == [_turn(1)]
    time.sleep(0.3)
    assert store.history("a") == []
    store.close()


def test_watches_and_their_outbox(database_url: str) -> None:
    from newsqa.bot.answer import Answer

    store = WatchStore(database_url, per_user=2)
    first = store.add("tg:1", "Who won?", Baseline("none", None), chat_id=-1001234567890123)
    store.add("tg:1", "Where?", Baseline("none", None), chat_id=-1001234567890123)
    with pytest.raises(ValueError, match="2"):
        store.add("tg:1", "When?", Baseline("none", None))
    assert [w.n for w in store.list("tg:1")] == [1, 2]
    assert store.list("tg:1")[0].chat_id == -1001234567890123  # a 64-bit chat id
    citation = Citation(
        n=1, article_id="a.md", quote="Ann won.", start=0, end=8, score=1.0, highlight=(0, 3)
    )
    answer = Answer(
        question="Who won?",
        standalone_question="Who won?",
        answer="Ann [1]",
        abstained=False,
        short_answer="Ann",
        citations=[citation],
    )
    push = store.record(first, answer, "now Ann")
    assert push is not None and store.record(first, answer, "again") is None  # once
    assert [p.text for p in store.pending(telegram=True)] == ["now Ann"]
    store.mark_sent(push.id)
    assert store.pending() == [] and [p.text for p in store.sent(first.id)] == ["now Ann"]
    removed = store.remove("tg:1", "1")
    assert removed.question == "Who won?" and [w.n for w in store.list("tg:1")] == [2]
    store.close()


def test_feeds_on_the_database(database_url: str) -> None:
    store = FeedStore(database_url)
    feed = store.add("https://news.example.com/rss")
    with pytest.raises(FeedError, match="already subscribed"):
        store.add("https://news.example.com/rss")
    entries = [FeedEntry(key=f"k{i}", link=f"https://news.example.com/{i}") for i in range(3)]
    assert store.mark_seen(feed.id, entries[:2]) == 2
    assert store.mark_seen(feed.id, entries) == 1
    assert store.seen(feed.id, ["k0", "k2", "x"]) == {"k0", "k2"}
    store.record_success(feed.id, etag='"e1"', title="News", new=1)
    assert store.get(feed.id).etag == '"e1"' and store.get(feed.id).title == "News"
    failed = store.record_failure(feed.id, "503 Service Unavailable")
    assert failed.failures == 1 and store.due() == []
    store.remove(feed.id)
    assert store.seen_count(feed.id) == 0  # its entries went with it
    assert store.mark_seen(feed.id, entries) == 0  # a removed feed: a no-op
    store.close()


def test_link_registry_on_the_database(database_url: str) -> None:
    links = LinkRegistry(database_url)
    article = SavedArticle(
        "https://a.example/story", "web/a/story.md", "h1", b"\x00\x01sig", "T", None, "A"
    )
    links.save(article, ["https://a.example/story?utm=x", "https://a.example/story"])
    assert links.lookup("https://a.example/story?utm=x") == article
    assert list(links.signatures()) == [("https://a.example/story", b"\x00\x01sig")]
    links.add_copy(article.url, ["https://b.example/copy"], "B")
    assert links.copies(article.url) == [("https://b.example/copy", "B")]
    links.save(SavedArticle(article.url, "web/a/story.md", "h2", None, "T2", None, "A"), [])
    assert links.lookup("https://b.example/copy").text_hash == "h2"  # type: ignore[union-attr]
    links.close()


# -- what the bot's processes share -----------------------------------------------------------
def test_button_sources_are_read_by_another_process(database_url: str) -> None:
    citation = Citation(
        n=2, article_id="x.md", title="X", quote="Q.", start=5, end=7, score=0.5, highlight=(5, 6)
    )
    sent = Sources([citation], {2: ("the passage text", 3)})
    with connect(database_url) as one, connect(database_url) as two:
        DatabaseSources(one).put("abc123", sent)
        got = DatabaseSources(two).get("abc123")
        assert got == sent and got.passages[2] == ("the passage text", 3)  # type: ignore[union-attr]
        assert DatabaseSources(two).get("missing") is None


def test_rate_limits_count_every_process(database_url: str) -> None:
    now = [1000.0]
    db_one, db_two = connect(database_url), connect(database_url)
    one = DatabaseRateLimiter(db_one, "q", 3, clock=lambda: now[0])
    two = DatabaseRateLimiter(db_two, "q", 3, clock=lambda: now[0])
    assert one.check(7) == 0 and two.check(7) == 0 and one.check(7) == 0
    wait = two.check(7)
    assert wait == pytest.approx(60.0)
    assert one.should_warn(7) and not two.should_warn(7)  # one warning per stretch
    assert two.check(8) == 0  # per user
    other = DatabaseRateLimiter(db_one, "add", 3, clock=lambda: now[0])
    assert other.check(7) == 0  # per scope
    now[0] += 60.0
    assert two.check(7) == 0 and one.should_warn(7)  # the window moved on
    assert one.take(9, 2) == 0 and two.take(9, 2) > 0 and two.take(9, 4) == float("inf")
    db_one.close()
    db_two.close()


def test_rate_limit_holds_under_concurrent_processes(database_url: str) -> None:
    limiters = [DatabaseRateLimiter(connect(database_url), "q", 10) for _ in range(4)]
    allowed = []

    def ask(limiter: DatabaseRateLimiter) -> None:
        for _ in range(8):
            allowed.append(limiter.check(42) == 0)

    threads = [threading.Thread(target=ask, args=(limiter,)) for limiter in limiters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for limiter in limiters:
        limiter.db.close()
    assert len(allowed) == 32 and sum(allowed) == 10


# -- leases -----------------------------------------------------------------------------------
def test_a_lease_is_held_renewed_and_taken_over_when_it_runs_out(database_url: str) -> None:
    db = connect(database_url)
    assert take(db, "job", "a", 0.5) and not take(db, "job", "b", 0.5)
    assert take(db, "job", "a", 0.5) and holder_of(db, "job") == "a"  # renewed
    time.sleep(0.7)
    assert holder_of(db, "job") is None and take(db, "job", "b", 0.5)
    assert not take(db, "job", "a", 0.5)
    db.close()


def test_index_builds_never_overlap(database_url: str) -> None:
    inside: list[int] = []
    overlaps: list[int] = []

    def build(n: int) -> None:
        with connect(database_url) as db, IndexBuildLock(db, ttl_s=0.6, poll_s=0.05):
            if inside:
                overlaps.append(n)
            inside.append(n)
            time.sleep(0.8)  # longer than the lease: the renewer keeps it
            inside.remove(n)

    threads = [threading.Thread(target=build, args=(n,)) for n in range(3)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert overlaps == [] and time.monotonic() - began >= 2.4


def test_one_refresh_per_period_and_a_dead_holder_is_replaced(database_url: str) -> None:
    period = 0.5
    refreshers = [Refresher(connect(database_url), period, first_s=period) for _ in range(3)]
    runs: list[tuple[float, int]] = []
    alive = [True, True, True]
    began = time.monotonic()
    stop = began + 6 * period
    killed_at = None
    while time.monotonic() < stop:
        for i, refresher in enumerate(refreshers):
            if alive[i] and refresher.due():
                runs.append((time.monotonic() - began, i))
        if killed_at is None and time.monotonic() - began > 3.2 * period:
            holder = holder_of(refreshers[0].db, "feed-refresh")
            victim = next(i for i, r in enumerate(refreshers) if r.holder == holder)
            alive[victim] = False  # it stops asking, as a killed process would
            killed_at = time.monotonic() - began
        time.sleep(refreshers[0].tick_s)
    times = [at for at, _ in runs]
    for refresher in refreshers:
        refresher.db.close()
    assert 5 <= len(runs) <= 6, runs  # one per period, whichever process
    assert all(b - a >= 0.6 * period for a, b in itertools.pairwise(times)), runs
    after = [(at, i) for at, i in runs if killed_at is not None and at > killed_at]
    assert after and after[0][0] - killed_at <= period + 0.2 and alive[after[0][1]], runs


def test_settings_name_the_database(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "index", database_url="postgresql://u@h/db")
    assert settings.database_url == "postgresql://u@h/db"
    assert make_settings(tmp_path / "index").database_url is None


def test_a_watches_file_from_before_versioning_and_topic_watches_is_upgraded(
    tmp_path: Path,
) -> None:
    """A watches.sqlite written by an older newsqa (no `kind` column, no schema_version)
    keeps its watches, and gets the column and the version."""
    path = tmp_path / "watches.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE watches (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, n INTEGER NOT "
            "NULL, question TEXT NOT NULL, norm TEXT NOT NULL, chat_id INTEGER, user_id INTEGER,"
            " created REAL NOT NULL, paused INTEGER NOT NULL DEFAULT 0, baseline TEXT NOT NULL,"
            " UNIQUE (owner, n), UNIQUE (owner, norm));"
            "CREATE TABLE watch_outbox (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, "
            "watch_id INTEGER NOT NULL, owner TEXT NOT NULL, chat_id INTEGER, text TEXT NOT "
            "NULL, created REAL NOT NULL, state TEXT NOT NULL DEFAULT 'pending');"
        )
        db.execute(
            "INSERT INTO watches (owner, n, question, norm, chat_id, created, baseline) "
            "VALUES ('tg:5', 1, 'Who won?', 'who won', 5, 1.0, ?)",
            (Baseline("none", None).to_json(),),
        )
    with WatchStore(path) as store:
        (watch,) = store.list("tg:5")
        assert (watch.question, watch.kind, watch.topic) == ("Who won?", "question", False)
        store.add("tg:5", "ceasefire talks", Baseline("topic", None), kind="topic")
        assert [w.kind for w in store.list("tg:5")] == ["question", "topic"]
    assert _version(str(path)) == SCHEMA_VERSION


def test_the_bots_builds_hold_the_database_lease(
    database_url: str, sample_index: Path, answerer
) -> None:
    """With a shared database the bot's build (the timed refresh, /add, /reindex) runs under
    the `index-build` lease, and its rate limits and buttons are the database's."""
    from newsqa.bot.telegram.app import build_application
    from newsqa.bot.telegram.state import get_state
    from newsqa.leases import BUILD_LEASE

    seen = []

    def build():
        with connect(database_url) as db:
            seen.append(holder_of(db, BUILD_LEASE))
        return "built"

    settings = make_settings(sample_index, database_url=database_url, telegram_bot_token="1:abc")
    state = get_state(build_application(settings, answerer, build=build))
    try:
        assert state.build() == "built" and seen[0] is not None
        with connect(database_url) as db:
            assert holder_of(db, BUILD_LEASE) is None  # given back
        assert isinstance(state.limiter, DatabaseRateLimiter)
        assert isinstance(state.sources, DatabaseSources)
    finally:
        for undo in state.undo:
            undo()
        state.executor.shutdown(wait=False)
        if state.database is not None:
            state.database.close()
