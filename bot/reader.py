"""The extractive reader: picks the sentence(s) that answer, or abstains.

Each sentence of the retrieved passages is scored on features that a wrong answer
tends to lack: similarity to the question (its late-chunked vector), the share of the
question's rare terms it contains, the share found anywhere in its passage (a question
about something the passage never names is usually unanswerable), whether it holds
an answer of the expected type (a number for "how many", a name for "who"), and the
rank of its passage. A logistic combination of these is the support score; below the
calibrated threshold the reader abstains. Only verbatim sentences are ever returned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from bot.answer_types import AType, Span, question_type, short_answer
from bot.retrieve import Candidate, Retrieval
from index import SentenceRecord, Snapshot
from index.lexical import term_spans


@dataclass(frozen=True)
class Weights:
    """Feature weights of the support score.

    Fitted by logistic regression (sentence contains a gold answer or not) on the even
    half of the SQuAD 2.0 sample; `python -m bench.fit_reader` refits them and reports
    the held-out odd half (see BENCHMARKS.md).
    """

    dense: float = 3.28
    overlap: float = 3.12
    cover: float = 0.21
    type_hit: float = -0.13
    type_miss: float = -1.18
    rank: float = 0.75
    bias: float = -5.73


FEATURES = ("dense", "overlap", "cover", "type_hit", "type_miss", "rank")


@dataclass
class Scored:
    sentence: SentenceRecord
    text: str
    features: dict[str, float]
    score: float
    anchors: list[int]  # positions of question terms in the sentence
    article_text: str


@dataclass
class Reading:
    abstained: bool
    support: float
    kind: AType
    quotes: list[tuple[str, int, int]] = field(default_factory=list)  # (article, start, end)
    score: float = 0.0
    highlight: tuple[str, int, int] | None = None  # (article, start, end)
    best: Scored | None = None
    scored: list[Scored] = field(default_factory=list)  # every sentence considered


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def sentence_features(
    scored_terms: dict[str, float],
    sentence_terms: set[str],
    passage_terms: set[str],
    dense: float,
    kind: AType,
    has_type: bool,
    rank: int,
) -> dict[str, float]:
    total = sum(scored_terms.values()) or 1.0
    return {
        "dense": dense,
        "overlap": sum(w for t, w in scored_terms.items() if t in sentence_terms) / total,
        "cover": sum(w for t, w in scored_terms.items() if t in passage_terms) / total,
        "type_hit": float(kind is not AType.OTHER and has_type),
        "type_miss": float(kind is not AType.OTHER and not has_type),
        "rank": 1.0 / (1.0 + rank),
    }


def score(features: dict[str, float], weights: Weights) -> float:
    return weights.bias + sum(getattr(weights, name) * features[name] for name in FEATURES)


def read(
    question: str,
    retrieval: Retrieval,
    snapshot: Snapshot,
    threshold: float,
    max_sentences: int = 2,
    weights: Weights | None = None,
) -> Reading:
    """Choose the answering sentence(s) among the retrieved passages."""
    weights = weights or Weights()
    kind = question_type(question)
    if not retrieval.candidates:
        return Reading(abstained=True, support=0.0, kind=kind)
    q_terms = {t for _, _, t in term_spans(question)}
    # 1 + idf: rare terms count more, but in a small index every term still counts.
    idf = {t: 1.0 + snapshot.lexical.idf(t) for t in q_terms}
    sentences = snapshot.sentences_in([c.passage for c in retrieval.candidates])
    if not sentences:
        return Reading(abstained=True, support=0.0, kind=kind)
    dense = np.stack([s.vector for s in sentences]) @ retrieval.vector
    passage_terms = {
        c.passage.id: {t for _, _, t in term_spans(f"{c.article.title or ''}\n{c.text}")}
        for c in retrieval.candidates
    }
    scored: list[Scored] = []
    for sentence, sim in zip(sentences, dense, strict=True):
        owner = _owner(sentence, retrieval)
        article = owner.article
        text = article.text[sentence.start : sentence.end]
        spans = term_spans(text)
        anchors = [start for start, _, t in spans if t in q_terms]
        found = short_answer(text, kind, question, anchors) if kind is not AType.OTHER else None
        features = sentence_features(
            idf,
            {t for _, _, t in spans},
            passage_terms[owner.passage.id],
            float(sim),
            kind,
            found is not None,
            owner.rank,
        )
        scored.append(
            Scored(sentence, text, features, score(features, weights), anchors, article.text)
        )
    best = max(scored, key=lambda s: s.score)
    support = _sigmoid(best.score)
    reading = Reading(
        abstained=support < threshold,
        support=support,
        kind=kind,
        score=best.score,
        best=best,
        scored=scored,
    )
    if reading.abstained:
        return reading
    chosen = _with_neighbours(best, scored, idf, kind, max_sentences)
    article_id = best.sentence.article_id
    reading.quotes = [(article_id, chosen[0].sentence.start, chosen[-1].sentence.end)]
    for part in chosen:
        span: Span | None = short_answer(part.text, kind, question, part.anchors)
        if span is not None:
            start = part.sentence.start + span.start
            reading.highlight = (article_id, start, start + len(span.text))
            break
    return reading


def _owner(sentence: SentenceRecord, retrieval: Retrieval) -> Candidate:
    """The best-ranked retrieved passage that contains the sentence."""
    for candidate in retrieval.candidates:
        p = candidate.passage
        if p.article_id == sentence.article_id and p.start <= sentence.start < p.end:
            return candidate
    return retrieval.candidates[0]


def _with_neighbours(
    best: Scored, scored: list[Scored], idf: dict[str, float], kind: AType, limit: int
) -> list[Scored]:
    """The best sentence, plus an adjacent one when it completes the answer."""
    chosen = [best]
    same_article = sorted(
        (s for s in scored if s.sentence.article_id == best.sentence.article_id),
        key=lambda s: s.sentence.start,
    )
    position = next(i for i, s in enumerate(same_article) if s is best)
    for offset in (1, -1):
        if len(chosen) >= limit:
            break
        j = position + offset
        if not 0 <= j < len(same_article):
            continue
        neighbour = same_article[j]
        first, last = sorted((best, neighbour), key=lambda s: s.sentence.start)
        if best.article_text[first.sentence.end : last.sentence.start].strip():
            continue  # not contiguous: a quote must be one verbatim stretch
        completes_type = (
            kind is not AType.OTHER
            and best.features["type_miss"]
            and neighbour.features["type_hit"]
        )
        adds_terms = neighbour.features["overlap"] >= 0.5 and (
            best.features["overlap"] + neighbour.features["overlap"] >= 1.2
        )
        if completes_type or (adds_terms and neighbour.score >= best.score - 1.0):
            chosen.append(neighbour)
    return sorted(chosen, key=lambda s: s.sentence.start)
