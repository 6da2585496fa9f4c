"""`newsqa repl`: ask, follow up, inspect sources; history when on a terminal."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

from newsqa import prompts
from newsqa.bot.answer import Answer
from newsqa.bot.chain import Answerer
from newsqa.bot.question import QuestionError
from newsqa.bot.terminal import console, render_answer, render_sources

CONVERSATION = "repl"
_QUIT = {":quit", ":q", ":exit"}


def _history_file() -> Path:
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return state / "newsqa" / "repl_history"


def _terminal_lines() -> Iterator[str]:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory, InMemoryHistory

    path = _history_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        history: FileHistory | InMemoryHistory = FileHistory(str(path))
    except OSError:
        history = InMemoryHistory()
    session: PromptSession[str] = PromptSession(history=history)
    while True:
        try:
            yield session.prompt("? ")
        except (EOFError, KeyboardInterrupt):
            return


def _piped_lines() -> Iterator[str]:
    for line in sys.stdin:
        yield line.rstrip("\n")


def run_repl(answerer: Answerer, articles: int) -> int:
    out = console()
    out.print(prompts.render("repl_welcome", articles=articles))
    lines = _terminal_lines() if sys.stdin.isatty() else _piped_lines()
    last: Answer | None = None
    try:
        for line in lines:
            command = line.strip()
            if not command:
                continue
            if command.lower() in _QUIT:
                break
            if command.lower() == ":help":
                out.print(prompts.load("repl_help"))
            elif command.lower() == ":reset":
                answerer.reset(CONVERSATION)
                last = None
                out.print("Conversation forgotten.")
            elif command.lower() == ":sources":
                out.print(render_sources(answerer.sources(CONVERSATION)))
            elif command.startswith(":"):
                out.print(f"Unknown command {command!r}; type :help.")
            else:
                streamed: list[str] = []

                def show(token: str, streamed: list[str] = streamed) -> None:
                    streamed.append(token)
                    out.print(token, end="", style="dim")

                try:
                    last = answerer.ask(
                        line,
                        conversation=CONVERSATION,
                        on_token=show if answerer.llm is not None else None,
                    )
                except QuestionError as exc:
                    out.print(str(exc))
                    continue
                if streamed:
                    # The streamed text is the model's; below is what survived verification.
                    out.print(
                        "\n"
                        + "─" * 20
                        + (
                            " verified"
                            if last.mode == "llm"
                            else " the LLM failed; extractive answer"
                        )
                    )
                out.print(render_answer(last))
            out.print()
    except KeyboardInterrupt:
        pass
    out.print("Bye.")
    return 0
