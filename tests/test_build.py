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
    # Only the current generation and the one before it are kept.
    assert len(IndexDir(settings.index_dir).generations()) == 2


def test_an_update_tokenizes_only_the_passages_it_adds(
    tmp_path: Path, counting: CountingEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lexical index is rebuilt from terms stored per passage: adding one article
    tokenizes its passages, not the whole corpus; a deleted article's terms go with it; a
    new tokenizer version redoes them all. The BM25 scores are those of a fresh build."""
    from newsqa.index import build as build_module
    from newsqa.index.docstore import DocStore
    from newsqa.index.generations import DOCSTORE
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
        ids, texts = store_texts(store)
    assert set(stored) == set(ids) and not any(i.startswith("a.txt") for i in stored)
    fresh = Lexical.build(ids, texts)
    for query in ("Rhine bridge", "floods families", "bank rates"):
        assert snapshot.lexical_search(query, 3) == fresh.search(query, 3)
    monkeypatch.setattr(build_module, "TERMS_VERSION", "test-next")
    (src / "e.txt").write_text("Another story.")
    tokenized.clear()
    build_index(settings, embedder=counting)
    assert len(tokenized) == 4  # every passage again, under the new version


def store_texts(store) -> tuple[list[str], list[str]]:
    rows = store.db.execute(
        'SELECT p.id, a.title, substr(a.text, p.start + 1, p."end" - p.start) '
        "FROM passages p JOIN articles a ON a.id = p.article_id ORDER BY p.rowid"
    )
    ids, texts = [], []
    for passage_id, title, text in rows:
        ids.append(passage_id)
        texts.append(f"{title}\n{text}" if title else text)
    return ids, texts


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

    monkeypatch.setattr(index_build.Lexical, "from_terms", explode)
    with pytest.raises(DiskFullError, match="disk full while writing"):
        build_index(settings, embedder=embedder)
    assert IndexDir(settings.index_dir).current() == before
    assert len(IndexDir(settings.index_dir).generations()) == 1  # half-built one removed
    snapshot = open_snapshot(settings.index_dir)
    assert snapshot.status().articles == 3


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
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(IndexDir(index_dir).generations()) < 2:
        time.sleep(0.05)
    time.sleep(1.5)  # inside the build: loading torch or embedding the 150 articles
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    snapshot = open_snapshot(index_dir)
    assert snapshot.status().articles == 3
    summary = build_index(make_settings(index_dir, articles_dir=src), embedder=embedder)
    assert summary.added == 150 and open_snapshot(index_dir).status().articles == 153


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

    client = chromadb.PersistentClient(path=str(snapshot.path / "chroma"))
    [collection] = client.list_collections()
    assert collection.name == "newsqa-all-minilm-l6-v2"
    assert collection.configuration_json["hnsw"]["space"] == "cosine"
    text = (SAMPLE_DIR / "abu-dhabi-talks.txt").read_text(encoding="utf-8").strip()
    stored = snapshot.articles(["abu-dhabi-talks.txt"])["abu-dhabi-talks.txt"]
    assert stored.text == text
    passages = snapshot.passages(snapshot.lexical.ids)
    assert all(text[p.start : p.end].strip() == text[p.start : p.end] for p in passages.values())


def test_retention_takes_old_articles_out_and_keeps_their_files(
    tmp_path: Path, counting: CountingEmbedder, capsys: pytest.CaptureFixture[str]
) -> None:
    """NEWSQA_KEEP_DAYS: an article published longer ago leaves the index (its file stays,
    and it comes back when the setting is lifted); undated articles are kept."""
    import datetime as dt

    from newsqa.bot.cli import main

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
