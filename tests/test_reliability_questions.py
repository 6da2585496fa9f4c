"""Hostile questions: any Unicode (RTL, emoji, zero-width, NUL, up to 10^5 characters)
through `Answerer.ask`, `newsqa ask` and the REPL. Always an answer or a clear error,
never a traceback, within a time bound. (The Telegram path is in
test_reliability_telegram.py.) Example counts are reported in RELIABILITY.md."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLE_DIR, SAMPLE_ID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsqa import prompts
from newsqa.bot.question import QuestionError

pytestmark = pytest.mark.timeout(240)

ARTICLE = (SAMPLE_DIR / SAMPLE_ID).read_text(encoding="utf-8").strip()
SPECIAL = [
    "\x00",
    "\u200b",  # zero-width space
    "\u200d",  # zero-width joiner
    "\ufeff",
    "\u202e",  # right-to-left override
    "\u2066",
    "\u0645\u0646 \u0645\u062b\u0651\u0644",  # Arabic, RTL
    "\u05de\u05d9",  # Hebrew
    "👨‍👩‍👧‍👦",
    "🇺🇸",
    "\U0001f600",
    "e\u0301",  # combining accent
    "\r\n",
    "\t",
    "[bold]",
    "[/]",
    "[/x]",
    "<b>",
    "</blockquote>",
    "&amp;",
    "{question}",
    "%s",
    "\\",
    '"',
    "Who represented the US?",
    "How many detainees were released?",
    "What about Russia?",
    "What is his job?",
    ":sources",
    ":reset",
    ":help",
    ":",
]
PIECE = st.one_of(
    st.text(max_size=40),
    st.sampled_from(SPECIAL),
    st.characters(blacklist_categories=()).filter(lambda c: not "\ud800" <= c <= "\udfff"),
)


def _long(parts: list[str], length: int) -> str:
    base = "".join(parts) or "x"
    return (base * (length // len(base) + 1))[:length]


QUESTIONS = st.one_of(
    st.lists(PIECE, max_size=12).map("".join),
    st.builds(_long, st.lists(PIECE, min_size=1, max_size=4), st.integers(900, 100_000)),
)
SECONDS = 10.0  # per question, generous: a warm answer takes ~20-50 ms


def check_answer(answer) -> None:
    """An answer is either a fixed abstention or quotes the article verbatim."""
    assert isinstance(answer.answer, str) and answer.answer
    if answer.abstained:
        assert not answer.citations and answer.answer == prompts.load("abstain")
    for citation in answer.citations:
        assert ARTICLE[citation.start : citation.end] == citation.quote


@settings(
    deadline=None, max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(question=QUESTIONS)
def test_fuzzed_questions_in_process(answerer, question: str) -> None:
    began = time.monotonic()
    try:
        check_answer(answerer.ask(question, conversation="fuzz"))
    except QuestionError as exc:
        message = str(exc)
        assert message == prompts.load("empty_question") or "too long" in message
    assert time.monotonic() - began < SECONDS


@settings(
    deadline=None, max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(question=QUESTIONS)
def test_fuzzed_questions_through_newsqa_ask(
    sample_index: Path, embedder, monkeypatch, capsys, question: str
) -> None:
    from newsqa.bot import cli as bot_cli
    from newsqa.bot.components import build_answerer

    monkeypatch.setattr(bot_cli, "_answerer", lambda s: build_answerer(s, embedder=embedder))
    began = time.monotonic()
    try:
        code = bot_cli.main(["ask", "--json", "--index-dir", str(sample_index), question])
    except SystemExit as exc:  # argparse: a question that looks like an option
        code = exc.code
    out, err = capsys.readouterr()
    assert time.monotonic() - began < SECONDS
    assert "Traceback" not in out + err
    if code == 0:
        import json

        answer = json.loads(out)
        assert answer["answer"] and all(
            ARTICLE[c["start"] : c["end"]] == c["quote"] for c in answer["citations"]
        )
    else:
        assert code == 2, (code, err)
        assert err.strip() and "error:" in err.strip().splitlines()[-1]


@settings(
    deadline=None, max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=st.lists(QUESTIONS, min_size=1, max_size=4))
def test_fuzzed_lines_through_the_repl(answerer, monkeypatch, capsys, lines: list[str]) -> None:
    from newsqa.bot.repl import run_repl

    # One fuzzed question per line (a newline would make a 10^5-character text 3,000 questions).
    lines = [line.replace("\r", " ").replace("\n", " ") for line in lines]
    script = "\n".join([*lines, "Who represented the US?", ":sources", ":quit"]) + "\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(script))
    began = time.monotonic()
    assert run_repl(answerer, 1) == 0
    out, err = capsys.readouterr()
    assert time.monotonic() - began < SECONDS * (len(lines) + 2)
    assert "Traceback" not in out + err
    assert out.rstrip().endswith("Bye.")
    answerer.reset("repl")


HOSTILE_STDIN = [
    "\x00\x00\x00\n\u202eWho represented the US?\u202c\n",
    "\ufeff:[/x]\n:[bold]\n[/]\n" + "🇺🇸" * 30_000 + "\nWho represented the US?\n",
    "x" * 100_000 + "\nHow many detainees were released?\n",
]


@pytest.mark.parametrize("stdin", HOSTILE_STDIN, ids=["nul-rtl", "markup-emoji", "long-line"])
def test_repl_process_with_hostile_piped_stdin(sample_index: Path, stdin: str) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NEWSQA_INDEX_DIR": str(sample_index)}
    result = subprocess.run(
        [sys.executable, "-m", "newsqa.bot.cli", "repl"],
        input=stdin.encode("utf-8", "surrogatepass"),
        capture_output=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    out, err = result.stdout.decode(), result.stderr.decode()
    assert result.returncode == 0, err
    assert "Traceback" not in out + err
    assert out.rstrip().endswith("Bye.")
    assert "Witkoff" in out or "4,600" in out
