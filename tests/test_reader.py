"""The trained reader: the committed weights, three outcomes, answers across articles,
and the fallback when the weights cannot be loaded."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
from conftest import SAMPLE_DIR, SAMPLE_ID, answerer_over, make_settings

from newsqa.bot.reader.model import DEFAULT_DIR, ReaderModel, assemble

SAMPLE = (SAMPLE_DIR / SAMPLE_ID).read_text(encoding="utf-8")

# (question, sentence, previous sentence) from the sample article, and what the committed
# int8 weights gave for them when they were trained (`make train-reader`): relevance and
# short answer. A retrain updates these together with the weights.
FIXED = [
    (
        "Who led Russia's delegation?",
        "The US was represented by presidential envoy Steve Witkoff and Jared Kushner, while "
        "Russia sent military intelligence chief Igor Kostyukov.",
        "The delegations included senior officials from all sides.",
    ),
    (
        "How many detainees were released?",
        "According to the UAE’s state news agency, the country has facilitated 17 prisoner "
        "exchange agreements between Ukraine and Russia since the war began, leading to the "
        "release of more than 4,600 detainees.",
        "UAE President Sheikh Mohamed bin Zayed Al Nahyan said he hoped the talks would "
        "contribute to a peaceful resolution.",
    ),
    (
        "Who mediated the talks?",
        "The talks were brokered by the United States.",
        "In a statement issued after the talks, the UAE government said Ukrainian and Russian "
        "delegations held direct discussions.",
    ),
    (
        "How many detainees were released?",
        "The talks were brokered by the United States.",
        "",
    ),
    (
        "What is the capital of Peru?",
        "Kyiv has firmly rejected the demand, saying territorial integrity is non-negotiable.",
        "",
    ),
]
RECORDED: list[tuple[float, str | None]] = [
    (0.788, "Steve Witkoff and Jared Kushner"),  # the wrong delegation: a known weakness
    (0.952, "4,600"),
    (0.149, "United States"),  # "mediated" is not read as "brokered": another
    (0.006, "United States"),
    (0.046, "Kyiv"),
]


def test_committed_weights_are_small_and_described() -> None:
    weights = DEFAULT_DIR / "reader.onnx"
    assert weights.is_file() and weights.stat().st_size <= 25_000_000
    card = (DEFAULT_DIR / "CARD.md").read_text(encoding="utf-8")
    assert "b7cc4d50af791c36c49417fb94dd739d6a9e7bef" in card  # the training data's commit
    assert "Held-out figures" in card
    calibration = json.loads((DEFAULT_DIR / "calibration.json").read_text(encoding="utf-8"))
    assert 0.0 < calibration["answer"] < 1.0 and 0.0 < calibration["topic"] < 1.0
    model = ReaderModel()
    assert model.calibration.answer == calibration["answer"]


def test_committed_weights_give_the_recorded_scores() -> None:
    reads = [ReaderModel().read(q, [s], [p])[0] for q, s, p in FIXED]
    for (question, sentence, _), read, (relevance, short) in zip(
        FIXED, reads, RECORDED, strict=True
    ):
        assert read.relevance == pytest.approx(relevance, abs=0.03), question
        got = sentence[read.span[0] : read.span[1]] if read.span else None
        assert got == short, question


def test_relevance_ranks_the_answering_sentence_first() -> None:
    model = ReaderModel()
    first, second = FIXED[1], FIXED[3]
    answering = model.read(first[0], [first[1]], [first[2]])[0]
    other = model.read(second[0], [second[1]], [second[2]])[0]
    assert answering.relevance > other.relevance + 0.3


def test_one_batch_gives_what_single_reads_give() -> None:
    model = ReaderModel()
    question = FIXED[0][0]
    sentences = [s for _, s, _ in FIXED]
    batch = model.read(question, sentences, [p for _, _, p in FIXED])
    for sentence, previous, read in zip(sentences, [p for _, _, p in FIXED], batch, strict=True):
        alone = model.read(question, [sentence], [previous])[0]
        assert read.relevance == pytest.approx(alone.relevance, abs=1e-4)
        assert read.span == alone.span
        assert read.span is None or 0 <= read.span[0] < read.span[1] <= len(sentence)


def test_input_layout_is_bounded() -> None:
    ids, types, first, offsets = assemble(
        list(range(1000, 1100)), list(range(2000, 2300)), [(i, i + 1) for i in range(300)],
        list(range(3000, 3100)),
    )
    assert ids[0] == 101 and ids[first - 1] == 102 and ids[-1] == 102
    assert len(ids) == len(types) <= 4 + 32 + 64 + 24
    assert types[:first] == [0] * first and set(types[first:]) == {1}
    assert len(offsets) == 64 and ids[first] == 2000


@pytest.mark.parametrize(
    ("question", "outcome", "expected"),
    [
        ("Whom did Russia send?", "answer", "Igor Kostyukov"),
        ("How many detainees were released?", "answer", "4,600"),
        ("When did the war start?", "answer", "February 2022"),
        ("What is the name of the UAE president?", "answer", "Mohamed bin Zayed"),
        ("What is the capital of Peru?", "none", None),
    ],
)
def test_outcomes_on_the_sample(answerer, question: str, outcome: str, expected: str | None):
    answer = answerer.ask(question)
    assert answer.outcome == outcome, answer
    assert answer.abstained == (outcome != "answer")
    if expected is None:
        assert not answer.citations and answer.short_answer is None
    else:
        assert expected in answer.citations[0].quote
        assert answer.short_answer and expected in answer.short_answer
    for citation in answer.citations:
        assert SAMPLE[citation.start : citation.end] == citation.quote


def test_unsure_quotes_and_cites_with_a_hedge(sample_index: Path, embedder) -> None:
    from newsqa.bot.components import build_answerer

    strict = build_answerer(
        make_settings(sample_index, reader_answer_threshold=1.0), embedder=embedder
    )
    answer = strict.ask("How many detainees were released?")
    assert answer.outcome == "unsure" and answer.abstained
    assert answer.citations and "4,600" in answer.citations[0].quote
    assert answer.answer.startswith("I'm not sure")


def test_missing_weights_fall_back_to_the_feature_score(
    sample_index: Path, embedder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from newsqa.bot.components import build_answerer

    answerer = build_answerer(
        make_settings(sample_index, reader_model_dir=tmp_path / "nowhere"), embedder=embedder
    )
    with caplog.at_level(logging.WARNING):
        first = answerer.ask("How many detainees were released?")
        answerer.ask("Who represented the US?")
    assert first.outcome == "answer" and "4,600" in (first.short_answer or "")
    warnings = [r for r in caplog.records if "reader weights not found" in r.getMessage()]
    assert len(warnings) == 1 and "\n" not in warnings[0].getMessage()


def test_damaged_weights_fall_back_too(
    sample_index: Path, embedder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from newsqa.bot.components import build_answerer

    broken = tmp_path / "broken"
    broken.mkdir()
    shutil.copy(DEFAULT_DIR / "tokenizer.json", broken / "tokenizer.json")
    (broken / "reader.onnx").write_bytes(b"not a model")
    answerer = build_answerer(
        make_settings(sample_index, reader_model_dir=broken), embedder=embedder
    )
    with caplog.at_level(logging.WARNING):
        answerer.warm()
        answer = answerer.ask("How many detainees were released?")
    assert answer.citations
    assert any("do not load" in r.getMessage() for r in caplog.records)


TECHCRUNCH = """---
title: Orbital Systems buys battery startup Lumen Cells
published: 2026-03-02
source: TechCrunch
---
Orbital Systems has agreed to buy the battery startup Lumen Cells, TechCrunch has learned.
The deal values Lumen Cells at $120 million, according to two people familiar with it.
Lumen Cells was founded in 2019 in Oslo and makes solid-state cells for delivery drones.
Its forty employees will join Orbital's energy division in Austin.
"""

VERGE = """---
title: Lumen Cells acquired as drone makers race for better batteries
published: 2026-03-04
source: The Verge
---
Drone makers are racing to secure better batteries, and the latest deal shows how far
they will go. Lumen Cells has been acquired by Orbital Systems for $150 million, a
spokesperson for Orbital confirmed on Wednesday. The companies did not say when the
acquisition would close. Analysts expect rivals to follow with deals of their own.
"""


@pytest.fixture(scope="module")
def two_articles(tmp_path_factory: pytest.TempPathFactory, embedder):
    return answerer_over(
        tmp_path_factory.mktemp("two"), embedder, {"techcrunch.md": TECHCRUNCH, "verge.md": VERGE}
    )


@pytest.mark.parametrize(
    "question",
    ["How much did Orbital Systems pay for Lumen Cells?", "How much was Lumen Cells sold for?"],
)
def test_a_figure_the_articles_disagree_on_is_cited_from_both_with_dates(
    two_articles, question: str
) -> None:
    answer = two_articles.ask(question)
    assert answer.outcome == "answer" and len(answer.citations) <= 3
    quotes = {c.article_id: c for c in answer.citations}
    assert "$120 million" in quotes["techcrunch.md"].quote
    assert "$150 million" in quotes["verge.md"].quote
    assert {c.published for c in answer.citations} == {"2026-03-02", "2026-03-04"}
    # Newest first, whichever sentence the reader scored higher, and numbered in that order.
    dates = [c.published for c in answer.citations]
    assert dates == sorted(dates, reverse=True)
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    assert answer.answer.index("[1]") < answer.answer.index("[2]")
