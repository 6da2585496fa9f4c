"""Hybrid retrieval: dense (Chroma, cosine) and BM25 candidates fused by reciprocal rank.

Near-duplicate passages (the same wire story under two ids) are collapsed into the
better-ranked one.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import numpy as np

from newsqa.index import ArticleRecord, PassageRecord, Snapshot, StoreUnavailableError

log = logging.getLogger(__name__)


@dataclass
class Candidate:
    passage: PassageRecord
    article: ArticleRecord
    rank: int  # 0-based, after fusion
    fused: float
    dense: float | None = None
    lexical: float | None = None

    @property
    def text(self) -> str:
        return self.article.text[self.passage.start : self.passage.end]


@dataclass(frozen=True)
class AnswerSources:
    """The passages behind an answer, best first, and which of them it cited."""

    candidates: list[Candidate]
    cited: frozenset[str]  # passage ids

    def is_cited(self, candidate: Candidate) -> bool:
        return candidate.passage.id in self.cited

    def in_order(self) -> list[Candidate]:
        """Cited passages first, then the others, each group in retrieval order."""
        return sorted(self.candidates, key=lambda c: (not self.is_cited(c), c.rank))


@dataclass
class Retrieval:
    query: str
    vector: np.ndarray
    candidates: list[Candidate] = field(default_factory=list)


def rrf(rankings: list[list[str]], k: int) -> dict[str, float]:
    """Reciprocal-rank fusion of several rankings of ids."""
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking):
            fused[key] = fused.get(key, 0.0) + 1.0 / (k + rank + 1)
    return fused


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i : i + 4]) for i in range(max(1, len(words) - 3))}


def collapse_duplicates(candidates: list[Candidate], threshold: float = 0.9) -> list[Candidate]:
    """Drop candidates whose text nearly repeats a better-ranked one (Jaccard of 4-grams)."""
    kept: list[tuple[Candidate, set[tuple[str, ...]]]] = []
    for candidate in candidates:
        grams = _shingles(candidate.text)
        duplicate = any(
            len(grams & seen) / max(1, len(grams | seen)) >= threshold
            for better, seen in kept
            if better.passage.article_id != candidate.passage.article_id
        )
        if not duplicate:
            kept.append((candidate, grams))
    return [candidate for candidate, _ in kept]


# Questions about the news as it stands: "What's the latest on…", "… today?".
_RECENT = re.compile(
    r"\b(?:latest|newest|most\s+recent|recent(?:ly)?|now|today|tonight|yesterday|"
    r"this\s+(?:week|month|morning|evening)|currently|so\s+far|still)\b",
    re.IGNORECASE,
)


def asks_for_recent(question: str) -> bool:
    """True for a question that wants the newest news ("latest", "now", "yesterday", …)."""
    return _RECENT.search(question) is not None


def _by_date(snapshot: Snapshot, ids: list[str]) -> list[str]:
    """`ids` whose articles have a publication date, newest first (ties keep their order)."""
    passages = snapshot.passages(ids)
    articles = snapshot.articles([p.article_id for p in passages.values()])
    dated = [
        (pid, (articles[p.article_id].published or "")[:10])
        for pid, p in ((pid, passages.get(pid)) for pid in ids)
        if p is not None and p.article_id in articles and articles[p.article_id].published
    ]
    return [pid for pid, _ in sorted(dated, key=lambda item: item[1], reverse=True)]


def retrieve(
    snapshot: Snapshot,
    vector: np.ndarray,
    query: str,
    top_k: int,
    pool: int,
    rrf_k: int = 60,
    hint: list[str] | None = None,
    recent: bool = False,
) -> Retrieval:
    """The `top_k` passages for `query` (whose embedding is `vector`).

    `hint`: passages the previous turn of a conversation cited; they join the fusion as a
    third ranking, so a follow-up can find them without being limited to them.
    `recent`: the question wants the latest news; the best-fused passages, ordered by
    their article's publication date (never the fetch date), join the fusion as one more
    ranking, so newer articles rise among the relevant ones without drowning them.
    """
    try:
        dense = snapshot.dense_search(vector, pool)
    except StoreUnavailableError as exc:  # server down or disk full: BM25 still answers
        log.warning("%s; answering from BM25 alone", exc)
        dense = []
    lexical = snapshot.lexical_search(query, pool)
    rankings = [[pid for pid, _ in dense], [pid for pid, _ in lexical]]
    if hint:
        rankings.append(list(hint))
    fused = rrf(rankings, rrf_k)
    if recent:
        relevant = sorted(fused, key=lambda pid: -fused[pid])[: top_k * 4]
        rankings.append(_by_date(snapshot, relevant))
        fused = rrf(rankings, rrf_k)
    order = sorted(fused, key=lambda pid: -fused[pid])[: top_k * 2]
    passages = snapshot.passages(order)
    articles = snapshot.articles([p.article_id for p in passages.values()])
    dense_scores, lexical_scores = dict(dense), dict(lexical)
    candidates = [
        Candidate(
            passage=passages[pid],
            article=articles[passages[pid].article_id],
            rank=rank,
            fused=fused[pid],
            dense=dense_scores.get(pid),
            lexical=lexical_scores.get(pid),
        )
        for rank, pid in enumerate(p for p in order if p in passages)
        if passages[pid].article_id in articles
    ]
    kept = collapse_duplicates(candidates)[:top_k]
    for rank, candidate in enumerate(kept):
        candidate.rank = rank
    return Retrieval(query=query, vector=vector, candidates=kept)
