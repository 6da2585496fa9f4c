"""Dates in answers: which questions ask for the latest news, how quotes from several
dated articles are ordered, and that a "latest" question is answered from the newest
article that answers it (counted from publication dates, never fetch dates)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from conftest import answerer_over

from newsqa.bot.reader.citations import newest_first
from newsqa.bot.retrieve import asks_for_recent

OLD = """---
title: Ferry strike strands island passengers
published: 2026-01-10
source: Island Post
---
The island ferry strike has left 3,000 passengers stranded, the ferry operator said on
Saturday. The strike by deckhands began on Thursday in a dispute over pay and overtime.
The operator said it had chartered two buses and a small boat to carry patients to the
mainland hospital. The union said its members would not return until the company
improved its offer.
"""
NEW = """---
title: Ferry strike enters second week
published: 2026-01-14
source: Coast Herald
---
The ferry strike entered its second week on Wednesday. Officials said 5,200 passengers
are now stranded on the island, with hotels full and food deliveries running late.
Talks between the union and the operator resumed in the afternoon, mediated by the
regional labour office. Neither side would say whether an agreement was close.
"""


@pytest.mark.parametrize(
    "question",
    [
        "What's the latest on the talks?",
        "How many are stranded now?",
        "What happened yesterday?",
        "What did the mayor say this week?",
        "Who won most recently?",
    ],
)
def test_recent_questions(question: str) -> None:
    assert asks_for_recent(question)


@pytest.mark.parametrize(
    "question",
    ["Who represented the US?", "How many detainees were released?", "Who knows the town?"],
)
def test_other_questions(question: str) -> None:
    assert not asks_for_recent(question)


def test_quotes_from_dated_articles_come_newest_first() -> None:
    articles = {
        "a": SimpleNamespace(published="2026-01-02"),
        "b": SimpleNamespace(published="2026-03-01T10:00:00Z"),
        "c": SimpleNamespace(published=None),
    }
    quotes = [("a", 0, 5), ("c", 1, 2), ("b", 3, 4), ("a", 7, 9)]
    # Newest article first, undated last, one article's quotes together and in order.
    assert newest_first(quotes, articles) == [("b", 3, 4), ("a", 0, 5), ("a", 7, 9), ("c", 1, 2)]
    assert newest_first([("a", 0, 5), ("a", 7, 9)], articles) == [("a", 0, 5), ("a", 7, 9)]
    undated = {"x": SimpleNamespace(published=None), "y": SimpleNamespace(published=None)}
    assert newest_first([("y", 0, 1), ("x", 0, 1)], undated) == [("y", 0, 1), ("x", 0, 1)]


@pytest.fixture(scope="module")
def ferry(tmp_path_factory: pytest.TempPathFactory, embedder):
    return answerer_over(
        tmp_path_factory.mktemp("ferry"), embedder, {"ferry-strike.md": OLD, "ferry-update.md": NEW}
    )


def test_latest_question_is_answered_from_the_newest_article(ferry) -> None:
    answer = ferry.ask("How many passengers are stranded by the ferry strike now?")
    assert answer.outcome == "answer", answer.answer
    first = answer.citations[0]
    assert first.published == "2026-01-14" and first.source == "Coast Herald"
    assert answer.short_answer is not None and "5,200" in answer.short_answer
    # The older figure is still quoted beside it, later, with its own date and source.
    assert [(c.published, c.source) for c in answer.citations] == [
        ("2026-01-14", "Coast Herald"),
        ("2026-01-10", "Island Post"),
    ]
    assert "3,000" in answer.citations[1].quote


def test_only_extractive_quotes_are_reordered() -> None:
    """An LLM's text says [1] for the first source it was given: its citations keep that
    order; the reader's quotes, whose text is written after numbering, go newest first."""
    from newsqa.bot.reader.citations import resolve
    from newsqa.index import ArticleRecord

    articles = {
        "old": ArticleRecord("old", "Old text here.", None, None, "2026-01-01", "A"),
        "new": ArticleRecord("new", "New text here.", None, None, "2026-02-01", "B"),
    }
    quotes = [("old", 0, 9), ("new", 0, 9)]
    assert [c.article_id for c in resolve(quotes, articles, 1.0)] == ["old", "new"]
    by_date = resolve(quotes, articles, 1.0, by_date=True)
    assert [(c.n, c.article_id, c.source) for c in by_date] == [(1, "new", "B"), (2, "old", "A")]
