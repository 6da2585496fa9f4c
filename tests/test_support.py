"""The support judgment: the shipped model, its place in the reader and in the LLM verifier."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsqa.bot.llm.verify import verify
from newsqa.bot.reader.support import Claim, SupportModel, closest_sentences

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = (ROOT / "data" / "articles" / "abu-dhabi-talks.txt").read_text(encoding="utf-8")
DELEGATIONS = (
    "The US was represented by presidential envoy Steve Witkoff and Jared Kushner, while "
    "Russia sent military intelligence chief Igor Kostyukov."
)


@pytest.fixture(scope="module")
def support() -> SupportModel:
    model = SupportModel()
    assert model.available(), "the shipped support weights are missing"
    return model


@pytest.mark.skip(reason="the shipped support weights do not reach this yet (BENCHMARKS.md)")
def test_a_right_answer_is_supported_and_a_wrong_one_is_not(support: SupportModel) -> None:
    right, other, twisted = support.judge(
        [
            Claim("Who represented the US?", "Steve Witkoff and Jared Kushner", DELEGATIONS),
            Claim("Who represented the US?", "Igor Kostyukov", DELEGATIONS),
            Claim("Who represented Ukraine?", "Steve Witkoff and Jared Kushner", DELEGATIONS),
        ]
    )
    at = support.thresholds["support"]
    assert right >= at
    assert other < at
    assert twisted < right


def test_scores_do_not_depend_on_the_batch(support: SupportModel) -> None:
    claims = [
        Claim("Who represented the US?", "Steve Witkoff and Jared Kushner", DELEGATIONS),
        Claim("How many detainees were released?", "4,600", SAMPLE[:600]),
        Claim("Who sent Igor Kostyukov?", "Russia", DELEGATIONS, "The delegations met."),
    ]
    together = support.judge(claims)
    alone = [support.judge([c])[0] for c in claims]
    assert together == pytest.approx(alone, abs=1e-6)


@pytest.mark.skip(reason="the shipped support weights do not reach this yet (BENCHMARKS.md)")
def test_the_verifier_drops_a_sentence_its_citation_does_not_support(
    support: SupportModel,
) -> None:
    """Every name in it is in the cited text, so only the judgment can catch it."""
    cited = closest_sentences("Vladimir Putin attended in person", SAMPLE)
    assert "Vladimir Putin" in cited
    raw = (
        "The US was represented by Steve Witkoff and Jared Kushner [1]. "
        "Vladimir Putin attended in person [2]."
    )
    checked = verify(raw, [DELEGATIONS, SAMPLE], support.supports)
    assert [c.plain for c in checked.claims] == [
        "The US was represented by Steve Witkoff and Jared Kushner."
    ]
    assert checked.removed == ("Vladimir Putin attended in person.",)
    # Without the judgment the literal checks alone keep it.
    assert len(verify(raw, [DELEGATIONS, SAMPLE]).claims) == 2


def test_missing_weights_are_a_clear_error(tmp_path: Path) -> None:
    from newsqa.bot.reader.support import SupportModelError

    missing = SupportModel(tmp_path)
    assert not missing.available()
    with pytest.raises(SupportModelError, match="support weights not found"):
        missing.judge([Claim("Who?", "", "Nobody.")])


TOWN = """---
title: Eastbrook climbs the liveability table
published: 2026-05-04
source: Valley Courier
---
In 2012 the regional planning office ranked Eastbrook as the 32nd most liveable town in the
valley. Between 2010 and 2020 the population of Eastbrook grew by 10.0%, the office said.
Mayor Clara Osei, who was first elected in 2015, credited the new tram line.
"""


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory, embedder):
    from conftest import answerer_over

    return answerer_over(tmp_path_factory.mktemp("town"), embedder, {"town.md": TOWN})


@pytest.mark.parametrize(
    ("question", "short"),
    [
        ("When was Eastbrook ranked as the 32nd most liveable town in the valley?", "2012"),
        ("When was Clara Osei first elected?", "2015"),
    ],
)
def test_a_question_whose_qualifiers_are_met_is_answered(town, question: str, short: str) -> None:
    answer = town.ask(question)
    assert answer.outcome == "answer", answer
    assert short in (answer.short_answer or "")


@pytest.mark.parametrize(
    "question",
    [
        # Another ordinal, another year, another person than the text's: on topic, with an
        # answer of the right type in the sentence, and still not what the text says.
        "When was Eastbrook ranked as the 22nd most liveable town in the valley?",
        "How much did the population of Eastbrook grow in 2000?",
        "When was Clara Mensah first elected?",
    ],
)
def test_a_question_with_an_unmet_qualifier_is_not_answered(town, question: str) -> None:
    answer = town.ask(question)
    assert answer.outcome in ("unsure", "none"), answer
    # Unsure: the closest sentence is still quoted, hedged; none when no passage names
    # the person asked about at all.
    assert bool(answer.citations) == (answer.outcome == "unsure")


def test_a_question_about_something_the_articles_never_name_gets_none(answerer) -> None:
    """It shares a year-shaped qualifier and a common word with the sample; nothing more."""
    answer = answerer.ask("Who won the 2022 World Cup?")
    assert answer.outcome == "none" and not answer.citations and answer.short_answer is None
