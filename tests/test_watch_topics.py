"""Topic watches (a digest of new articles on some words, copies of a story counted once)
and resuming a paused watch, over a real index (bundled model, real Chroma), the real bot
against the loopback Bot API, and the CLI."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_bot_api import FakeBotApi
from test_telegram_bot import ANN, TOKEN, replies
from test_watch import LATER, UNRELATED, _bot, watched_sample

from newsqa import prompts
from newsqa.bot.watch_topics import is_topic
from newsqa.bot.watches import CLI_OWNER, Baseline, recheck

pytestmark = pytest.mark.timeout(240)

TOPIC = "prisoner exchange Ukraine Russia"
URL = "https://gulfwire.example/2026/01/27/uae-prisoner-exchange"
ON_TOPIC = LATER.replace("source: Gulf Wire\n", f"source: Gulf Wire\nurl: {URL}\n")
# The same wire story republished a day later: new headline, byline, a "Read more" line.
COPY = (
    "---\ntitle: Emirates mediate new Russia-Ukraine swap\npublished: '2026-01-28'\n"
    "source: Desert Post\nurl: https://desertpost.example/swap\n---\n"
    "By Staff Writer\n\n" + LATER.split("---\n", 2)[2].strip() + "\n\nRead more: Gulf news\n"
)
LEAD = (
    "ABU DHABI: The United Arab Emirates said on Tuesday that it had mediated another "
    "prisoner exchange between Ukraine and Russia, days after the two sides held direct "
    "talks in Abu Dhabi."
)


@pytest.fixture
def place(tmp_path: Path, embedder) -> Iterator[Any]:
    with watched_sample(tmp_path, embedder) as found:
        yield found


def _refresh(settings: Any, embedder: Any, files: dict[str, str]) -> set[str]:
    from newsqa.index import build_index

    for name, text in files.items():
        (settings.articles_dir / name).write_text(text, encoding="utf-8")
    assert build_index(settings, embedder=embedder).added == len(files)
    return set(files)


def test_the_rule_that_tells_a_topic_from_a_question() -> None:
    for topic in ("Storm Ardent", "harbour tram line", "prisoner exchange Ukraine Russia"):
        assert is_topic(topic), topic
    for question in (
        "Who won the cup?",
        "how many detainees were released",  # a wh-word first, no "?"
        "Is the museum open",  # an auxiliary first
        "In which village did the storm hit",
        "Storm Ardent?",  # a question mark
    ):
        assert not is_topic(question), question


def test_a_topic_digest_lists_a_syndicated_story_once(place, embedder) -> None:
    settings, answerer, store = place
    watch = store.add(
        f"tg:{ANN}", TOPIC, Baseline("topic", None), chat_id=ANN, user_id=ANN, kind="topic"
    )
    new = _refresh(
        settings,
        embedder,
        {"later.md": ON_TOPIC, "copy.md": COPY, "lighthouse.md": UNRELATED},
    )
    run = recheck(store, answerer, new)
    assert run.topics == 1 and len(run.pushes) == 1, run
    push = run.pushes[0]
    assert push.watch_id == watch.id and push.chat_id == ANN
    text = push.text
    lines = text.splitlines()
    assert lines[0] == prompts.render("watch_digest", topic=TOPIC, count=1)
    stories = [line for line in lines if line.startswith("• ")]
    assert stories == [
        "• UAE brokers another prisoner exchange between Ukraine and Russia "
        "(27 Jan 2026; Gulf Wire; also Desert Post)"
    ]
    assert f"  {URL}" in lines and f"  {LEAD}" in lines
    assert "Emirates mediate" not in text and "desertpost" not in text  # the copy: once
    assert "Lighthouse" not in text and "Skerry" not in text  # off the topic
    assert [p.id for p in store.pending(telegram=True)] == [push.id]  # through the outbox
    # The same refresh seen again (a retry, another process) records nothing more.
    assert recheck(store, answerer, new).pushes == []
    assert len(store.pending()) == 1
    assert set(store.list(f"tg:{ANN}")[0].baseline.articles) == {"later.md", "copy.md"}


def test_an_off_topic_article_gives_no_digest(place, embedder) -> None:
    settings, answerer, store = place
    store.add(f"tg:{ANN}", TOPIC, Baseline("topic", None), chat_id=ANN, kind="topic")
    store.add(f"tg:{ANN}", "Storm Ardent", Baseline("topic", None), chat_id=ANN, kind="topic")
    run = recheck(store, answerer, _refresh(settings, embedder, {"lighthouse.md": UNRELATED}))
    assert run.topics == 2 and run.pushes == [] and store.pending() == []
    # ... while an on-topic one, in the next refresh, reaches only the watch on its topic.
    run = recheck(store, answerer, _refresh(settings, embedder, {"later.md": ON_TOPIC}))
    assert [p.watch_id for p in run.pushes] == [store.list(f"tg:{ANN}")[0].id]


def test_paused_watches_resume_by_watches_or_watch_again(
    place, embedder, monkeypatch, capsys
) -> None:
    from newsqa.bot import components
    from newsqa.bot.cli import main

    settings, _, store = place
    topic = store.add(
        f"tg:{ANN}", "Storm Ardent", Baseline("topic", None), chat_id=ANN, kind="topic"
    )
    question = store.add(f"tg:{ANN}", "Who won the cup?", Baseline("none", None), chat_id=ANN)
    store.pause(topic.id)
    store.pause(question.id)
    assert store.active() == []

    monkeypatch.setattr(components, "Embedder", lambda *a, **k: embedder)
    monkeypatch.setenv("NEWSQA_ARTICLES_DIR", str(settings.articles_dir))
    common = ["--index-dir", str(settings.index_dir)]
    assert main(["watch", "add", "harbour tram line", *common]) == 0
    assert capsys.readouterr().out.strip() == "watch 1 added (topic): harbour tram line"
    assert main(["watch", "list", "--all", *common]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert f"tg:{ANN}    1  Storm Ardent  [topic]  [paused]" in listing
    assert f"tg:{ANN}    2  Who won the cup?  [now: no answer yet]  [paused]" in listing
    assert f"{CLI_OWNER}    1  harbour tram line  [topic]" in listing

    api = FakeBotApi(TOKEN).start()
    try:
        with _bot(place, api) as start:
            start()
            api.send(ANN, "/watch storm   ARDENT")  # the same words again: resumed, not refused
            again = html.unescape(replies(api, ANN, 1)[0]["text"])
            assert again == prompts.render("watch_resumed", n=1, question="Storm Ardent")
            assert [w.paused for w in store.list(f"tg:{ANN}")] == [False, True]
            api.send(ANN, "/watches")  # resumes the rest, and says so
            shown = html.unescape(replies(api, ANN, 2)[1]["text"])
            flag = prompts.load("tg_watch_resumed")
            assert f"1. Storm Ardent — <i>{prompts.load('tg_watch_topic')}</i>\n" in shown
            assert f"2. Who won the cup? — <i>no answer yet</i> [{flag}]" in shown
    finally:
        api.stop()
    assert [w.n for w in store.active() if w.owner == f"tg:{ANN}"] == [1, 2]
    assert len(store.list(f"tg:{ANN}")) == 2  # resumed, nothing added
