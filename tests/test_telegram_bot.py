"""End to end: the real Application (and the real `run_telegram` process) long-polling a
fake Bot API server on 127.0.0.1, over the sample article's real index."""

from __future__ import annotations

import asyncio
import html
import inspect
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fake_bot_api import BOT_USERNAME, FakeBotApi, check_html

from newsqa import prompts
from newsqa.bot.answer import Answer, Citation
from newsqa.bot.retrieve import Retrieval
from newsqa.bot.telegram import run_telegram
from newsqa.bot.telegram.app import build_application
from newsqa.bot.telegram.format import MESSAGE_LIMIT
from newsqa.bot.telegram.redact import MASK

ROOT = Path(__file__).resolve().parents[1]
ARTICLES = ROOT / "data" / "articles"
TOKEN = "424242:TEST-bot-token_do-not-leak"
ADMIN, ANN, BOB, EVE = 1001, 1002, 1003, 1666
GROUP = {"id": -100500, "type": "supergroup", "title": "News fans"}

pytestmark = pytest.mark.timeout(60)


# -- fixtures ----------------------------------------------------------------------------
@pytest.fixture(scope="session")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from newsqa.index import build_index
    from newsqa.settings import load_settings

    folder = tmp_path_factory.mktemp("telegram") / "index"
    build_index(load_settings(index_dir=folder, articles_dir=ARTICLES))
    return folder


@pytest.fixture(scope="session")
def answerer(index_dir: Path) -> Any:
    from newsqa.bot.components import build_answerer
    from newsqa.settings import load_settings

    real = build_answerer(load_settings(index_dir=index_dir, articles_dir=ARTICLES))
    real.warm()
    return real


class Spy:
    """Stands in for the answerer: counts questions, optionally replaces `run`."""

    def __init__(self, real: Any, run: Callable[..., tuple[Answer, Retrieval]] | None = None):
        self.real, self._run, self.questions = real, run, []
        # Options such as `abandoned` reach the real run, and a stand-in that takes **options.
        kinds = [p.kind for p in inspect.signature(run).parameters.values()] if run else []
        self._options = run is None or inspect.Parameter.VAR_KEYWORD in kinds

    def run(
        self, question: str, conversation: str | None = None, **options: Any
    ) -> tuple[Answer, Retrieval]:
        self.questions.append((question, conversation))
        run = self._run or self.real.run
        if not self._options:
            return run(question, conversation)
        return run(question, conversation, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


class Running:
    """A built Application running `run_polling` in its own thread and event loop."""

    def __init__(self, application: Any) -> None:
        self.application = application
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.application.run_polling(timeout=1, stop_signals=None, close_loop=True)
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def stop(self) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(15)
        assert not self.thread.is_alive(), "the bot did not shut down"
        assert self.error is None, self.error


@pytest.fixture
def api() -> Iterator[FakeBotApi]:
    server = FakeBotApi(TOKEN).start()
    yield server
    server.stop()


@contextmanager
def bot_starter(
    api: FakeBotApi, answerer: Any, index_dir: Path, articles: Path, **defaults: Any
) -> Iterator[Callable[..., Spy]]:
    """`start(run=None, **settings)` runs the real Application against `api`; every bot
    started is stopped (and checked to have stopped cleanly) on exit."""
    from newsqa.settings import load_settings

    running: list[Running] = []

    def start(run: Callable[..., Any] | None = None, **options: Any) -> Spy:
        kwargs = {
            k: options.pop(k)
            for k in ("build", "typing_every_s", "answer_timeout_s")
            if k in options
        }
        settings = load_settings(
            index_dir=index_dir,
            articles_dir=articles,
            telegram_bot_token=TOKEN,
            telegram_api_url=api.url,
            **{"telegram_admins": [ADMIN], **defaults, **options},
        )
        spy = Spy(answerer, run)
        bot = Running(build_application(settings, spy, **kwargs))
        bot.thread.start()
        running.append(bot)
        assert api.wait_for(lambda: bool(api.of("getUpdates")), 15), "the bot never polled"
        return spy

    try:
        yield start
    finally:
        for bot in running:
            bot.stop()


@pytest.fixture
def start_bot(api: FakeBotApi, answerer: Any, index_dir: Path) -> Iterator[Callable[..., Spy]]:
    with bot_starter(api, answerer, index_dir, ARTICLES) as start:
        yield start


def replies(api: FakeBotApi, chat_id: int, count: int, timeout: float = 10.0) -> list[dict]:
    """Wait for `count` sent messages in the chat and return them."""
    api.wait_for(lambda: len(api.sent(chat_id)) >= count, timeout)
    sent = api.sent(chat_id)
    assert len(sent) >= count, [m["text"] for m in sent]
    return sent


def settle(api: FakeBotApi, seconds: float = 0.4) -> None:
    """Give the bot a moment to (not) send anything more."""
    api.wait_for(lambda: False, seconds)


def buttons(message: dict) -> list[dict]:
    markup = message.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


def text_of(key: str) -> str:
    return prompts.load(key)


# -- a private conversation --------------------------------------------------------------
def test_private_chat_end_to_end(api: FakeBotApi, start_bot: Callable[..., Spy]) -> None:
    spy = start_bot()
    commands = api.of("setMyCommands")
    assert commands and {c["command"] for c in commands[0].params["commands"]} >= {"sources"}

    api.send(ANN, "/start")
    welcome = replies(api, ANN, 1)[0]
    assert "1 indexed article" in html.unescape(welcome["text"])

    api.send(ANN, "Who represented the US?")
    answer = replies(api, ANN, 2)[1]
    markup = answer["text"]
    assert answer["parse_mode"] == "HTML"
    check_html(markup)
    assert "<b>Steve Witkoff and Jared Kushner</b>" in markup
    assert "<blockquote expandable>" in markup and "[1]" in markup
    assert [b["text"] for b in buttons(answer)] == ["Source 1"]
    actions = api.of("sendChatAction")
    assert actions and actions[0].params["action"] == "typing"

    # The button shows the whole passage, without asking again.
    asked = len(spy.questions)
    api.press(ANN, answer["_message"], buttons(answer)[0]["callback_data"])
    passage = replies(api, ANN, 3)[2]
    assert api.of("answerCallbackQuery")
    check_html(passage["text"])
    assert "<u>The US was represented by presidential envoy Steve Witkoff" in passage["text"]
    shown = check_html(passage["text"])
    quote = "The US was represented by presidential envoy Steve Witkoff and Jared Kushner"
    assert quote in shown and len(shown) > len(quote) + 200  # the passage, not just the quote
    assert passage["reply_parameters"]["message_id"] == answer["_message"]["message_id"]
    assert len(spy.questions) == asked

    api.send(ANN, "What about Russia?")
    follow_up = replies(api, ANN, 4)[3]["text"]
    assert "Kostyukov" in follow_up

    api.send(ANN, "/sources")
    sources = replies(api, ANN, 5)[4]["text"]
    check_html(sources)
    assert text_of("tg_cited") in sources and "Kostyukov" in sources

    api.send(ANN, "/status")
    status = html.unescape(replies(api, ANN, 6)[5]["text"])
    assert "all-MiniLM-L6-v2" in status and "1 article" in status

    api.send(ANN, "/help")
    assert "/sources" in replies(api, ANN, 7)[6]["text"]

    api.send(ANN, "/reset")
    assert html.unescape(replies(api, ANN, 8)[7]["text"]) == text_of("tg_reset")
    api.send(ANN, "/sources")
    assert html.unescape(replies(api, ANN, 9)[8]["text"]) == text_of("tg_no_sources")


def test_abstention_names_what_the_articles_cover(
    api: FakeBotApi, start_bot: Callable[..., Spy]
) -> None:
    start_bot()
    api.send(BOB, "What is the capital of Peru?")
    reply = html.unescape(replies(api, BOB, 1)[0]["text"])
    assert reply.startswith(text_of("abstain"))
    assert "abu-dhabi-talks.txt" in reply
    assert not buttons(replies(api, BOB, 1)[0])


def test_old_source_button_is_answered_not_rerun(
    api: FakeBotApi, start_bot: Callable[..., Spy]
) -> None:
    spy = start_bot()
    message = {
        "message_id": 5,
        "date": int(time.time()),
        "chat": {"id": BOB, "type": "private"},
        "text": "old",
    }
    api.press(BOB, message, "src:feedbeef0000:1")
    assert api.wait_for(lambda: bool(api.of("answerCallbackQuery")))
    call = api.of("answerCallbackQuery")[0].params
    assert call["text"] == text_of("tg_source_expired") and call["show_alert"] is True
    assert spy.questions == []


# -- groups ------------------------------------------------------------------------------
def test_group_answers_only_when_addressed(api: FakeBotApi, start_bot: Callable[..., Spy]) -> None:
    spy = start_bot()
    chat = GROUP["id"]
    api.send(ANN, "Who represented the US?", chat=GROUP)  # not addressed: ignored
    mention = f"@{BOT_USERNAME}"
    api.send(
        BOB,
        f"{mention} Who represented the US?",
        chat=GROUP,
        entities=[{"type": "mention", "offset": 0, "length": len(mention)}],
    )
    first = replies(api, chat, 1)[0]
    assert "<b>Steve Witkoff and Jared Kushner</b>" in first["text"]
    api.send(ANN, "/ask How many detainees were released?", chat=GROUP)
    replies(api, chat, 2)
    bot_message = first["_message"]
    api.send(ANN, "What about Russia?", chat=GROUP, reply_to=bot_message)
    replies(api, chat, 3)
    settle(api)
    assert len(api.sent(chat)) == 3
    assert spy.questions[0][0].strip() == "Who represented the US?"  # the mention removed
    keys = {key for _, key in spy.questions}
    assert keys == {f"tg:{chat}:{BOB}", f"tg:{chat}:{ANN}"}  # one conversation per user
    # Replies in groups quote the question they answer.
    assert all(m.get("reply_parameters") for m in api.sent(chat))


# -- safe and steady ---------------------------------------------------------------------
def test_not_allowed_user_gets_one_refusal_and_nothing_reaches_retrieval(
    api: FakeBotApi, start_bot: Callable[..., Spy]
) -> None:
    spy = start_bot(telegram_allowed=[ANN])
    for text in ("/start", "Who represented the US?", "Hello?"):
        api.send(EVE, text)
    refusal = replies(api, EVE, 1)[0]
    api.send(ANN, "Who represented the US?")
    replies(api, ANN, 1)
    settle(api)
    assert [html.unescape(m["text"]) for m in api.sent(EVE)] == [text_of("tg_refusal")]
    assert refusal["chat_id"] == EVE
    assert [key for _, key in spy.questions] == [f"tg:{ANN}"]


def test_rate_limit_burst_gets_one_notice(api: FakeBotApi, start_bot: Callable[..., Spy]) -> None:
    spy = start_bot(telegram_rate_per_minute=2)
    for _ in range(5):
        api.send(BOB, "Who represented the US?")
    replies(api, BOB, 3)
    settle(api, 0.8)
    texts = [html.unescape(m["text"]) for m in api.sent(BOB)]
    limited = [t for t in texts if "questions a minute" in t]
    assert len(texts) == 3 and len(limited) == 1 and len(spy.questions) == 2
    assert "at most 2 questions a minute" in limited[0]


def test_overlong_and_empty_questions(api: FakeBotApi, start_bot: Callable[..., Spy]) -> None:
    spy = start_bot()
    api.send(BOB, "x" * 10_000)
    too_long = html.unescape(replies(api, BOB, 1)[0]["text"])
    assert "too long" in too_long and "10000" in too_long
    api.send(BOB, "?!")
    assert html.unescape(replies(api, BOB, 2)[1]["text"]) == text_of("empty_question")
    api.send(BOB, "/nonsense")
    assert html.unescape(replies(api, BOB, 3)[2]["text"]) == text_of("tg_unknown_command")
    api.send(BOB, "/ask")
    assert html.unescape(replies(api, BOB, 4)[3]["text"]) == text_of("tg_ask_usage")
    assert spy.questions == []


def _long_answer(question: str, conversation: str | None) -> tuple[Answer, Retrieval]:
    text = ("Witkoff <met> Kostyukov & others. " * 40 + "\n") * 6
    citations = [
        Citation(n=n, article_id=f"a{n}.txt", quote=text[:1200], start=0, end=1200, score=0.9)
        for n in (1, 2, 3, 4)
    ]
    answer = Answer(
        question=question,
        standalone_question=question,
        answer=" ".join(f"{c.quote} [{c.n}]" for c in citations),
        abstained=False,
        short_answer="Witkoff",
        citations=citations,
    )
    return answer, Retrieval(query=question, vector=None)  # type: ignore[arg-type]


def test_long_reply_is_split_below_the_limit(
    api: FakeBotApi, start_bot: Callable[..., Spy]
) -> None:
    start_bot(run=_long_answer)
    api.send(BOB, "Who met?")
    api.wait_for(lambda: any(buttons(m) for m in api.sent(BOB)))
    parts = api.sent(BOB)
    assert len(parts) >= 3
    assert all(len(p["text"]) <= MESSAGE_LIMIT for p in parts)
    for part in parts:
        check_html(part["text"])
    assert [bool(buttons(p)) for p in parts] == [False] * (len(parts) - 1) + [True]
    assert "&lt;met&gt;" in parts[0]["text"]


def test_unparsable_html_is_resent_as_plain_text(
    api: FakeBotApi, start_bot: Callable[..., Spy]
) -> None:
    start_bot()
    api.fail_next(
        "sendMessage",
        'Bad Request: can\'t parse entities: unsupported start tag "blockquote" at byte offset 120',
        when=lambda p: p.get("parse_mode") == "HTML",
    )
    api.send(BOB, "Who represented the US?")
    reply = replies(api, BOB, 1)[0]
    assert "parse_mode" not in reply
    assert "Steve Witkoff and Jared Kushner" in reply["text"] and "<b>" not in reply["text"]
    assert buttons(reply)


def test_errors_apologize_and_never_leak_the_token(
    api: FakeBotApi, start_bot: Callable[..., Spy], caplog: pytest.LogCaptureFixture
) -> None:
    def broken(question: str, conversation: str | None) -> tuple[Answer, Retrieval]:
        raise RuntimeError(f"could not reach http://127.0.0.1/bot{TOKEN}/getMe")

    caplog.set_level(logging.DEBUG)
    start_bot(run=broken)
    api.send(BOB, "Who represented the US?")
    apology = replies(api, BOB, 1)[0]
    assert apology["text"] == text_of("tg_error")
    assert api.wait_for(lambda: "could not reach" in caplog.text, 5)
    assert TOKEN not in caplog.text
    assert f"bot{MASK}/getMe" in caplog.text  # httpx's request lines, and the traceback
    assert "Traceback" in caplog.text
    assert all(TOKEN not in m["text"] for m in api.sent())


def test_slow_answers_keep_typing_and_time_out(
    api: FakeBotApi, start_bot: Callable[..., Spy], answerer: Any
) -> None:
    finished = {ANN: threading.Event(), BOB: threading.Event()}

    def slow(question: str, conversation: str | None, **options: Any) -> tuple[Answer, Retrieval]:
        time.sleep(1.2 if "slow" in question else 2.5)
        try:
            return answerer.run("Who represented the US?", conversation, **options)
        finally:
            finished[BOB if "slow" in question else ANN].set()

    for user in (ANN, BOB):
        answerer.reset(f"tg:{user}")
    start_bot(run=slow, typing_every_s=0.2, answer_timeout_s=2.0)
    api.send(BOB, "A slow question?")
    api.send(ANN, "A very long-running question?")
    # Another chat is answered while the slow one is still being worked on.
    api.send(ADMIN, "/help")
    assert api.wait_for(lambda: bool(api.sent(ADMIN)), 1.0)
    assert not api.sent(BOB)
    assert "Witkoff" in replies(api, BOB, 1)[0]["text"]
    typing = [c for c in api.of("sendChatAction") if c.params["chat_id"] == BOB]
    assert len(typing) >= 3  # renewed while waiting
    assert html.unescape(replies(api, ANN, 1)[0]["text"]) == text_of("tg_timeout")
    assert finished[ANN].wait(10)  # the abandoned answer finished in the background
    assert len(answerer.conversations.history(f"tg:{BOB}")) == 1
    assert answerer.conversations.history(f"tg:{ANN}") == []  # the user never saw it


def test_reindex_is_for_admins_and_reports_the_summary(
    api: FakeBotApi, start_bot: Callable[..., Spy]
) -> None:
    start_bot()
    api.send(BOB, "/reindex")
    assert html.unescape(replies(api, BOB, 1)[0]["text"]) == text_of("tg_not_admin")
    api.send(ADMIN, "/reindex")
    done = html.unescape(replies(api, ADMIN, 2, timeout=30)[1]["text"])
    assert "0 added" in done and "1 unchanged" in done
    api.send(ADMIN, "Who represented the US?")
    assert "Witkoff" in replies(api, ADMIN, 3)[2]["text"]


# -- the process -------------------------------------------------------------------------
def test_no_token_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from newsqa.settings import load_settings

    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.delenv("NEWSQA_TELEGRAM_BOT_TOKEN", raising=False)
    assert run_telegram(load_settings(index_dir=tmp_path, telegram_bot_token="")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "TELEGRAM_BOT_TOKEN" in err[0]


def _launch(
    api: FakeBotApi, index_dir: Path, webhook: str | None = None, port: int | None = None
) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "NEWSQA_TELEGRAM_API_URL": api.url,
        "NEWSQA_INDEX_DIR": str(index_dir),
        "NEWSQA_ARTICLES_DIR": str(ARTICLES),
    }
    script = (
        "import sys\n"
        "from newsqa.index.cli import setup_logging\n"
        "from newsqa.settings import load_settings\n"
        "from newsqa.bot.telegram import run_telegram\n"
        "setup_logging(True)\n"
        f"sys.exit(run_telegram(load_settings(), {webhook!r}, {port!r}))\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _terminate(process: subprocess.Popen[str]) -> tuple[int, str]:
    """SIGTERM, then the exit code and everything the process printed."""
    try:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            out, err = process.communicate()
    return process.returncode, out + err


def test_real_process_answers_and_stops_on_sigterm(api: FakeBotApi, index_dir: Path) -> None:
    process = _launch(api, index_dir)
    try:
        assert api.wait_for(lambda: bool(api.of("getUpdates")), 30), "the bot never polled"
        api.send(ANN, "/start")
        api.send(ANN, "Who represented the US?")
        sent = replies(api, ANN, 2, timeout=20)
        assert "<b>Steve Witkoff and Jared Kushner</b>" in sent[1]["text"]
    finally:
        code, output = _terminate(process)
    assert code == 0, output
    assert TOKEN not in output
    assert "answers everyone" in output  # the open-bot warning at start


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_webhook_mode_checks_the_secret(api: FakeBotApi, index_dir: Path) -> None:
    port = _free_port()
    hook = f"http://127.0.0.1:{port}/tg-hook"
    process = _launch(api, index_dir, hook, port)
    try:
        assert api.wait_for(lambda: bool(api.of("setWebhook")), 30), "no setWebhook"
        registered = api.of("setWebhook")[0].params
        assert registered["url"] == hook and registered["secret_token"]
        update = json.dumps({"update_id": 1, **api.message(ANN, "Who represented the US?")})

        def post(secret: str | None) -> int:
            headers = {"Content-Type": "application/json"}
            if secret is not None:
                headers["X-Telegram-Bot-Api-Secret-Token"] = secret
            request = urllib.request.Request(hook, update.encode(), method="POST", headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    return int(response.status)
            except urllib.error.HTTPError as exc:
                return exc.code

        deadline = time.monotonic() + 10
        while True:  # the server starts listening just after setWebhook
            try:
                status = post("wrong")
                break
            except urllib.error.URLError:
                assert time.monotonic() < deadline, "the webhook server never listened"
                time.sleep(0.1)
        assert status == 403
        assert post(None) == 403
        time.sleep(1.0)
        assert not api.of("sendMessage") and not api.of("sendChatAction")  # no handler ran
        assert post(registered["secret_token"]) == 200
        assert "Witkoff" in replies(api, ANN, 1, timeout=20)[0]["text"]
    finally:
        code, output = _terminate(process)
    assert code == 0, output
    assert TOKEN not in output
