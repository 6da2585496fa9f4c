"""Answers, sources and eval reports for the terminal (rich)."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from newsqa import prompts
from newsqa.bot.answer import Answer, Citation
from newsqa.bot.retrieve import AnswerSources


def _quote_text(citation: Citation, marked: bool = True) -> Text:
    """The quote, its short answer in bold unless `marked` is False (an `unsure` answer
    makes no claim, so nothing in it is bold)."""
    text = Text(citation.quote)
    if marked and citation.highlight is not None:
        start = citation.highlight[0] - citation.start
        end = citation.highlight[1] - citation.start
        text.stylize("bold yellow", start, end)
    return text


def source_line(citation: Citation) -> str:
    """Title · source · date · id · link: where a quote comes from, and when."""
    parts = [citation.title or citation.article_id]
    if citation.source:
        parts.append(citation.source)
    parts.append(citation.published or "undated")
    if citation.title:
        parts.append(citation.article_id)
    if citation.url:
        parts.append(citation.url)
    return " · ".join(parts)


def render_answer(answer: Answer) -> Group:
    """The answer (its short answer in bold, for an `answer` only), then each source with
    its quote's place."""
    understood = Text(f"(understood as: {answer.standalone_question})", style="dim")
    rewritten = answer.standalone_question != answer.question
    if not answer.citations:  # "the articles don't say"
        return Group(Text(answer.answer, style="italic"), *([understood] if rewritten else []))
    body = Text()
    if answer.outcome == "unsure":
        body.append(prompts.load("unsure") + " ", style="italic")
    for i, citation in enumerate(answer.citations):
        if i:
            body.append(" ")
        body.append_text(_quote_text(citation, marked=answer.outcome == "answer"))
        body.append(f" [{citation.n}]", style="cyan")
    parts: list[Any] = [body]
    if answer.short_answer and answer.outcome == "answer":
        parts.append(Text.assemble(("Answer: ", "dim"), (answer.short_answer, "bold")))
    for citation in answer.citations:
        parts.append(
            Text.assemble(
                (f"[{citation.n}] ", "cyan"),
                (source_line(citation), "dim"),
                (f"  chars {citation.start}-{citation.end}", "dim"),
            )
        )
    if rewritten:
        parts.append(understood)
    return Group(*parts)


def render_sources(sources: AnswerSources | None) -> Group:
    """The passages behind the last answer, in full; cited ones first and marked."""
    if sources is None:
        return Group(Text("No answer yet: ask a question first.", style="italic"))
    parts: list[Any] = []
    for candidate in sources.in_order():
        article = candidate.article
        head = " · ".join(p for p in (article.title or article.id, article.published) if p)
        mark = "cited" if sources.is_cited(candidate) else "retrieved"
        parts.append(
            Text(
                f"— {head} ({mark}, chars {candidate.passage.start}-{candidate.passage.end})",
                style="bold",
            )
        )
        parts.append(Text(candidate.text))
    return Group(*parts)


def render_report(report: dict[str, dict[str, Any]]) -> Table:
    kinds = list(report)
    table = Table(title="newsqa eval")
    table.add_column("metric", no_wrap=True)
    for kind in kinds:
        table.add_column(kind, justify="right")
    metrics = list(report["overall"]) if "overall" in report else list(report[kinds[0]])
    for metric in metrics:
        row = []
        for kind in kinds:
            value = report[kind].get(metric)
            row.append(
                Text(
                    "—"
                    if value is None
                    else f"{value:g}"
                    if isinstance(value, float)
                    else str(value)
                )
            )
        table.add_row(metric, *row)
    return table


def console(stderr: bool = False) -> Console:
    """Markup off: article text, questions and model output are printed as they are."""
    return Console(stderr=stderr, highlight=False, soft_wrap=True, markup=False)
