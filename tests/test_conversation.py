"""Follow-up rewriting without an LLM, and the bounded conversation store."""

from __future__ import annotations

import time

import pytest

from bot.conversation import ConversationStore, Turn, rewrite

KOSTYUKOV = Turn(
    "Who did Russia send?", "Who did Russia send?", "Igor Kostyukov",
    "The US was represented by presidential envoy Steve Witkoff and Jared Kushner, while "
    "Russia sent military intelligence chief Igor Kostyukov.",
)
NEXT_ROUND = Turn("When is the next round of talks?", "When is the next round of talks?",
                  "February 1", "A US official said a new round is scheduled to begin on "
                  "February 1.")
US = Turn("Who represented the US?", "Who represented the US?",
          "Steve Witkoff and Jared Kushner", "The US was represented by ...")


@pytest.mark.parametrize(("history", "question", "expected"), [
    ([], "What is his job?", "What is his job?"),
    ([KOSTYUKOV], "What is his job?", "What is Igor Kostyukov's job?"),
    ([KOSTYUKOV], "What did he say?", "What did Igor Kostyukov say?"),
    ([KOSTYUKOV], "Who sent him?", "Who sent Igor Kostyukov?"),
    ([NEXT_ROUND], "Where will it be held?", "Where will the next round of talks be held?"),
    ([US], "What about Russia?", "Who represented Russia?"),
    ([US], "And Ukraine?", "Who represented Ukraine?"),
    ([US], "How many detainees were released?", "How many detainees were released?"),
])
def test_deterministic_rewrite(history: list[Turn], question: str, expected: str) -> None:
    assert rewrite(question, history) == expected


def test_store_is_bounded_in_turns_count_and_idle_time() -> None:
    store = ConversationStore(max_turns=3, max_conversations=1000, idle_seconds=0.2)
    for i in range(5):
        store.add("a", Turn(f"q{i}", f"q{i}", None, None))
    assert [t.question for t in store.history("a")] == ["q2", "q3", "q4"]
    for i in range(100_000):
        store.add(f"c{i}", KOSTYUKOV)
    assert len(store) == 1000  # least recently used conversations are evicted
    assert store.history("c0") == [] and store.history("c99999") == [KOSTYUKOV]
    time.sleep(0.25)
    assert store.history("c99999") == []  # idle too long
    store.add("b", KOSTYUKOV)
    store.reset("b")
    assert store.history("b") == []


def test_follow_up_through_the_chain_uses_the_previous_answer(answerer) -> None:
    first = answerer.ask("Who did Russia send?", conversation="t1")
    assert first.short_answer == "Igor Kostyukov"
    second = answerer.ask("What is his job?", conversation="t1")
    assert second.standalone_question == "What is Igor Kostyukov's job?"
    answerer.reset("t1")
    assert answerer.ask("What is his job?", conversation="t1").standalone_question == (
        "What is his job?")


def test_sqlite_store_is_shared_between_processes(tmp_path) -> None:
    from bot.conversation import SqliteConversationStore

    db = tmp_path / "conversations.sqlite"
    one = SqliteConversationStore(db, max_turns=2, max_conversations=3)
    two = SqliteConversationStore(db, max_turns=2, max_conversations=3)  # another process
    one.add("chat", KOSTYUKOV)
    assert two.history("chat") == [KOSTYUKOV]
    two.add("chat", NEXT_ROUND)
    two.add("chat", US)
    assert one.history("chat") == [NEXT_ROUND, US]  # bounded in turns
    for i in range(5):
        one.add(f"c{i}", US)
    assert len(two) == 3 and two.history("chat") == []  # least recent evicted
    one.reset("c4")
    assert two.history("c4") == []


def test_follow_up_continues_on_another_process(sample_index, embedder, tmp_path) -> None:
    from conftest import make_settings

    from bot.components import build_answerer

    settings = make_settings(sample_index, conversations_db=tmp_path / "c.sqlite")
    first, second = (build_answerer(settings, embedder=embedder) for _ in range(2))
    first.ask("Who did Russia send?", conversation="tg:1")
    follow = second.ask("What is his job?", conversation="tg:1")
    assert follow.standalone_question == "What is Igor Kostyukov's job?"
