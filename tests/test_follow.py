"""Following the news end to end, on loopback: `newsqa add`, `feeds`, `refresh` against
the test web server, then questions about what came in, with dates and sources."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLE_DIR
from web_server import WebServer

from newsqa.bot.cli import main

pytestmark = pytest.mark.timeout(300)

QUESTION = "How much will the new Old Harbour Bridge cost?"


@pytest.fixture(scope="module")
def web() -> Iterator[WebServer]:
    with WebServer.with_fixtures() as server:
        server.add_page(
            "/copy/bridge-vote.html",
            # The same wire story on another site: another byline and boilerplate.
            (Path(__file__).parent / "data" / "web" / "article.html")
            .read_bytes()
            .replace(b"By Marta Lindqvist", b"By Staff and agencies")
            .replace(b"All rights reserved.", b"Sign up for our newsletter."),
        )
        yield server


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedder) -> Path:
    """An articles folder with the sample, its index, and fetching allowed to loopback."""
    articles = tmp_path / "articles"
    shutil.copytree(SAMPLE_DIR, articles)
    monkeypatch.setenv("NEWSQA_ARTICLES_DIR", str(articles))
    monkeypatch.setenv("NEWSQA_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("NEWSQA_FETCH_ALLOW_PRIVATE", "1")
    from newsqa.index import build as index_build

    monkeypatch.setattr(index_build, "Embedder", lambda *a, **k: embedder)
    assert main(["index", "--quiet"]) == 0
    return tmp_path


def _ask(capsys: pytest.CaptureFixture[str], question: str) -> dict:
    capsys.readouterr()
    assert main(["ask", "--json", question]) == 0
    return json.loads(capsys.readouterr().out)


def test_add_a_link_then_ask_about_it(web: WebServer, place: Path, capsys) -> None:
    url = web.url("/article.html?utm_source=share")
    before = web.requests("/article.html")
    assert main(["add", url]) == 0
    out = capsys.readouterr().out
    assert "added Riverton council approves rebuild of the Old Harbour Bridge (2024-05-13)" in out
    assert "indexed" in out and "1 added" in out
    saved = list((place / "articles" / "web").rglob("*.md"))
    assert len(saved) == 1 and "published: '2024-05-13'" in saved[0].read_text()

    answer = _ask(capsys, QUESTION)
    assert answer["outcome"] == "answer", answer
    first = answer["citations"][0]
    assert "84 million crowns" in first["quote"]
    assert first["published"] == "2024-05-13" and first["source"] == "The Harbour Times"
    assert first["article_id"] == saved[0].relative_to(place / "articles").as_posix()

    # The same link again (with other tracking parameters), and a redirect to it: nothing
    # is fetched or embedded again.
    assert main(["add", web.url("/article.html?utm_campaign=x")]) == 0
    again = capsys.readouterr().out
    assert "already saved" in again and "nothing new" in again
    assert web.requests("/article.html") == before + 1


def test_a_copy_on_another_site_is_one_article(web: WebServer, place: Path, capsys) -> None:
    assert main(["add", web.url("/article.html")]) == 0
    assert main(["add", web.url("/copy/bridge-vote.html")]) == 0
    out = capsys.readouterr().out
    assert "the same story as Riverton council approves" in out and "another source" in out
    saved = list((place / "articles" / "web").rglob("*.md"))
    assert len(saved) == 1  # indexed once
    assert "/copy/bridge-vote.html" in saved[0].read_text()  # kept as an extra source


def test_bad_links_fail_in_one_line_and_change_nothing(web: WebServer, place: Path, capsys) -> None:
    bad = {
        "/missing": "404 Not Found",
        "/gone": "410 Gone",
        "/error": "500 Internal Server Error",
        "/loop-a": "redirect loop",
        "/report.pdf": "application/pdf, not a web page",
        "/paywalled.html": "too little text",
        "/bomb.html": "larger than",
    }
    code = main(["add", *(web.url(path) for path in bad)])
    err = capsys.readouterr().err
    assert code == 1  # nothing could be added
    lines = err.strip().splitlines()
    assert len(lines) == len(bad), err
    for line, reason in zip(lines, bad.values(), strict=True):
        assert line.startswith("! ") and reason in line, line
    assert "Traceback" not in err
    assert not (place / "articles" / "web").exists()
    assert _ask(capsys, "Who represented the US?")["outcome"] == "answer"  # index intact


def test_loopback_is_refused_without_the_setting(
    web: WebServer, place: Path, monkeypatch, capsys
) -> None:
    monkeypatch.delenv("NEWSQA_FETCH_ALLOW_PRIVATE")
    before = web.requests("/article.html")
    assert main(["add", web.url("/article.html")]) == 2  # an address never fetched: bad input
    assert "refused to connect to a loopback address" in capsys.readouterr().err
    assert web.requests("/article.html") == before  # not one request reached it


def test_feeds_subscribe_refresh_and_304(web: WebServer, place: Path, capsys) -> None:
    assert main(["feeds", "add", web.url("/feed.rss")]) == 0
    assert main(["feeds", "add", web.url("/missing")]) == 0
    assert main(["feeds", "add", web.url("/feed.rss")]) == 2  # already subscribed
    capsys.readouterr()
    assert main(["refresh"]) == 0  # one feed failed, the other did not
    out, err = capsys.readouterr()
    assert "added Riverton council approves" in out and "1 added" in out
    assert "too little text" in err  # the paywalled entry, reported
    assert "404 Not Found" in err and "404" not in out  # the failing feed, on stderr, kept
    assert main(["refresh"]) == 0  # every feed answers 304 or is backing off
    out = capsys.readouterr().out
    assert "unchanged" in out and "nothing new" in out
    assert main(["feeds", "list"]) == 0
    listing = capsys.readouterr().out
    assert "The Harbour Times: News" in listing and "failing" in listing
    assert main(["feeds", "remove", "2"]) == 0 and main(["feeds", "remove", "9"]) == 2
    assert "no feed 9" in capsys.readouterr().err
    answer = _ask(capsys, "When is construction of the new bridge expected to begin?")
    assert answer["citations"] and answer["citations"][0]["published"] == "2024-05-13"


def test_cli_process_refuses_in_one_line(web: WebServer, place: Path) -> None:
    """The real `newsqa` process, without NEWSQA_FETCH_ALLOW_PRIVATE: a loopback link is
    refused in one line on stderr, exit 2 (bad input). (Loopback, so that even a broken check sends
    nothing beyond this machine; the unit tests in test_fetch.py cover metadata and
    private addresses with a transport that fails on any connection.)"""
    env = {k: v for k, v in os.environ.items() if k != "NEWSQA_FETCH_ALLOW_PRIVATE"}
    before = web.requests("/article.html")
    proc = subprocess.run(
        [sys.executable, "-m", "newsqa.bot.cli", "add", web.url("/article.html")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "newsqa: error: 127.0.0.1: refused to connect to a loopback address; nothing was fetched"
    )
    assert web.requests("/article.html") == before


@contextmanager
def _bot(embedder, **settings: object) -> Iterator[object]:
    """The real bot (long polling) over `place`'s index and articles, fetching from the
    loopback web server, against a loopback Bot API; yields the API."""
    from fake_bot_api import FakeBotApi
    from test_telegram_bot import TOKEN, bot_starter

    from newsqa.bot.components import build_answerer
    from newsqa.settings import load_settings

    current = load_settings()
    api = FakeBotApi(TOKEN).start()
    try:
        with bot_starter(
            api,
            build_answerer(current, embedder=embedder),
            current.index_dir,
            current.articles_dir,
            fetch_allow_private=True,
            **settings,
        ) as start:
            start()
            yield api
    finally:
        api.stop()


def test_telegram_add_and_feeds(web: WebServer, place: Path, embedder) -> None:
    """/add from a user (limited per hour), /feed_add and /feeds for admins only, then a
    question about the added article, its citation dated, through the loopback Bot API."""
    import html

    from test_telegram_bot import ADMIN, ANN, replies

    from newsqa import prompts

    with _bot(embedder, telegram_add_per_hour=1) as api:
        api.send(ANN, f"/add {web.url('/article.html')}")
        done = html.unescape(replies(api, ANN, 2, timeout=120)[1]["text"])
        assert "added Riverton council approves" in done and "Index updated" in done
        api.send(ANN, f"/add {web.url('/gone')}")  # over the hourly limit
        assert "1 links an hour" in html.unescape(replies(api, ANN, 3)[2]["text"])
        api.send(ANN, f"/feed_add {web.url('/feed.rss')}")
        assert html.unescape(replies(api, ANN, 4)[3]["text"]) == prompts.load("tg_not_admin")
        api.send(ADMIN, f"/feed_add {web.url('/feed.atom')}")
        assert "Subscribed: feed 1" in html.unescape(replies(api, ADMIN, 1)[0]["text"])
        api.send(ADMIN, "/feeds")
        assert "not checked yet" in html.unescape(replies(api, ADMIN, 2)[1]["text"])
        api.send(ANN, QUESTION)
        answer = html.unescape(replies(api, ANN, 5, timeout=60)[4]["text"])
        assert "84 million</b> crowns" in answer and "2024-05-13" in answer
        assert "The Harbour Times" in answer
        api.send(ADMIN, "/feed_remove 9")
        assert "no feed 9" in html.unescape(replies(api, ADMIN, 3)[2]["text"])
        api.send(ADMIN, "/feed_remove")
        usage = html.unescape(replies(api, ADMIN, 4)[3]["text"])
        assert usage == prompts.load("tg_feed_remove_usage")
        api.send(ADMIN, "/feed_remove 1")
        assert "Unsubscribed: feed 1" in html.unescape(replies(api, ADMIN, 5)[4]["text"])


def test_telegram_refreshes_feeds_on_a_timer(web: WebServer, place: Path, embedder) -> None:
    """NEWSQA_REFRESH_MINUTES: the JobQueue refreshes the feeds by itself, and the new
    article can be asked about without anyone running a command."""
    import html

    from test_telegram_bot import ANN, replies

    from newsqa.index.web.follow import feed_store
    from newsqa.settings import load_settings

    settings = load_settings()
    with feed_store(settings) as store:
        store.add(web.url("/feed.atom"))
    saved = place / "articles" / "web"
    with _bot(embedder, refresh_minutes=0.01) as api:
        deadline = time.monotonic() + 120
        while not list(saved.rglob("*.md")) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert list(saved.rglob("*.md")), "the timed refresh never saved the article"
        with feed_store(settings) as store:
            assert store.list()[0].last_checked is not None
        # The index is updated right after the file is written: ask until it answers.
        for attempt in range(1, 30):
            api.send(ANN, QUESTION)
            reply = html.unescape(replies(api, ANN, attempt, timeout=60)[-1]["text"])
            if "84 million</b> crowns" in reply:
                break
            time.sleep(0.5)
        assert "84 million</b> crowns" in reply and "2024-05-13" in reply


LATER_PAGE = """<html><head><title>Lighthouse keeper retires after forty years</title>
<meta property="article:published_time" content="2024-05-20T06:00:00Z"></head>
<body><article><h1>Lighthouse keeper retires after forty years</h1>
<p>Arne Dahl switched off the lamp of the Skerry Point lighthouse for the last time on
Sunday, ending a career that began when the light still ran on paraffin.</p>
<p>The lighthouse was automated in 1998, but Dahl stayed on as its caretaker, painting
the tower every third summer and logging the weather four times a day.</p>
<p>The coastal administration said the building would be offered to the municipality,
which plans to open a small museum about the fishing fleet in the keeper's cottage.</p>
</article></body></html>"""


def test_a_feed_entry_that_failed_for_now_comes_back(web: WebServer, place: Path, capsys) -> None:
    """A page that answers 503 is tried again at the next refresh, even though the feed
    itself then answers 304 to a conditional request; a 404 entry is not."""
    feed = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Later feed</title>'
        "<item><title>Keeper</title><link>{base_url}/later.html</link><guid>k1</guid></item>"
        "<item><title>Gone</title><link>{base_url}/missing</link><guid>k2</guid></item>"
        "</channel></rss>"
    )
    web.add_page("/later.rss", feed, content_type="application/rss+xml", etag='"later-1"')
    web.add_error("/later.html", 503)
    assert main(["feeds", "add", web.url("/later.rss")]) == 0
    assert main(["refresh"]) == 0
    err = capsys.readouterr().err
    assert "503 Service Unavailable" in err and "404 Not Found" in err
    web.add_page("/later.html", LATER_PAGE)
    missing = web.requests("/missing")
    assert main(["refresh"]) == 0
    out = capsys.readouterr().out
    assert "added Lighthouse keeper retires after forty years (2024-05-20)" in out
    assert web.requests("/missing") == missing  # a permanent failure is not retried
    assert main(["refresh"]) == 0  # and now the feed may answer 304
    assert "nothing new" in capsys.readouterr().out


def test_saved_articles_reach_the_index_even_after_a_failed_build(
    web: WebServer, place: Path, monkeypatch, capsys
) -> None:
    """A build that fails after articles were saved is made up for by the next run, even
    when that run has nothing new of its own."""
    from newsqa.index import build as index_build
    from newsqa.index.errors import BuildLockedError

    real = index_build.build_index

    def locked(*args, **kwargs):
        raise BuildLockedError("another build is running on this index")

    monkeypatch.setattr(index_build, "build_index", locked)
    assert main(["add", web.url("/article.html")]) == 1
    assert "the articles are saved, but the index was not updated" in capsys.readouterr().err
    monkeypatch.setattr(index_build, "build_index", real)
    assert main(["add", web.url("/article.html")]) == 0  # already saved; builds the rest
    out = capsys.readouterr().out
    assert "already saved" in out and "1 added" in out
    assert "84 million crowns" in _ask(capsys, QUESTION)["citations"][0]["quote"]


@pytest.mark.parametrize(
    ("kind", "status", "transient"),
    [
        ("timeout", None, True),
        ("network", None, True),  # the server hung up: try again next time
        ("status", 503, True),
        ("status", 522, True),  # a CDN's "origin timed out"
        ("status", 429, True),
        ("status", 404, False),
        ("status", 501, False),
        ("protocol", None, False),  # a corrupt body stays corrupt
        ("too_large", None, False),
        ("refused", None, False),
    ],
)
def test_which_failures_are_tried_again(kind: str, status: int | None, transient: bool) -> None:
    from newsqa.index.web.fetch import FetchError
    from newsqa.index.web.follow import _transient

    assert _transient(FetchError("x", kind=kind, status=status)) is transient
