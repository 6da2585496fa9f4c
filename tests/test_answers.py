"""Answers on the sample article through the real model and a real embedded Chroma."""

from __future__ import annotations

import pytest
from conftest import SAMPLE_ID

from newsqa import prompts
from newsqa.bot.question import QuestionError
from newsqa.bot.reader.answer_types import AType, candidates, question_type, short_answer
from newsqa.bot.reader.citations import CitationError, check, make_citation, resolve
from newsqa.index import ArticleRecord


def test_who_represented_the_us(answerer) -> None:
    answer = answerer.ask("Who represented the US?")
    assert not answer.abstained and answer.mode == "extractive"
    assert "Steve Witkoff" in answer.short_answer and "Jared Kushner" in answer.short_answer
    [citation] = answer.citations
    assert citation.article_id == SAMPLE_ID
    assert citation.quote.startswith("The US was represented by presidential envoy")
    assert answer.answer == f"{citation.quote} [1]"


def test_how_many_detainees(answerer) -> None:
    answer = answerer.ask("How many detainees were released?")
    assert answer.outcome == "answer" and "4,600" in answer.short_answer
    assert "4,600 detainees" in answer.citations[0].quote


@pytest.mark.parametrize(
    "question",
    [
        "What is the capital of France?",
        "Who won the 2018 World Cup?",
        "Wie viele Soldaten sind gestorben?",
        "誰が米国を代表しましたか",
    ],
)
def test_questions_about_something_else_get_none(answerer, question: str) -> None:
    answer = answerer.ask(question)
    assert answer.outcome == "none" and answer.abstained and answer.citations == []
    assert answer.answer == prompts.load("abstain")


def test_an_unanswerable_question_on_the_topic_is_not_answered(answerer) -> None:
    answer = answerer.ask("How many soldiers have died?")
    assert answer.outcome in ("unsure", "none") and answer.abstained
    if answer.outcome == "unsure":  # hedged, and still a verbatim, cited quote
        assert answer.answer.startswith(prompts.load("unsure")) and answer.citations


@pytest.mark.parametrize(
    "question",
    [
        "Who represented the US?",
        "How many detainees were released?",
        "Who did Russia send?",
        "When will the sides meet again?",
        "Where were the talks held?",
        "How many people were left without electricity?",
        "What did Moscow demand?",
    ],
)
def test_every_citation_is_a_verbatim_slice(answerer, question: str) -> None:
    answer = answerer.ask(question)
    article = answerer.index.articles([SAMPLE_ID])[SAMPLE_ID]
    for citation in answer.citations:
        assert check(citation, article.text)
        assert citation.quote == article.text[citation.start : citation.end]
        if citation.highlight:
            start, end = citation.highlight
            assert citation.start <= start < end <= citation.end
            assert article.text[start:end] == answer.short_answer


def test_short_answers_of_other_types(answerer) -> None:
    assert "Igor Kostyukov" in answerer.ask("Whom did Russia send?").short_answer
    assert answerer.ask("When will Ukraine and Russia meet again?").short_answer == "February 1"
    assert answerer.ask("Where did Trump meet Zelensky?").short_answer == "Davos"


@pytest.mark.parametrize("question", ["", "   ", "\x00\x01\u200b", "?!"])
def test_empty_questions_get_a_friendly_error(answerer, question: str) -> None:
    with pytest.raises(QuestionError, match="Please type a question"):
        answerer.ask(question)


def test_overlong_question_is_refused_without_work(answerer) -> None:
    with pytest.raises(QuestionError, match="too long"):
        answerer.ask("why " * 25_000)


def test_control_characters_are_removed(answerer) -> None:
    answer = answerer.ask("How many\x00 detainees\u200b were\x1b released?")
    assert answer.standalone_question == "How many detainees were released?"
    assert "4,600" in answer.short_answer


def test_timings_are_reported(answerer) -> None:
    answer = answerer.ask("Who represented the US?")
    assert set(answer.timings_ms) == {"retrieve", "read", "total"}
    assert answer.timings_ms["total"] >= answer.timings_ms["read"] > 0


def test_question_types() -> None:
    assert question_type("How many detainees?") is AType.NUMBER
    assert question_type("When is the next round?") is AType.DATE
    assert question_type("Whom did they send?") is AType.PERSON
    assert question_type("Where were the talks?") is AType.PLACE
    assert question_type("Why did they meet?") is AType.OTHER


def test_short_answer_prefers_the_clause_with_the_question_terms() -> None:
    sentence = (
        "The US was represented by envoy Steve Witkoff and Jared Kushner, "
        "while Russia sent spy chief Igor Kostyukov."
    )
    anchors = [sentence.index("Russia"), sentence.index(" sent ") + 1]
    span = short_answer(sentence, AType.PERSON, "Who did Russia send?", anchors)
    assert span is not None and span.text == "Igor Kostyukov"
    assert [
        c.text
        for c in candidates(
            "It cost more than 4,600 dollars, or 1.2 million in all.", AType.NUMBER, "How much?"
        )
    ] == ["more than 4,600", "1.2 million"]


def test_citation_resolution_is_exact_and_checked() -> None:
    article = ArticleRecord("a", "First sentence. Second one here.", "T", None, "2025-01-01", None)
    [citation] = resolve([("a", 16, 32)], {"a": article}, 0.9, ("a", 16, 22))
    assert citation.quote == "Second one here." and citation.highlight == (16, 22)
    assert (citation.n, citation.title, citation.published) == (1, "T", "2025-01-01")
    with pytest.raises(CitationError):
        make_citation(1, article, 10, 99, 0.5)
    outside = make_citation(1, article, 0, 15, 0.5, highlight=(16, 20))
    assert outside.highlight is None  # a highlight outside the quote is dropped
    assert not check(citation.model_copy(update={"quote": "Second one"}), article.text)
