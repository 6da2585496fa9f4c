"""The LLM path over a real index of the sample article (real model, real Chroma) and the
fake server: what reaches the user is a verified, cited LLM answer or the extractive one,
and every citation's quote is the article text at its offsets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI

from newsqa.bot.llm.client import build_llm
from newsqa.bot.llm.context import select_passages
from newsqa.bot.llm.generate import LlmResult, llm_answer
from newsqa.bot.reader import ReaderConfig, read
from newsqa.bot.reader.citations import check, resolve
from newsqa.bot.reader.model import ReaderModel
from newsqa.bot.retrieve import Retrieval, retrieve
from newsqa.index import open_snapshot
from newsqa.settings import load_settings

QUESTION = "Who did Russia send to the talks?"


@pytest.fixture()
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture()
def retrieval(sample_index: Path, embedder) -> Retrieval:  # type: ignore[no-untyped-def]
    snapshot = open_snapshot(sample_index)
    return retrieve(snapshot, embedder.embed_query(QUESTION), QUESTION, 4, 20)


def what_the_user_sees(
    result: LlmResult | None, retrieval: Retrieval, sample_index: Path
) -> tuple[str, list[tuple[str, int, int]]]:
    """The chain's rule: the verified LLM answer, else the extractive reader's quotes."""
    if result is not None and result.text:
        return result.text, result.citations
    snapshot = open_snapshot(sample_index)
    model = ReaderModel()
    reading = read(QUESTION, retrieval, snapshot, ReaderConfig(model.calibration, 0.2), model)
    return " ".join(snapshot.articles([q[0]])[q[0]].text[q[1] : q[2]]
                    for q in reading.quotes), reading.quotes


@pytest.mark.parametrize("supported", [True, False])
def test_llm_answer_over_a_real_index(
    server: FakeOpenAI, retrieval: Retrieval, sample_index: Path, supported: bool
) -> None:
    settings = load_settings(env_file=None, llm_base_url=server.base_url, llm_model="fake",
                             llm_timeout_s=2.0, index_dir=sample_index)
    passages = select_passages(retrieval.candidates, 4, 6000)
    n = next(p.n for p in passages if "Kostyukov" in p.text)
    if supported:
        server.script(f"Russia sent military intelligence chief Igor Kostyukov [{n}].")
    else:
        server.script(f"Russia sent General Ivan Petrov with 300 soldiers [{n}].")
    result = llm_answer(build_llm(settings), QUESTION, retrieval, settings)
    assert result is not None and result.unsupported is not supported
    text, quotes = what_the_user_sees(result, retrieval, sample_index)
    assert "Kostyukov" in text and quotes
    articles = open_snapshot(sample_index).articles([q[0] for q in quotes])
    for citation in resolve(quotes, articles, 1.0):
        assert check(citation, articles[citation.article_id].text)
    if supported:
        assert text == "Russia sent military intelligence chief Igor Kostyukov [1]."
        assert "Igor Kostyukov" in articles[quotes[0][0]].text[quotes[0][1] : quotes[0][2]]
