"""The Answer object: what every front-end formats and `ask --json` prints."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Citation(BaseModel):
    """One cited source; `quote == article_text[start:end]` always holds."""

    n: int
    article_id: str
    title: str | None = None
    url: str | None = None
    published: str | None = None
    source: str | None = None  # the site or feed the article came from
    quote: str
    start: int
    end: int
    score: float
    # The short answer inside the quote, as offsets into the article text.
    highlight: tuple[int, int] | None = None


class Answer(BaseModel):
    id: str | None = None
    question: str
    standalone_question: str
    answer: str
    # answer: confident and cited; unsure: the closest sentence(s), cited, hedged;
    # none: "the articles don't say", no citations. `abstained` is true for both.
    outcome: Literal["answer", "unsure", "none"] = "answer"
    abstained: bool
    mode: Literal["extractive", "llm"] = "extractive"
    short_answer: str | None = None
    citations: list[Citation] = Field(default_factory=list)
    timings_ms: dict[str, float] = Field(default_factory=dict)

    def to_json(self) -> str:
        return self.model_dump_json()
