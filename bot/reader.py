"""The extractive reader: which sentence(s) answer, the short answer, and how sure.

The trained reader model (`bot.reader_model`) reads the question with each candidate
sentence of the retrieved passages (and the sentence before it) and gives each a
relevance probability and a short-answer span. Three outcomes:

- `answer`: the best sentence is at or above the calibrated answer threshold;
- `unsure`: below it, but the passages bear on the question (some sentence's embedding is
  at least the calibrated `topic` similarity to the question's): the closest sentence is
  quoted, hedged;
- `none`: nothing retrieved bears on the question.

A question that spans passages or articles gets one quote per passage whose best sentence
the model also finds relevant (up to `max_citations`). Only verbatim sentences are ever
returned. Without the model (`model=None`: its weights could not be loaded), the
hand-written feature score (`bot.reader_features`) decides alone, as it did before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from newsqa.bot.answer_types import AType, question_type, short_answer
from newsqa.bot.reader_features import Scored, Weights, score_sentences
from newsqa.bot.reader_model import Calibration, ReaderModel
from newsqa.bot.retrieve import Retrieval
from newsqa.index import Snapshot, split_spans

Outcome = Literal["answer", "unsure", "none"]


@dataclass(frozen=True)
class ReaderConfig:
    """The reader's knobs, taken from the settings by the chain."""

    calibration: Calibration
    fallback_threshold: float  # the feature score's threshold when the model is missing
    max_sentences: int = 2  # per quote: the best sentence and a neighbour
    max_candidates: int = 8  # sentences the model reads, best by the feature score
    max_citations: int = 3  # quotes from distinct passages


@dataclass
class Choice:
    """A sentence the reader considered, with what the model made of it."""

    scored: Scored
    relevance: float
    span: tuple[int, int] | None  # short answer, offsets into the sentence


@dataclass
class Reading:
    outcome: Outcome
    support: float  # the best sentence's relevance (or feature support without the model)
    quotes: list[tuple[str, int, int]] = field(default_factory=list)  # (article, start, end)
    highlight: tuple[str, int, int] | None = None  # (article, start, end)
    choices: list[Choice] = field(default_factory=list)  # what was read, most relevant first

    @property
    def abstained(self) -> bool:
        return self.outcome != "answer"


def read(
    question: str,
    retrieval: Retrieval,
    snapshot: Snapshot,
    config: ReaderConfig,
    model: ReaderModel | None,
    weights: Weights | None = None,
    recent: bool = False,
) -> Reading:
    """Read the retrieved passages for `question`.

    `recent`: the question asks for the latest news; of the sentences that answer it, the
    one from the most recently published article gives the answer (the others are still
    quoted beside it)."""
    kind = question_type(question)
    scored = score_sentences(question, retrieval, snapshot, weights or Weights())
    if not scored:
        return Reading(outcome="none", support=0.0)
    shortlist = sorted(scored, key=lambda s: -s.score)[: config.max_candidates]
    on_topic = max(s.features["dense"] for s in scored) >= config.calibration.topic
    if model is not None:
        choices = _model_choices(question, shortlist, model)
        answer_at, also_at = config.calibration.answer, config.calibration.also
    else:  # no model: the feature score decides, as before the model, with one quote
        choices = [Choice(s, s.support, None) for s in shortlist]
        answer_at, also_at = config.fallback_threshold, 1.1
    choices.sort(key=lambda c: -c.relevance)
    best = choices[0]
    if recent and best.relevance >= answer_at:
        best = _newest(choices, answer_at, retrieval)
    if best.relevance >= answer_at:
        outcome: Outcome = "answer"
    elif on_topic:
        outcome = "unsure"
    else:
        outcome = "none"
    reading = Reading(outcome=outcome, support=best.relevance, choices=choices)
    if outcome == "none":
        return reading
    primary = _quote(best, choices, also_at, config.max_sentences)
    reading.quotes = [primary]
    reading.highlight = _highlight(best, question, kind)
    if outcome == "answer":
        reading.quotes += _other_passages(
            best, choices, also_at, config.max_citations - 1, reading.quotes
        )
    return reading


def _newest(choices: list[Choice], answer_at: float, retrieval: Retrieval) -> Choice:
    """The answering choice from the most recently published article; among choices of
    one date, the most relevant (choices come most relevant first)."""
    dates = {c.article.id: (c.article.published or "")[:10] for c in retrieval.candidates}
    answering = [c for c in choices if c.relevance >= answer_at]
    return max(answering, key=lambda c: dates.get(c.scored.sentence.article_id, ""))


def _model_choices(question: str, shortlist: list[Scored], model: ReaderModel) -> list[Choice]:
    """Raises `ReaderModelError` when the weights cannot be loaded."""
    reads = model.read(question, [s.text for s in shortlist], [_previous(s) for s in shortlist])
    return [Choice(s, r.relevance, r.span) for s, r in zip(shortlist, reads, strict=True)]


def _previous(scored: Scored) -> str:
    """The sentence before `scored` in its article (the model's context), or ''."""
    start = scored.sentence.start
    spans = split_spans(scored.article_text, max(0, start - 400), start)
    return scored.article_text[spans[-1][0] : spans[-1][1]] if spans else ""


def _highlight(best: Choice, question: str, kind: AType) -> tuple[str, int, int] | None:
    """The short answer: the model's span, else the answer-type rules' guess."""
    sentence = best.scored.sentence
    if best.span is not None:
        start, end = best.span
        while end > start and best.scored.text[end - 1] in ".,;:!?\"'”’)":
            end -= 1
        if end > start:
            return sentence.article_id, sentence.start + start, sentence.start + end
    if kind is AType.OTHER:
        return None
    span = short_answer(best.scored.text, kind, question, best.scored.anchors)
    if span is None:
        return None
    return sentence.article_id, sentence.start + span.start, sentence.start + span.end


def _quote(best: Choice, choices: list[Choice], also_at: float, limit: int) -> tuple[str, int, int]:
    """The best sentence, with an adjacent one that the model also finds relevant."""
    s = best.scored.sentence
    start, end = s.start, s.end
    if limit > 1:
        text = best.scored.article_text
        for other in choices:
            o = other.scored.sentence
            if other is best or o.article_id != s.article_id or other.relevance < also_at:
                continue
            gap = text[o.end : s.start] if o.end <= s.start else text[s.end : o.start]
            if not gap.strip():  # contiguous: a quote must be one verbatim stretch
                start, end = min(start, o.start), max(end, o.end)
                break
    return s.article_id, start, end


def _other_passages(
    best: Choice,
    choices: list[Choice],
    also_at: float,
    limit: int,
    taken: list[tuple[str, int, int]],
) -> list[tuple[str, int, int]]:
    """One quote from each other passage whose best sentence is also relevant."""
    used = {best.scored.sentence.passage_id}
    quotes: list[tuple[str, int, int]] = []
    for choice in choices:  # most relevant first; `best` need not be the first
        if len(quotes) >= limit or choice.relevance < also_at:
            break
        if choice is best:
            continue
        s = choice.scored.sentence
        if s.passage_id in used or any(
            a == s.article_id and start < s.end and s.start < end for a, start, end in taken
        ):
            continue
        used.add(s.passage_id)
        quotes.append((s.article_id, s.start, s.end))
        taken = [*taken, quotes[-1]]
    return quotes
