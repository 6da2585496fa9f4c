"""`python -m bench.load`: concurrent chats through the Telegram webhook path.

Starts a fake Telegram Bot API on 127.0.0.1 (tests/fake_bot_api.py), runs the real bot
in webhook mode as its own process, and lets `--chats` simulated chats each POST
`--questions` questions to the webhook one after another, waiting for each reply.
Runs one process with the embedded store, one against a real `chroma run` server, and
`--processes` processes (default 3) sharing one Chroma server and one PostgreSQL (started
from the Debian package's binaries, tests/postgres_server.py), a chat's questions going to
the processes in turn; prints throughput and latency (POST → the bot's sendMessage) for
each. Bounded: a fixed number of questions, each with a timeout; it stops by itself.
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


def run_store(
    label: str,
    chroma_url: str | None,
    chats: int,
    per_chat: int,
    processes: int = 1,
    database_url: str | None = None,
    servers: tuple[int, ...] = (),
) -> dict:
    """Throughput and latency of `processes` webhook processes sharing one index (and one
    database when `database_url` is set). A chat's questions go to the processes in turn,
    as a load balancer without sticky sessions would send them."""
    from newsqa.bot.telegram.app import webhook_secret
    from newsqa.index import build_index
    from newsqa.settings import load_settings

    work = Path(tempfile.mkdtemp(prefix="newsqa-load-"))
    build_index(load_settings(index_dir=work / "ix", chroma_url=chroma_url))
    api = FakeBotApi(TOKEN).start()
    ports = [free_port() for _ in range(processes)]
    hooks = [f"http://127.0.0.1:{port}/hook" for port in ports]
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
    if database_url:
        env["NEWSQA_DATABASE_URL"] = database_url
    bots = [
        subprocess.Popen(
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
        for hook, port in zip(hooks, ports, strict=True)
    ]
    questions = [json.loads(x)["question"] for x in GOLD.read_text().splitlines() if x]
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    secret = webhook_secret(TOKEN)
    try:
        if not api.wait_for(lambda: len(api.of("setWebhook")) >= processes, 90):
            raise SystemExit("bench.load: a bot process never registered its webhook")
        time.sleep(1.0)

        def chat(chat_id: int) -> None:
            nonlocal failures
            for n in range(per_chat):
                question = questions[(chat_id + n) % len(questions)]
                update = {"update_id": chat_id * 1000 + n, **api.message(chat_id, question)}
                before = len(api.sent(chat_id))
                began = time.perf_counter()
                request = urllib.request.Request(
                    hooks[(chat_id + n) % processes],
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

        cpu_before = cpu_seconds([bot.pid for bot in bots], servers)
        began = time.perf_counter()
        threads = [threading.Thread(target=chat, args=(1000 + i,)) for i in range(chats)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
        seconds = time.perf_counter() - began
        cpu = cpu_seconds([bot.pid for bot in bots], servers) - cpu_before
    finally:
        for bot in bots:
            bot.terminate()
        for bot in bots:
            try:
                bot.wait(timeout=20)
            except subprocess.TimeoutExpired:
                bot.kill()
        api.stop()
    return {
        "store": label,
        "processes": processes,
        "questions": len(latencies),
        "failed": failures,
        "seconds": seconds,
        "per_second": len(latencies) / seconds,
        "p50": p(latencies, 50),
        "p95": p(latencies, 95),
        "cpu_ms": 1000 * cpu / max(1, len(latencies)),
    }


def cpu_seconds(pids: list[int], servers: tuple[int, ...] = ()) -> float:
    """CPU time (user + system) used by the bot processes and by the `servers` (the Chroma
    server, PostgreSQL's postmaster) with their child processes (PostgreSQL's backends):
    a figure that other work on the same cores inflates far less than wall-clock
    throughput."""
    tick = os.sysconf("SC_CLK_TCK")
    watched = set(pids) | set(servers)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) in servers:  # a child of a server: a backend
            watched.add(int(stat.parent.name))
    total = 0.0
    for pid in watched:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load")
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--questions", type=int, default=4, help="questions per chat")
    parser.add_argument(
        "--processes", type=int, default=3, help="webhook processes of the shared-state run"
    )
    parser.add_argument(
        "--database-url",
        help="the shared database of that run (default: a PostgreSQL the bench starts)",
    )
    parser.add_argument("--only-shared", action="store_true", help="skip the one-process runs")
    args = parser.parse_args()
    results = []
    if not args.only_shared:
        results.append(run_store("embedded", None, args.chats, args.questions))
        with tempfile.TemporaryDirectory() as data:
            server = ChromaServer(Path(data)).start()
            try:
                pids = (server.proc.pid,) if server.proc else ()
                results.append(
                    run_store("Chroma server", server.url, args.chats, args.questions, servers=pids)
                )
            finally:
                server.stop()
    if args.processes > 1:
        results.append(shared_run(args))
    print(f"{args.chats} chats x {args.questions} questions through the webhook")
    print(
        "| store | processes | answered | failed | seconds | questions/s | p50 ms | p95 ms "
        "| CPU ms/question |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['store']} | {r['processes']} | {r['questions']} | {r['failed']} | "
            f"{r['seconds']:.1f} | {r['per_second']:.1f} | {r['p50']:.0f} | {r['p95']:.0f} | "
            f"{r['cpu_ms']:.0f} |"
        )


def shared_run(args: argparse.Namespace) -> dict:
    """`--processes` webhook processes behind one URL list, as on several hosts: one Chroma
    server for the vectors and one database (a PostgreSQL the bench starts, unless
    `--database-url` names one) for everything else."""
    with tempfile.TemporaryDirectory() as data:
        chroma = ChromaServer(Path(data) / "chroma").start()
        server = None
        try:
            url = args.database_url
            label = "Chroma server + database"
            if not url:
                from postgres_server import PostgresServer

                server = PostgresServer(Path(data) / "postgres").start()
                url = server.new_database("load")
                label = "Chroma server + PostgreSQL"
            pids = tuple(proc.pid for proc in (chroma.proc, server and server.proc) if proc)
            return run_store(
                label, chroma.url, args.chats, args.questions, args.processes, url, pids
            )
        finally:
            if server is not None:
                server.stop()
            chroma.stop()


if __name__ == "__main__":
    main()
