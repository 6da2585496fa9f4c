"""Unit tests for the Telegram front-end's pure parts: HTML, splitting, access, redaction."""

from __future__ import annotations

import html
import logging

import pytest
from fake_bot_api import check_html
from hypothesis import given, settings
from hypothesis import strategies as st

from newsqa import prompts
from newsqa.bot.answer import Answer, Citation
from newsqa.bot.telegram.access import AccessPolicy, RateLimiter
from newsqa.bot.telegram.app import api_urls, command_list
from newsqa.bot.telegram.format import (
    MESSAGE_LIMIT,
    answer_html,
    esc,
    html_to_text,
    split_html,
)
from newsqa.bot.telegram.redact import MASK, redact_logs

# -- splitting ---------------------------------------------------------------------------
_words = st.text(alphabet=st.sampled_from("ab cd<>&\"'\n\né€😀"), min_size=0, max_size=60)


_TAGS = ["b", "i", "u", "blockquote expandable", 'a href="http://x.io/?a=1&amp;b=2"']


def _nested(depth: int) -> st.SearchStrategy[str]:
    """Escaped text inside at most `depth` levels of Telegram tags."""
    if depth == 0:
        return _words.map(esc)
    inner = st.lists(_nested(depth - 1), max_size=4).map("".join)
    tagged = st.builds(
        lambda tag, body: f"<{tag}>{body}</{tag.split()[0]}>", st.sampled_from(_TAGS), inner
    )
    return st.one_of(_words.map(esc), tagged)


# Three levels of the longest tag take 123 characters, so any limit from 200 leaves room.
_html = _nested(3)
_documents = st.lists(_html, min_size=1, max_size=30).map("".join)


@settings(max_examples=200, deadline=None)
@given(markup=_documents, limit=st.integers(min_value=200, max_value=700))
def test_split_parts_fit_balance_and_rejoin(markup: str, limit: int) -> None:
    parts = split_html(markup, limit)
    assert all(len(part) <= limit for part in parts)
    texts = [check_html(part) for part in parts]
    assert "".join(texts) == check_html(markup)
    assert "".join(html_to_text(part) for part in parts) == html_to_text(markup)


@settings(max_examples=20, deadline=None)
@given(markup=st.lists(_html, min_size=50, max_size=200).map("".join))
def test_split_at_telegram_limit(markup: str) -> None:
    long = markup * (1 + 9000 // max(1, len(markup)))
    parts = split_html(long)
    assert all(len(part) <= MESSAGE_LIMIT for part in parts)
    assert "".join(check_html(part) for part in parts) == check_html(long)


def test_split_prefers_paragraphs_and_reopens_tags() -> None:
    para = "word " * 150
    markup = "<blockquote expandable>" + "\n\n".join([para] * 20) + "</blockquote>"
    parts = split_html(markup)
    assert len(parts) > 1
    for part in parts:
        assert part.startswith("<blockquote expandable>") and part.endswith("</blockquote>")
        check_html(part)
    assert parts[0].endswith("\n\n</blockquote>")


def test_split_never_cuts_an_entity() -> None:
    markup = "&amp;" * 2000
    parts = split_html(markup, 999)
    assert all(part.count("&") == part.count("&amp;") for part in parts)
    assert "".join(html_to_text(p) for p in parts) == "&" * 2000


def test_short_text_is_one_part() -> None:
    assert split_html("<b>hi</b>") == ["<b>hi</b>"]
    assert split_html("") == []


# -- formatting --------------------------------------------------------------------------
def _answer(**changes: object) -> Answer:
    text = 'Intro. The US was represented by <Steve> & Jared, said "Bob". More.'
    start = text.index("The US")
    end = text.index(" More")
    hl = (text.index("<Steve>"), text.index("<Steve>") + len("<Steve> & Jared"))
    citation = Citation(
        n=1,
        article_id="talks.txt",
        title="Talks <in> Abu Dhabi",
        url="https://e.x/a?b=1&c=2",
        published="2025-01-02",
        quote=text[start:end],
        start=start,
        end=end,
        score=0.9,
        highlight=hl,
    )
    values: dict[str, object] = {
        "question": "Who represented the US?",
        "standalone_question": "Who represented the US?",
        "answer": f"{citation.quote} [1]",
        "abstained": False,
        "short_answer": "<Steve> & Jared",
        "citations": [citation],
    }
    values.update(changes)
    return Answer.model_validate(values)


def test_answer_html_escapes_and_bolds_short_answer() -> None:
    markup = answer_html(_answer())
    visible = check_html(markup)
    assert "<b>&lt;Steve&gt; &amp; Jared</b>" in markup
    assert "<blockquote expandable>" in markup
    assert "<u>&lt;Steve&gt; &amp; Jared</u>" in markup
    assert '<a href="https://e.x/a?b=1&amp;c=2">' in markup
    assert "<b>Talks &lt;in&gt; Abu Dhabi</b>" in markup
    assert "[1]" in visible and "2025-01-02" in visible


def test_answer_html_abstention_names_what_is_covered() -> None:
    answer = _answer(
        abstained=True, citations=[], short_answer=None, answer=prompts.load("abstain")
    )
    markup = answer_html(answer, ["Talks <in> Abu Dhabi", "other.txt"])
    assert "Talks &lt;in&gt; Abu Dhabi" in markup and "other.txt" in markup
    assert html_to_text(markup).startswith(prompts.load("abstain"))
    check_html(markup)


def test_answer_html_says_how_a_follow_up_was_understood() -> None:
    markup = answer_html(_answer(question="And him?"))
    assert "understood as: Who represented the US?" in html.unescape(markup)


# -- access ------------------------------------------------------------------------------
def test_access_policy() -> None:
    open_policy = AccessPolicy.of([], [5])
    assert open_policy.open and open_policy.allows(1, 1)
    policy = AccessPolicy.of([1, -100], [5])
    assert policy.allows(1, 99) and policy.allows(2, -100) and policy.allows(5, 5)
    assert not policy.allows(2, 2)
    assert policy.is_admin(5) and not policy.is_admin(1) and not policy.is_admin(None)
    assert policy.first_refusal(2) and not policy.first_refusal(2)


def test_rate_limiter_window_and_single_warning() -> None:
    now = [0.0]
    limiter = RateLimiter(2, clock=lambda: now[0])
    assert limiter.check(1) == 0 and limiter.check(1) == 0
    wait = limiter.check(1)
    assert 59 <= wait <= 60
    assert limiter.should_warn(1) and not limiter.should_warn(1)
    assert limiter.check(2) == 0  # per user
    now[0] = 61.0
    assert limiter.check(1) == 0
    assert limiter.should_warn(1)  # a new limited stretch warns again


# -- redaction, prompts, urls ------------------------------------------------------------
def test_token_is_redacted_from_messages_args_and_tracebacks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = "987654:SECRET-token_value"
    undo = redact_logs(token)
    try:
        log = logging.getLogger("newsqa.test")
        with caplog.at_level(logging.DEBUG):
            log.info("POST https://api.telegram.org/bot%s/getMe", token)
            log.warning(f"plain {token}")
            try:
                raise RuntimeError(f"failed at /bot{token}/sendMessage")
            except RuntimeError:
                log.exception("boom")
        formatted = "\n".join(
            logging.Formatter("%(message)s").format(record) for record in caplog.records
        )
        assert token not in caplog.text and token not in formatted
        assert caplog.text.count(MASK) >= 3 and "RuntimeError" in formatted
    finally:
        undo()
    assert logging.getLogRecordFactory() is logging.LogRecord


def test_telegram_prompts_have_their_placeholders() -> None:
    expected = {
        "tg_welcome": {"articles", "newest"},
        "tg_help": {"username"},
        "tg_rate_limited": {"limit", "seconds"},
        "tg_refusal": set(),
        "tg_error": set(),
        "tg_timeout": set(),
        "tg_not_admin": set(),
        "tg_reset": set(),
        "tg_status": {
            "articles",
            "passages",
            "sentences",
            "model",
            "built_at",
            "newest",
            "refreshed",
        },
        "tg_add_limited": {"limit", "minutes"},
        "tg_add_started": {"count"},
        "tg_feed_added": {"id", "url"},
        "tg_feed_removed": {"id", "title"},
        "tg_follow_indexed": {"added", "updated", "passages"},
        "tg_follow_not_indexed": {"reason"},
        "tg_reindex_done": {"seconds", "added", "updated", "unchanged", "deleted", "passages"},
        "tg_reindex_failed": {"reason"},
        "tg_source_button": {"n"},
        "tg_covered": {"topics"},
        "tg_understood": {"question"},
    }
    for name, fields in expected.items():
        assert prompts.placeholders(name) == fields, name
    names = [c.command for c in command_list()]
    assert {"start", "help", "sources", "reset", "status", "ask", "add", "feeds"} <= set(names)


def test_api_urls() -> None:
    assert api_urls(None) is None
    assert api_urls("http://localhost:8081/") == (
        "http://localhost:8081/bot",
        "http://localhost:8081/file/bot",
    )


def test_rate_limiter_takes_several_uses_at_once_or_none() -> None:
    """/add of 3 links with 2 uses left records nothing (the refused request cost
    nothing), says when 3 will fit, and a request larger than the limit never fits."""
    now = [0.0]
    limiter = RateLimiter(4, window_s=3600.0, clock=lambda: now[0])
    assert limiter.take(7, 2) == 0.0
    now[0] = 600.0
    assert limiter.take(7, 3) == pytest.approx(3000.0)  # both old uses must expire first
    assert limiter.take(7, 2) == 0.0  # the refused take recorded nothing
    assert limiter.take(7, 1) > 0
    assert limiter.take(8, 5) == float("inf")
    now[0] = 3600.0
    assert limiter.take(7, 2) == 0.0  # the first two expired
