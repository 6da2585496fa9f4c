"""A real full disk, for tests/test_reliability_index.py: run under `unshare --user
--map-root-user --mount`, so the small tmpfs it mounts vanishes with it.

    disk_full_run.py WORKDIR FREE_BYTES [FREE_BYTES ...]

The index lives on an 8 MB tmpfs at WORKDIR/disk. After a first complete build, the disk
is filled with a file until exactly FREE_BYTES are left, more articles are added, and
real `python -m newsqa.index` and `newsqa ask` processes run against the full disk. Nothing is
asserted here: one JSON line per case reports what the processes did, and the test
judges it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "articles" / "abu-dhabi-talks.txt"
QUESTION = "Who represented the US?"


def run(*args: str, env: dict[str, str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, env=env, cwd=ROOT,
        timeout=120,
    )
    return {"code": done.returncode, "out": done.stdout, "err": done.stderr}


def fill(disk: Path, leave: int) -> None:
    """Fill `disk` with one file, then give back exactly `leave` bytes."""
    filler = disk / "filler"
    with open(filler, "wb") as handle:
        block = b"\0" * (1 << 16)
        try:
            while True:
                handle.write(block)
                handle.flush()
        except OSError:
            pass
    with open(filler, "r+b") as handle:
        size = filler.stat().st_size
        handle.truncate(max(0, size - leave))


def generations(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.iterdir() if p.name.startswith("gen-"))


def main() -> None:
    work, frees = Path(sys.argv[1]), [int(x) for x in sys.argv[2:]]
    disk = work / "disk"
    disk.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(disk)], check=True)
    src = work / "src"
    src.mkdir(exist_ok=True)
    (src / SAMPLE.name).write_text(SAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    index_dir = disk / "ix"
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "NEWSQA_INDEX_DIR": str(index_dir),
        "NEWSQA_ARTICLES_DIR": str(src),
    }
    first = run("newsqa.index", "--quiet", env=env)
    used = shutil.disk_usage(disk).used
    print(json.dumps({"case": "first build", **first, "disk_used": used}), flush=True)
    lines = [
        json.dumps(
            {
                "id": f"r{i}",
                "title": f"Harbour report {i}",
                "text": " ".join(
                    f"On day {d} the harbour of town {i} moved {i * 100 + d} containers "
                    f"and the ferry to island {d} left on time."
                    for d in range(12)
                ),
            }
        )
        for i in range(40)
    ]
    (src / "more.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for free in frees:
        before = generations(index_dir)
        fill(disk, free)
        build = run("newsqa.index", "--quiet", env=env)
        ask = run("newsqa.bot.cli", "ask", QUESTION, env=env)
        after = generations(index_dir)
        (disk / "filler").unlink()
        print(
            json.dumps(
                {
                    "case": f"free {free}",
                    "build": build,
                    "ask": ask,
                    "generations_before": before,
                    "generations_after": after,
                    "leftovers": sorted(p.name for p in index_dir.iterdir()),
                    "disk_used": shutil.disk_usage(disk).used,
                }
            ),
            flush=True,
        )
    again = run("newsqa.index", "--quiet", env=env)
    ask = run("newsqa.bot.cli", "ask", QUESTION, env=env)
    used = shutil.disk_usage(disk).used
    print(json.dumps({"case": "disk freed", "build": again, "ask": ask, "disk_used": used}))


if __name__ == "__main__":
    main()
