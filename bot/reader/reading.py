"""The extractive reader: which sentence(s) answer, the short answer, and how sure.

The trained reader model (`model.py`) reads the question with each candidate
sentence of the retrieved passages (and the sentence before it) and gives each a
relevance probability and a short-answer span. The most relevant candidates are then
judged as claims: the support model (`support.py`) reads the question with the
candidate's short answer against the sentence and says whether the text supports it, and
the question's explicit qualifiers (years, quarters, ordinals, numbers, names:
`qualifiers.py`) must occur in the sentence, its neighbours or the article's title and
date. Three outcomes:

- `answer`: a candidate is relevant, supported and meets every qualifier (thresholds
  calibrated on held-out training data for precision);
- `unsure`: none is, but the passages bear on the question (some sentence's embedding is
  at least the calibrated `topic` similarity to the question's, and the passages name
  something the question names): the closest sentence is quoted, hedged;
- `none`: nothing retrieved bears on the question.

A question that spans passages or articles gets one quote per passage whose best sentence
the model also finds relevant (up to `max_citations`). Only verbatim sentences are ever
returned. Without the reader model (`model=None`: its weights could not be loaded), the
hand-written feature score (`features.py`) decides alone, as it did before; without
the support model, the reader's relevance and the qualifiers decide.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ...index import Snapshot, split_spans
from ..retrieve import Retrieval
from .answer_types import AType, question_type, short_answer
from .features import Scored, Weights, score_sentences
from .model import Calibration, ReaderModel
from .qualifiers import Qualifier, in_other_clause, qualifiers, unmet
from .support import Claim, SupportModel

Outcome = Literal["answer", "unsure", "none"]


@dataclass(frozen=True)
class ReaderConfig:
    """The reader's knobs, taken from the settings by the chain."""

    calibration: Calibration
    fallback_threshold: float  # the feature score's threshold when the model is missing
    max_sentences: int = 2  # per quote: the best sentence and a neighbour
    max_candidates: int = 8  # sentences the model reads, best by the feature score
    max_citations: int = 3  # quotes from distinct passages
    judged: int = 3  # candidates, most relevant first, the support model judges


@dataclass
class Choice:
    """A sentence the reader considered, with what the models made of it."""

    scored: Scored
    relevance: float
    span: tuple[int, int] | None  # short answer, offsets into the sentence
    support: float | None = None  # the support model's probability, when judged
    unmet: list[Qualifier] = field(default_factory=list)  # the question's, not in the text

    def confident(self, calibration: Calibration) -> bool:
        """Relevant, supported (when judged) and meeting every qualifier."""
        if self.unmet or self.relevance < calibration.answer:
            return False
        return self.support is None or self.support >= calibration.support


@dataclass
class Reading:
    outcome: Outcome
    support: float  # the best sentence's confidence: relevance × support (features alone
    # without the model)
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
    support: SupportModel | None = None,
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
    calibration = config.calibration
    if model is not None:
        choices = _model_choices(question, shortlist, model)
        also_at = calibration.also
    else:  # no model: the feature score decides, as before the model, with one quote
        choices = [Choice(s, s.support, None) for s in shortlist]
        calibration = Calibration(
            answer=config.fallback_threshold, also=1.1, topic=calibration.topic, support=0.0
        )
        also_at = 1.1
    choices.sort(key=lambda c: -c.relevance)
    _judge(question, choices[: config.judged], retrieval, support if model else None)
    for choice in choices[config.judged :]:  # not judged: never confident
        choice.support = 0.0 if support is not None and model is not None else None
        choice.unmet = choice.unmet or _unmet(question, choice, retrieval)
    confident = [c for c in choices if c.confident(calibration)]
    if confident:
        best = max(confident, key=_confidence)
        if recent:
            best = _newest(confident, retrieval)
        outcome: Outcome = "answer"
    else:
        best = choices[0]
        if _about_something_else(question, retrieval):
            on_topic = False
        outcome = "unsure" if on_topic else "none"
    reading = Reading(outcome=outcome, support=_confidence(best), choices=choices)
    if outcome == "none":
        return reading
    primary = _quote(best, choices, also_at, config.max_sentences)
    reading.quotes = [primary]
    reading.highlight = _highlight(best, question, kind)
    if outcome == "answer":
        others = [c for c in confident if c is not best]
        reading.quotes += _other_passages(
            best, others, also_at, config.max_citations - 1, reading.quotes
        )
    return reading


def _confidence(choice: Choice) -> float:
    return choice.relevance * (1.0 if choice.support is None else choice.support)


def _judge(
    question: str, choices: list[Choice], retrieval: Retrieval, support: SupportModel | None
) -> None:
    """The support model's judgment and the unmet qualifiers of each choice."""
    for choice in choices:
        choice.unmet = _unmet(question, choice, retrieval)
    if support is None or not choices:
        return
    claims = [
        Claim(question, _answer_text(c), c.scored.text, _previous(c.scored)) for c in choices
    ]
    for choice, probability in zip(choices, support.judge(claims), strict=True):
        choice.support = probability


def _answer_text(choice: Choice) -> str:
    if choice.span is None:
        return ""
    start, end = choice.span
    return choice.scored.text[start:end].strip(" .,;:!?\"'”’)(")


def _unmet(question: str, choice: Choice, retrieval: Retrieval) -> list[Qualifier]:
    """The question's qualifiers that the sentence, its neighbours and its article's title
    and date do not meet."""
    s = choice.scored
    article = next(
        (c.article for c in retrieval.candidates if c.article.id == s.sentence.article_id), None
    )
    head = f"{article.title or ''} {article.published or ''}" if article else ""
    evidence = f"{head}\n{_previous(s)} {s.text} {_next(s)}"
    missing = unmet(question, evidence)
    if choice.span is not None:  # met, but by another clause than the answer's
        missing += [q for q in in_other_clause(question, s.text, choice.span) if q not in missing]
    return missing


def _about_something_else(question: str, retrieval: Retrieval) -> bool:
    """A question that names a thing and a time (or figure), where no retrieved passage
    names the thing, is about something the articles never mention, even when they share
    its year ("Who won the 2022 World Cup?"). A name alone is not enough: articles name the
    same thing in other words ("the White House" for the US president)."""
    asked = qualifiers(question)
    named = [q for q in asked if q.kind == "name"]
    if not named or len(named) == len(asked):
        return False
    for candidate in retrieval.candidates:
        missing = unmet(question, f"{candidate.article.title or ''}\n{candidate.text}")
        if any(q not in missing for q in named):
            return False
    return True


def _newest(confident: list[Choice], retrieval: Retrieval) -> Choice:
    """The confident choice from the most recently published article; among choices of
    one date, the most relevant (choices come most relevant first)."""
    dates = {c.article.id: (c.article.published or "")[:10] for c in retrieval.candidates}
    return max(confident, key=lambda c: dates.get(c.scored.sentence.article_id, ""))


def _model_choices(question: str, shortlist: list[Scored], model: ReaderModel) -> list[Choice]:
    """Raises `ReaderModelError` when the weights cannot be loaded."""
    reads = model.read(question, [s.text for s in shortlist], [_previous(s) for s in shortlist])
    return [Choice(s, r.relevance, r.span) for s, r in zip(shortlist, reads, strict=True)]


def _previous(scored: Scored) -> str:
    """The sentence before `scored` in its article (the model's context), or ''."""
    start = scored.sentence.start
    spans = split_spans(scored.article_text, max(0, start - 400), start)
    return scored.article_text[spans[-1][0] : spans[-1][1]] if spans else ""


def _next(scored: Scored) -> str:
    """The sentence after `scored` in its article, or ''."""
    end = scored.sentence.end
    spans = split_spans(scored.article_text, end, min(len(scored.article_text), end + 400))
    return scored.article_text[spans[0][0] : spans[0][1]] if spans else ""


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
