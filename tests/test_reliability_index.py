"""Index faults: `python -m newsqa.index` SIGKILLed again and again on a growing corpus, damaged
index files, and a full disk. The previous index keeps answering; the damage is either
repaired or reported in one line that names the fix; nothing hangs or prints a traceback."""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLE_DIR, SAMPLE_ID, make_settings

from newsqa.bot import cli as bot_cli
from newsqa.bot.components import build_answerer
from newsqa.index import build as index_build
from newsqa.index import build_index, open_snapshot
from newsqa.index.generations import IndexDir

pytestmark = pytest.mark.timeout(300)

GOLD = [
    json.loads(line)
    for line in (ROOT / "tests" / "data" / "gold_abu_dhabi.jsonl").read_text().splitlines()
    if line.strip()
]
GOLD_CHECK = [g for g in GOLD if g["id"] in ("g01", "g02", "g03")]
KILLS = 20
SEED = 20240607
BATCH = 10


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def _add_batch(src: Path, batch: int) -> None:
    lines = [
        json.dumps(
            {
                "id": f"b{batch}-{i}",
                "title": f"Town {batch}-{i}",
                "text": f"The council of town {batch}-{i} met on day {i}. "
                f"It approved a budget of {batch * 1000 + i} dollars for new roads. "
                "Residents asked for more buses and a second bridge.",
            }
        )
        for i in range(BATCH)
    ]
    (src / f"batch{batch}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _answers(index_dir: Path, embedder) -> list[tuple[str, bool, list[tuple[str, int, int]]]]:
    answerer = build_answerer(make_settings(index_dir), embedder=embedder)
    out = []
    for item in GOLD_CHECK:
        answer = answerer.ask(item["question"])
        cited = [(c.article_id, c.start, c.end) for c in answer.citations]
        out.append((answer.answer, answer.abstained, cited))
    return out


def _article_ids(index_dir: Path) -> set[str]:
    return set(open_snapshot(index_dir).docs.hashes())


def test_sigkill_again_and_again_on_a_growing_corpus(tmp_path: Path, embedder) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(SAMPLE_DIR / SAMPLE_ID, src / SAMPLE_ID)
    index_dir = tmp_path / "ix"
    build_index(make_settings(index_dir, articles_dir=src), embedder=embedder)
    complete = {SAMPLE_ID}
    rng = random.Random(SEED)
    finished_before_kill = 0
    for batch in range(1, KILLS + 1):
        _add_batch(src, batch)
        # Everything now in the source, including batches of earlier killed runs.
        wanted = {SAMPLE_ID} | {f"b{b}-{i}" for b in range(1, batch + 1) for i in range(BATCH)}
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "newsqa.index",
                "--quiet",
                "--source",
                str(src),
                "--index-dir",
                str(index_dir),
            ],
            cwd=ROOT,
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.3, 3.5))  # startup, model load, embedding or publishing
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        ids = _article_ids(index_dir)
        # The index is the last complete one: the one before, or this run's if it finished.
        assert ids in (complete, wanted), (len(ids), len(complete), len(wanted))
        if ids == wanted:
            finished_before_kill += 1
            complete = wanted
        answer = build_answerer(make_settings(index_dir), embedder=embedder).ask(
            "Who represented the US?"
        )
        assert "Steve Witkoff" in answer.answer
    summary = build_index(make_settings(index_dir, articles_dir=src), embedder=embedder)
    assert summary.generation is not None
    clean = tmp_path / "clean"
    build_index(make_settings(clean, articles_dir=src), embedder=embedder, full=True)
    assert (
        _article_ids(index_dir)
        == _article_ids(clean)
        == complete | {f"b{b}-{i}" for b in range(1, KILLS + 1) for i in range(BATCH)}
    )
    assert open_snapshot(index_dir).status().passages == open_snapshot(clean).status().passages
    assert _answers(index_dir, embedder) == _answers(clean, embedder)
    # Unfinished generations left by the kills are gone after the completed run.
    assert len(IndexDir(index_dir).generations()) <= 2
    print(f"SIGKILL runs: {KILLS}, finished before the kill: {finished_before_kill}")


_KILLED_AFTER_SWITCH = """
import os, signal, sys
from newsqa.index import build
from newsqa.index.cli import main

def killed(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)  # the document store took the update; nothing else

build._sync_lexical = killed
sys.exit(main(sys.argv[1:]))
"""


def test_sigkill_after_an_in_place_switch_answers_then_completes(tmp_path: Path, embedder) -> None:
    """SIGKILL at the one point where an in-place update is half done: the document store
    has committed the new articles and the lexical index has not taken them yet. The index
    answers (the new article included, from its vectors), and the next plain run finishes
    the update without embedding again: then it matches a clean build."""
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(SAMPLE_DIR / SAMPLE_ID, src / SAMPLE_ID)
    index_dir = tmp_path / "ix"
    build_index(make_settings(index_dir, articles_dir=src), embedder=embedder)
    _add_batch(src, 1)
    args = ["--quiet", "--source", str(src), "--index-dir", str(index_dir)]
    done = subprocess.run(
        [sys.executable, "-c", _KILLED_AFTER_SWITCH, *args],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    wanted = {SAMPLE_ID} | {f"b1-{i}" for i in range(BATCH)}
    snapshot = open_snapshot(index_dir)
    assert set(snapshot.docs.hashes()) == wanted and snapshot.docs.lexical_pending()
    answer = build_answerer(make_settings(index_dir), embedder=embedder).ask(
        "What budget did the council of town 1-3 approve?"
    )
    assert "1003" in answer.answer.replace(",", "")
    assert "Steve Witkoff" in build_answerer(make_settings(index_dir), embedder=embedder).ask(
        "Who represented the US?"
    ).answer
    summary = build_index(make_settings(index_dir, articles_dir=src), embedder=embedder)
    assert not summary.changed and summary.embedded == 0
    snapshot = open_snapshot(index_dir)
    assert not snapshot.docs.lexical_pending()
    assert {pid.split("#")[0] for pid in snapshot.lexical.ids} == wanted
    clean = tmp_path / "clean"
    build_index(make_settings(clean, articles_dir=src), embedder=embedder, full=True)
    assert _answers(index_dir, embedder) == _answers(clean, embedder)


# -- damaged files -------------------------------------------------------------------------
def _current(index_dir: Path) -> Path:
    return index_dir / (index_dir / "CURRENT").read_text().strip()


def _chroma(gen: Path) -> Path:
    return gen / "vectors" / "base-000001"


def _truncate_segment(gen: Path) -> None:
    files = [p for p in _chroma(gen).rglob("*.bin")]
    assert files, "no Chroma segment files to damage"
    biggest = max(files, key=lambda p: p.stat().st_size)
    biggest.write_bytes(biggest.read_bytes()[: biggest.stat().st_size // 3])


def _zero_segment(gen: Path) -> None:
    for path in _chroma(gen).rglob("*.bin"):
        path.write_bytes(b"\x00" * path.stat().st_size)


def _garbage_chroma_sqlite(gen: Path) -> None:
    (_chroma(gen) / "chroma.sqlite3").write_bytes(os.urandom(8192))


def _missing_lexical_meta(gen: Path) -> None:
    (gen / "lexical" / "meta.json").unlink()


def _garbage_docstore(gen: Path) -> None:
    (gen / "docstore.sqlite").write_bytes(b"not a database " * 500)


DAMAGE = {
    "truncated-chroma-segment": _truncate_segment,
    "zeroed-chroma-segment": _zero_segment,
    "garbage-chroma-sqlite3": _garbage_chroma_sqlite,
    "missing-lexical-meta": _missing_lexical_meta,
    "garbage-docstore": _garbage_docstore,
}


def _ask_in_process(index_dir: Path, embedder, monkeypatch, capsys) -> tuple[int, str, str]:
    monkeypatch.setattr(bot_cli, "_answerer", lambda s: build_answerer(s, embedder=embedder))
    code = bot_cli.main(["ask", "--index-dir", str(index_dir), "Who represented the US?"])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_index_answers_or_names_the_fix(
    damage: str, sample_copy: Path, embedder, monkeypatch, capsys
) -> None:

    monkeypatch.setattr(index_build, "Embedder", lambda *a, **k: embedder)
    DAMAGE[damage](_current(sample_copy))
    # A real process first: no hang (timeout), no traceback, no panic.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "newsqa.bot.cli",
            "ask",
            "--index-dir",
            str(sample_copy),
            "Who represented the US?",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_env(),
        timeout=90,
    )
    output = result.stdout + result.stderr
    assert "Traceback" not in output and "panicked" not in output, output[-2000:]
    if result.returncode == 0:
        assert "Steve Witkoff" in result.stdout  # answered correctly despite the damage
        fix = ["index"]
    else:
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 1 and len(lines) == 1, result.stderr
        assert lines[0].startswith("newsqa: error:") and str(sample_copy) in lines[0]
        assert "newsqa index" in lines[0]
        fix = ["index", "--full"] if "--full" in lines[0] else ["index"]
    # Following the advice repairs the index.
    code = bot_cli.main(
        [*fix, "--quiet", "--source", str(SAMPLE_DIR), "--index-dir", str(sample_copy)]
    )
    capsys.readouterr()
    assert code == 0
    code, out, err = _ask_in_process(sample_copy, embedder, monkeypatch, capsys)
    assert code == 0, err
    assert "Steve Witkoff" in out and "Traceback" not in out + err


# -- disk full -----------------------------------------------------------------------------
def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize(
    "target",
    [
        "newsqa.index.segments.SegmentWriter.add",
        "newsqa.index.docstore.DocStore.add_article",
        "newsqa.index.docstore.DocStore.commit",
    ],
)
def test_disk_full_keeps_the_old_index_answering(
    target: str, tmp_path: Path, embedder, monkeypatch, capsys
) -> None:

    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(SAMPLE_DIR / SAMPLE_ID, src / SAMPLE_ID)
    index_dir = tmp_path / "ix"
    build_index(make_settings(index_dir, articles_dir=src), embedder=embedder)
    before = IndexDir(index_dir).generations()
    (src / "new.txt").write_text("The ferry to the island was cancelled on Sunday.")
    monkeypatch.setattr(index_build, "Embedder", lambda *a, **k: embedder)
    module, _, attr = target.rpartition(".")
    owner_module, _, cls = module.rpartition(".")
    owner = getattr(__import__(owner_module, fromlist=[cls]), cls)
    with pytest.MonkeyPatch.context() as disk:
        disk.setattr(owner, attr, _enospc)
        code = bot_cli.main(
            ["index", "--quiet", "--source", str(src), "--index-dir", str(index_dir)]
        )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and "disk full" in err[0] and "Traceback" not in err[0]
    assert IndexDir(index_dir).generations() == before
    vectors = before[0] / "vectors"
    assert [p.name for p in vectors.iterdir()] == ["base-000001"]  # the half-written delta gone
    assert _article_ids(index_dir) == {SAMPLE_ID}
    code, out, _ = _ask_in_process(index_dir, embedder, monkeypatch, capsys)
    assert code == 0 and "Steve Witkoff" in out
    summary = build_index(make_settings(index_dir, articles_dir=src), embedder=embedder)
    assert summary.added == 1 and _article_ids(index_dir) == {SAMPLE_ID, "new.txt"}


# -- a real full disk ----------------------------------------------------------------------
FREE_BYTES = [0, 300_000, 1_000_000, 2_000_000]  # where the build runs out: copy, Chroma, …


def _unshare() -> list[str] | None:
    """A user + mount namespace in which this process may mount a tmpfs, or None."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    command = [unshare, "--user", "--map-root-user", "--mount"]
    probe = subprocess.run(
        [*command, "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"],
        capture_output=True,
        timeout=30,
    )
    return command if probe.returncode == 0 else None


def test_real_full_disk_keeps_the_old_index_answering(tmp_path: Path) -> None:
    """The index on an 8 MB tmpfs, filled up until 0 B to 2 MB are left, then real
    `python -m newsqa.index` and `newsqa ask` processes (tests/disk_full_run.py)."""
    command = _unshare()
    if command is None:
        pytest.skip("cannot mount a tmpfs here (unshare --user --mount refused)")
    done = subprocess.run(
        [*command, sys.executable, str(ROOT / "tests" / "disk_full_run.py"), str(tmp_path)]
        + [str(free) for free in FREE_BYTES],
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    first, *cases, freed = [json.loads(line) for line in done.stdout.splitlines()]
    assert first["code"] == 0, first["err"]
    assert len(cases) == len(FREE_BYTES)
    for case in cases:
        build, ask = case["build"], case["ask"]
        lines = build["err"].strip().splitlines()
        assert build["code"] == 1 and len(lines) == 1, (case["case"], build["err"][-2000:])
        assert lines[0].startswith("newsqa: error: disk full while writing"), lines[0]
        assert case["generations_after"] == case["generations_before"]  # no half-build left
        assert [n for n in case["leftovers"] if n.startswith("gen-")] == case["generations_after"]
        assert ask["code"] == 0 and "Steve Witkoff" in ask["out"], (case["case"], ask)
        assert "Traceback" not in ask["err"]
        warnings = ask["err"].strip().splitlines()
        if case["case"] == "free 0":  # too full for Chroma to open its database
            assert len(warnings) == 1, ask["err"]
        for warning in warnings:
            assert "is full" in warning and "answering from BM25 alone" in warning
    assert freed["build"]["code"] == 0 and "40 added" in freed["build"]["out"]
    assert freed["ask"]["code"] == 0 and "Steve Witkoff" in freed["ask"]["out"]
    print(f"real full disk: {len(cases)} builds ran out of space, all refused in one line")


# -- the record manager out of step with the store -----------------------------------------
# The document store records which articles (by content hash) gave which passages, and how
# many the lexical index and each Chroma segment must hold. These break that from outside.
FERRY = "ferry.txt"


def _chroma_collection(gen: Path):
    import chromadb

    client = chromadb.PersistentClient(path=str(gen / "vectors" / "base-000001"))
    return client.get_collection(client.list_collections()[0].name)


def _chroma_lost_passages(gen: Path, sample_index: Path) -> None:
    collection = _chroma_collection(gen)
    collection.delete(ids=collection.get(include=[])["ids"][:2])


def _chroma_stray_passage(gen: Path, sample_index: Path) -> None:
    _chroma_collection(gen).add(ids=["stray"], embeddings=[[0.05] * 384], documents=["stray"])


def _docstore_lost_article(gen: Path, sample_index: Path) -> None:
    import sqlite3

    with sqlite3.connect(gen / "docstore.sqlite") as db:
        for table, column in (("sentences", "article_id"), ("passages", "article_id")):
            db.execute(f"DELETE FROM {table} WHERE {column} = ?", (FERRY,))
        db.execute("DELETE FROM articles WHERE id = ?", (FERRY,))


def _docstore_orphan_passages(gen: Path, sample_index: Path) -> None:
    import sqlite3

    with sqlite3.connect(gen / "docstore.sqlite") as db:
        db.execute("DELETE FROM articles WHERE id = ?", (FERRY,))


def _lexical_of_another_build(gen: Path, sample_index: Path) -> None:
    shutil.rmtree(gen / "lexical")
    shutil.copytree(_current(sample_index) / "lexical", gen / "lexical")


# fault: (damage, whether readers must refuse the index: they compare counts only)
OUT_OF_STEP = {
    "chroma-lost-passages": (_chroma_lost_passages, True),
    "chroma-stray-passage": (_chroma_stray_passage, True),
    "docstore-lost-article": (_docstore_lost_article, True),
    "docstore-orphan-passages": (_docstore_orphan_passages, False),
    "lexical-of-another-build": (_lexical_of_another_build, True),
}


@pytest.mark.parametrize("fault", list(OUT_OF_STEP))
def test_out_of_step_index_is_refused_then_repaired_by_newsqa_index(
    fault: str, sample_index: Path, tmp_path: Path, embedder, monkeypatch, capsys, caplog
) -> None:
    from newsqa.index.audit import audit
    from newsqa.index.chroma import ChromaTarget

    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(SAMPLE_DIR / SAMPLE_ID, src / SAMPLE_ID)
    (src / FERRY).write_text(
        "Ferry strike ends\nThe ferry union ended its strike on Monday after nine days. "
        "Boats to the island will run on the normal timetable from Wednesday."
    )
    index_dir = tmp_path / "ix"
    settings = make_settings(index_dir, articles_dir=src)
    build_index(settings, embedder=embedder)
    passages = open_snapshot(index_dir).status().passages
    damage, refused = OUT_OF_STEP[fault]
    damage(_current(index_dir), sample_index)
    assert audit(_current(index_dir), ChromaTarget(), "all-minilm-l6-v2") is not None

    # Asking: one line naming the fix, never an answer from a half-index; where the counts
    # still agree (passages whose article row is gone), the intact part answers.
    code, out, err = _ask_in_process(index_dir, embedder, monkeypatch, capsys)
    assert "Traceback" not in out + err
    if refused:
        lines = err.strip().splitlines()
        assert code == 1 and len(lines) == 1, err
        assert "is out of step" in lines[0] and "repair it with `newsqa index`" in lines[0]
    else:
        assert code == 0 and "Steve Witkoff" in out

    # Plain `newsqa index`, nothing changed in the articles: it notices and rebuilds.
    monkeypatch.setattr(index_build, "Embedder", lambda *a, **k: embedder)
    caplog.clear()
    code = bot_cli.main(["index", "--quiet", "--source", str(src), "--index-dir", str(index_dir)])
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("indexed"), out
    assert "out of step" in caplog.text and "rebuilding it in full" in caplog.text
    assert audit(_current(index_dir), ChromaTarget(), "all-minilm-l6-v2") is None
    assert open_snapshot(index_dir).status().passages == passages
    assert _article_ids(index_dir) == {SAMPLE_ID, FERRY}
    code, out, err = _ask_in_process(index_dir, embedder, monkeypatch, capsys)
    assert code == 0 and "Steve Witkoff" in out, err
