"""The first hour of a new user, without rough edges: one-line errors for a Telegram start
that cannot reach the Bot API or has a bad token, subscriptions refused when their address
is, `refresh` failures on stderr, exit code 2 for bad input, docs that name only commands
that exist, a clean package build, an announced llama.cpp build, no bold on `unsure` in
the terminal, and the README's "Your own Telegram bot in five minutes" run as written."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLE_DIR
from fake_bot_api import BOT_USERNAME, FakeBotApi
from web_server import WebServer

from newsqa import prompts
from newsqa.bot.cli import build_parser, main

pytestmark = pytest.mark.timeout(120)

NEWSQA = str(Path(sys.executable).parent / "newsqa")
TOKEN = "424242:first-hour-token"
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _free_port() -> int:
    """A loopback port nothing listens on (connections to it are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _newsqa(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NEWSQA, *args],
        capture_output=True,
        text=True,
        timeout=90,
        env={**os.environ, **env},
        cwd=cwd,
    )


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every address this process tries to connect to (after conftest's guard)."""
    seen: list[object] = []
    guarded = socket.socket.connect

    def connect(self: socket.socket, address: object) -> None:
        seen.append(address)
        return guarded(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return seen


# -- Telegram: a start that cannot work is one line ------------------------------------
def test_telegram_without_the_bot_api_is_one_line(sample_index: Path, tmp_path: Path) -> None:
    """A Bot API that refuses connections (a closed loopback port): one error line, exit 1,
    no traceback, and no "running" line."""
    port = _free_port()
    env = {"TELEGRAM_BOT_TOKEN": TOKEN, "NEWSQA_TELEGRAM_API_URL": f"http://127.0.0.1:{port}"}
    result = _newsqa("telegram", "--index-dir", str(sample_index), env=env, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        f"newsqa: error: cannot reach the Telegram Bot API at http://127.0.0.1:{port} ("
    )
    assert result.stdout == "" and TOKEN not in result.stderr


def test_telegram_with_a_rejected_token_is_one_line(sample_index: Path, tmp_path: Path) -> None:
    api = FakeBotApi("999:the-real-token").start()  # answers 401 to any other token
    try:
        env = {"TELEGRAM_BOT_TOKEN": TOKEN, "NEWSQA_TELEGRAM_API_URL": api.url}
        result = _newsqa("telegram", "--index-dir", str(sample_index), env=env, cwd=tmp_path)
    finally:
        api.stop()
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == ["newsqa: error: " + prompts.load("telegram_bad_token")]
    assert result.stdout == "" and TOKEN not in result.stderr


def test_telegram_webhook_port_taken_is_one_line(sample_index: Path, tmp_path: Path) -> None:
    api = FakeBotApi(TOKEN).start()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        try:
            env = {"TELEGRAM_BOT_TOKEN": TOKEN, "NEWSQA_TELEGRAM_API_URL": api.url}
            hook = f"http://127.0.0.1:{port}/hook"
            args = ["telegram", "--webhook-url", hook, "--port", str(port)]
            result = _newsqa(*args, "--index-dir", str(sample_index), env=env, cwd=tmp_path)
        finally:
            api.stop()
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if not line.startswith("WARNING:")]
    assert errors == [
        f"newsqa: error: cannot listen on 127.0.0.1:{port} for the webhook "
        "(Address already in use): choose another --port or "
        "NEWSQA_TELEGRAM_WEBHOOK_LISTEN"
    ]
    assert result.stdout == ""  # never said it was running


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--webhook-url", "not-a-url"], "not a webhook URL: not-a-url"),
        (["--webhook-url", "ftp://bot.example.org/hook"], "not a webhook URL"),
        (["--port", "0"], "--port 0: a port is a number from 1 to 65535"),
        (["--port", "70000"], "--port 70000"),
    ],
)
def test_telegram_bad_webhook_options_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], connections: list
) -> None:
    assert main(["telegram", *args]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("newsqa: error: ") and message in err[0]
    assert connections == []


# -- feeds: refused at `feeds add`, failures of `refresh` on stderr ----------------------
@pytest.mark.parametrize(
    ("url", "allow_private", "reason"),
    [
        ("http://127.0.0.1:9/feed.xml", False, "127.0.0.1: refused to connect to a loopback"),
        ("http://localhost:9/feed.xml", False, "localhost (127.0.0.1): refused to connect"),
        ("http://[::1]/feed.xml", False, "a loopback address"),
        ("https://10.0.0.5/rss", False, "10.0.0.5: refused to connect to a private address"),
        ("http://169.254.169.254/latest/", True, "refused to connect to a cloud metadata address"),
        ("http://[fd00:ec2::254]/rss", True, "a cloud metadata address"),
    ],
)
def test_feeds_add_refuses_what_the_fetcher_refuses(
    url: str,
    allow_private: bool,
    reason: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    connections: list,
) -> None:
    monkeypatch.setenv("NEWSQA_INDEX_DIR", str(tmp_path / "index"))
    if allow_private:
        monkeypatch.setenv("NEWSQA_FETCH_ALLOW_PRIVATE", "1")
    assert main(["feeds", "add", url]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("newsqa: error: not subscribed: "), err
    assert reason in err[0]
    assert main(["feeds", "list"]) == 0
    assert "no feeds yet" in capsys.readouterr().out
    assert connections == []  # refused before anything was sent


def test_telegram_feed_add_refuses_too(tmp_path: Path) -> None:
    """/feed_add goes through `Follower.feed_add`: the same refusal, as a FeedError the
    bot replies with."""
    from newsqa.index.web.feeds import FeedError
    from newsqa.index.web.follow import Follower
    from newsqa.settings import load_settings

    settings = load_settings(index_dir=tmp_path / "index")
    with Follower(settings) as follower:
        with pytest.raises(FeedError, match="refused to connect to a loopback address"):
            follower.feed_add("http://127.0.0.1:9/feed.xml")
        assert follower.feeds() == []


def test_feeds_add_allows_loopback_with_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """NEWSQA_FETCH_ALLOW_PRIVATE=1 (intranets, the tests' loopback servers) subscribes."""
    monkeypatch.setenv("NEWSQA_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("NEWSQA_FETCH_ALLOW_PRIVATE", "1")
    assert main(["feeds", "add", "http://127.0.0.1:9/feed.xml"]) == 0
    assert "subscribed: feed 1 http://127.0.0.1:9/feed.xml" in capsys.readouterr().out


def test_refresh_failures_go_to_stderr_and_fail_when_every_feed_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from newsqa.index.web.follow import feed_store
    from newsqa.settings import load_settings

    monkeypatch.setenv("NEWSQA_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("NEWSQA_ARTICLES_DIR", str(tmp_path / "articles"))
    with WebServer.with_fixtures() as web:
        monkeypatch.setenv("NEWSQA_FETCH_ALLOW_PRIVATE", "1")
        assert main(["feeds", "add", web.url("/missing")]) == 0
        assert main(["feeds", "add", web.url("/gone")]) == 0
        capsys.readouterr()
        assert main(["refresh"]) == 1
        out, err = capsys.readouterr()
    assert "404 Not Found" in err and "410 Gone" in err
    assert err.strip().splitlines()[-1] == "newsqa: error: no feed could be fetched (2 failed)"
    assert "404" not in out and "410" not in out

    # A subscription made before `feeds add` refused loopback: refused at refresh, on
    # stderr, before anything is sent, and the run fails.
    monkeypatch.delenv("NEWSQA_FETCH_ALLOW_PRIVATE")
    (tmp_path / "index" / "feeds.sqlite").unlink()
    with feed_store(load_settings()) as store:
        store.add(f"http://127.0.0.1:{_free_port()}/feed.xml")
    assert main(["refresh"]) == 1
    out, err = capsys.readouterr()
    assert "refused to connect to a loopback address" in err
    assert "refused" not in out


# -- exit code 2 for bad input ------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "not-a-url"], "not-a-url: only http and https links can be fetched"),
        (["add", "ftp://example.com/story"], "only http and https links"),
        (["add", "https://"], "no host name in the link"),
        (["add", "https://example.com/story", "not-a-url"], "not-a-url"),
        (["add", "http://127.0.0.1:9/story"], "127.0.0.1: refused to connect to a loopback"),
        (["add", "http://169.254.169.254/latest/", "http://10.0.0.5/a"], "1 more refused"),
        (["feeds", "add", "not-a-url"], "not a full URL: not-a-url"),
        (["feeds", "remove", "9"], "no feed 9"),
        (["ask"], "no question given"),
        (["ask", "--batch", "missing.jsonl"], "missing.jsonl: no such file"),
        (["eval", "missing.jsonl"], "missing.jsonl: no such file"),
        (["--env-file", "missing.env", "status"], "settings file not found"),
        (["index", "--source", "missing"], "no valid articles found in missing"),
        (["status"], "no index in"),
        (["telegram"], "set TELEGRAM_BOT_TOKEN"),
    ],
)
def test_bad_input_exits_2_in_one_line(
    args: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    connections: list,
) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("newsqa: error: ") and message in err[0], err
    assert connections == []  # nothing fetched, not even the good link given with a bad one


# -- the docs name the commands that exist -------------------------------------------------
def _bot_commands() -> set[str]:
    """The commands the Telegram application handles."""
    from telegram.ext import CommandHandler

    from newsqa.bot.telegram.app import build_application
    from newsqa.bot.telegram.state import get_state
    from newsqa.settings import load_settings

    settings = load_settings(telegram_bot_token=TOKEN)
    application = build_application(settings, answerer=object(), build=lambda: None)
    state = get_state(application)
    state.executor.shutdown()
    for undo in state.undo:  # the token's log redaction
        undo()
    return {
        command
        for handlers in application.handlers.values()
        for handler in handlers
        if isinstance(handler, CommandHandler)
        for command in handler.commands
    }


def test_docs_name_only_commands_that_exist() -> None:
    """Every /command in .env.example, the README and the bot's own texts is one the bot
    handles; every `newsqa COMMAND` in the README's code is one the CLI has."""
    handled = _bot_commands()
    env_example = (ROOT / ".env.example").read_text(encoding="utf-8")
    comments = "\n".join(line for line in env_example.splitlines() if line.startswith("#"))
    slash = re.compile(r"(?<![\w./:@-])/([a-z][a-z_]*)\b(?![./])")
    mentioned = {"`.env.example`": set(slash.findall(comments))}
    spans = re.findall(r"`(/[a-z][a-z_]*)[^`]*`", README)
    not_ours = {"newbot", "mybots", "hook"}  # @BotFather's commands; the webhook's path
    mentioned["README.md"] = {span[1:] for span in spans} - not_ours
    for name in prompts.names():
        if name.startswith("tg_"):
            mentioned[f"prompts/{name}.md"] = set(slash.findall(prompts.load(name)))
    for where, commands in mentioned.items():
        assert commands <= handled, f"{where} names {sorted(commands - handled)}"
    assert {"reindex", "add", "feeds", "feed_add"} <= mentioned["README.md"]
    assert "refresh" not in handled  # so .env.example must not send anyone to /refresh

    parser = build_parser()
    subcommands = next(
        action.choices
        for action in parser._actions
        if hasattr(action, "choices") and action.choices
    )
    code = re.findall(r"`([^`\n]+)`", README + env_example)
    code += re.findall(r"```\n(.*?)```", README, re.S)
    used = set()
    for snippet in code:
        for line in snippet.splitlines():
            match = re.match(
                r"\s*(?:\$ |\.venv/bin/)?newsqa (?:--?[\w-]+ (?:\S+ )?)*([a-z]+)", line
            )
            if match:
                used.add(match.group(1))
    assert used, "no newsqa command found in the README"
    assert used <= set(subcommands), f"README names {sorted(used - set(subcommands))}"
    assert {"telegram", "refresh", "add", "feeds", "index", "ask"} <= used


# -- packaging -------------------------------------------------------------------------------
def test_wheel_ships_the_models_without_a_packaging_warning(tmp_path: Path) -> None:
    """Building the wheel (what `pip install` does) warns about no package, and the wheel
    carries every model folder under bot/models/ (the reader's weights)."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("newsqa", "bot", "index", "prompts"):
        shutil.copytree(ROOT / folder, source / folder, ignore=ignore)
    build = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from setuptools import build_meta as b; print(b.build_wheel(sys.argv[1]))",
            str(tmp_path / "dist"),
        ],
        capture_output=True,
        text=True,
        cwd=source,
        timeout=110,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    output = build.stdout + build.stderr
    assert "absent from the `packages` configuration" not in output, output[-3000:]
    wheel = tmp_path / "dist" / build.stdout.strip().splitlines()[-1]
    names = set(zipfile.ZipFile(wheel).namelist())
    models = [path for path in (ROOT / "bot" / "models").rglob("*") if path.is_file()]
    assert any(path.name == "reader.onnx" for path in models)
    for path in models:
        if "__pycache__" not in path.parts:
            relative = path.relative_to(ROOT / "bot").as_posix()
            assert f"newsqa/bot/{relative}" in names, f"the wheel lacks bot/{relative}"
    assert "newsqa/prompts/telegram_ready.md" in names


# -- the Makefile: the slow llama.cpp build is announced, and skipped when installed ---------
FAKE_PYTHON = """#!/bin/sh
# Stands in for the venv's python: logs each call; `-m pip show llama-cpp-python` finds it
# installed when the marker file exists.
echo "python $* CMAKE_ARGS=${CMAKE_ARGS:+set}"
if [ "$1 $2 $3" = "-m pip show" ]; then
    [ -e "$(dirname "$0")/../llama-installed" ]
    exit $?
fi
exit 0
"""


@pytest.mark.parametrize("installed", [False, True])
def test_make_announces_the_llama_build_and_skips_it_when_installed(
    tmp_path: Path, installed: bool
) -> None:
    if shutil.which("make") is None:
        pytest.fail("make is needed to build and test newsqa")
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    newsqa = venv / "bin" / "newsqa"
    newsqa.write_text("")
    os.utime(newsqa, (2**31, 2**31))  # newer than pyproject.toml: the venv is up to date
    if installed:
        (venv / "llama-installed").write_text("")
    result = subprocess.run(
        ["make", "--no-print-directory", f"VENV={venv}", f"{venv}/.test-extras"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    install = next(  # the (fake) pip install itself, not make echoing its command line
        i
        for i, line in enumerate(lines)
        if line.startswith("python -m pip install") and "local-llm" in line
    )
    building = [i for i, line in enumerate(lines) if line.startswith("Building llama-cpp-python")]
    if installed:
        assert building == []
        assert any("llama-cpp-python is installed" in line for line in lines[:install])
    else:
        assert building and building[0] < install, lines  # said before pip goes quiet
        assert "about 8 minutes" in lines[building[0]]
    assert "CMAKE_ARGS=set" in lines[install]  # built for AVX2 whenever pip builds it
    assert (venv / ".test-extras").exists()


# -- the terminal: no bold short answer on `unsure` ------------------------------------------
def _render(outcome: str) -> str:
    from rich.console import Console

    from newsqa.bot.answer import Answer, Citation
    from newsqa.bot.terminal import render_answer

    quote = "Kuleba said attacks left nearly 1.2 million people without electricity."
    start = quote.index("1.2 million")
    citation = Citation(
        n=1,
        article_id="abu-dhabi-talks.txt",
        quote=quote,
        start=0,
        end=len(quote),
        score=0.4,
        highlight=(start, start + len("1.2 million")),
    )
    answer = Answer(
        question="How many people lost power after the strikes?",
        standalone_question="How many people lost power after the strikes?",
        answer=quote + " [1]",
        outcome=outcome,
        abstained=outcome != "answer",
        short_answer="1.2 million",
        citations=[citation],
    )
    console = Console(force_terminal=True, color_system="standard", width=200, record=True)
    console.print(render_answer(answer))
    return console.export_text(styles=True)


def test_terminal_bolds_nothing_on_unsure() -> None:
    bold = "\x1b[1"
    sure = _render("answer")
    assert bold in sure and "Answer: " in sure  # the short answer, in bold
    unsure = _render("unsure")
    assert prompts.load("unsure") in unsure and "1.2 million" in unsure
    assert bold not in unsure and "Answer: " not in unsure


# -- README: "Your own Telegram bot in five minutes", as written -----------------------------
def _five_minutes() -> str:
    head = "## Your own Telegram bot in five minutes\n"
    assert head in README
    section = README.split(head, 1)[1]
    return section.split("\n## ", 1)[0]


def _blocks(section: str) -> list[str]:
    return [
        "\n".join(line.strip() for line in block.strip().splitlines())
        for block in re.findall(r"```\n(.*?)```", section, re.S)
    ]


def test_readme_five_minute_bot(sample_index: Path, tmp_path: Path) -> None:
    """The section's .env (its token swapped for the loopback Bot API's), its command run
    in the folder holding that .env, what it says a good start prints, its first question
    and answer, the refused stranger's id in the log, and the rejected token's line."""
    section = _five_minutes()
    for step in ("@BotFather", "long polling", "no public URL", "@userinfobot"):
        assert step in section, step
    blocks = _blocks(section)
    [dotenv] = [b for b in blocks if b.startswith("TELEGRAM_BOT_TOKEN=")]
    [command] = [b for b in blocks if b.startswith("newsqa telegram")]
    [ready] = [b for b in blocks if b.startswith("newsqa: bot @")]
    [rejected] = [b for b in blocks if "rejected the bot token" in b]
    refused = [b for b in blocks if b.startswith("WARNING: refused user")]
    assert refused, "the section shows how the log names a refused user"
    settings = dict(line.split("=", 1) for line in dotenv.splitlines())
    assert {"NEWSQA_TELEGRAM_ALLOWED", "NEWSQA_TELEGRAM_ADMINS"} <= set(settings)
    me = int(settings["NEWSQA_TELEGRAM_ALLOWED"])
    question = re.search(r"send `([^`]+\?)`", section).group(1)
    short = re.search(r"`<b>([^<`]+)</b>`", section).group(1)
    username = re.search(r"newsqa: bot @(\w+) is running", ready).group(1)

    folder = tmp_path / "where-you-run-it"
    folder.mkdir()
    (folder / ".env").write_text(dotenv.replace(settings["TELEGRAM_BOT_TOKEN"], TOKEN) + "\n")
    stranger = 5550001
    api = FakeBotApi(TOKEN).start()
    env = {
        **os.environ,
        "NEWSQA_TELEGRAM_API_URL": api.url,  # the loopback Bot API, not the internet
        "NEWSQA_INDEX_DIR": str(sample_index),
        "NEWSQA_ARTICLES_DIR": str(SAMPLE_DIR),
    }
    argv = [NEWSQA, *command.split()[1:]]
    try:
        out, err, code = _run_bot(argv, folder, env, api, me, question, stranger)
        # The same folder with a token Telegram does not know: the README's line, exit 2.
        (folder / ".env").write_text(dotenv + "\n")
        result = subprocess.run(
            argv, cwd=folder, env=env, capture_output=True, text=True, timeout=90
        )
        polled_by_webhook = bool(api.of("setWebhook"))
        to_me = [m["text"] for m in api.sent(me)]
        to_stranger = [m["text"] for m in api.sent(stranger)]
    finally:
        api.stop()
    assert code == 0, err
    assert not polled_by_webhook  # long polling: no public URL registered anywhere
    assert out.splitlines() == [ready.replace(f"@{username}", f"@{BOT_USERNAME}")]
    assert len(to_me) == 2, to_me  # the welcome, then the answer
    assert f"<b>{short}</b>" in to_me[1]
    assert to_stranger == [prompts.load("tg_refusal")]
    shown = re.sub(r"\b123456789\b", str(stranger), refused[0])
    assert err.splitlines() == [shown], err  # nothing else: no warning, no traceback
    assert result.returncode == 2 and result.stderr.splitlines() == [rejected]


def _run_bot(
    argv: list[str],
    folder: Path,
    env: dict[str, str],
    api: FakeBotApi,
    me: int,
    question: str,
    stranger: int,
) -> tuple[str, str, int]:
    """Start the bot, ask as `me` and as `stranger`, stop it with Ctrl+C (SIGINT)."""
    bot = subprocess.Popen(
        argv, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert api.wait_for(lambda: bool(api.of("getUpdates")), 60), "the bot never polled"
        api.send(me, "/start")
        api.send(me, question)
        api.wait_for(lambda: len(api.sent(me)) >= 2, 60)
        api.send(stranger, question)
        api.wait_for(lambda: len(api.sent(stranger)) >= 1, 20)
    finally:
        bot.send_signal(signal.SIGINT)
        try:
            out, err = bot.communicate(timeout=30)
        finally:
            if bot.poll() is None:
                bot.kill()
                out, err = bot.communicate()
    return out, err, bot.returncode


def test_readme_set_up_says_where_things_are() -> None:
    setup = README.split("## Commands", 1)[0]
    assert "source .venv/bin/activate" in setup and ".venv/bin/newsqa" in setup
    assert "`.env` in the current folder" in setup


# -- README: the opening REPL transcript, replayed -------------------------------------------
def test_readme_repl_transcript_is_what_the_repl_prints(sample_index: Path, tmp_path: Path) -> None:
    """The README's first transcript (a three-turn conversation, then an answer, an unsure
    and a none), typed into the real REPL over the sample index: the same lines come out."""
    block = README.split("```\nindexed (data/index)", 1)[1].split("```", 1)[0]
    lines = block.splitlines()[1:]  # after the build's summary line
    questions = [line[2:] for line in lines if line.startswith("? ")]
    expected = [line for line in lines if not line.startswith("? ")]
    assert len(questions) >= 3 and any(line.startswith("(understood as") for line in expected)
    result = subprocess.run(
        [NEWSQA, "--index-dir", str(sample_index), "repl"],
        input="\n".join(questions) + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    printed = [line for line in result.stdout.splitlines() if line.strip() and line != "Bye."]
    assert printed == expected
