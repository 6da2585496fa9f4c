"""`python -m bench.load`: concurrent chats through the Telegram webhook path.

Starts a fake Telegram Bot API on 127.0.0.1 (tests/fake_bot_api.py), runs the real bot
in webhook mode as its own process, and lets `--chats` simulated chats each POST
`--questions` questions to the webhook one after another, waiting for each reply.
Runs once with the embedded store and once against a real `chroma run` server, and
prints throughput and latency (POST → the bot's sendMessage) for both. Bounded: a
fixed number of questions, each with a timeout; it stops by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from bench.__main__ import ROOT, p

sys.path.insert(0, str(ROOT / "tests"))

from chroma_server import ChromaServer, free_port
from fake_bot_api import FakeBotApi

TOKEN = "123456:LOADTEST"
GOLD = ROOT / "tests" / "data" / "gold_abu_dhabi.jsonl"


def run_store(label: str, chroma_url: str | None, chats: int, per_chat: int) -> dict:
    from newsqa.bot.telegram.app import webhook_secret
    from newsqa.index import build_index
    from newsqa.settings import load_settings

    work = Path(tempfile.mkdtemp(prefix="newsqa-load-"))
    build_index(load_settings(index_dir=work / "ix", chroma_url=chroma_url))
    api = FakeBotApi(TOKEN).start()
    port = free_port()
    hook = f"http://127.0.0.1:{port}/hook"
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "NEWSQA_TELEGRAM_API_URL": api.url,
        "NEWSQA_INDEX_DIR": str(work / "ix"),
        "NEWSQA_TELEGRAM_RATE_PER_MINUTE": "1000",
    }
    if chroma_url:
        env["NEWSQA_CHROMA_URL"] = chroma_url
    bot = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "newsqa.bot.cli",
            "telegram",
            "--webhook-url",
            hook,
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    questions = [json.loads(x)["question"] for x in GOLD.read_text().splitlines() if x]
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    secret = webhook_secret(TOKEN)
    try:
        if not api.wait_for(lambda: bool(api.of("setWebhook")), 60):
            raise SystemExit("bench.load: the bot never registered its webhook")
        time.sleep(1.0)

        def chat(chat_id: int) -> None:
            nonlocal failures
            for n in range(per_chat):
                question = questions[(chat_id + n) % len(questions)]
                update = {"update_id": chat_id * 1000 + n, **api.message(chat_id, question)}
                before = len(api.sent(chat_id))
                began = time.perf_counter()
                request = urllib.request.Request(
                    hook,
                    json.dumps(update).encode(),
                    method="POST",
                    headers={
                        "Content-Type": "application/json",
                        "X-Telegram-Bot-Api-Secret-Token": secret,
                    },
                )
                try:
                    urllib.request.urlopen(request, timeout=30).close()
                    ok = api.wait_for(lambda b=before: len(api.sent(chat_id)) > b, 60)
                except OSError:
                    ok = False
                with lock:
                    if ok:
                        latencies.append((time.perf_counter() - began) * 1000)
                    else:
                        failures += 1

        began = time.perf_counter()
        threads = [threading.Thread(target=chat, args=(1000 + i,)) for i in range(chats)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
        seconds = time.perf_counter() - began
    finally:
        bot.terminate()
        try:
            bot.wait(timeout=20)
        except subprocess.TimeoutExpired:
            bot.kill()
        api.stop()
    return {
        "store": label,
        "questions": len(latencies),
        "failed": failures,
        "seconds": seconds,
        "per_second": len(latencies) / seconds,
        "p50": p(latencies, 50),
        "p95": p(latencies, 95),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load")
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--questions", type=int, default=4, help="questions per chat")
    args = parser.parse_args()
    results = [run_store("embedded", None, args.chats, args.questions)]
    with tempfile.TemporaryDirectory() as data:
        server = ChromaServer(Path(data)).start()
        try:
            results.append(run_store("Chroma server", server.url, args.chats, args.questions))
        finally:
            server.stop()
    print(f"{args.chats} chats x {args.questions} questions through the webhook, one bot process")
    print("| store | answered | failed | seconds | questions/s | p50 ms | p95 ms |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['store']} | {r['questions']} | {r['failed']} | {r['seconds']:.1f} | "
            f"{r['per_second']:.1f} | {r['p50']:.0f} | {r['p95']:.0f} |"
        )


if __name__ == "__main__":
    main()
