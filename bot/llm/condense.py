"""Follow-up rewriting by the LLM (`prompts/condense.md`), for when one is configured.

Returns None on any failure, so the caller falls back to the deterministic rewrite. The
rewrite is checked in code like an answer: one that adds names, numbers, dates, links or
identifiers (keys, tokens, handles, paths: `looks_like_identifier`) found neither in the
conversation nor in the question is not used, so the model cannot slip invented facts or
a secret into the question that is shown to the user and sent on to the answer prompt.
A reply that is not one whole question (an answer, a citation, two questions) is not used
either (`followup.well_formed`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from newsqa import prompts
from newsqa.bot.conversation import Turn
from newsqa.bot.followup import well_formed
from newsqa.bot.llm.verify import missing_facts, strip_markers

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

log = logging.getLogger(__name__)

_IDENTIFIER = (
    re.compile(r"[^\W_][_:/@][^\W_]"),  # user@host, a_b, scheme:x, a/b
    re.compile(r"^(?=.*\d)(?=.*[a-z])", re.I),  # letters and digits: sk-abc123
    re.compile(r"[a-z][A-Z]"),  # inner capitals: eyJhbGci
    re.compile(r"^[^\W_]+(?:-[^\W_]+){2,}$"),  # three or more parts: sk-proj-key
)


def looks_like_identifier(word: str) -> bool:
    """A key, token, handle or path rather than a word ("long-term" is a word)."""
    return any(pattern.search(word) for pattern in _IDENTIFIER)


def invented(rewrite: str, known: str) -> list[str]:
    """What `rewrite` adds that `known` (the conversation and the question) lacks."""
    missing = missing_facts(strip_markers(rewrite), [known])
    lowered = known.lower()
    for word in rewrite.split():
        word = word.strip(".,;:!?\"'()[]<>")
        if word and looks_like_identifier(word) and word.lower() not in lowered:
            missing.append(word)
    return missing


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

    conversation = format_history(history)
    message = prompts.render("condense", history=conversation, question=question)
    try:
        reply = llm.invoke([HumanMessage(message)])
    except Exception as exc:  # any endpoint failure: the deterministic rewrite takes over
        log.warning("LLM rewrite failed (%s); using the deterministic rewrite", type(exc).__name__)
        return None
    content = reply.content if isinstance(reply.content, str) else ""
    lines = [line.strip().strip('"') for line in content.strip().splitlines() if line.strip()]
    if not lines or len(lines[0]) > 4 * len(question) + 200:
        return None
    if lines[0] != question and not well_formed(lines[0]):
        log.info("LLM rewrite is not one whole question; using the deterministic one")
        return None
    if invented(lines[0], f"{conversation}\n{question}"):
        log.info("LLM rewrite adds what the conversation does not say; using the deterministic one")
        return None
    return lines[0]
