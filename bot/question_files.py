"""Question files (`ask --batch`, `eval`): one JSON object per line."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


class QuestionFileError(ValueError):
    """A question file that cannot be used; the message names file:line."""


@dataclass(frozen=True)
class QuestionItem:
    question: str
    id: str | None = None
    conversation: str | None = None
    answers: list[str] = field(default_factory=list)
    is_impossible: bool = False
    article_id: str | None = None
    line: int = 0


def read_questions(path: Path, require_gold: bool = False) -> list[QuestionItem]:
    """Parse a question file; a malformed line is an error naming `path:line`."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise QuestionFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise QuestionFileError(f"{path}: unreadable ({exc})") from None
    items = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QuestionFileError(f"{where}: malformed JSON ({exc.msg})") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("question"), str):
            raise QuestionFileError(f"{where}: expected an object with a 'question' string")
        answers = obj.get("answers") or []
        if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
            raise QuestionFileError(f"{where}: 'answers' must be a list of strings")
        impossible = bool(obj.get("is_impossible", False))
        if require_gold and not answers and not impossible:
            raise QuestionFileError(f"{where}: needs 'answers' or \"is_impossible\": true")
        items.append(
            QuestionItem(
                question=obj["question"],
                id=None if obj.get("id") is None else str(obj["id"]),
                conversation=None if obj.get("conversation") is None else str(obj["conversation"]),
                answers=answers,
                is_impossible=impossible,
                article_id=None if obj.get("article_id") is None else str(obj["article_id"]),
                line=number,
            )
        )
    if not items:
        raise QuestionFileError(f"{path}: no questions")
    return items
