"""`newsqa eval`: score the bot on a question file with gold answers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from newsqa.bot.answer import Answer
from newsqa.bot.chain import Answerer
from newsqa.bot.metrics import abstention, best_f1, percentile, present
from newsqa.bot.question_files import QuestionItem
from newsqa.bot.retrieve import Retrieval


@dataclass
class Outcome:
    item: QuestionItem
    answer: Answer
    retrieved: list[str]  # article ids of the retrieved passages, best first
    citations_valid: bool
    follow_up: bool

    @property
    def kinds(self) -> list[str]:
        kinds = ["overall", "unanswerable" if self.item.is_impossible else "answerable"]
        if self.item.conversation is not None:  # a conversation's turns, first and later
            kinds.append("follow-up" if self.follow_up else "first-turn")
        return kinds

    @property
    def right(self) -> bool:
        """An unanswerable question abstained on; an answerable one whose gold answer is in
        what the user is shown (a confident answer, or the quote of an unsure one)."""
        if self.item.is_impossible:
            return self.answer.abstained
        return self.answer.outcome != "none" and present(
            self.item.answers, self.answer.answer, first_quote(self.answer)
        )


def run_eval(
    answerer: Answerer,
    items: Sequence[QuestionItem],
    on_done: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Answer every question in order; conversations are kept per `conversation`."""
    outcomes = []
    started: set[str] = set()
    for number, item in enumerate(items):
        key = f"eval:{item.conversation}" if item.conversation else None
        answer, retrieval = answerer.run(item.question, key, item.id or str(number))
        outcome = Outcome(
            item=item,
            answer=answer,
            retrieved=_articles(retrieval),
            citations_valid=_valid(answerer, answer),
            follow_up=key is not None and key in started,
        )
        if key is not None:
            started.add(key)
        outcomes.append(outcome)
        if on_done:
            on_done(outcome)
    return outcomes


def _articles(retrieval: Retrieval) -> list[str]:
    return [c.passage.article_id for c in retrieval.candidates]


def _valid(answerer: Answerer, answer: Answer) -> bool:
    if not answer.citations:
        return True
    articles = answerer.index.articles([c.article_id for c in answer.citations])
    return all(
        c.article_id in articles and articles[c.article_id].text[c.start : c.end] == c.quote
        for c in answer.citations
    )


def short_text(answer: Answer) -> str:
    """The short answer to score with F1: the highlight, else the first quote."""
    if answer.short_answer:
        return answer.short_answer
    return answer.citations[0].quote if answer.citations else ""


def first_quote(answer: Answer) -> str:
    return answer.citations[0].quote if answer.citations else ""


def summarize(outcomes: Sequence[Outcome], k: int) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        for kind in outcome.kinds:
            groups.setdefault(kind, []).append(outcome)
    return {kind: _metrics(group, k) for kind, group in groups.items()}


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def _metrics(group: Sequence[Outcome], k: int) -> dict[str, Any]:
    answerable = [o for o in group if not o.item.is_impossible]
    gold_article = [o for o in answerable if o.item.article_id]
    cited = [o for o in gold_article if o.answer.citations]
    pairs = [(o.item.is_impossible, o.answer.abstained) for o in group]
    counts = abstention(pairs)
    f1s = [
        (1.0 if o.answer.abstained else 0.0)
        if o.item.is_impossible
        else (0.0 if o.answer.abstained else best_f1(short_text(o.answer), o.item.answers))
        for o in group
    ]
    latencies = [o.answer.timings_ms.get("total", 0.0) for o in group]
    shown = [
        float(
            o.answer.outcome != "none"
            and present(o.item.answers, o.answer.answer, first_quote(o.answer))
        )
        for o in answerable
    ]
    return {
        "questions": len(group),
        # Answered right: see `Outcome.right`.
        "right": _mean([float(o.right) for o in group]),
        "outcome_answer": sum(o.answer.outcome == "answer" for o in group),
        "outcome_unsure": sum(o.answer.outcome == "unsure" for o in group),
        "outcome_none": sum(o.answer.outcome == "none" for o in group),
        # A gold answer in what the user is shown: a confident answer or an unsure quote.
        "answer_presence": _mean(shown),
        # The same, counting confident answers only.
        "confident_presence": _mean(
            [
                float(
                    o.answer.outcome == "answer"
                    and present(o.item.answers, o.answer.answer, first_quote(o.answer))
                )
                for o in answerable
            ]
        ),
        "f1": _mean(f1s),
        # Short answer vs gold on answerable questions, whatever the outcome.
        "short_answer_f1": _mean(
            [best_f1(short_text(o.answer), o.item.answers) for o in answerable]
        ),
        "abstention_precision": _round(counts.precision),
        "abstention_recall": _round(counts.recall),
        "abstention_balanced_accuracy": _round(counts.balanced_accuracy),
        "citation_validity": _mean([float(o.citations_valid) for o in group]),
        "citation_hit": _mean(
            [float(o.answer.citations[0].article_id == o.item.article_id) for o in cited]
        ),
        "recall_at_1": _mean([float(o.item.article_id in o.retrieved[:1]) for o in gold_article]),
        f"recall_at_{k}": _mean(
            [float(o.item.article_id in o.retrieved[:k]) for o in gold_article]
        ),
        "latency_p50_ms": _round(percentile(latencies, 50), 1),
        "latency_p95_ms": _round(percentile(latencies, 95), 1),
    }


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)
