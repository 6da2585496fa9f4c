"""The incremental build: hashes, no-op reruns, deletions, interruption, lock, damage."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLE_DIR, make_settings

from newsqa.index import BuildLockedError, DiskFullError, Embedder, build_index, open_snapshot
from newsqa.index.generations import IndexDir


class CountingEmbedder(Embedder):
    """The real model, counting the passages it is asked to embed."""

    def __init__(self, real: Embedder) -> None:
        self.__dict__.update(real.__dict__)
        self.embedded = 0

    def encode_passages(self, texts, sentence_spans):
        self.embedded += len(texts)
        return super().encode_passages(texts, sentence_spans)


@pytest.fixture()
def counting(embedder) -> CountingEmbedder:
    return CountingEmbedder(embedder)


def corpus(root: Path, articles: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name in os.listdir(root):
        (root / name).unlink()
    for name, text in articles.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


ARTICLES = {
    "a.txt": "The summit opened in Geneva on Monday. Delegates from forty countries attended.",
    "b.txt": "Floods hit the northern province. More than 300 families lost their homes.",
    "c.txt": "The central bank raised rates to 4.5 percent. Markets fell sharply after the news.",
}


def test_add_change_delete_and_noop(tmp_path: Path, counting: CountingEmbedder) -> None:
    src = corpus(tmp_path / "src", ARTICLES)
    settings = make_settings(tmp_path / "ix", articles_dir=src)

    first = build_index(settings, embedder=counting)
    assert (first.added, first.updated, first.unchanged, first.deleted) == (3, 0, 0, 0)
    assert counting.embedded == first.embedded == first.passages == 3

    again = build_index(settings, embedder=counting)
    assert not again.changed and again.unchanged == 3
    assert counting.embedded == 3  # nothing re-embedded
    assert again.generation == first.generation  # nothing written

    corpus(
        src,
        {
            **ARTICLES,
            "b.txt": ARTICLES["b.txt"] + " Rescue teams arrived.",
            "d.txt": "A new bridge opened.",
        }
        | {"c.txt": ARTICLES["c.txt"]},
    )
    (src / "a.txt").unlink()
    third = build_index(settings, embedder=counting)
    assert (third.added, third.updated, third.unchanged, third.deleted) == (1, 1, 1, 1)
    assert counting.embedded == 5  # only b (changed) and d (new)

    snapshot = open_snapshot(settings.index_dir)
    assert snapshot.status().articles == 3
    ids = {pid.split("#")[0] for pid in snapshot.lexical.ids}
    assert ids == {"b.txt", "c.txt", "d.txt"}
    assert snapshot.articles(["b.txt"])["b.txt"].text.endswith("Rescue teams arrived.")
    hits = snapshot.dense_search(counting.embed_query("Where did the summit open?"), 5)
    assert all(not pid.startswith("a.txt") for pid, _ in hits)
    assert {pid.split("#")[0] for pid, _ in hits} == {"b.txt", "c.txt", "d.txt"}
    # Updated in place: one generation, its base untouched, the changes in a delta.
    assert third.generation == first.generation
    assert len(IndexDir(settings.index_dir).generations()) == 1
    assert [s for _, s in snapshot.segments] == ["base-000001", "delta-000002"]
    segments = sorted(p.name for p in (snapshot.path / "vectors").iterdir())
    assert segments == ["base-000001", "delta-000002"]


def test_updates_keep_one_delta_and_compact_it_into_the_base(
    tmp_path: Path, counting: CountingEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each update writes a new delta (the old one, less what goes, plus what comes) and
    retires the one before the previous; past the compaction threshold the live vectors
    become a new base. Searches see exactly the live passages throughout."""
    from newsqa.index import segments

    src = corpus(tmp_path / "src", ARTICLES)
    settings = make_settings(tmp_path / "ix", articles_dir=src)
    build_index(settings, embedder=counting)
    for n in range(3):
        (src / f"new{n}.txt").write_text(f"Report number {n} on the harbour strike.")
        build_index(settings, embedder=counting)
    (src / "b.txt").write_text("Floods hit the southern province instead.")
    (src / "new0.txt").unlink()
    build_index(settings, embedder=counting)
    snapshot = open_snapshot(settings.index_dir)
    assert [s for _, s in snapshot.segments] == ["base-000001", "delta-000005"]
    folders = sorted(p.name for p in (snapshot.path / "vectors").iterdir())
    assert folders == ["base-000001", "delta-000004", "delta-000005"]  # the previous kept
    live = {"a.txt", "b.txt", "c.txt", "new1.txt", "new2.txt"}
    hits = snapshot.dense_search(counting.embed_query("floods province"), 20)
    assert {pid.split("#")[0] for pid, _ in hits} == live and len(hits) == len(live)
    assert "southern" in snapshot.articles(["b.txt"])["b.txt"].text

    monkeypatch.setattr(segments, "COMPACT_MIN", 0)
    (src / "c.txt").unlink()
    build_index(settings, embedder=counting)
    snapshot = open_snapshot(settings.index_dir)
    assert [s for _, s in snapshot.segments] == ["base-000006"]
    hits = snapshot.dense_search(counting.embed_query("floods province"), 20)
    assert {pid.split("#")[0] for pid, _ in hits} == live - {"c.txt"}
    assert snapshot.lexical_search("southern province", 5)[0][0] == "b.txt#0"


def test_an_update_tokenizes_only_the_passages_it_adds(
    tmp_path: Path, counting: CountingEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lexical index is updated in place from terms stored per passage: adding one
    article tokenizes its passages, not the whole corpus; a deleted article's terms go with
    it; a new tokenizer version rebuilds in full. The ranking is that of a fresh build."""
    from newsqa.index import build as build_module
    from newsqa.index.docstore import DocStore
    from newsqa.index.generations import DOCSTORE, LEXICAL
    from newsqa.index.lexical import Lexical, terms

    tokenized: list[str] = []

    def counted(text: str) -> list[str]:
        tokenized.append(text)
        return terms(text)

    monkeypatch.setattr(build_module, "terms", counted)
    src = corpus(tmp_path / "src", ARTICLES)
    settings = make_settings(tmp_path / "ix", articles_dir=src)
    build_index(settings, embedder=counting)
    assert len(tokenized) == 3
    (src / "d.txt").write_text("A new bridge opened over the Rhine at 4,600 metres.")
    (src / "a.txt").unlink()
    tokenized.clear()
    build_index(settings, embedder=counting)
    assert len(tokenized) == 1 and "Rhine" in tokenized[0]  # d.txt only
    snapshot = open_snapshot(settings.index_dir)
    assert snapshot.lexical_search("Rhine 4,600", 3)[0][0].startswith("d.txt")
    current = IndexDir(settings.index_dir).current()
    assert current is not None
    with DocStore(current / DOCSTORE, readonly=True) as store:
        stored = dict(store.db.execute("SELECT passage_id, terms FROM passage_terms"))
        ids = store.passage_ids()
    assert set(stored) == ids and not any(i.startswith("a.txt") for i in stored)
    assert set(Lexical.open(current / LEXICAL).ids) == ids
    fresh = build_index(make_settings(tmp_path / "fresh", articles_dir=src), embedder=counting)
    assert fresh.full is False and fresh.added == 3
    again = open_snapshot(tmp_path / "fresh")
    for query in ("Rhine bridge", "floods families", "bank rates 4.5"):
        assert [p for p, _ in snapshot.lexical_search(query, 3)] == [
            p for p, _ in again.lexical_search(query, 3)
        ]
    monkeypatch.setattr(build_module, "TERMS_VERSION", "test-next")
    (src / "e.txt").write_text("Another story.")
    tokenized.clear()
    summary = build_index(settings, embedder=counting)
    assert summary.full and len(tokenized) == 4  # every passage again, under the new version


def test_full_rebuild_reembeds_everything(tmp_path: Path, counting: CountingEmbedder) -> None:
    settings = make_settings(tmp_path / "ix", articles_dir=corpus(tmp_path / "src", ARTICLES))
    build_index(settings, embedder=counting)
    summary = build_index(settings, full=True, embedder=counting)
    assert summary.full and summary.added == 3 and counting.embedded == 6


def test_failed_build_keeps_previous_index(tmp_path: Path, embedder, monkeypatch) -> None:
    src = corpus(tmp_path / "src", ARTICLES)
    settings = make_settings(tmp_path / "ix", articles_dir=src)
    build_index(settings, embedder=embedder)
    before = IndexDir(settings.index_dir).current()
    (src / "e.txt").write_text("An article that will never be indexed.")

    from newsqa.index import build as index_build

    def explode(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(index_build.SegmentWriter, "add", explode)
    with pytest.raises(DiskFullError, match="disk full while writing"):
        build_index(settings, embedder=embedder)
    assert IndexDir(settings.index_dir).current() == before
    assert len(IndexDir(settings.index_dir).generations()) == 1
    assert [p.name for p in (before / "vectors").iterdir()] == ["base-000001"]  # no half delta
    snapshot = open_snapshot(settings.index_dir)
    assert snapshot.status().articles == 3
    assert len(snapshot.lexical.ids) == 3


def test_update_interrupted_after_its_switch_is_finished_by_the_next_run(
    tmp_path: Path, counting: CountingEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lexical index fails after the document store took the update: the index answers
    (searches skip what is gone, the new texts are there), and the next run completes it
    without embedding anything again."""
    from newsqa.index import build as index_build

    src = corpus(tmp_path / "src", ARTICLES)
    settings = make_settings(tmp_path / "ix", articles_dir=src)
    build_index(settings, embedder=counting)
    (src / "a.txt").unlink()
    (src / "d.txt").write_text("The harbour strike ended on Friday.")

    def explode(self) -> None:
        raise OSError(5, "Input/output error")

    with monkeypatch.context() as patch:
        patch.setattr(index_build.LexicalWriter, "commit", explode)
        with pytest.raises(OSError):
            build_index(settings, embedder=counting)
    snapshot = open_snapshot(settings.index_dir)
    assert set(snapshot.docs.hashes()) == {"b.txt", "c.txt", "d.txt"}
    assert snapshot.docs.lexical_pending()
    assert snapshot.lexical_search("summit Geneva", 5) == []  # a.txt is gone from answers
    assert snapshot.dense_search(counting.embed_query("strike"), 5)[0][0] == "d.txt#0"
    embedded = counting.embedded
    again = build_index(settings, embedder=counting)
    assert not again.changed and counting.embedded == embedded
    snapshot = open_snapshot(settings.index_dir)
    assert not snapshot.docs.lexical_pending()
    assert snapshot.lexical_search("harbour strike", 5)[0][0] == "d.txt#0"
    assert sorted(snapshot.lexical.ids) == ["b.txt#0", "c.txt#0", "d.txt#0"]


def test_killed_build_keeps_previous_index_answering(tmp_path: Path, embedder) -> None:
    """SIGKILL in the middle of embedding: the old index answers, the rerun completes."""
    src = corpus(tmp_path / "src", ARTICLES)
    index_dir = tmp_path / "ix"
    build_index(make_settings(index_dir, articles_dir=src), embedder=embedder)
    big = "\n".join(
        json.dumps({"id": f"n{i}", "text": f"Report {i}. " + "Long text. " * 40})
        for i in range(150)
    )
    (src / "more.jsonl").write_text(big)
    env = {**os.environ, "NEWSQA_INDEX_DIR": str(index_dir), "NEWSQA_ARTICLES_DIR": str(src)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "index", "--quiet"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    vectors = IndexDir(index_dir).current() / "vectors"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(vectors.iterdir())) < 2:
        time.sleep(0.05)  # the update's new delta segment appears
    time.sleep(1.5)  # inside the build: embedding the 150 articles
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    snapshot = open_snapshot(index_dir)
    assert snapshot.status().articles == 3 and len(snapshot.lexical.ids) == 3
    summary = build_index(make_settings(index_dir, articles_dir=src), embedder=embedder)
    assert summary.added == 150 and open_snapshot(index_dir).status().articles == 153
    assert sorted(p.name for p in vectors.iterdir()) == ["base-000001", "delta-000002"]


def test_second_build_refuses_while_first_holds_the_lock(tmp_path: Path, embedder) -> None:
    settings = make_settings(tmp_path / "ix", articles_dir=corpus(tmp_path / "src", ARTICLES))
    with (
        IndexDir(settings.index_dir).build_lock(),
        pytest.raises(BuildLockedError, match="another `newsqa index` is already building"),
    ):
        build_index(settings, embedder=embedder)


def test_damaged_current_generation_is_rebuilt(tmp_path: Path, counting) -> None:
    settings = make_settings(tmp_path / "ix", articles_dir=corpus(tmp_path / "src", ARTICLES))
    build_index(settings, embedder=counting)
    current = IndexDir(settings.index_dir).current()
    (current / "docstore.sqlite").write_bytes(b"garbage" * 100)
    summary = build_index(settings, embedder=counting)
    assert summary.full and summary.added == 3
    assert open_snapshot(settings.index_dir).status().articles == 3


def test_settings_change_forces_full_rebuild(tmp_path: Path, counting) -> None:
    src = corpus(tmp_path / "src", ARTICLES)
    build_index(make_settings(tmp_path / "ix", articles_dir=src), embedder=counting)
    summary = build_index(
        make_settings(tmp_path / "ix", articles_dir=src, chunk_max_tokens=64), embedder=counting
    )
    assert summary.full and summary.added == 3


def test_sample_index_is_named_after_the_model(sample_index: Path) -> None:
    snapshot = open_snapshot(sample_index)
    assert snapshot.meta["model"] == "all-MiniLM-L6-v2"
    import chromadb

    client = chromadb.PersistentClient(path=str(snapshot.path / "vectors" / "base-000001"))
    [collection] = client.list_collections()
    assert collection.name == "newsqa-all-minilm-l6-v2"
    assert collection.configuration_json["hnsw"]["space"] == "cosine"
    text = (SAMPLE_DIR / "abu-dhabi-talks.txt").read_text(encoding="utf-8").strip()
    stored = snapshot.articles(["abu-dhabi-talks.txt"])["abu-dhabi-talks.txt"]
    assert stored.text == text
    passages = snapshot.passages(snapshot.lexical.ids)
    assert all(text[p.start : p.end].strip() == text[p.start : p.end] for p in passages.values())


def test_retention_takes_old_articles_out_and_keeps_their_files(
    tmp_path: Path,
    counting: CountingEmbedder,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """NEWSQA_KEEP_DAYS: an article published longer ago leaves the index (its file stays,
    and it comes back when the setting is lifted, though no file changed); undated articles
    are kept."""
    import datetime as dt

    from newsqa.bot.cli import main
    from newsqa.index import articles as articles_module

    monkeypatch.setattr(articles_module, "RACY_NS", 0)  # files as old as a day's

    today = dt.datetime.now(dt.UTC).date()
    old = (today - dt.timedelta(days=40)).isoformat()
    recent = (today - dt.timedelta(days=2)).isoformat()
    src = tmp_path / "src"
    src.mkdir()
    for name, published, text in [
        ("old.json", old, "The old bridge closed for repairs."),
        ("new.json", recent, "The new bridge opened to traffic."),
    ]:
        (src / name).write_text(json.dumps({"text": text, "published": published}))
    (src / "undated.txt").write_text("A bridge with no date.")
    settings = make_settings(tmp_path / "ix", articles_dir=src)
    assert build_index(settings, embedder=counting).added == 3
    kept = make_settings(tmp_path / "ix", articles_dir=src, keep_days=30)
    summary = build_index(kept, embedder=counting)
    assert (summary.deleted, summary.retired, summary.unchanged) == (1, 1, 2)
    snapshot = open_snapshot(settings.index_dir)
    assert set(snapshot.docs.hashes()) == {"new.json", "undated.txt"}
    assert (src / "old.json").is_file()
    again = build_index(kept, embedder=counting)
    assert not again.changed and again.retired == 1  # a no-op stays a no-op
    assert build_index(settings, embedder=counting).added == 1  # lifted: it is back
    assert main(["--index-dir", str(tmp_path / "ix"), "status"]) == 0
    assert "retention:  all (NEWSQA_KEEP_DAYS)" in capsys.readouterr().out


def test_retention_keeps_dated_articles_inside_the_window() -> None:
    import datetime as dt

    from newsqa.index.articles import Article
    from newsqa.index.build import retained

    day = dt.date(2026, 12, 3)
    articles = [
        Article("a", "x", published="2026-11-03"),  # 30 days: kept
        Article("b", "x", published="2026-11-02T23:00:00Z"),  # 31 days: out
        Article("c", "x", published="not a date"),
        Article("d", "x"),
    ]
    assert [a.id for a in retained(articles, 30, today=day)] == ["a", "c", "d"]


def test_a_no_op_reads_no_unchanged_file_and_sees_every_change(
    tmp_path: Path, counting: CountingEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unchanged files are known by their size, times and inode and not read again; an edit
    that keeps the size and puts the modification time back (as `cp -p` or `rsync -t`
    would) is still seen, through the change time."""
    from newsqa.index import articles as articles_module

    monkeypatch.setattr(articles_module, "RACY_NS", 0)  # no window of recent changes
    src = corpus(tmp_path / "src", ARTICLES)
    settings = make_settings(tmp_path / "ix", articles_dir=src)
    build_index(settings, embedder=counting)
    read: list[str] = []
    parse = articles_module._parse_one

    def counted(path: Path, *args, **kwargs):
        read.append(path.name)
        return parse(path, *args, **kwargs)

    monkeypatch.setattr(articles_module, "_parse_one", counted)
    summary = build_index(settings, embedder=counting)
    assert read == [] and not summary.changed and summary.unchanged == 3

    b = src / "b.txt"
    stat = b.stat()
    b.write_text(ARTICLES["b.txt"].replace("300", "700"))  # same size
    os.utime(b, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert b.stat().st_size == stat.st_size and b.stat().st_mtime_ns == stat.st_mtime_ns
    summary = build_index(settings, embedder=counting)
    assert read == ["b.txt"] and summary.updated == 1
    snapshot = open_snapshot(settings.index_dir)
    assert "700 families" in snapshot.articles(["b.txt"])["b.txt"].text


def test_a_reader_follows_updates_in_place(tmp_path: Path, counting: CountingEmbedder) -> None:
    """A long-running reader (the bot's `IndexHandle`) sees each in-place update on its next
    question: the new article by BM25 and by its vector, a deleted one nowhere; a question
    that leased before the update keeps the state it started with."""
    from newsqa.index import IndexHandle

    src = corpus(tmp_path / "src", ARTICLES)
    settings = make_settings(tmp_path / "ix", articles_dir=src)
    build_index(settings, embedder=counting)
    handle = IndexHandle(settings)
    with handle.lease() as before:
        assert before.lexical_search("Geneva summit", 3)[0][0] == "a.txt#0"
        (src / "a.txt").unlink()
        (src / "d.txt").write_text("The Rotterdam harbour strike ended on Friday.")
        build_index(settings, embedder=counting)
        assert before.lexical_search("Geneva summit", 3)[0][0] == "a.txt#0"  # its state
        assert "a.txt" in before.articles(["a.txt"])
    with handle.lease() as after:
        assert after is not before
        assert after.lexical_search("Rotterdam harbour", 3)[0][0] == "d.txt#0"
        assert after.lexical_search("Geneva summit", 3) == []
        dense = after.dense_search(counting.embed_query("Rotterdam harbour strike"), 10)
        assert "d.txt#0" in [pid for pid, _ in dense]
        assert all(not pid.startswith("a.txt") for pid, _ in dense)
        assert after.articles(["a.txt"]) == {}
    handle.close()
