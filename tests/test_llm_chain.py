"""The LLM inside the real chain (`build_answerer` with LLM settings) against a real
OpenAI-compatible HTTP server on loopback: mode, verification, fallback, follow-ups."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SAMPLE_DIR, SAMPLE_ID, make_settings
from fake_openai import FakeOpenAI, Reply, closed_port

from newsqa.bot.cli import main
from newsqa.bot.components import build_answerer

ANSWER = "Russia sent military intelligence chief Igor Kostyukov [1]."


@pytest.fixture()
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def answerer_for(index: Path, embedder, base_url: str):
    settings = make_settings(
        index,
        llm_base_url=base_url,
        llm_model="test-model",
        llm_api_key="sk-secret-key",
        llm_timeout_s=2.0,
    )
    return build_answerer(settings, embedder=embedder)


def test_llm_answer_is_verified_and_cited(sample_index, embedder, server) -> None:
    server.script(ANSWER + " Germany paid 9,999 euros [1].")
    answer = answerer_for(sample_index, embedder, server.base_url).ask("Who did Russia send?")
    assert answer.mode == "llm" and not answer.abstained
    assert "Igor Kostyukov [1]" in answer.answer and "9,999" not in answer.answer
    citation = answer.citations[0]
    text = (SAMPLE_DIR / SAMPLE_ID).read_text(encoding="utf-8").strip()
    assert text[citation.start : citation.end] == citation.quote
    assert "Kostyukov" in citation.quote
    assert "llm" in answer.timings_ms
    assert all("sk-secret-key" not in r.prompt_text for r in server.requests)


def test_endpoint_errors_fall_back_to_extractive(sample_index, embedder, server) -> None:
    server.script(Reply(status=500))
    answer = answerer_for(sample_index, embedder, server.base_url).ask("Who did Russia send?")
    assert answer.mode == "extractive" and answer.short_answer == "Igor Kostyukov"
    down = answerer_for(sample_index, embedder, f"http://127.0.0.1:{closed_port()}/v1")
    assert "4,600" in down.ask("How many detainees were released?").short_answer


def test_no_answer_phrase_abstains(sample_index, embedder, server) -> None:
    server.script("The passages do not contain the answer.")
    answer = answerer_for(sample_index, embedder, server.base_url).ask("Who won the match?")
    assert answer.abstained and answer.mode == "llm" and answer.citations == []


def test_follow_up_rewritten_by_llm_with_fallback(sample_index, embedder, server) -> None:
    answerer = answerer_for(sample_index, embedder, server.base_url)
    server.script(ANSWER, "What is Igor Kostyukov's position?", ANSWER)
    answerer.ask("Who did Russia send?", conversation="c")
    second = answerer.ask("What is his job?", conversation="c")
    assert second.standalone_question == "What is Igor Kostyukov's position?"
    server.script(ANSWER, Reply(status=503), ANSWER)
    answerer.ask("Who did Russia send?", conversation="d")
    third = answerer.ask("What is his job?", conversation="d")
    assert third.standalone_question == "What is Igor Kostyukov's job?"  # deterministic


def test_ask_json_in_llm_mode_through_the_cli(sample_index, server, capsys, monkeypatch) -> None:
    monkeypatch.setenv("NEWSQA_LLM_BASE_URL", server.base_url)
    monkeypatch.setenv("NEWSQA_LLM_MODEL", "test-model")
    server.script(ANSWER)
    assert main(["ask", "--index-dir", str(sample_index), "--json", "Who did Russia send?"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["mode"] == "llm" and answer["citations"][0]["n"] == 1
