"""Server mode against a real Chroma server: same answers as embedded, safe re-indexing
while others read, a server killed mid-build, and a server that is down."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from chroma_server import ChromaServer, free_port
from conftest import ROOT, SAMPLE_DIR, SQUAD_DIR, make_settings

from newsqa.bot import cli as bot_cli
from newsqa.bot.cli import main
from newsqa.bot.components import build_answerer
from newsqa.index import StoreUnavailableError, build_index, open_snapshot
from newsqa.index import build as index_build
from newsqa.index.chroma import ChromaTarget
from newsqa.index.generations import IndexDir

GOLD = ROOT / "tests" / "data" / "gold_abu_dhabi.jsonl"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    chroma = ChromaServer(tmp_path_factory.mktemp("chroma")).start()
    try:
        yield chroma
    finally:
        chroma.stop()


def answers(answerer, questions: list[str]) -> list[dict]:
    out = []
    for question in questions:
        answer = answerer.ask(question).model_dump()
        answer.pop("timings_ms")
        for citation in answer["citations"]:
            citation["score"] = round(citation["score"], 3)
        out.append(answer)
    return out


def test_server_mode_gives_the_same_answers_as_embedded(
    server: ChromaServer, sample_index: Path, tmp_path: Path, embedder
) -> None:
    settings = make_settings(tmp_path / "ix", chroma_url=server.url)
    summary = build_index(settings, embedder=embedder)
    assert summary.added == 1
    snapshot = open_snapshot(settings.index_dir, ChromaTarget.from_settings(settings))
    assert not (snapshot.path / "vectors").exists()  # the vectors are in the server
    questions = [json.loads(line)["question"] for line in GOLD.read_text().splitlines()]
    served = answers(build_answerer(settings, embedder=embedder), questions)
    local = answers(build_answerer(make_settings(sample_index), embedder=embedder), questions)
    assert served == local
    # An incremental rerun in server mode: nothing changes, nothing is written.
    again = build_index(settings, embedder=embedder)
    assert not again.changed and again.generation == summary.generation


def test_squad_sample_in_server_mode(server: ChromaServer, tmp_path: Path, embedder) -> None:
    articles = SQUAD_DIR / "articles.jsonl"
    if not articles.is_file():
        pytest.skip("the SQuAD2 sample is not beside this checkout")
    settings = make_settings(tmp_path / "ix", chroma_url=server.url)
    build_index(settings, [articles], embedder=embedder)
    questions = [json.loads(x) for x in (SQUAD_DIR / "questions.jsonl").read_text().splitlines()]
    answerable = [q for q in questions if not q["is_impossible"]][:40]
    answerer = build_answerer(settings, embedder=embedder)
    hits = 0
    for item in answerable:
        _, retrieval = answerer.run(item["question"])
        hits += item["article_id"] in [c.passage.article_id for c in retrieval.candidates]
    assert hits >= 38  # recall@4 ≥ 0.95 on these 40


def test_reindex_while_another_process_asks(server: ChromaServer, tmp_path: Path, embedder) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "sample.txt").write_text((SAMPLE_DIR / "abu-dhabi-talks.txt").read_text())
    settings = make_settings(tmp_path / "ix", chroma_url=server.url, articles_dir=src)
    first = build_index(settings, embedder=embedder).generation
    env = {**os.environ, "NEWSQA_CHROMA_URL": server.url, "NEWSQA_INDEX_DIR": str(tmp_path / "ix")}
    batch = tmp_path / "q.jsonl"
    batch.write_text(
        "\n".join(
            json.dumps({"id": str(i), "question": "Who represented the US?"}) for i in range(60)
        )
    )
    reader = subprocess.Popen(
        [sys.executable, "-m", "newsqa.bot.cli", "ask", "--batch", str(batch)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for round_ in range(3):  # three rebuilds while the reader keeps asking
        (src / f"extra{round_}.txt").write_text(f"Report {round_}: the council met again.")
        build_index(settings, embedder=embedder)
    out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 60
    assert all("Witkoff" in (line.get("short_answer") or "") for line in lines), err
    # Updated in place: one generation; its base, the current delta and the one before it
    # stay on the server, the older deltas are dropped.
    import chromadb

    client = chromadb.HttpClient(host="127.0.0.1", port=server.port)
    names = {c.name for c in client.list_collections()}
    assert [g.name for g in IndexDir(settings.index_dir).generations()] == [first]
    prefix = f"newsqa-all-minilm-l6-v2-{first}-"
    assert {n for n in names if n.startswith(prefix)} == {
        prefix + s for s in ("base-000001", "delta-000003", "delta-000004")
    }


def test_server_killed_mid_build_then_restarted(
    tmp_path: Path, embedder, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    chroma = ChromaServer(tmp_path / "data").start()
    try:
        src = tmp_path / "src"
        src.mkdir()
        (src / "sample.txt").write_text((SAMPLE_DIR / "abu-dhabi-talks.txt").read_text())
        settings = make_settings(tmp_path / "ix", chroma_url=chroma.url, articles_dir=src)
        build_index(settings, embedder=embedder)
        before = IndexDir(settings.index_dir).current()
        (src / "more.jsonl").write_text(
            "\n".join(
                json.dumps({"id": f"n{i}", "text": f"Report {i}. " + "Long text here. " * 30})
                for i in range(300)
            )
        )
        env = {
            **os.environ,
            "NEWSQA_CHROMA_URL": chroma.url,
            "NEWSQA_INDEX_DIR": str(settings.index_dir),
            "NEWSQA_ARTICLES_DIR": str(src),
        }
        build = subprocess.Popen(
            [sys.executable, "-m", "index", "--quiet"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        import chromadb

        client = chromadb.HttpClient(host="127.0.0.1", port=chroma.port)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(  # the update's new delta segment
            c.name.endswith("delta-000002") for c in client.list_collections()
        ):
            time.sleep(0.05)
        time.sleep(1.0)
        chroma.stop()
        _, err = build.communicate(timeout=120)
        assert build.returncode == 1
        assert len(err.strip().splitlines()) == 1 and "cannot reach the Chroma server" in err
        assert IndexDir(settings.index_dir).current() == before
        assert open_snapshot(settings.index_dir, ChromaTarget(chroma.url)).status().articles == 1

        # While the server is down: status says not ready, answers come from BM25 alone.
        monkeypatch.setenv("NEWSQA_CHROMA_URL", chroma.url)
        assert main(["status", "--json", "--index-dir", str(settings.index_dir)]) == 1
        assert json.loads(capsys.readouterr().out)["store_reachable"] is False
        fallback = build_answerer(settings, embedder=embedder).ask("Who represented the US?")
        assert "Witkoff" in fallback.short_answer  # BM25 alone still finds it

        chroma.start()
        answerer = build_answerer(settings, embedder=embedder)
        assert "Witkoff" in answerer.ask("Who represented the US?").short_answer
        summary = build_index(settings, embedder=embedder)
        assert summary.added == 300
        assert open_snapshot(settings.index_dir, ChromaTarget(chroma.url)).status().articles == 301
    finally:
        chroma.stop()


def test_server_down_at_start_is_one_clear_line(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    (tmp_path / "a.txt").write_text("The council met on Tuesday.")
    monkeypatch.setenv("NEWSQA_CHROMA_URL", url)
    code = main(["index", "--source", str(tmp_path / "a.txt"), "--index-dir", str(tmp_path / "ix")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1
    assert f"cannot reach the Chroma server at {url}" in err[0]
    assert not (tmp_path / "ix" / "CURRENT").exists()


def test_dense_failure_is_reported_as_unavailable(server: ChromaServer, tmp_path, embedder):
    chroma = ChromaServer(tmp_path / "data").start()
    settings = make_settings(tmp_path / "ix", chroma_url=chroma.url)
    build_index(settings, embedder=embedder)
    snapshot = open_snapshot(settings.index_dir, ChromaTarget(chroma.url))
    chroma.stop()
    with pytest.raises(StoreUnavailableError, match="cannot reach the Chroma server"):
        snapshot.dense_search(embedder.embed_query("Who?"), 4)


def test_server_vanishes_and_returns_mid_conversation(tmp_path: Path, embedder, caplog) -> None:
    """One answerer, one conversation: the server is killed between two turns and started
    again on the same port and data. Dense search drops out and comes back without a
    restart; the conversation carries on through the outage."""
    chroma = ChromaServer(tmp_path / "data").start()
    try:
        settings = make_settings(tmp_path / "ix", chroma_url=chroma.url)
        build_index(settings, embedder=embedder)
        answerer = build_answerer(settings, embedder=embedder)
        answerer.warm()

        def turn(question: str) -> tuple[str, bool]:
            answer, retrieval = answerer.run(question, "chat-1")
            return answer.short_answer, any(c.dense is not None for c in retrieval.candidates)

        short, dense = turn("Who represented the US?")
        assert "Steve Witkoff" in short and dense
        chroma.stop()
        caplog.clear()
        short, dense = turn("How many detainees were released?")  # during the outage
        assert "4,600" in short and not dense
        assert "cannot reach the Chroma server" in caplog.text
        assert "answering from BM25 alone" in caplog.text
        chroma.start()
        short, dense = turn("When will they meet again?")
        assert short == "February 1" and dense  # dense search is back, same answerer
        assert len(answerer.conversations.history("chat-1")) == 3  # no turn lost
    finally:
        chroma.stop()


def test_server_data_reset_is_refused_then_rebuilt_by_newsqa_index(
    tmp_path: Path, embedder, capsys, caplog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server comes back empty (a new container without its volume): the index folder
    still records every article, the server holds none of them."""
    from newsqa.index.audit import audit

    chroma = ChromaServer(tmp_path / "data").start()
    try:
        index_dir = tmp_path / "ix"
        settings = make_settings(index_dir, chroma_url=chroma.url)
        build_index(settings, embedder=embedder)
        chroma.stop()
        shutil.rmtree(chroma.path)
        chroma.start()
        monkeypatch.setenv("NEWSQA_CHROMA_URL", chroma.url)
        monkeypatch.setattr(bot_cli, "_answerer", lambda s: build_answerer(s, embedder=embedder))
        ask = ["ask", "--index-dir", str(index_dir), "Who represented the US?"]
        assert main(ask) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"the Chroma server at {chroma.url} has no collection" in err[0]
        assert "repair it with `newsqa index`" in err[0]

        monkeypatch.setattr(index_build, "Embedder", lambda *a, **k: embedder)
        rebuild = ["index", "--quiet", "--source", str(SAMPLE_DIR), "--index-dir", str(index_dir)]
        code = main(rebuild)
        assert code == 0 and capsys.readouterr().out.startswith("indexed")
        assert "out of step" in caplog.text
        current = IndexDir(index_dir).current()
        assert current is not None
        assert audit(current, ChromaTarget(chroma.url), "all-minilm-l6-v2") is None
        assert main(ask) == 0 and "Steve Witkoff" in capsys.readouterr().out
    finally:
        chroma.stop()
