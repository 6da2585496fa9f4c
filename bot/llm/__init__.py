"""Optional LLM answers: any OpenAI-compatible chat endpoint, verified in code.

`build_llm(settings)` makes the chat model, `llm_answer(...)` asks it about the retrieved
passages and returns a verified, cited `LlmResult`, or None when the extractive answer
should be used instead. Imports are lazy, so `import bot.llm` costs nothing.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_PUBLIC = {
    "build_llm": "newsqa.bot.llm.client",
    "llm_answer": "newsqa.bot.llm.generate",
    "LlmResult": "newsqa.bot.llm.generate",
    "NO_ANSWER": "newsqa.bot.llm.verify",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'newsqa.bot.llm' has no attribute {name!r}")
