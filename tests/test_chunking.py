"""Sentences and passages: exact offsets, every sentence owned once, size limits."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsqa.index.chunking import chunk_article
from newsqa.index.sentences import split_spans


def words(texts):  # a cheap, deterministic token counter for property tests
    return [len(t.split()) for t in texts]


def test_sentence_splitter_keeps_abbreviations_and_initials() -> None:
    text = (
        "Mr. Smith met U.S. envoy John F. Kennedy Jr. in Abu Dhabi. “We agreed,” he said. "
        "The deal cost $1.2 million! Talks resume on Feb. 1.\nNew paragraph here"
    )
    spans = split_spans(text)
    assert [text[s:e] for s, e in spans] == [
        "Mr. Smith met U.S. envoy John F. Kennedy Jr. in Abu Dhabi.",
        "“We agreed,” he said.",
        "The deal cost $1.2 million!",
        "Talks resume on Feb. 1.",
        "New paragraph here",
    ]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "line",
    [
        "Mr. Smith met the U.S. envoy in Abu Dhabi. Talks resume on Feb. 1. " * 60_000,
        "x" * 1_000_000 + ". Then",
        "Wait" + "!" * 1_000_000 + " Then",
        "a." * 500_000 + " Then",
    ],
    ids=["4 MB of sentences", "a 1 MB word", "a 1 MB run of '!'", "a 1 MB run of initials"],
)
def test_one_long_line_splits_in_one_pass(line: str) -> None:
    """No line break for megabytes: the splitter stays linear (it was quadratic, and a 400 KB
    line took 50 s), and the spans are the same as for the text cut into lines."""
    spans = split_spans(line)
    assert spans and spans[-1][1] == len(line.rstrip())
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    if line.startswith("Mr."):
        assert len(spans) == 120_000
        assert line[spans[0][0] : spans[0][1]] == "Mr. Smith met the U.S. envoy in Abu Dhabi."


@given(st.text(alphabet="ab .!?\nMU", max_size=200))
@settings(max_examples=300, deadline=None)
def test_the_bounded_look_back_splits_as_the_whole_text_did(text: str) -> None:
    assert split_spans(text) == _reference_spans(text)


def _reference_spans(text: str) -> list[tuple[int, int]]:
    """The splitter as it was, quadratic: the word before a full stop searched from the
    start of the text, and every position of a run of punctuation tried."""
    import re

    from newsqa.index import sentences

    boundary = re.compile(r"""[.!?…]+["'”’)\]]*(?=\s+["'“‘(\[]?[A-Z0-9À-ÖØ-Þ])""")

    def abbreviation(dot: int) -> bool:
        if text[dot] != ".":
            return False
        match = re.compile(r"([\w.]+)$").search(text, 0, dot)
        if not match:
            return False
        word = match.group(1).lower()
        if len(word) == 1 and word.isalpha():
            return True
        return word.rstrip(".") in sentences._ABBREVIATIONS

    spans = []
    for line in re.finditer(r"[^\n]+", text):
        cut = line.start()
        for match in boundary.finditer(text, line.start(), line.end()):
            if not abbreviation(match.start()):
                spans.append((cut, match.end()))
                cut = match.end()
        spans.append((cut, line.end()))
    return [t for span in spans if (t := sentences._trim(text, *span))]


@pytest.mark.timeout(120)
def test_a_long_article_without_line_breaks_chunks_in_one_pass(embedder) -> None:
    text = "The envoy met the minister in Abu Dhabi. Talks resume on Feb. 1. " * 12_000  # 800 KB
    passages = chunk_article("long", text, embedder.count_tokens, max_tokens=120, overlap=1)
    owned = [span for p in passages for span in p.sentences]
    assert owned == split_spans(text) and len(owned) == 24_000


def test_sample_article_passages_round_trip(embedder) -> None:
    from conftest import SAMPLE_DIR

    text = (SAMPLE_DIR / "abu-dhabi-talks.txt").read_text(encoding="utf-8").strip()
    passages = chunk_article("a", text, embedder.count_tokens, max_tokens=120, overlap=1)
    assert len(passages) > 3
    owned = [span for p in passages for span in p.sentences]
    assert owned == sorted(set(owned))  # each sentence belongs to exactly one passage
    assert owned == split_spans(text)
    for passage in passages:
        chunk = text[passage.start : passage.end]
        assert chunk == chunk.strip() and chunk
        assert sum(embedder.count_tokens([text[s:e] for s, e in passage.sentences])) <= 120
    for before, after in itertools.pairwise(passages):
        assert after.start < before.end  # one sentence of overlap


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.text(alphabet=st.sampled_from("abc XYZ.!?\n,1“”"), min_size=0, max_size=60),
        min_size=1,
        max_size=12,
    ),
    st.integers(min_value=3, max_value=30),
    st.integers(min_value=0, max_value=2),
)
def test_passages_cover_text_exactly(parts: list[str], limit: int, overlap: int) -> None:
    text = " ".join(parts).strip()
    passages = chunk_article("a", text, words, max_tokens=limit, overlap=overlap)
    owned = [span for p in passages for span in p.sentences]
    assert owned == sorted(set(owned))
    assert "".join(text[s:e] for s, e in owned).replace(" ", "").replace("\n", "") == (
        text.replace(" ", "").replace("\n", "")
    )
    for p in passages:
        assert 0 <= p.start < p.end <= len(text)
        assert all(p.start <= s < e <= p.end for s, e in p.sentences)
