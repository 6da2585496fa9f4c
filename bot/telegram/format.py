"""Telegram HTML: answers, sources and passages as escaped HTML, and safe splitting.

Everything that comes from an article or a user goes through `html.escape`; the only
markup is ours. `split_html` cuts a long reply into parts Telegram accepts (at most
`limit` characters each, counting the markup) without cutting a tag or an entity:
a tag still open at a cut is closed there and opened again at the start of the next part.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from newsqa import prompts
from newsqa.bot.answer import Answer, Citation
from newsqa.bot.reader.citations import unmarked
from newsqa.bot.retrieve import AnswerSources, Candidate

MESSAGE_LIMIT = 4096
# A tag, an entity, or one character (newlines included).
_ATOM = re.compile(r"<[^<>]*>|&(?:#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);|.", re.S)
_TAG_NAME = re.compile(r"</?\s*([a-zA-Z][\w-]*)")


def esc(text: object) -> str:
    """`text` escaped for Telegram's HTML parse mode."""
    return html.escape(str(text), quote=True)


def html_to_text(markup: str) -> str:
    """The visible text of `markup`: tags dropped, entities decoded (for plain-text resends)."""
    return html.unescape(re.sub(r"<[^<>]*>", "", markup))


def _marked(text: str, offset: int, highlight: tuple[int, int] | None, tag: str = "b") -> str:
    """`text` (which starts at `offset` in its article) escaped, the highlight in `<tag>`."""
    if highlight is None:
        return esc(text)
    start, end = highlight[0] - offset, highlight[1] - offset
    if not 0 <= start < end <= len(text):
        return esc(text)
    return f"{esc(text[:start])}<{tag}>{esc(text[start:end])}</{tag}>{esc(text[end:])}"


def source_heading(citation: Citation) -> str:
    """`[n] Title · source · date · link` for one cited source, as HTML."""
    parts = [f"<b>{esc(citation.title or citation.article_id)}</b>"]
    if citation.source:
        parts.append(esc(citation.source))
    parts.append(esc(citation.published or prompts.load("tg_citation_undated")))
    if citation.url and citation.url.lower().startswith(("http://", "https://")):
        parts.append(f'<a href="{esc(citation.url)}">link</a>')  # never javascript: and co.
    return f"[{citation.n}] " + " · ".join(parts)


def answer_html(answer: Answer, covered: Sequence[str] = ()) -> str:
    """The reply for one answer: text with [n] markers and the short answer in bold, then
    each cited source with its quote in an expandable blockquote.

    `covered` names what the nearest articles are about; an abstention lists it.
    """
    if not answer.citations:  # "the articles don't say"
        text = esc(answer.answer)
        if covered:
            topics = "\n".join(f"• {name}" for name in covered)
            text += "\n\n" + esc(prompts.render("tg_covered", topics=topics))
        return text
    body = esc(answer.answer)
    short = answer.short_answer if answer.outcome == "answer" else None  # unsure: no claim
    if short:
        escaped = esc(short)
        if escaped in body:
            body = body.replace(escaped, f"<b>{escaped}</b>", 1)
        else:
            body = f"<b>{escaped}</b>\n\n{body}"
    lines = [body]
    if answer.standalone_question != answer.question:
        # A question's "[9]" would read as a marker to a source that is not listed.
        understood = prompts.render("tg_understood", question=unmarked(answer.standalone_question))
        lines.append(f"<i>({esc(understood)})</i>")
    lines.append("")
    lines.append(f"<b>{esc(prompts.load('tg_sources_title'))}</b>")
    for citation in answer.citations:
        quote = _marked(citation.quote, citation.start, citation.highlight, tag="u")
        lines.append(source_heading(citation))
        lines.append(f"<blockquote expandable>{quote}</blockquote>")
    return "\n".join(lines)


def passage_for(citation: Citation, candidates: Sequence[Candidate]) -> tuple[str, int] | None:
    """The retrieved passage that holds the citation's quote, with its start offset."""
    for candidate in candidates:
        passage = candidate.passage
        if (
            passage.article_id == citation.article_id
            and passage.start <= citation.start
            and citation.end <= passage.end
        ):
            return candidate.text, passage.start
    for candidate in candidates:  # a quote spanning two passages: the whole stretch
        if candidate.passage.article_id == citation.article_id:
            text = candidate.article.text
            start = min(citation.start, candidate.passage.start)
            end = max(citation.end, candidate.passage.end)
            return text[start:end], start
    return None


def passage_html(citation: Citation, found: tuple[str, int] | None) -> str:
    """The full passage around a citation's quote (`passage_for`), the quote underlined;
    the quote alone when the passage is not known."""
    text, offset = found if found else (citation.quote, citation.start)
    body = _marked(text, offset, (citation.start, citation.end), tag="u")
    return f"{source_heading(citation)}\n\n{body}"


def sources_html(sources: AnswerSources) -> str:
    """Every passage behind an answer, in full; the cited ones first and marked."""
    blocks = []
    for candidate in sources.in_order():
        article = candidate.article
        head = " · ".join(esc(p) for p in (article.title or article.id, article.published) if p)
        mark = prompts.load("tg_cited" if sources.is_cited(candidate) else "tg_retrieved")
        where = f"{candidate.passage.start}-{candidate.passage.end}"
        blocks.append(
            f"<b>{head}</b> <i>({esc(mark)}, {where})</i>\n"
            f"<blockquote expandable>{esc(candidate.text)}</blockquote>"
        )
    return "\n\n".join(blocks)


def covered_names(candidates: Sequence[Candidate], limit: int = 3) -> list[str]:
    """Distinct titles (or ids) of the nearest articles, best first."""
    names: list[str] = []
    for candidate in candidates:
        name = candidate.article.title or candidate.article.id
        if name not in names:
            names.append(name)
    return names[:limit]


# -- splitting ---------------------------------------------------------------------------
def _tag(atom: str) -> tuple[str, bool] | None:
    """(name, is_closing) for a tag atom, None for text."""
    if len(atom) < 3 or atom[0] != "<" or atom[-1] != ">":
        return None
    match = _TAG_NAME.match(atom)
    if match is None:
        return None
    return match.group(1).lower(), atom.startswith("</")


def _apply(stack: list[tuple[str, str]], atom: str) -> list[tuple[str, str]]:
    tag = _tag(atom)
    if tag is None:
        return stack
    name, closing = tag
    if not closing:
        return [*stack, (name, atom)]
    for i in range(len(stack) - 1, -1, -1):
        if stack[i][0] == name:
            return stack[:i] + stack[i + 1 :]
    return stack


def _closers(stack: list[tuple[str, str]]) -> str:
    return "".join(f"</{name}>" for name, _ in reversed(stack))


def split_html(markup: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """`markup` in parts of at most `limit` characters, each with balanced tags.

    Cuts prefer a blank line, then a line end, then a space, in the second half of a part.
    The parts' visible texts joined give the visible text of `markup`. (A part can only
    exceed `limit` if the tags open at one point take nearly all of it, which our replies,
    at most three tags deep, never do.)
    """
    if len(markup) <= limit:
        return [markup] if markup else []
    atoms = _ATOM.findall(markup)
    parts: list[str] = []
    stack: list[tuple[str, str]] = []
    i = 0
    while i < len(atoms):
        opening = "".join(atom for _, atom in stack)
        size, j, current = len(opening), i, stack
        marks: dict[int, tuple[int, list[tuple[str, str]]]] = {}  # rank -> latest (end, stack)
        while j < len(atoms):
            atom = atoms[j]
            after = _apply(current, atom)
            if size + len(atom) + len(_closers(after)) > limit and j > i:
                break
            size += len(atom)
            current = after
            j += 1
            if atom == "\n":
                marks[2 if j - 2 >= i and atoms[j - 2] == "\n" else 1] = (j, current)
            elif atom == " ":
                marks[0] = (j, current)
        if j < len(atoms):
            for rank in (2, 1, 0):
                if rank in marks and marks[rank][0] - i > (j - i) // 2:
                    j, current = marks[rank]
                    break
        parts.append(opening + "".join(atoms[i:j]) + _closers(current))
        stack, i = current, j
    return parts
