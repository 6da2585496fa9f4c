"""Follow-up rewriting by the LLM (`prompts/condense.md`), for when one is configured.

Returns None on any failure, so the caller falls back to the deterministic rewrite.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import prompts
from bot.conversation import Turn

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

log = logging.getLogger(__name__)


def format_history(history: Sequence[Turn], turns: int = 3) -> str:
    lines = []
    for turn in history[-turns:]:
        lines.append(f"User: {turn.standalone}")
        lines.append(f"Assistant: {turn.short_answer or turn.quote or '(no answer)'}")
    return "\n".join(lines)


def llm_condense(llm: BaseChatModel, history: Sequence[Turn], question: str) -> str | None:
    """The question rewritten to stand alone, or None when the LLM could not do it."""
    if not history:
        return question
    from langchain_core.messages import HumanMessage

    message = prompts.render("condense", history=format_history(history), question=question)
    try:
        reply = llm.invoke([HumanMessage(message)])
    except Exception as exc:  # any endpoint failure: the deterministic rewrite takes over
        log.warning("LLM rewrite failed (%s); using the deterministic rewrite", type(exc).__name__)
        return None
    content = reply.content if isinstance(reply.content, str) else ""
    lines = [line.strip().strip('"') for line in content.strip().splitlines() if line.strip()]
    if not lines or len(lines[0]) > 4 * len(question) + 200:
        return None
    return lines[0]
