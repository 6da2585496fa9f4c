"""`python -m bench.follow`: what `newsqa refresh` costs, on loopback.

20 feeds of 50 entries each are served by the test web server on 127.0.0.1; 40 entries of
each feed were seen by earlier refreshes, so 10 per feed (200 in all) are new. Each entry
links to its own generated article page (six paragraphs, every one a different story).
Measured as real `newsqa refresh` processes over the sample index:

1. the refresh that fetches, extracts, saves and indexes the 200 new articles, and the
   time per new article;
2. the next refresh, where every feed answers 304 Not Modified.

Prints the figures; BENCHMARKS.md keeps them.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

FEEDS, ENTRIES, NEW = 20, 50, 10
WORDS = (
    "council harbour bridge ferry minister talks budget election court police hospital school "
    "strike market port river storm flood fire museum festival airport railway station "
    "mayor treasurer engineer nurse teacher farmer driver pilot judge lawyer reporter "
    "announced warned promised rejected approved delayed cancelled opened closed repaired "
    "north south eastern western new old small large early late quiet busy local regional "
    "million thousand percent crowns euros weeks months years Monday Tuesday Wednesday"
).split()


def _story(rng: random.Random, feed: int, entry: int) -> tuple[str, str]:
    """A title and six paragraphs of a made-up story, different from every other one."""
    name = f"{rng.choice(['Anna', 'Ole', 'Mira', 'Jonas', 'Lea'])} {rng.choice(WORDS).title()}"
    title = f"Story {feed}-{entry}: {name} and the {rng.choice(WORDS)} {rng.choice(WORDS)}"
    paragraphs = []
    for _ in range(6):
        sentences = []
        for _ in range(3):
            words = [rng.choice(WORDS) for _ in range(rng.randint(12, 20))]
            sentences.append(" ".join(words).capitalize() + f" {rng.randint(2, 999)}.")
        paragraphs.append(" ".join(sentences))
    return title, "".join(f"<p>{p}</p>\n" for p in paragraphs)


def _page(title: str, body: str, day: int) -> str:
    return (
        f"<html><head><title>{title}</title>"
        f'<meta property="article:published_time" content="2026-11-{day:02d}T08:00:00Z">'
        f'<meta property="og:site_name" content="Bench News"></head>'
        f"<body><article><h1>{title}</h1>\n{body}</article></body></html>"
    )


def _feed(feed: int, entries: list[tuple[int, str]]) -> str:
    items = "".join(
        f"<item><title>{title}</title><link>{{base_url}}/f{feed}/s{entry}.html</link>"
        f"<guid isPermaLink=\"false\">bench-{feed}-{entry}</guid>"
        f"<pubDate>Mon, {1 + entry % 28:02d} Nov 2026 08:00:00 GMT</pubDate></item>"
        for entry, title in entries
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Bench feed {feed}</title><link>{{base_url}}/</link>{items}</channel></rss>"
    )


def _run(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    began = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "newsqa.bot.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=1800,
    )
    if proc.returncode != 0:
        raise SystemExit(f"newsqa {' '.join(args)} failed: {proc.stderr.strip()[-500:]}")
    return time.perf_counter() - began, proc.stdout


def main() -> int:
    from web_server import WebServer

    from newsqa.index.web.feeds import FeedEntry, FeedStore

    rng = random.Random(20261130)
    work = Path(tempfile.mkdtemp(prefix="newsqa-bench-follow-"))
    try:
        shutil.copytree(ROOT / "data" / "articles", work / "articles")
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "NEWSQA_ARTICLES_DIR": str(work / "articles"),
            "NEWSQA_INDEX_DIR": str(work / "index"),
            "NEWSQA_FETCH_ALLOW_PRIVATE": "1",
        }
        _run(["index", "--quiet"], env)
        with WebServer() as server:
            store = FeedStore(work / "index" / "feeds.sqlite")
            for feed in range(FEEDS):
                entries = []
                for entry in range(ENTRIES):
                    title, body = _story(rng, feed, entry)
                    server.add_page(f"/f{feed}/s{entry}.html", _page(title, body, 1 + entry % 28))
                    entries.append((entry, title))
                server.add_page(
                    f"/f{feed}/feed.rss",
                    _feed(feed, entries),
                    content_type="application/rss+xml",
                    etag=f'"bench-{feed}"',
                )
                added = store.add(server.url(f"/f{feed}/feed.rss"))
                store.mark_seen(
                    added.id,
                    [
                        FeedEntry(
                            f"bench-{feed}-{entry}",
                            server.url(f"/f{feed}/s{entry}.html"),
                            None,
                            None,
                            "",
                        )
                        for entry in range(ENTRIES - NEW)
                    ],
                )
            store.close()
            first, out = _run(["refresh"], env)
            added = sum(line.startswith("+ ") for line in out.splitlines())
            pages = sum(
                server.requests(f"/f{f}/s{e}.html") for f in range(FEEDS) for e in range(50)
            )
            unchanged, out2 = _run(["refresh"], env)
            not_modified = sum(line.endswith(": unchanged") for line in out2.splitlines())
        print(f"feeds {FEEDS} x {ENTRIES} entries, {NEW} new per feed ({FEEDS * NEW} new)")
        print(
            f"refresh with new entries: {first:.1f} s for {added} new articles "
            f"({pages} pages fetched), {first / max(1, added) * 1000:.0f} ms per new article "
            "(fetch, extract, near-duplicate check, save, embed, index; one process)"
        )
        print(
            f"refresh with nothing new: {unchanged:.2f} s for the whole process "
            f"({not_modified} of {FEEDS} feeds answered 304)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
