"""Cleaning a question before it reaches retrieval: one rule set for every front-end."""

from __future__ import annotations

import re
import unicodedata

from newsqa import prompts

# Control, format (zero-width, bidi) and other invisible characters; kept: plain spaces.
_INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn"}


class QuestionError(ValueError):
    """A question that cannot be asked; the message is the reply to show the user."""


def clean_question(text: str, max_chars: int) -> str:
    """The question with invisible characters removed and spaces collapsed.

    Raises `QuestionError` (with a friendly message) when it is empty or too long.
    """
    if len(text) > max_chars * 4:  # don't spend time normalizing a pasted book
        raise QuestionError(prompts.render("too_long", length=len(text), limit=max_chars))
    visible = "".join(
        " " if ch in "\t\n\r" else ch
        for ch in unicodedata.normalize("NFC", text)
        if ch in "\t\n\r" or unicodedata.category(ch) not in _INVISIBLE
    )
    question = re.sub(r"\s+", " ", visible).strip()
    if not question or not any(ch.isalnum() for ch in question):
        raise QuestionError(prompts.load("empty_question"))
    if len(question) > max_chars:
        raise QuestionError(prompts.render("too_long", length=len(question), limit=max_chars))
    return question
