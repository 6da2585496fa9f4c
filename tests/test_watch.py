"""Watches: a question followed across refreshes, over a real index (bundled model, real
Chroma) and the real bot against the loopback Bot API; the CLI's watch and latest."""

from __future__ import annotations

import html
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import SAMPLE_DIR, make_settings
from fake_bot_api import FakeBotApi
from test_telegram_bot import ADMIN, ANN, BOB, GROUP, TOKEN, bot_starter, replies, settle

from newsqa import prompts
from newsqa.bot.watches import (
    CLI_OWNER,
    Baseline,
    WatchError,
    WatchStore,
    open_watches,
    recheck,
)

pytestmark = pytest.mark.timeout(240)

QUESTION = "What is the latest number of detainees released?"
SAMPLE = (SAMPLE_DIR / "abu-dhabi-talks.txt").read_text(encoding="utf-8")


def _article(title: str, published: str, body: str, source: str = "Gulf Wire") -> str:
    return f"---\ntitle: {title}\npublished: '{published}'\nsource: {source}\n---\n{body}\n"


LATER = _article(
    "UAE brokers another prisoner exchange between Ukraine and Russia",
    "2026-01-27",
    "ABU DHABI: The United Arab Emirates said on Tuesday that it had mediated another "
    "prisoner exchange between Ukraine and Russia, days after the two sides held direct "
    "talks in Abu Dhabi.\n\nAccording to the UAE's state news agency, the latest swap brings "
    "the number of prisoner exchange agreements the country has facilitated since the war "
    "began to 18, leading to the release of more than 4,800 detainees.\n\nThe exchange took "
    "place at the border between Ukraine and Belarus. Officials on both sides said the "
    "released soldiers would receive medical care before returning to their families.",
)
UNRELATED = _article(
    "Lighthouse keeper retires after forty years",
    "2026-01-27",
    "Arne Dahl switched off the lamp of the Skerry Point lighthouse for the last time on "
    "Sunday, ending a career that began when the light still ran on paraffin.\n\nThe "
    "lighthouse was automated in 1998, but Dahl stayed on as its caretaker, painting the "
    "tower every third summer and logging the weather four times a day.",
    source="Coast News",
)


@pytest.fixture
def place(tmp_path: Path, embedder) -> Iterator[Any]:
    with watched_sample(tmp_path, embedder) as found:
        yield found


@contextmanager
def watched_sample(tmp_path: Path, embedder: Any) -> Iterator[Any]:
    """A dated copy of the sample article, indexed; yields (settings, answerer, store)."""
    from newsqa.bot.components import build_answerer
    from newsqa.index import build_index

    articles = tmp_path / "articles"
    articles.mkdir()
    (articles / "abu-dhabi-talks.md").write_text(
        _article("Ukraine and Russia to meet again after Abu Dhabi talks", "2026-01-25", SAMPLE)
    )
    settings = make_settings(tmp_path / "index", articles_dir=articles)
    build_index(settings, embedder=embedder)
    store = open_watches(settings)
    try:
        yield settings, build_answerer(settings, embedder=embedder), store
    finally:
        store.close()


def _add_article(settings: Any, embedder: Any, name: str, text: str) -> None:
    from newsqa.index import build_index

    (settings.articles_dir / name).write_text(text, encoding="utf-8")
    assert build_index(settings, embedder=embedder).added == 1


def _watch(store: WatchStore, answerer: Any, owner: str = f"tg:{ANN}", chat: int | None = ANN):
    answer = answerer.ask(QUESTION)
    assert answer.outcome == "answer" and answer.short_answer == "4,600", answer
    return store.add(owner, QUESTION, Baseline.of(answer), chat_id=chat, user_id=chat)


def test_a_changed_figure_gives_one_push_with_both_dated_citations(place, embedder) -> None:
    settings, answerer, store = place
    watch = _watch(store, answerer)
    other = store.add(
        f"tg:{BOB}",
        "Who brokered the talks?",
        Baseline.of(answerer.ask("Who brokered the talks?")),
        chat_id=BOB,
    )
    _add_article(settings, embedder, "later.md", LATER)

    run = recheck(store, answerer, {"later.md"})
    assert run.watches == 2 and len(run.pushes) == 1, run
    push = run.pushes[0]
    assert push.watch_id == watch.id and push.chat_id == ANN
    assert "Now 4,800 (Gulf Wire, 27 Jan 2026); it was 4,600 (25 Jan 2026)." in push.text
    assert "more than 4,800 detainees" in push.text  # the quote it rests on
    assert [p.id for p in store.pending(telegram=True)] == [push.id]
    assert store.list(f"tg:{BOB}")[0].baseline == other.baseline  # not changed by the refresh
    # The baseline moved: the same refresh seen again (another process, a retry) adds none.
    assert store.list(f"tg:{ANN}")[0].baseline.short_answer == "4,800"
    assert recheck(store, answerer, {"later.md"}).pushes == []
    assert len(store.pending()) == 1


def test_nothing_relevant_and_a_repeat_give_no_push(place, embedder) -> None:
    settings, answerer, store = place
    _watch(store, answerer)
    _add_article(settings, embedder, "lighthouse.md", UNRELATED)
    run = recheck(store, answerer, {"lighthouse.md"})
    assert run.watches == 1 and run.touched == 0 and run.pushes == []  # not even read again
    repeat = LATER.replace("4,800", "4,600").replace("to 18", "to 17")
    _add_article(settings, embedder, "repeat.md", repeat.replace("2026-01-27", "2026-01-26"))
    run = recheck(store, answerer, {"repeat.md"})
    assert run.touched == 1 and run.pushes == []  # read again, the same answer: no push
    assert store.pending() == []
    assert store.list(f"tg:{ANN}")[0].baseline.short_answer == "4,600"


def test_bad_input_is_one_line_and_changes_nothing(tmp_path: Path) -> None:
    store = WatchStore(tmp_path / "w.sqlite", max_chars=40, per_user=2, per_chat=3)
    base = Baseline("none", None)
    store.add("tg:1", "Who won?", base, user_id=1)
    cases = [
        ("   ", "Nothing to watch"),
        ("x" * 41, "at most 40 characters"),
        ("who  WON", "that is watch 1"),
    ]
    for question, message in cases:
        with pytest.raises(WatchError, match=message):
            store.check("tg:1", question, 1)
    store.add("tg:1", "Who lost?", base, user_id=1)
    with pytest.raises(WatchError, match="2 watches, the most one person"):
        store.add("tg:1", "Who drew?", base, user_id=1)
    # In a group the chat's limit holds, and each member's own limit too.
    store.add("tg:-5", "Q one", base, user_id=7, group=True)
    store.add("tg:-5", "Q two", base, user_id=8, group=True)
    with pytest.raises(WatchError, match="2 watches, the most one person"):
        store.add("tg:-5", "Q three", base, user_id=1, group=True)
    store.add("tg:-5", "Q three", base, user_id=9, group=True)
    with pytest.raises(WatchError, match="This chat already has 3"):
        store.add("tg:-5", "Q four", base, user_id=10, group=True)
    for number in ("9", "x", ""):
        with pytest.raises(WatchError, match="There is no watch"):
            store.remove("tg:1", number)
    assert [w.question for w in store.list("tg:1")] == ["Who won?", "Who lost?"]
    assert store.remove("tg:1", "1").question == "Who won?"
    assert [(w.n, w.question) for w in store.list("tg:1")] == [(2, "Who lost?")]  # numbers kept
    store.close()


def _bot(place: Any, api: FakeBotApi, **settings: Any) -> Any:
    s, answerer, _ = place
    return bot_starter(api, answerer, s.index_dir, s.articles_dir, **settings)


def test_a_restart_between_refresh_and_push_sends_once(place, embedder) -> None:
    settings, answerer, store = place
    _watch(store, answerer)
    _add_article(settings, embedder, "later.md", LATER)
    assert len(recheck(store, answerer, {"later.md"}).pushes) == 1  # recorded; bot is down
    for _ in range(2):  # started, stopped, started again
        api = FakeBotApi(TOKEN).start()
        try:
            with _bot(place, api) as start:
                start()
                settle(api, 1.0)
                pushed = [html.unescape(m["text"]) for m in api.sent(ANN)]
        finally:
            api.stop()
        if _ == 0:
            assert len(pushed) == 1 and "Now 4,800 (Gulf Wire, 27 Jan 2026)" in pushed[0]
        else:
            assert pushed == []  # sent once, never again
    assert store.pending() == [] and len(store.sent()) == 1


def test_a_blocked_chat_pauses_the_watch(place, embedder) -> None:
    settings, answerer, store = place
    _watch(store, answerer)
    _add_article(settings, embedder, "later.md", LATER)
    recheck(store, answerer, {"later.md"})
    api = FakeBotApi(TOKEN).start()
    api.fail_next("sendMessage", "Forbidden: bot was blocked by the user", code=403, times=5)
    try:
        with _bot(place, api) as start:
            start()
            assert api.wait_for(lambda: bool(api.of("sendMessage")), 15)
            settle(api, 0.5)
    finally:
        api.stop()
    assert len(api.of("sendMessage")) == 1  # tried once, not retried
    assert store.list(f"tg:{ANN}")[0].paused and store.pending() == []
    assert store.active() == []  # not read again at the next refresh


def test_telegram_watch_commands(place) -> None:
    """/watch shows the answer now; bad input gets one line and changes nothing; /watches,
    /unwatch; in a group only admins add; /latest lists the newest article."""
    _, _, store = place
    api = FakeBotApi(TOKEN).start()
    try:
        with _bot(place, api, watches_per_user=1, watch_max_chars=60) as start:
            start()
            api.send(ANN, f"/watch {QUESTION}")
            added = html.unescape(replies(api, ANN, 1, timeout=60)[0]["text"])
            assert added.startswith(f"Watch 1 added: {QUESTION}") and "<b>4,600</b>" in added
            bad = [
                ("/watch", "Nothing to watch"),
                ("/watch " + "why " * 20, "at most 60 characters"),
                (f"/watch {QUESTION.upper()}", "Already watched: that is watch 1."),
                ("/watch Who brokered the talks?", "You already have 1 watches"),
                ("/unwatch 9", "There is no watch 9"),
                ("/unwatch", prompts.load("tg_unwatch_usage")),
            ]
            for i, (command, expected) in enumerate(bad, start=2):
                api.send(ANN, command)
                text = html.unescape(replies(api, ANN, i)[i - 1]["text"])
                assert expected in text and "\n" not in text, text
            assert len(store.list(f"tg:{ANN}")) == 1
            api.send(ANN, "/watches")
            listing = html.unescape(replies(api, ANN, 8)[7]["text"])
            assert f"1. {QUESTION} — <i>now: 4,600 (25 Jan 2026)</i>" in listing
            api.send(ANN, "/unwatch 1")
            assert "Watch 1 removed" in html.unescape(replies(api, ANN, 9)[8]["text"])
            assert store.list(f"tg:{ANN}") == []

            api.send(BOB, "/watch Who brokered the talks?", chat=GROUP)
            refused = html.unescape(replies(api, GROUP["id"], 1)[0]["text"])
            assert refused == prompts.load("tg_not_admin")
            assert store.list(f"tg:{GROUP['id']}") == []
            api.send(ADMIN, "/watch Who brokered the talks?", chat=GROUP)
            group_added = html.unescape(replies(api, GROUP["id"], 2, timeout=60)[1]["text"])
            assert "Watch 1 added" in group_added
            assert [w.chat_id for w in store.list(f"tg:{GROUP['id']}")] == [GROUP["id"]]

            api.send(ANN, "/latest")
            newest = html.unescape(replies(api, ANN, 10)[9]["text"])
            assert "Ukraine and Russia to meet again after Abu Dhabi talks" in newest
            assert "2026-01-25" in newest and "Gulf Wire" in newest
    finally:
        api.stop()


def test_cli_watch_add_list_remove_and_latest(place, embedder, monkeypatch, capsys) -> None:
    from newsqa.bot import components
    from newsqa.bot.cli import main

    settings, _, store = place
    monkeypatch.setattr(components, "Embedder", lambda *a, **k: embedder)
    common = ["--index-dir", str(settings.index_dir)]
    monkeypatch.setenv("NEWSQA_ARTICLES_DIR", str(settings.articles_dir))
    assert main(["watch", "add", QUESTION, *common]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"watch 1 added: {QUESTION}") and "4,600" in out
    assert main(["watch", "list", *common]) == 0
    assert f"1  {QUESTION}  [now: 4,600 (25 Jan 2026)]" in capsys.readouterr().out
    for argv, message in [
        (["watch", "add", "  "], "Nothing to watch"),
        (["watch", "add", QUESTION.lower()], "Already watched: that is watch 1."),
        (["watch", "remove", "4"], "There is no watch 4"),
    ]:
        assert main([*argv, *common]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("newsqa: error: ") and message in err and "\n" not in err
    assert [w.owner for w in store.list()] == [CLI_OWNER]
    assert main(["latest", *common]) == 0
    assert "Ukraine and Russia to meet again after Abu Dhabi talks · 2026-01-25 · Gulf Wire" in (
        capsys.readouterr().out
    )
    assert main(["watch", "remove", "1", *common]) == 0
    assert "watch 1 removed" in capsys.readouterr().out and store.list() == []


def test_each_change_is_recorded_once_even_back_and_after_a_reused_id(tmp_path: Path) -> None:
    """The outbox records a change of answer once (a second run judging the same old
    baseline records nothing), an answer that changes back is a change too, and a watch
    that gets a removed watch's id is not mistaken for it."""
    from newsqa.bot.answer import Answer

    def answer(short: str) -> Answer:
        return Answer(
            question=QUESTION,
            standalone_question=QUESTION,
            answer=f"{short} [1]",
            outcome="answer",
            abstained=False,
            short_answer=short,
        )

    store = WatchStore(tmp_path / "w.sqlite")
    store.add("tg:1", "Who leads?", Baseline("answer", "A"))
    store.add("tg:1", QUESTION, Baseline("answer", "A"))
    watch = store.list("tg:1")[1]
    assert store.record(watch, answer("B"), "now B") is not None
    assert store.record(watch, answer("B"), "now B, again") is None  # judged on the old A
    moved = store.list("tg:1")[1]
    assert moved.baseline.short_answer == "B"
    assert store.record(moved, answer("A"), "back to A") is not None  # A → B → A
    assert [p.text for p in store.pending()] == ["now B", "back to A"]
    store.remove("tg:1", "2")  # its unsent pushes are dropped with it
    store.add("tg:1", QUESTION, Baseline("answer", "A"))
    again = store.list("tg:1")[1]
    assert again.id == watch.id  # SQLite reuses the id ...
    assert store.record(again, answer("B"), "now B") is not None  # ... the push is not lost
    assert [(p.watch_id, p.text) for p in store.pending()] == [(again.id, "now B")]
    store.close()


def test_a_failing_watch_step_after_add_is_one_warning(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`newsqa add`/`refresh` have updated the index when the watch step runs: a locked
    watch store (or a Chroma server gone) is one warning line, not a traceback."""
    import sqlite3

    from newsqa.bot import cli, watches

    def locked(settings: object) -> None:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(watches, "article_ids", lambda report, where: {"new.md"})
    monkeypatch.setattr(watches, "open_watches", locked)
    cli._after_follow(make_settings(tmp_path / "index"))(object())
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "warning: the index is updated, but the watches were not asked again "
        "(OperationalError: database is locked)"
    ]
