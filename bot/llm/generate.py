"""The LLM answer path: passages in, a verified and cited answer out, or None.

None means "use the extractive answer": the endpoint timed out, refused, answered with an
HTTP error or with something that is not a chat completion, or said nothing. Each such
failure is logged once, as one warning line naming the kind of error (never the key or
the response body). A model that answers is verified in code (`verify.py`); its kept
sentences are renumbered [1]..[k] in order of first use (a sentence that contains one of
the configured secrets, such as the API key the endpoint receives, is removed: the
model must never be able to hand one on), and each marker gets as its
citation the sentence of the cited passage that best matches the claim, as offsets into
the article text, so `quote == article_text[start:end]` holds as in extractive mode.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from newsqa.bot.llm.context import Passage, build_messages, select_passages
from newsqa.bot.llm.verify import Claim, Judge, best_sentence, clean_output, verify

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from newsqa.bot.retrieve import Retrieval
    from newsqa.settings import Settings

log = logging.getLogger(__name__)

_MARKER = re.compile(r"\[(\d+)\]")


@dataclass
class LlmResult:
    """What the LLM path produced, after verification.

    `abstained`: the model said the passages do not answer (text is empty).
    `unsupported`: nothing the model said survived verification (text is empty); use the
    extractive answer. Otherwise `text` is the verified answer whose marker [n] is backed
    by `citations[n - 1]` = (article_id, start, end).
    """

    text: str
    abstained: bool
    citations: list[tuple[str, int, int]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    raw: str = ""
    unsupported: bool = False

    @property
    def changed(self) -> bool:
        """True when the verified text differs from what the model streamed."""
        return self.text != self.raw.strip()


def llm_answer(
    llm: BaseChatModel,
    question: str,
    retrieval: Retrieval,
    settings: Settings,
    on_token: Callable[[str], None] | None = None,
    judge: Judge | None = None,
) -> LlmResult | None:
    """Ask `llm` about the retrieved passages; None when the extractive answer must serve.

    With `on_token`, the answer is streamed and every text chunk is passed to it as it
    arrives (the unverified text: show it, then replace it with `result.text`).
    """
    passages = select_passages(
        retrieval.candidates,
        int(settings.llm_max_passages),
        int(settings.llm_max_context_chars),
    )
    if not passages:
        return LlmResult(text="", abstained=True)  # nothing to answer from; no call needed
    messages = build_messages(question, passages)
    try:
        raw = _stream(llm, messages, on_token) if on_token else _content(llm.invoke(messages))
    except Exception as exc:  # any failure of the endpoint or the client: fall back
        log.warning("LLM answer failed (%s); using the extractive answer", error_kind(exc))
        return None
    if not clean_output(raw):
        log.warning("LLM answer failed (empty output); using the extractive answer")
        return None
    try:
        return _verified(raw, passages, secrets_of(settings), judge)
    except Exception as exc:  # a bug here must not cost the user the extractive answer
        log.warning(
            "LLM answer failed (verification error: %s); using the extractive answer",
            type(exc).__name__,
        )
        return None


SECRET_MIN_CHARS = 12  # shorter values are placeholders ("none", "ollama"), not secrets


def secrets_of(settings: Settings) -> tuple[str, ...]:
    """The configured secret values (API key, bot token, webhook secret).

    A placeholder key for a local server ("none", "x") is left out: matched as a
    substring it would remove every sentence and log line that contains the word.
    """
    found = []
    for name in ("llm_api_key", "telegram_bot_token", "telegram_webhook_secret"):
        value = getattr(settings, name, None)
        text = value.get_secret_value() if hasattr(value, "get_secret_value") else value
        if isinstance(text, str) and len(text.strip()) >= SECRET_MIN_CHARS:
            found.append(text.strip())
    return tuple(found)


def _verified(
    raw: str, passages: Sequence[Passage], secrets: Sequence[str] = (), judge: Judge | None = None
) -> LlmResult:
    checked = verify(raw, [p.support for p in passages], judge)
    removed = list(checked.removed)
    claims = [c for c in checked.claims if not any(s in c.text for s in secrets)]
    if len(claims) < len(checked.claims):
        removed.append("(a sentence with a configured secret)")
    if checked.abstained:
        return LlmResult(text="", abstained=True, removed=removed, raw=raw)
    if not claims:
        return LlmResult(text="", abstained=False, removed=removed, raw=raw, unsupported=True)
    text, citations = cite(claims, passages)
    return LlmResult(text=text, abstained=False, citations=citations, removed=removed, raw=raw)


def cite(
    claims: Sequence[Claim], passages: Sequence[Passage]
) -> tuple[str, list[tuple[str, int, int]]]:
    """The answer text with markers renumbered 1..k, and the quote behind each marker.

    A marker's quote is the sentence of its passage that best matches the claim citing it,
    so one passage cited for two different claims may give two citations.
    """
    from newsqa.index import split_spans

    numbering: dict[tuple[str, int, int], int] = {}
    sentences = []
    for claim in claims:
        quotes: dict[int, tuple[str, int, int]] = {}
        for n in claim.markers:
            p = passages[n - 1]
            spans = split_spans(p.text) or [(0, len(p.text))]
            start, end = best_sentence(claim.plain, p.text, spans) or spans[0]
            quote = (p.candidate.article.id, p.start + start, p.start + end)
            quotes[n] = quote
            numbering.setdefault(quote, len(numbering) + 1)
        sentences.append(
            _MARKER.sub(lambda m, q=quotes: f"[{numbering[q[int(m[1])]]}]", claim.text)
        )
    return " ".join(sentences), list(numbering)


def _stream(llm: BaseChatModel, messages: list[Any], on_token: Callable[[str], None]) -> str:
    parts = []
    for chunk in llm.stream(messages):
        piece = _text(chunk.content)
        if piece:
            parts.append(piece)
            on_token(piece)
    return "".join(parts)


def _content(message: Any) -> str:
    return _text(getattr(message, "content", message))


def _text(content: Any) -> str:
    """The text of a message's content, a string or a list of content blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, Iterable):
        return "".join(
            block if isinstance(block, str) else str(block.get("text", ""))
            for block in content
            if isinstance(block, str) or (isinstance(block, dict) and block.get("type") == "text")
        )
    return ""


def _causes(exc: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def error_kind(exc: BaseException) -> str:
    """A short, secret-free name for why a call failed: "timeout", "HTTP 500", …"""
    try:
        import openai
    except ImportError:  # pragma: no cover - langchain-openai depends on it
        openai = None  # type: ignore[assignment]
    chain = list(_causes(exc))
    for error in chain:
        # TimeoutError, openai's APITimeoutError, httpx's ReadTimeout, ConnectTimeout, …
        if isinstance(error, TimeoutError) or "Timeout" in type(error).__name__:
            return "timeout"
        if openai is not None and isinstance(error, openai.APIStatusError):
            return f"HTTP {error.status_code}"
    for error in chain:
        if isinstance(error, ConnectionRefusedError):
            return "connection refused"
        if isinstance(error, (json.JSONDecodeError, UnicodeDecodeError)) or (
            openai is not None and isinstance(error, openai.APIResponseValidationError)
        ):
            return "malformed response"
    if openai is not None and isinstance(exc, openai.APIConnectionError):
        return "connection error"
    if isinstance(exc, (TypeError, KeyError, ValueError, AttributeError, IndexError)):
        # The client could not make a chat completion of what came back ("null value for
        # 'choices'", "No generation chunks were returned").
        return f"malformed response: {type(exc).__name__}"
    return f"unexpected error: {type(exc).__name__}"
