"""The LLM's context: retrieved passages, numbered and fenced, within a size budget.

Passages are data. Each one goes between `<passage n="…">` and `</passage>` inside a
`<passages>` block that is introduced as quoted article text, not instructions; any
text in an article that imitates those delimiters is defused first, so an article
cannot close its own passage and speak outside it. Nothing from the settings (and so
no secret) ever enters a message: only the fixed system prompt, the passages and the
question.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from newsqa import prompts
from newsqa.bot.retrieve import Candidate

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

_FAKE_DELIMITER = re.compile(r"<(\s*/?\s*passages?\b)", re.I)


@dataclass(frozen=True)
class Passage:
    """A passage as shown to the model: number `n`, and offsets into its article's text."""

    n: int
    candidate: Candidate
    start: int
    end: int

    @property
    def text(self) -> str:
        return self.candidate.article.text[self.start : self.end]

    @property
    def support(self) -> str:
        """What a claim citing this passage may draw on: its title and its text."""
        title = self.candidate.article.title or ""
        return f"{title}\n{self.text}" if title else self.text


def select_passages(
    candidates: Sequence[Candidate], max_passages: int, max_chars: int
) -> list[Passage]:
    """The best-ranked passages, at most `max_passages` and `max_chars` characters of text.

    A passage that does not fit whole is cut after its last sentence that fits; the first
    passage is always shown, cut at a word boundary if even its first sentence is too long.
    """
    from newsqa.index import split_spans

    chosen: list[Passage] = []
    budget = max(0, max_chars)
    for candidate in candidates[: max(0, max_passages)]:
        if budget <= 0:
            break
        article, passage = candidate.article, candidate.passage
        start = passage.start
        end = passage.end
        if end - start > budget:
            fitting = [e for _, e in split_spans(article.text, start, end) if e - start <= budget]
            if fitting:
                end = max(fitting)
            elif not chosen:
                cut = article.text.rfind(" ", start, start + budget)
                end = cut if cut > start else start + budget
            else:
                break
        text = article.text[start:end].rstrip()
        end = start + len(text)
        if not text.strip():
            continue
        chosen.append(Passage(len(chosen) + 1, candidate, start, end))
        budget -= end - start
    return chosen


def defuse(text: str) -> str:
    """`text` with anything that looks like a passage delimiter made harmless."""
    return _FAKE_DELIMITER.sub(r"‹\1", text)


def _attribute(value: str | None) -> str:
    return defuse(" ".join((value or "").split())).replace('"', "'")


def format_passages(passages: Sequence[Passage]) -> str:
    """The `<passages>` block: each passage numbered, with its article's title and date."""
    blocks = []
    for p in passages:
        article = p.candidate.article
        head = f'<passage n="{p.n}"'
        if article.title:
            head += f' title="{_attribute(article.title)}"'
        if article.published:
            head += f' published="{_attribute(article.published)}"'
        blocks.append(f"{head}>\n{defuse(p.text)}\n</passage>")
    return "<passages>\n" + "\n".join(blocks) + "\n</passages>"


def build_messages(question: str, passages: Sequence[Passage]) -> list[BaseMessage]:
    """System prompt (fixed text) and the user message with the passages and the question."""
    from langchain_core.messages import HumanMessage, SystemMessage

    user = prompts.render(
        "answer_passages",
        passages=format_passages(passages),
        question=defuse(" ".join(question.split())),
    )
    return [SystemMessage(prompts.load("answer")), HumanMessage(user)]
