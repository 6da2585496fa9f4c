"""The chat model: langchain-openai's `ChatOpenAI` pointed at the configured endpoint.

Any OpenAI-compatible server works (Ollama, vLLM, llama.cpp's server, LM Studio,
OpenAI). Local servers need no key, but the client insists on one, so a placeholder is
sent. Retries are off: a failed call falls back to the extractive answer at once
instead of keeping the user waiting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from newsqa.settings import Settings

# Sent as the API key when none is configured; local servers ignore it.
PLACEHOLDER_KEY = "not-needed"


class LlmNotConfigured(ValueError):
    """The settings name no LLM endpoint or model."""


def build_llm(settings: Settings) -> BaseChatModel:
    """A `ChatOpenAI` for `llm_base_url` and `llm_model`, with the settings' limits.

    Raises `LlmNotConfigured` when either is unset.
    """
    if not (settings.llm_base_url and settings.llm_model):
        raise LlmNotConfigured("set NEWSQA_LLM_BASE_URL and NEWSQA_LLM_MODEL to use an LLM")
    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    key = settings.llm_api_key
    if key is None or not key.get_secret_value().strip():
        key = SecretStr(PLACEHOLDER_KEY)
    # langchain-openai sends the cap as `max_completion_tokens`, which OpenAI wants but
    # llama.cpp's server ignores (it then writes until its context is full); other
    # servers get the long-standing `max_tokens` instead.
    host = urlparse(settings.llm_base_url).hostname or ""
    cap: dict[str, Any] = (
        {"max_tokens": settings.llm_max_tokens}
        if host.endswith("openai.com")
        else {"extra_body": {"max_tokens": settings.llm_max_tokens}}
    )
    return ChatOpenAI(
        model=settings.llm_model,
        base_url=settings.llm_base_url,
        api_key=key,
        timeout=settings.llm_timeout_s,
        max_retries=0,
        temperature=settings.llm_temperature,
        stream_usage=False,
        **cap,
    )
