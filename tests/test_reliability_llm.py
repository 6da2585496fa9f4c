"""The LLM endpoint fails, vanishes and comes back in the middle of one conversation:
answers fall back to the extractive reader and recover without a restart."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from conftest import make_settings
from fake_openai import FakeOpenAI, Reply, _Handler, _Server, _State

from newsqa.bot.components import build_answerer

pytestmark = pytest.mark.timeout(120)

GOOD = "Russia sent military intelligence chief Igor Kostyukov [1]."


class _SamePort(_Server):
    def __init__(self, state: _State, port: int) -> None:
        self.allow_reuse_address = True
        super(_Server, self).__init__(("127.0.0.1", port), _Handler)
        self.state = state


def test_endpoint_vanishes_and_comes_back_mid_conversation(sample_index: Path, embedder) -> None:
    with FakeOpenAI() as server:
        port = server.port
        settings = make_settings(
            sample_index,
            llm_base_url=server.base_url,
            llm_model="test-model",
            llm_timeout_s=2.0,
        )
        answerer = build_answerer(settings, embedder=embedder)
        chat = "llm-chat"
        modes = []

        def ask(question: str) -> str:
            answer = answerer.ask(question, conversation=chat)
            assert answer.answer and not answer.abstained, answer
            modes.append(answer.mode)
            return answer.answer

        server.script(GOOD)
        assert "Kostyukov" in ask("Who did Russia send?")
        # Each follow-up turn makes two calls: the rewrite (`condense`), then the answer.
        server.script(
            Reply(status=500),
            Reply(status=500),
            Reply(close=True),
            Reply(close=True),
            Reply("Who did Russia send?"),
            Reply(GOOD),
        )
        assert "4,600" in ask("How many detainees were released?")  # 500: fallback
        assert "Witkoff" in ask("Who represented the US?")  # dropped connection: fallback
        assert "Kostyukov" in ask("Who did Russia send?")  # back: the LLM answers again
    # The endpoint is gone altogether (connection refused)...
    assert "Witkoff" in ask("Who represented the US?")
    # ... and comes back on the same address: no restart needed.
    state = _State()
    state.replies = [Reply(GOOD)]  # also the rewrite: not a question, so not used
    revived = _SamePort(state, port)
    thread = threading.Thread(target=revived.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        assert "Kostyukov" in ask("Who did Russia send?")
    finally:
        revived.shutdown()
        revived.server_close()
        thread.join(5)
    assert modes == ["llm", "extractive", "extractive", "llm", "extractive", "llm"]
