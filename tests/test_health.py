"""`newsqa health` for load balancers: exit 0 and one `ok:` line while the index and its
vector store answer; one `newsqa: error:` line and a non-zero exit when the index is
missing or damaged, or the Chroma server it was built for is down, and 0 again once the
server is back."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from chroma_server import ChromaServer
from conftest import make_settings

from newsqa.bot.cli import main
from newsqa.index import build_index
from newsqa.index.generations import IndexDir

pytestmark = pytest.mark.timeout(180)


def _health(index: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["health", "--index-dir", str(index)])
    out, err = capsys.readouterr()
    return code, out, err


def _one_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("newsqa: error: "), err
    return lines[0]


def test_health_of_a_working_index_is_ok(sample_index: Path, capsys) -> None:
    code, out, err = _health(sample_index, capsys)
    assert code == 0 and err == ""
    assert out.startswith(f"ok: index {sample_index} (") and "1 articles" in out
    assert out.rstrip().endswith("store embedded") and out.count("\n") == 1


def test_health_without_an_index_says_so(tmp_path: Path, capsys) -> None:
    code, out, err = _health(tmp_path / "nothing-here", capsys)
    assert code == 2 and out == ""
    assert "nothing-here" in _one_error(err)


def test_health_of_a_damaged_index_fails(sample_copy: Path, capsys) -> None:
    generation = IndexDir(sample_copy).current()
    assert generation is not None
    shutil.rmtree(generation / "lexical")  # the part a question needs besides Chroma
    code, out, err = _health(sample_copy, capsys)
    assert code == 1 and out == ""
    assert "lexical index" in _one_error(err)
    shutil.rmtree(generation / "vectors")
    code, out, err = _health(sample_copy, capsys)
    assert code == 1 and out == ""
    _one_error(err)


def test_health_follows_the_chroma_server(
    tmp_path: Path, embedder, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    chroma = ChromaServer(tmp_path / "chroma").start()
    try:
        settings = make_settings(tmp_path / "index", chroma_url=chroma.url)
        build_index(settings, embedder=embedder)
        monkeypatch.setenv("NEWSQA_CHROMA_URL", chroma.url)
        code, out, err = _health(settings.index_dir, capsys)
        assert code == 0 and out.rstrip().endswith(f"store {chroma.url}"), err
        chroma.stop()
        code, out, err = _health(settings.index_dir, capsys)
        assert code == 1 and out == ""
        assert "Chroma server" in _one_error(err)
        chroma.start()
        code, out, err = _health(settings.index_dir, capsys)
        assert code == 0 and out.startswith("ok: "), err
    finally:
        chroma.stop()
