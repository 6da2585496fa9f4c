"""The chat model built from the settings, and `bot.llm` costing nothing to import."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI

from newsqa.bot.llm.client import PLACEHOLDER_KEY, LlmNotConfigured, build_llm
from newsqa.settings import load_settings


@pytest.fixture()
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def test_the_model_follows_the_settings() -> None:
    settings = load_settings(
        env_file=None,
        llm_base_url="http://127.0.0.1:1/v1",
        llm_model="qwen2.5:3b",
        llm_timeout_s=7.5,
    )
    llm = build_llm(settings)
    assert llm.model_name == "qwen2.5:3b"  # type: ignore[attr-defined]
    assert llm.openai_api_base == "http://127.0.0.1:1/v1"  # type: ignore[attr-defined]
    assert llm.request_timeout == 7.5  # type: ignore[attr-defined]
    assert llm.max_retries == 0  # type: ignore[attr-defined]
    assert llm.temperature == 0.0  # type: ignore[attr-defined]
    assert llm.max_tokens is None and llm.extra_body == {"max_tokens": 512}  # type: ignore[attr-defined]


def test_openai_itself_gets_its_own_cap_parameter() -> None:
    settings = load_settings(
        env_file=None,
        llm_base_url="https://api.openai.com/v1",
        llm_model="gpt-4o-mini",
        llm_max_tokens=300,
    )
    llm = build_llm(settings)
    assert llm.max_tokens == 300 and not llm.extra_body  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("key", "sent"), [(None, PLACEHOLDER_KEY), ("", PLACEHOLDER_KEY), ("sk-real", "sk-real")]
)
def test_a_placeholder_key_is_sent_when_none_is_set(
    server: FakeOpenAI, key: str | None, sent: str
) -> None:
    settings = load_settings(
        env_file=None, llm_base_url=server.base_url, llm_model="m", llm_api_key=key
    )
    server.script("hello")
    assert build_llm(settings).invoke("hi").content == "hello"
    assert server.requests[0].headers["authorization"] == f"Bearer {sent}"


@pytest.mark.parametrize("missing", ["llm_base_url", "llm_model"])
def test_an_unconfigured_llm_is_an_error(missing: str) -> None:
    values = {"llm_base_url": "http://127.0.0.1:1/v1", "llm_model": "m"}
    values.pop(missing)
    with pytest.raises(LlmNotConfigured):
        build_llm(load_settings(env_file=None, **values))


def test_importing_bot_llm_loads_no_client() -> None:
    code = (
        "import sys, newsqa.bot.llm, newsqa.bot.llm.generate, newsqa.bot.llm.client\n"
        "import newsqa.bot.llm.context, newsqa.bot.llm.verify\n"
        "heavy = [m for m in ('langchain_openai', 'openai', 'langchain_core.messages') "
        "if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        timeout=60,
        cwd=str(Path(__file__).resolve().parent.parent),
    )
