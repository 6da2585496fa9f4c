"""Several bot processes behind one webhook URL list, as behind a load balancer: three real
`newsqa telegram --webhook-url` processes share one PostgreSQL (started by the suite), one
Chroma server (`chroma run`) and a loopback Bot API.

- One user's question, its "Source 1" button, the follow-up and `/sources` each go to
  another process, and each is answered as one process would answer them.
- The rate limit counts a user's questions over every process.
- The timed feed refresh runs once per period (counted over five periods by the feed's
  own server), whichever process holds the lease; killing that process hands the job to
  another within one period.
"""

from __future__ import annotations

import html
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from chroma_server import ChromaServer, free_port
from conftest import ROOT, SAMPLE_DIR, make_settings
from fake_bot_api import FakeBotApi, check_html
from web_server import WebServer

from newsqa import prompts
from newsqa.bot.telegram.app import webhook_secret

pytestmark = pytest.mark.timeout(240)

TOKEN = "424242:MULTIHOST"
PERIOD_S = 2.0  # the refresh period (NEWSQA_REFRESH_MINUTES as a fraction)
ANN, BOB = 7001, 7002
EMPTY_FEED = (
    '<?xml version="1.0"?><rss version="2.0"><channel><title>Quiet wire</title>'
    "<link>{base_url}/</link><description>nothing new</description></channel></rss>"
)


class Bots:
    """The processes, and posting an update to one of them as Telegram would."""

    def __init__(self, api: FakeBotApi, env: dict[str, str], logs: Path, count: int) -> None:
        self.api = api
        self.ports = [free_port() for _ in range(count)]
        self.secret = webhook_secret(TOKEN)
        self._ids = itertools.count(1)
        self.procs = []
        for n, port in enumerate(self.ports):
            with (logs / f"bot{n}.log").open("wb") as log:
                self.procs.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "newsqa.bot.cli",
                            "telegram",
                            "--webhook-url",
                            self.hook(n),
                            "--port",
                            str(port),
                        ],
                        cwd=ROOT,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )

    def hook(self, n: int) -> str:
        return f"http://127.0.0.1:{self.ports[n]}/hook"

    def post(self, n: int, update: dict) -> None:
        request = urllib.request.Request(
            self.hook(n),
            json.dumps({"update_id": next(self._ids), **update}).encode(),
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-Telegram-Bot-Api-Secret-Token": self.secret,
            },
        )
        urllib.request.urlopen(request, timeout=30).close()

    def press(self, n: int, user: int, message: dict, data: str) -> None:
        query = {
            "id": f"cq{next(self._ids)}",
            "from": self.api.user(user),
            "chat_instance": "ci",
            "message": message,
            "data": data,
        }
        self.post(n, {"callback_query": query})

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def _replies(api: FakeBotApi, chat: int, count: int, timeout: float = 60.0) -> list[dict]:
    api.wait_for(lambda: len(api.sent(chat)) >= count, timeout)
    sent = api.sent(chat)
    assert len(sent) >= count, [m["text"] for m in sent]
    return sent


def _holder_pid(url: str) -> int | None:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT holder FROM leases WHERE name = 'feed-refresh' "
            "AND expires >= EXTRACT(EPOCH FROM clock_timestamp())"
        ).fetchone()
    return int(row[0].split(":")[-2]) if row else None


def test_three_webhook_processes_share_one_database(tmp_path: Path, postgres, embedder) -> None:
    from newsqa.index import build_index
    from newsqa.index.web.feeds import FeedStore

    database = postgres.new_database("multihost")
    chroma = ChromaServer(tmp_path / "chroma").start()
    web = WebServer().start()
    api = FakeBotApi(TOKEN).start()
    bots = None
    try:
        settings = make_settings(tmp_path / "index", chroma_url=chroma.url)
        build_index(settings, embedder=embedder)
        web.add_page("/wire.rss", EMPTY_FEED, content_type="application/rss+xml", etag='"quiet-1"')
        with FeedStore(database) as feeds:
            feeds.add(web.url("/wire.rss"))
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("NEWSQA_")},
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "NEWSQA_TELEGRAM_API_URL": api.url,
            "NEWSQA_INDEX_DIR": str(settings.index_dir),
            "NEWSQA_ARTICLES_DIR": str(SAMPLE_DIR),
            "NEWSQA_CHROMA_URL": chroma.url,
            "NEWSQA_DATABASE_URL": database,
            "NEWSQA_REFRESH_MINUTES": str(PERIOD_S / 60),
            "NEWSQA_FETCH_ALLOW_PRIVATE": "1",
            "NEWSQA_TELEGRAM_RATE_PER_MINUTE": "3",
            "NEWSQA_TELEGRAM_WORKERS": "2",
        }
        bots = Bots(api, env, tmp_path, 3)
        ready = api.wait_for(lambda: len(api.of("setWebhook")) >= 3, 120)
        assert ready, [(tmp_path / f"bot{n}.log").read_text()[-2000:] for n in range(3)]
        # Each process has started its refresh job by now; count from here on.
        assert api.wait_for(lambda: web.requests("/wire.rss") >= 1, 3 * PERIOD_S)
        counted_from = time.monotonic()

        # A question to process 0, its button to process 1, the follow-up to process 2,
        # /sources to process 0 again.
        bots.post(0, api.message(ANN, "Who represented the US?"))
        answer = _replies(api, ANN, 1)[0]
        assert "<b>Steve Witkoff and Jared Kushner</b>" in answer["text"]
        button = answer["reply_markup"]["inline_keyboard"][0][0]
        bots.press(1, ANN, answer["_message"], button["callback_data"])
        passage = _replies(api, ANN, 2)[1]["text"]
        assert "<u>The US was represented by presidential envoy Steve Witkoff" in passage
        assert len(check_html(passage)) > 200  # the whole passage, not "expired"
        bots.post(2, api.message(ANN, "What about Russia?"))
        follow_up = _replies(api, ANN, 3)[2]["text"]
        assert "Kostyukov" in follow_up
        bots.post(0, api.message(ANN, "/sources"))
        sources = _replies(api, ANN, 4)[3]["text"]
        check_html(sources)
        assert prompts.load("tg_cited") in sources and "Kostyukov" in sources

        # Five questions from one user, one after another over the processes: the limit
        # of three a minute holds over all of them (one warning, then silence).
        for n in range(5):
            bots.post(n % 3, api.message(BOB, "Who did Russia send?"))
            time.sleep(0.2)
        got = _replies(api, BOB, 4)
        time.sleep(1.5)  # nothing more comes
        texts = [html.unescape(m["text"]) for m in api.sent(BOB)]
        warning = prompts.load("tg_rate_limited").split("{limit}")[0]
        assert len(texts) == 4 and got
        assert sum("Kostyukov" in t for t in texts) == 3
        assert sum(t.startswith(warning) for t in texts) == 1

        # Exactly one refresh per period, over five periods, whichever process runs it.
        left = counted_from + 5 * PERIOD_S - time.monotonic()
        if left > 0:
            time.sleep(left)
        times = [t for t in web.request_times("/wire.rss") if t >= counted_from]
        window = [t for t in times if t < counted_from + 5 * PERIOD_S]
        assert 4 <= len(window) <= 6, [round(t - counted_from, 2) for t in times]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert all(gap >= 0.5 * PERIOD_S for gap in gaps), gaps

        # Kill the process that holds the refresh lease: another takes over within a period.
        holder = _holder_pid(database)
        pids = [proc.pid for proc in bots.procs]
        assert holder in pids
        before = len(web.request_times("/wire.rss"))
        os.kill(holder, signal.SIGKILL)
        killed = time.monotonic()
        bots.procs[pids.index(holder)].wait(timeout=10)
        assert api.wait_for(lambda: len(web.request_times("/wire.rss")) > before, 3 * PERIOD_S)
        first_after = web.request_times("/wire.rss")[before]
        assert first_after - killed <= PERIOD_S + 1.0, first_after - killed
        successor = _holder_pid(database)
        assert successor in pids and successor != holder
        # And the survivors go on once per period.
        time.sleep(2 * PERIOD_S)
        later = [t for t in web.request_times("/wire.rss") if t >= first_after]
        assert 2 <= len(later) <= 4
        assert all(b - a >= 0.5 * PERIOD_S for a, b in itertools.pairwise(later))
    finally:
        if bots is not None:
            bots.stop()
        api.stop()
        web.stop()
        chroma.stop()
