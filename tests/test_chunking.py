"""Sentences and passages: exact offsets, every sentence owned once, size limits."""

from __future__ import annotations

import itertools

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
