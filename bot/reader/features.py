"""The hand-written support score of a sentence: the reader's shortlist and its fallback.

Each sentence of the retrieved passages is scored on features that a wrong answer
tends to lack: similarity to the question (its late-chunked vector), the share of the
question's rare terms it contains, the share found anywhere in its passage (a question
about something the passage never names is usually unanswerable), whether it holds
an answer of the expected type (a number for "how many", a name for "who"), and the
rank of its passage. A logistic combination of these is the support score. The reader
model reads the best-scored sentences; without the model, this score decides alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...index import SentenceRecord, Snapshot, term_spans
from ..retrieve import Candidate, Retrieval
from .answer_types import AType, question_type, short_answer


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

    @property
    def support(self) -> float:
        return _sigmoid(self.score)


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


def score_sentences(
    question: str, retrieval: Retrieval, snapshot: Snapshot, weights: Weights
) -> list[Scored]:
    """Every sentence of the retrieved passages, with its features and support score."""
    kind = question_type(question)
    if not retrieval.candidates:
        return []
    q_terms = {t for _, _, t in term_spans(question)}
    # 1 + idf: rare terms count more, but in a small index every term still counts.
    idf = {t: 1.0 + snapshot.lexical.idf(t) for t in q_terms}
    sentences = snapshot.sentences_in([c.passage for c in retrieval.candidates])
    if not sentences:
        return []
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
    return scored


def _owner(sentence: SentenceRecord, retrieval: Retrieval) -> Candidate:
    """The best-ranked retrieved passage that contains the sentence."""
    for candidate in retrieval.candidates:
        p = candidate.passage
        if p.article_id == sentence.article_id and p.start <= sentence.start < p.end:
            return candidate
    return retrieval.candidates[0]
