"""Log lines: text by default, JSON lines with NEWSQA_LOG_FORMAT=json, each line of one
question carrying that question's request id."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from newsqa import logs

NEWSQA = str(Path(sys.executable).parent / "newsqa")


def test_json_lines_carry_one_request_id_per_question(sample_index: Path, tmp_path: Path) -> None:
    batch = tmp_path / "q.jsonl"
    batch.write_text(
        '{"id": "a", "question": "Who represented the US?"}\n'
        '{"id": "b", "question": "How many soldiers have died?"}\n'
    )
    env = {**os.environ, "NEWSQA_LOG_FORMAT": "json", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [NEWSQA, "-v", "--index-dir", str(sample_index), "ask", "--batch", str(batch)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines()]  # every line is JSON
    answered = [r for r in records if r["message"].startswith("answered: ")]
    assert [r["message"].split(",")[0] for r in answered] == ["answered: answer", "answered: none"]
    ids = [r["request_id"] for r in answered]
    assert all(ids) and ids[0] != ids[1]
    assert {"time", "level", "logger"} <= set(answered[0])
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["a", "b"]


def test_a_request_id_follows_the_question_into_threads() -> None:
    seen: list[str | None] = []
    with logs.request("outer") as rid:
        assert rid == "outer"
        with logs.request() as inner:  # nested: the caller's id is kept
            assert inner == "outer"
        worker = threading.Thread(target=lambda: seen.append(logs.REQUEST_ID.get()))
        worker.start()  # a plain thread starts with an empty context ...
        worker.join()
        import asyncio

        seen.append(asyncio.run(asyncio.to_thread(logs.REQUEST_ID.get)))  # ... to_thread copies it
    assert seen == [None, "outer"] and logs.REQUEST_ID.get() is None


def test_text_logs_stay_one_plain_line(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    root.handlers.clear()  # pytest's own: with a host's handlers, setup_logging adds none
    logs.setup_logging(verbose=True)
    try:
        logging.getLogger("newsqa.test").info("hello")
        assert capsys.readouterr().err == "INFO: hello\n"
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        logs._installed = None
