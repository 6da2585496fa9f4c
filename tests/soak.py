"""A soak run: one real `newsqa telegram` process against the loopback Bot API, many chats
asking questions, and article changes each followed by `/reindex`, with the process's open
descriptors and resident memory read from /proc after every round.

`tests/test_soak.py` runs a short one in `make test`. The long one, whose figures are in
RELIABILITY.md, runs outside it:

    .venv/bin/python tests/soak.py --rounds 100 --questions 2000
"""

from __future__ import annotations

import argparse
import html
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import SAMPLE_DIR
from fake_bot_api import FakeBotApi
from web_server import WebServer

TOKEN = "123456:SOAK-test-token"
ADMIN = 1
QUESTIONS = [
    "Who represented the US?",
    "Who did Russia send?",
    "When is the next round of talks?",
    "Where were the talks held?",
    "What is his job?",
    "What did the ferry operator say?",
]
STALL_S = 120.0  # no reply at all for this long: the bot has stopped answering


@dataclass
class Sample:
    round: int
    questions: int
    rebuilds: int
    fds: int
    rss_mb: float


@dataclass
class SoakResult:
    samples: list[Sample] = field(default_factory=list)
    seconds: float = 0.0
    fd_kinds: dict[str, int] = field(default_factory=dict)  # at the end

    @property
    def start(self) -> Sample:
        return self.samples[0]

    @property
    def end(self) -> Sample:
        return self.samples[-1]


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def fd_kinds(pid: int) -> dict[str, int]:
    """What a process's descriptors point at: "socket", "pipe", or a file's name."""
    kinds: dict[str, int] = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        kind = (
            target.split(":")[0]
            if target.startswith(("socket:", "pipe:", "anon_inode:"))
            else Path(target).name
        )
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _wait_replies(api: FakeBotApi, chat: int, count: int, proc: subprocess.Popen) -> None:
    """Until `chat` has `count` replies; fails only when no reply at all comes for STALL_S
    (a slow machine makes the run longer, never red) or the bot process died."""
    seen, progress_at = len(api.sent()), time.monotonic()
    while len(api.sent(chat)) < count:
        if proc.poll() is not None:
            raise AssertionError(f"the bot exited with {proc.returncode}")
        api.wait_for(lambda: False, 0.05)
        total = len(api.sent())
        if total > seen:
            seen, progress_at = total, time.monotonic()
        elif time.monotonic() - progress_at > STALL_S:
            raise AssertionError(f"no reply for {STALL_S:.0f} s (chat {chat} waits for {count})")


def _page(number: int) -> str:
    """A news page of its own (no two are near-duplicates of each other)."""
    words = "harbour council ferry bridge storm market budget strike school museum".split()
    body = " ".join(  # fixed-width figures: every page has the same length
        f"{words[(number * 7 + i) % 10].capitalize()} report {number:05d}-{i:02d}: officials "
        f"counted {number * 31 + i * 17:07d} visitors and {number * 3 + i:05d} complaints."
        for i in range(12)
    )
    return (
        f"<html><head><title>Soak report {number:05d}</title></head><body><article>"
        f"<h1>Soak report {number:05d}</h1><p>{body}</p></article></body></html>"
    )


# The bot under tracemalloc; SIGUSR1 writes a snapshot to the path in NEWSQA_SOAK_TRACE
# with the count appended (`--trace`, to tell Python objects from native memory).
_TRACED_BOT = """
import os, signal, sys, tracemalloc
tracemalloc.start(8)
taken = [0]
def dump(*_):
    taken[0] += 1
    tracemalloc.take_snapshot().dump(f"{os.environ['NEWSQA_SOAK_TRACE']}.{taken[0]}")
signal.signal(signal.SIGUSR1, dump)
from newsqa.bot.cli import main
sys.exit(main(["telegram"]))
"""


def run_soak(
    rounds: int,
    questions: int,
    work: Path,
    warmup_rounds: int = 1,
    trace: Path | None = None,
    trace_rounds: tuple[int, ...] = (),
) -> SoakResult:
    """`rounds` article changes, each followed by /reindex, with `questions` questions
    spread over the rounds, each from a new chat (so every chat is one the bot has never
    seen). The first sample is taken after `warmup_rounds` rounds, when the model, the
    reader and the index have been loaded and one rebuild has run."""
    articles = work / "articles"
    shutil.copytree(SAMPLE_DIR, articles)
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "ANONYMIZED_TELEMETRY": "False",
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "NEWSQA_INDEX_DIR": str(work / "index"),
        "NEWSQA_ARTICLES_DIR": str(articles),
        "NEWSQA_TELEGRAM_ADMINS": str(ADMIN),
        "NEWSQA_TELEGRAM_RATE_PER_MINUTE": "100000",
        "NEWSQA_TELEGRAM_ANSWER_TIMEOUT_S": "3600",
        "NEWSQA_CONVERSATIONS_MAX": "50",  # bounded: more chats than this come and go
        "NEWSQA_FETCH_ALLOW_PRIVATE": "1",  # /add fetches from the loopback web server
    }
    env.pop("NEWSQA_CHROMA_URL", None)
    if trace:
        env["NEWSQA_SOAK_TRACE"] = str(trace)
    build = subprocess.run(
        [sys.executable, "-m", "newsqa.index", "--quiet"],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr
    api = FakeBotApi(TOKEN).start()
    web = WebServer().start()
    env["NEWSQA_TELEGRAM_API_URL"] = api.url
    log = (work / "bot.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-c", _TRACED_BOT]
        if trace
        else [sys.executable, "-m", "newsqa.bot.cli", "telegram"],
        env=env,
        cwd=work,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    result = SoakResult()
    began = time.monotonic()
    chat, asked, admin_replies = 10_000, 0, 0
    try:
        assert api.wait_for(lambda: bool(api.of("getUpdates")), 120), "the bot never polled"
        per_round = max(1, questions // rounds)
        for number in range(1, rounds + 1):
            # Odd rounds: an article file changes, then an admin rebuilds the index.
            # Even rounds: an admin adds a link (fetched from loopback, saved, indexed).
            # Either way the bot rebuilds while it keeps answering.
            if number % 2:
                (articles / f"soak-{number:04d}.txt").write_text(
                    f"Update {number}: the ferry to the island was cancelled on day {number}, "
                    f"the operator said, citing {number % 7 + 2} metre waves and high winds.\n",
                    encoding="utf-8",
                )
                if number > 2:
                    (articles / f"soak-{number - 2:04d}.txt").unlink()
                # The corpus keeps its size: the page the last /add saved goes too, so
                # what is measured is the work, not a growing index.
                for saved in (articles / "web").rglob("*.md") if number > 2 else ():
                    saved.unlink()
                api.send(ADMIN, "/reindex")
            else:
                web.add_page(f"/news/{number}.html", _page(number))
                api.send(ADMIN, f"/add {web.url(f'/news/{number}.html')}")
            admin_replies += 2  # "updating…" or "fetching…", then the result
            for _ in range(per_round):
                chat += 1
                api.send(chat, QUESTIONS[asked % len(QUESTIONS)])
                asked += 1
                if asked % 10 == 0:  # keep at most 10 questions in flight
                    _wait_replies(api, chat, 1, proc)
            _wait_replies(api, ADMIN, admin_replies, proc)
            _wait_replies(api, chat, 1, proc)
            for old in range(chat - per_round + 1, chat + 1):
                _wait_replies(api, old, 1, proc)
            if trace and number in trace_rounds:
                snapshots = len(list(trace.parent.glob(f"{trace.name}.*")))
                os.kill(proc.pid, signal.SIGUSR1)
                deadline = time.monotonic() + 120
                while len(list(trace.parent.glob(f"{trace.name}.*"))) == snapshots:
                    assert time.monotonic() < deadline, "no tracemalloc snapshot came"
                    time.sleep(0.2)
                time.sleep(2)  # let the file be written out
            if number >= warmup_rounds:
                result.samples.append(
                    Sample(number, asked, number, _fds(proc.pid), round(_rss_mb(proc.pid), 1))
                )
        result.fd_kinds = fd_kinds(proc.pid)
        from newsqa import prompts

        apology = html.escape(prompts.load("tg_error"), quote=True)
        failed = [m["chat_id"] for m in api.sent() if m["text"] == apology]
        assert not failed, f"{len(failed)} questions got the error apology"
        last = api.sent(ADMIN)[-1]["text"]
        assert "Index updated" in last, last
        added = [m["text"] for m in api.sent(ADMIN) if "added Soak report" in m["text"]]
        assert len(added) == rounds // 2, api.sent(ADMIN)[-4:]  # every /add saved its page
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        api.stop()
        web.stop()
        log.close()
    result.seconds = time.monotonic() - began
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--questions", type=int, default=2000)
    parser.add_argument("--json", type=Path, help="write every sample here")
    parser.add_argument(
        "--trace",
        type=Path,
        metavar="PREFIX",
        help="run the bot under tracemalloc and write snapshots PREFIX.1, PREFIX.2 after "
        "the rounds given by --trace-rounds (compare them with tracemalloc.Snapshot.load)",
    )
    parser.add_argument("--trace-rounds", default="15,45", help="e.g. 15,45")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="newsqa-soak-") as tmp:
        result = run_soak(
            args.rounds,
            args.questions,
            Path(tmp),
            trace=args.trace.resolve() if args.trace else None,
            trace_rounds=tuple(int(r) for r in args.trace_rounds.split(",") if r),
        )
    for sample in [*result.samples[:: max(1, len(result.samples) // 10)], result.end]:
        print(json.dumps(asdict(sample)))
    print(
        f"{result.end.rebuilds} rebuilds, {result.end.questions} questions in "
        f"{result.seconds:.0f} s: descriptors {result.start.fds} -> {result.end.fds}, "
        f"RSS {result.start.rss_mb:.0f} -> {result.end.rss_mb:.0f} MB "
        f"(after the first round -> after the last)"
    )
    print("descriptors at the end:", json.dumps(result.fd_kinds, sort_keys=True))
    if args.json:
        args.json.write_text(json.dumps([asdict(s) for s in result.samples], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
