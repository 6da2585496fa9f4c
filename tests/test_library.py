"""newsqa as a LangChain library: `newsqa.retriever` (a `BaseRetriever` whose Documents are
the index's passages, verbatim, with their article and scores), `newsqa.answerer` (the
verified answerer as a typed Runnable with invoke, batch, stream and named steps), the
README's "Use newsqa inside your own LangChain app" run as written, and an import of
`newsqa` that loads nothing."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLE_DIR, SAMPLE_ID, make_settings
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.retrievers import BaseRetriever

import newsqa
from newsqa.bot.answer import Answer
from newsqa.bot.components import build_answerer
from newsqa.bot.question import QuestionError

pytestmark = pytest.mark.timeout(300)

TREE = os.environ.get("NEWSQA_TREE")  # read before conftest clears NEWSQA_* for each test
README = (ROOT / "README.md").read_text(encoding="utf-8")
SAMPLE = (SAMPLE_DIR / SAMPLE_ID).read_text(encoding="utf-8").strip()
KOSTYUKOV = "Russia sent military intelligence chief Igor Kostyukov."
TRAM = """---
id: harbour-tram
title: Port Elwen council approves harbour tram line
url: https://courier.example/harbour-tram
published: 2025-11-04
source: Elwen Courier
---
PORT ELWEN: The city council of Port Elwen on Monday approved a new tram line linking the
harbour district with the central railway station. Councillors voted 27 to 12 in favour.
The line will run for 9.4 kilometres and serve 14 stops. Its cost is estimated at 312
million euros.
"""


def _same(a: Answer, b: Answer) -> bool:
    """The same answer, whatever the time each took."""
    return a.model_dump(exclude={"timings_ms"}) == b.model_dump(exclude={"timings_ms"})


# -- the retriever ---------------------------------------------------------------------------
def test_retriever_documents_are_the_passages_with_offsets_and_scores(
    sample_index: Path, embedder
) -> None:
    retriever = newsqa.retriever(make_settings(sample_index), embedder=embedder)
    assert isinstance(retriever, BaseRetriever)
    docs = retriever.invoke("Who did Russia send to the talks?")
    assert len(docs) == 4  # the top_k setting
    for rank, doc in enumerate(docs):
        meta = doc.metadata
        assert meta["article_id"] == SAMPLE_ID and meta["rank"] == rank
        assert SAMPLE[meta["start"] : meta["end"]] == doc.page_content
        assert doc.id == meta["passage_id"] and meta["passage_id"].startswith(SAMPLE_ID)
        assert isinstance(meta["score"], float) and meta["score"] > 0
    assert [d.metadata["score"] for d in docs] == sorted(
        (d.metadata["score"] for d in docs), reverse=True
    )
    assert any(KOSTYUKOV in d.page_content for d in docs[:2])
    best = docs[0].metadata
    assert best["dense_score"] is not None and best["lexical_score"] is not None
    # The same passages and scores as the chain's own retrieval of the same question.
    own = retriever.search("Who did Russia send to the talks?").candidates
    assert [(c.passage.id, c.fused, c.dense, c.lexical) for c in own] == [
        (d.id, d.metadata["score"], d.metadata["dense_score"], d.metadata["lexical_score"])
        for d in docs
    ]
    two = newsqa.retriever(make_settings(sample_index), embedder=embedder, k=2)
    assert [d.id for d in two.invoke("Who did Russia send to the talks?")] == [
        d.id for d in docs[:2]
    ]


def test_retriever_carries_title_url_date_and_source(tmp_path: Path, embedder) -> None:
    from newsqa.index import build_index

    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "harbour-tram.md").write_text(TRAM, encoding="utf-8")
    (folder / SAMPLE_ID).write_text(SAMPLE, encoding="utf-8")
    settings = make_settings(tmp_path / "index", articles_dir=folder)
    build_index(settings, embedder=embedder)
    docs = newsqa.retriever(settings, embedder=embedder).invoke("How long is the tram line?")
    tram = [d for d in docs if d.metadata["article_id"] == "harbour-tram"]
    assert tram and docs[0] in tram
    meta = tram[0].metadata
    assert meta["title"] == "Port Elwen council approves harbour tram line"
    assert meta["url"] == "https://courier.example/harbour-tram"
    assert meta["published"].startswith("2025-11-04") and meta["source"] == "Elwen Courier"
    assert "9.4 kilometres" in tram[0].page_content


def test_retriever_async_gives_what_sync_gives(sample_index: Path, embedder) -> None:
    retriever = newsqa.retriever(make_settings(sample_index), embedder=embedder)
    question = "How many detainees were released?"
    sync = retriever.invoke(question)
    together = asyncio.run(_gather(retriever, question))
    assert [d.id for d in together[0]] == [d.id for d in sync] == [d.id for d in together[1]]
    assert together[0][0].metadata == sync[0].metadata
    assert any("4,600" in d.page_content for d in sync)


async def _gather(retriever: BaseRetriever, question: str) -> list:
    return list(await asyncio.gather(retriever.ainvoke(question), retriever.ainvoke(question)))


# -- the answerer ----------------------------------------------------------------------------
QUESTIONS = ["Who did Russia send?", "How many detainees were released?", "Who won the match?"]


def test_answerer_invoke_batch_and_stream_give_the_chain_s_answers(
    sample_index: Path, embedder
) -> None:
    settings = make_settings(sample_index)
    runnable = newsqa.answerer(settings, embedder=embedder)
    assert runnable.input_schema.model_json_schema()["required"] == ["question"]
    assert runnable.get_output_jsonschema()["title"] == "Answer"
    plain = build_answerer(settings, embedder=embedder)
    expected = [plain.ask(q) for q in QUESTIONS]
    assert expected[0].short_answer == "Igor Kostyukov" and expected[2].outcome == "none"
    invoked = [runnable.invoke(q) for q in QUESTIONS]
    batched = runnable.batch([{"question": q} for q in QUESTIONS], {"max_concurrency": 3})
    streamed = list(runnable.stream(newsqa.Question(question=QUESTIONS[0], id="q1")))
    assert all(_same(a, b) for a, b in zip(invoked, expected, strict=True))
    assert all(_same(a, b) for a, b in zip(batched, expected, strict=True))
    assert len(streamed) == 1 and isinstance(streamed[0], Answer)
    assert streamed[0].id == "q1" and streamed[0].short_answer == "Igor Kostyukov"
    assert set(invoked[0].timings_ms) >= {"retrieve", "read", "total"}
    assert _same(asyncio.run(runnable.ainvoke(QUESTIONS[1])), expected[1])


def test_answerer_follows_a_conversation_and_refuses_an_empty_question(
    sample_index: Path, embedder
) -> None:
    runnable = newsqa.answerer(make_settings(sample_index), embedder=embedder)
    first = runnable.invoke({"question": "Who did Russia send?", "conversation": "c"})
    second = runnable.invoke({"question": "What is his job?", "conversation": "c"})
    alone = runnable.invoke({"question": "What is his job?", "conversation": "other"})
    assert first.short_answer == "Igor Kostyukov"
    assert second.standalone_question == "What is Igor Kostyukov's job?"
    assert alone.standalone_question != second.standalone_question
    with pytest.raises(QuestionError):
        runnable.invoke("   ")
    results = runnable.batch(["\u200b", QUESTIONS[0]], return_exceptions=True)
    assert isinstance(results[0], QuestionError) and results[1].short_answer == "Igor Kostyukov"


def test_answerer_steps_are_named_and_pass_typed_values(sample_index: Path, embedder) -> None:
    from newsqa.bot.chain import Generated, Prepared, Read, Request, Retrieved

    runnable = newsqa.answerer(make_settings(sample_index), embedder=embedder)
    events = asyncio.run(_events(runnable, "Who did Russia send?"))
    ends = [(e["name"], e["data"]) for e in events if e["event"] == "on_chain_end"]
    names = [name for name, _ in ends]
    assert names == ["standalone", "retrieve", "read", "llm", "answer", "newsqa"]
    kinds = [Prepared, Retrieved, Read, Generated, Answer, Answer]
    assert all(isinstance(d["output"], k) for (_, d), k in zip(ends, kinds, strict=True))
    # Each step's input is the step before's output, a new value of its own type.
    assert isinstance(ends[0][1]["input"], Request)
    for (_, before), (_, after) in itertools.pairwise(ends[:5]):
        assert after["input"] is before["output"]
    retrieved, read = ends[1][1]["output"], ends[2][1]["output"]
    assert read.retrieved is retrieved and "read" not in retrieved.timings
    assert any(KOSTYUKOV in c.text for c in retrieved.retrieval.candidates)
    assert read.reading.outcome == "answer" and ends[3][1]["output"].llm is None
    assert ends[-1][1]["output"].short_answer == "Igor Kostyukov"


async def _events(runnable, question: str) -> list[dict]:
    return [e async for e in runnable.astream_events(question, version="v2")]


def test_ask_keeps_its_steps_out_of_the_caller_s_way(sample_index: Path, embedder) -> None:
    """`ask` (the CLI, REPL, Telegram) runs the same named steps, with no run around them."""
    answerer = build_answerer(make_settings(sample_index), embedder=embedder)
    assert [s.get_name() for s in answerer.named_steps] == [
        "standalone",
        "retrieve",
        "read",
        "llm",
        "answer",
    ]
    answer, retrieval = answerer.run("Who did Russia send?")
    cited = answer.citations[0]
    assert any(c.passage.start <= cited.start < c.passage.end for c in retrieval.candidates)


# -- the README ------------------------------------------------------------------------------
class _Prompts(BaseCallbackHandler):
    def __init__(self) -> None:
        self.seen: list[str] = []

    def on_chat_model_start(self, serialized, messages, **kwargs) -> None:
        self.seen += [m.content for batch in messages for m in batch]


def test_readme_langchain_example_runs_as_written(
    sample_index: Path, embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """The section's code blocks, executed in a folder whose `data/index` is the sample
    index: the user's own chain gets newsqa's passages into its prompt, and the answerer
    example answers and follows up. (The model is the session's, to save loading it.)"""
    from newsqa.bot import components

    head = "## Use newsqa inside your own LangChain app"
    assert head in README
    section = README.split(head, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 2
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "index").symlink_to(sample_index, target_is_directory=True)
    monkeypatch.setattr(components, "Embedder", lambda *args, **kwargs: embedder)
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    assert capsys.readouterr().out == "Igor Kostyukov.\n"
    prompts = _Prompts()
    chain = namespace["chain"]
    assert chain.invoke("Who did Russia send to the talks?", {"callbacks": [prompts]})
    system = prompts.seen[0]
    assert system.startswith("Answer from these news passages only:")
    assert KOSTYUKOV in system and f"[{SAMPLE_ID}, undated]" in system
    exec(compile(blocks[1], "README.md", "exec"), namespace)
    assert capsys.readouterr().out == "Igor Kostyukov | What is Igor Kostyukov's job?\n"


# -- import ----------------------------------------------------------------------------------
def test_importing_newsqa_loads_neither_langchain_nor_the_index() -> None:
    env = {**os.environ, **({"NEWSQA_TREE": TREE} if TREE else {})}
    probe = (
        "import sys, newsqa; "
        "print(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('langchain_core', 'chromadb', 'torch') "
        "or m.startswith('newsqa.')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
