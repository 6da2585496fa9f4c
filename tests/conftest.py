"""Shared fixtures: a real index of the sample article (real model, real Chroma), and
a guard that fails any test reaching beyond the loopback interface."""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

# `make test` is deterministic: the same examples every run, so CI cannot turn red by
# chance. Explore with new random examples: HYPOTHESIS_PROFILE=explore make test.
hypothesis_settings.register_profile("repeatable", derandomize=True, database=None)
hypothesis_settings.register_profile("explore", derandomize=False)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIR = ROOT / "data" / "articles"
SAMPLE_ID = "abu-dhabi-talks.txt"
SQUAD_DIR = ROOT.parent / "shared" / "data" / "squad2"


def _loopback(address: object) -> bool:
    if isinstance(address, tuple) and address:
        host = address[0]
        if host in ("localhost", ""):
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False
    return True  # unix sockets


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never touch the internet: any non-loopback connection fails the test."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guard(address: object) -> None:
        if not _loopback(address):
            raise AssertionError(f"test tried to reach the network: {address!r}")

    def connect(self: socket.socket, address: object) -> None:
        guard(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: object) -> int:
        guard(address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)


@pytest.fixture(scope="session")
def embedder():
    from newsqa.index import Embedder

    return Embedder()


def make_settings(index_dir: Path, **overrides: object):
    from newsqa.settings import load_settings

    return load_settings(
        env_file=None, index_dir=index_dir, **{"articles_dir": SAMPLE_DIR, **overrides}
    )


def answerer_over(root: Path, embedder, articles: dict[str, str]):
    """An answerer over a real index (bundled model, embedded Chroma) of `articles`
    (file name -> text) written into `root`."""
    from newsqa.bot.components import build_answerer
    from newsqa.index import build_index

    folder = root / "articles"
    folder.mkdir()
    for name, text in articles.items():
        (folder / name).write_text(text, encoding="utf-8")
    settings = make_settings(root / "index", articles_dir=folder)
    build_index(settings, embedder=embedder)
    return build_answerer(settings, embedder=embedder)


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory: pytest.TempPathFactory, embedder) -> Path:
    """The sample article, indexed once per session with the real model and Chroma."""
    from newsqa.index import build_index

    index_dir = tmp_path_factory.mktemp("sample") / "index"
    build_index(make_settings(index_dir), embedder=embedder)
    return index_dir


@pytest.fixture()
def sample_copy(sample_index: Path, tmp_path: Path) -> Path:
    """A private copy of the sample index that a test may damage."""
    target = tmp_path / "index"
    shutil.copytree(sample_index, target)
    return target


@pytest.fixture(scope="session")
def answerer(sample_index: Path, embedder):
    from newsqa.bot.components import build_answerer

    return build_answerer(make_settings(sample_index), embedder=embedder)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer `.env` or NEWSQA_* variable leaks into a test."""
    for name in list(os.environ):
        if name.startswith("NEWSQA_") or name == "TELEGRAM_BOT_TOKEN":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory):
    """A real PostgreSQL server (the Debian package's binaries, which `make test`
    installs), started once per session on 127.0.0.1."""
    from postgres_server import PostgresServer, postgres_bin

    if postgres_bin() is None:
        pytest.skip("PostgreSQL's server binaries are not installed (make test installs them)")
    server = PostgresServer(tmp_path_factory.mktemp("postgres")).start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty shared-state database: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.sqlite'}"
    return request.getfixturevalue("postgres").new_database()
