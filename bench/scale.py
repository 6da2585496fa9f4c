"""`python -m bench.scale`: the index's own costs as the corpus grows (issue #21).

For each size in `--passages` (default 10000 100000; the issue asks for 1000000 too, run
it in the background) it generates a deterministic, news-like synthetic corpus (titles,
names, places, organisations, numbers such as "4,600", dates; ~2 passages an article),
writes it as `.jsonl` shards, builds the index with *synthetic* vectors (a seeded unit
vector per passage and per sentence, of the real model's 384 dimensions, so the cost
is the store's, not the model's) and measures:

- the initial build (informational), and the index's size right after it (`index MB`);
- **adding 10 articles** (a second source file) with `build_index`: seconds, and the
  index folder's disk use before, at its peak (sampled every 50 ms by a thread while the
  update runs) and after; `peak/index` is the peak over the size of a freshly built
  index of the same corpus (the issue's target: ≤ the index + the change + 10%);
- a **no-op** `build_index` (nothing changed), in this process, and as a fresh process
  (`no-op cold`: Python start, imports and `build_index`, as a timed `newsqa index`
  would pay; the real `newsqa index` command cannot be used, it would load the real
  model and so rebuild an index made with synthetic vectors);
- **deleting those 10 articles** again (which also leaves the index as built, for
  `--reuse`), seconds and peak disk;
- **warm retrieval p50/p95**, in a fresh process that only opens the index the way the
  bot does (`IndexHandle` leases, `bot.retrieve.retrieve`) and asks ~200 questions made
  from the corpus, after 10 warm-up questions; query vectors are synthetic, so this is the
  store's time (the model's query encoding is measured apart, below);
- **RSS** of that process after retrieving (`RSS index`), then after it has also
  answered `--answers` questions through the bot's whole answering chain
  (`build_answerer`: the real query encoder and reader; `bot RSS`, with its peak,
  VmHWM), with the answer latency p50.

The add / no-op / delete cycle runs `--rounds` times (default 3): their times are the
medians, the disk figures those of the round that took the most disk. With an index that
keeps the previous generation after an update, the first round after a fresh build starts
from one generation and the later ones from two, so the later rounds are the steady state
of a bot that updates again and again.

Under the table: the embedding cost per new passage and per query, measured once with the
real bundled model on 50 passages of the corpus (skip with `--no-embed`).

Each size keeps its corpus and index in `--work DIR` (default: a fresh folder under
/tmp, removed at the end unless `--keep`; a folder given is kept); `--reuse` skips the
initial build when that folder already holds the index (the 1M build takes long). A
big initial build is done in steps of `--build-step` passages (sources added a shard
group at a time) so the build's memory stays bounded; `index MB` is then the folder after
the last step, which counts a previous generation too where the index keeps one.

    python -m bench.scale                                  # 10k and 100k passages
    python -m bench.scale --passages 2000 10000 --json out.json
    nohup python -m bench.scale --passages 1000000 --work /tmp/scale --keep --reuse \\
        --json /tmp/scale-1m.json > /tmp/scale-1m.log 2>&1 &

Only public functions are used: `newsqa.index.build_index` / `BuildSummary`,
`newsqa.settings.load_settings`, `newsqa.index.IndexHandle` (and `Snapshot.warm`),
`newsqa.bot.retrieve.retrieve`, `newsqa.bot.components.build_answerer`, and
`newsqa.index.Embedder` for the embedding cost.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DIM = 384  # all-MiniLM-L6-v2's dimension
CORPUS_VERSION = "1"  # bump when the generator changes: --reuse then regenerates
SHARD_ARTICLES = 20_000  # articles per .jsonl shard
ADD_ARTICLES = 10
WARMUP_QUESTIONS = 10


# -- the synthetic embedder ---------------------------------------------------------


@dataclass(frozen=True)
class SyntheticPassage:
    """What `Embedder.encode_passages` returns for one passage."""

    vector: np.ndarray  # (dim,), unit length
    sentence_vectors: np.ndarray  # (n_sentences, dim), unit length


def _seeded(text: str) -> np.random.Generator:
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return np.random.default_rng(int.from_bytes(digest, "little"))


def _unit(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return (matrix / np.maximum(norms, 1e-12)).astype(np.float32)


class SyntheticEmbedder:
    """Duck-types `newsqa.index.embedding.Embedder` with seeded random unit vectors.

    The vectors cost microseconds, so a build's time is the store's. Tokens are counted
    as words plus a third (about what the real WordPiece tokenizer gives on news text),
    so passages come out about as long as with the real model. Its `name` differs from
    the real model's, so an index built with it is never mistaken for a real one.
    `query_encoder`: another embedder whose `embed_query` is used instead (the real
    model, for the bot's whole answering chain over a synthetic index).
    """

    name = "synthetic-384"

    def __init__(self, dim: int = DIM, max_tokens: int = 256, query_encoder: Any = None) -> None:
        self.dim = dim
        self.max_tokens = max_tokens
        self.batch_size = 32
        self.path = None
        self.query_encoder = query_encoder

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes this class lacks: say which, rather than a bare error.
        raise AttributeError(
            f"SyntheticEmbedder has no {name!r}: the index code now uses more of "
            "Embedder than bench/scale.py duck-types; add it there"
        )

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        counts = [len(text.split()) for text in texts]
        return [n + n // 3 for n in counts]

    def embed_query(self, text: str) -> np.ndarray:
        if self.query_encoder is not None:
            return np.asarray(self.query_encoder.embed_query(text), dtype=np.float32)
        return _unit(_seeded(text).standard_normal(self.dim))

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self.embed_query(text) for text in texts])

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(text).tolist() for text in texts]

    def encode_passages(
        self, texts: Sequence[str], sentence_spans: Sequence[Sequence[tuple[int, int]]]
    ) -> list[SyntheticPassage]:
        out = []
        for text, spans in zip(texts, sentence_spans, strict=True):
            matrix = _unit(_seeded(text).standard_normal((1 + len(spans), self.dim)))
            out.append(SyntheticPassage(matrix[0], matrix[1:]))
        return out


# -- the synthetic corpus -----------------------------------------------------------

_FUNCTION_WORDS = (
    "the of and to in a that for on is was with said by as at from it has have be are "
    "were its after an will their not but been which this who more than also had over "
    "about two new they year would up out one people there into last some other when "
    "first could government all week while three before against most under since"
).split()
_FIRST = (
    "Anna Boris Carla Daniel Elena Farid Grace Hassan Irina James Kateryna Liam Maria "
    "Nadia Oleksii Pavel Quentin Rosa Samir Tamara Umar Vera William Ximena Yusuf Zofia "
    "Ahmed Beatriz Chen Dmitro Emma Fatima Giorgio Hana Ivan Jorge Kenji Lucia Mehmet "
    "Nina Omar Priya Rafael Sofia Tomas Ursula Viktor Wen Yara Zhang"
).split()
_ROLES = (
    "minister spokesperson president chief economist analyst director governor mayor "
    "envoy commander prosecutor chairman secretary ambassador researcher editor"
).split()
_ORG_KINDS = (
    "Ministry Council Agency Bank Institute Party Union Authority Commission Group "
    "Foundation Court Corporation Alliance Federation Service"
).split()
_NOUNS = (
    "detainees residents workers soldiers voters homes flights tonnes barrels vaccines "
    "jobs students patients refugees households companies vehicles drones contracts"
).split()
_VERBS = (
    "announced rejected approved delayed confirmed criticised proposed signed "
    "suspended expanded reported investigated welcomed denied postponed launched"
).split()
_MONTHS = (
    "January February March April May June July August September October November December"
).split()
_OUTLETS = [f"Outlet {chr(65 + i)}" for i in range(20)]
_SYLLABLES = (
    "ka lo mi ne ra tu vo shi an el or ul ber dan fen gor hal jin kor lem mar nor pel "
    "quin ros sal tor vin wel yor zan ti pa re so du ga li me no pu ri sa te vu"
).split()


class NewsGenerator:
    """Deterministic news-like articles: the same seed gives the same stream.

    A Zipf-distributed vocabulary of ~40k pseudo-words (function words at the top)
    gives BM25 realistic postings; names, places and organisations come from ~2k, ~800
    and ~600 distinct values, numbers are written as in the news ("4,600", "1.2
    million", "38%").
    """

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)
        self.numpy = np.random.default_rng(seed)
        vocab_random = random.Random(1_000_003)  # the vocabulary is the same for every seed
        words = {self._pseudo(vocab_random, 2, 4) for _ in range(60_000)}
        content = sorted(words - set(_FUNCTION_WORDS))[:40_000]
        vocab_random.shuffle(content)
        self.vocab = np.array(_FUNCTION_WORDS + content, dtype=object)
        weights = 1.0 / np.arange(1, len(self.vocab) + 1) ** 1.07
        self.cumulative = np.cumsum(weights / weights.sum())
        self.surnames = sorted({self._pseudo(vocab_random, 2, 3).title() for _ in range(2500)})
        self.places = sorted({self._pseudo(vocab_random, 2, 4).title() for _ in range(900)})
        self.org_names = sorted({self._pseudo(vocab_random, 2, 3).title() for _ in range(700)})
        self._buffer: list[str] = []
        self._next = 0

    @staticmethod
    def _pseudo(rng: random.Random, low: int, high: int) -> str:
        return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(low, high)))

    def _words(self, count: int) -> list[str]:
        if self._next + count > len(self._buffer):
            draws = np.searchsorted(self.cumulative, self.numpy.random(200_000))
            draws = np.minimum(draws, len(self.vocab) - 1)
            self._buffer = self._buffer[self._next :] + self.vocab[draws].tolist()
            self._next = 0
        out = self._buffer[self._next : self._next + count]
        self._next += count
        return out

    def _filler(self, low: int = 3, high: int = 8) -> str:
        return " ".join(self._words(self.random.randint(low, high)))

    def person(self) -> str:
        return f"{self.random.choice(_FIRST)} {self.random.choice(self.surnames)}"

    def place(self) -> str:
        return self.random.choice(self.places)

    def org(self) -> str:
        return f"{self.random.choice(self.org_names)} {self.random.choice(_ORG_KINDS)}"

    def number(self) -> str:
        r = self.random
        kind = r.random()
        if kind < 0.4:
            return f"{r.randint(1_000, 99_000):,}"
        if kind < 0.6:
            return f"{r.randint(2, 999)}"
        if kind < 0.8:
            return f"{r.randint(1, 9)}.{r.randint(1, 9)} million"
        return f"{r.randint(1, 99)}%"

    def date(self) -> tuple[str, str]:
        """(as written in the text, ISO) of a date in 2024–2026."""
        r = self.random
        year, month, day = r.randint(2024, 2026), r.randint(1, 12), r.randint(1, 28)
        return f"{_MONTHS[month - 1]} {day}, {year}", f"{year}-{month:02d}-{day:02d}"

    def sentence(self, facts: dict[str, str]) -> str:
        r = self.random
        kind = r.randrange(6)
        if kind == 0:
            person, role = self.person(), r.choice(_ROLES)
            facts.setdefault("person", person)
            return (
                f"{person}, the {role} of the {self.org()}, said {self._filler()} in "
                f"{self.place()} on {self.date()[0]}."
            )
        if kind == 1:
            number, noun = self.number(), r.choice(_NOUNS)
            facts.setdefault("number_noun", noun)
            return (
                f"More than {number} {noun} were {r.choice(_VERBS)} {self._filler()}, "
                f"according to the {self.org()}."
            )
        if kind == 2:
            org = self.org()
            facts.setdefault("org", org)
            return f"The {org} {r.choice(_VERBS)} {self._filler(5, 10)} {self.number()}."
        if kind == 3:
            place = self.place()
            facts.setdefault("place", place)
            return f"In {place}, {self._filler(6, 12)} {r.choice(_NOUNS)} {self._filler(2, 5)}."
        if kind == 4:
            return f"{self._filler(6, 14).capitalize()} {self.number()} {self._filler(2, 6)}."
        person = self.person()
        facts.setdefault("person", person)
        return f'"{self._filler(5, 12).capitalize()}," {person} told reporters.'

    def article(self, article_id: str) -> tuple[dict[str, str], dict[str, str]]:
        """(article object as written to the .jsonl, facts for questions about it)."""
        r = self.random
        facts: dict[str, str] = {}
        paragraphs = []
        for _ in range(r.randint(5, 12)):
            count = 1 if r.random() < 0.7 else 2
            paragraphs.append(" ".join(self.sentence(facts) for _ in range(count)))
        facts.setdefault("word", self._words(1)[0])
        words = [w for w in " ".join(paragraphs).split() if len(w) > 6 and w.isalpha()]
        if words:
            facts["word"] = r.choice(words).lower()
        title_subject = facts.get("person") or facts.get("org") or self.person()
        title = f"{title_subject} {r.choice(_VERBS)} {r.choice(_NOUNS)} in {self.place()}"
        record = {
            "id": article_id,
            "title": title,
            "text": "\n\n".join(paragraphs),
            "published": self.date()[1],
            "source": r.choice(_OUTLETS),
        }
        return record, facts

    def question(self, facts: dict[str, str]) -> str:
        r = self.random
        forms = []
        if "person" in facts:
            forms.append(f"What did {facts['person']} say about {facts['word']}?")
        if "number_noun" in facts:
            forms.append(f"How many {facts['number_noun']} were affected by {facts['word']}?")
        if "org" in facts:
            forms.append(f"When did the {facts['org']} act on {facts['word']}?")
        if "place" in facts:
            forms.append(f"What happened in {facts['place']}?")
        return r.choice(forms) if forms else f"What is known about {facts['word']}?"


def write_articles(path: Path, records: Sequence[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


@dataclass
class Corpus:
    """One size's corpus on disk."""

    folder: Path
    shards: list[Path]  # the base articles
    add: Path  # the 10 articles the update adds
    questions: list[str]
    articles: int

    @property
    def index_dir(self) -> Path:
        return self.folder / "index"


def passages_per_article(seed: int, work: Path, embedder: SyntheticEmbedder) -> float:
    """Passages an article gives on average: 300 articles indexed for real."""
    from newsqa.index import build_index
    from newsqa.settings import load_settings

    folder = Path(tempfile.mkdtemp(prefix="calibrate-", dir=work))
    try:
        generator = NewsGenerator(seed)
        sample = folder / "sample.jsonl"
        write_articles(sample, [generator.article(f"c{i}")[0] for i in range(300)])
        settings = load_settings(index_dir=folder / "index", articles_dir=folder)
        summary = build_index(settings, sources=[sample], embedder=embedder)
        return summary.passages / 300
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def calibrated(seed: int, work: Path, reuse: bool) -> float:
    """`passages_per_article`, kept in `work`: with `--reuse`, a change in the index code
    that splits passages differently does not make the corpora (and the indexes built
    from them) be generated again."""
    saved = work / "calibration.json"
    key = {"version": CORPUS_VERSION, "seed": seed}
    if reuse and saved.is_file():
        stored = json.loads(saved.read_text())
        if {k: stored.get(k) for k in key} == key:
            return float(stored["passages_per_article"])
    ratio = passages_per_article(seed, work, SyntheticEmbedder())
    saved.write_text(json.dumps({**key, "passages_per_article": ratio}))
    return ratio


def make_corpus(folder: Path, target: int, seed: int, ratio: float, questions: int) -> Corpus:
    """Generate (or, when its manifest matches, reuse) the corpus for `target` passages."""
    articles = max(ADD_ARTICLES, math.ceil(target / ratio))
    manifest = folder / "corpus.json"
    wanted = {"version": CORPUS_VERSION, "seed": seed, "articles": articles}
    if manifest.is_file():
        stored = json.loads(manifest.read_text())
        if {k: stored.get(k) for k in wanted} == wanted and len(stored["questions"]) >= questions:
            return Corpus(
                folder,
                [folder / name for name in stored["shards"]],
                folder / stored["add"],
                stored["questions"][:questions],
                articles,
            )
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "articles").mkdir(parents=True)
    (folder / "update").mkdir()
    generator = NewsGenerator(seed)
    asked = set(random.Random(seed + 1).sample(range(articles), min(questions, articles)))
    asked_list: list[str] = []
    shards: list[Path] = []
    batch: list[dict[str, str]] = []
    for number in range(articles):
        record, facts = generator.article(f"a{number:07d}")
        batch.append(record)
        if number in asked:
            asked_list.append(generator.question(facts))
        if len(batch) == SHARD_ARTICLES or number == articles - 1:
            shard = folder / "articles" / f"shard-{len(shards):04d}.jsonl"
            write_articles(shard, batch)
            shards.append(shard)
            batch = []
    while len(asked_list) < questions:  # tiny corpora: ask again about the same facts
        asked_list.append(generator.question(generator.article("q")[1]))
    add = folder / "update" / "add.jsonl"
    update = NewsGenerator(seed + 7)
    write_articles(add, [update.article(f"new{i:03d}")[0] for i in range(ADD_ARTICLES)])
    manifest.write_text(
        json.dumps(
            {
                **wanted,
                "target_passages": target,
                "shards": [str(s.relative_to(folder)) for s in shards],
                "add": str(add.relative_to(folder)),
                "questions": asked_list,
            },
            indent=1,
        )
    )
    return Corpus(folder, shards, add, asked_list, articles)


# -- measuring ----------------------------------------------------------------------


def disk_bytes(path: Path) -> int:
    """Disk used under `path` (allocated blocks; hard links counted once)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    stack = [path]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:  # removed while we looked
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                    continue
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            key = (info.st_dev, info.st_ino)
            if key not in seen:
                seen.add(key)
                total += info.st_blocks * 512
    return total


class DiskSampler:
    """Peak disk use of a folder while a block runs, sampled by a thread."""

    def __init__(self, path: Path, interval: float = 0.05) -> None:
        self.path = path
        self.interval = interval
        self.before = self.peak = self.after = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, disk_bytes(self.path))
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> DiskSampler:
        self.before = self.peak = disk_bytes(self.path)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.after = disk_bytes(self.path)
        self.peak = max(self.peak, self.after)


def mb(value: float) -> float:
    return round(value / 1e6, 1)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100), as `newsqa.bot.metrics.percentile`."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, min(len(ordered), math.ceil(q / 100 * len(ordered)))) - 1]


def memory_mb() -> dict[str, float]:
    """VmRSS and VmHWM (peak) of this process, in MB."""
    out = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = round(int(value.split()[0]) * 1024 / 1e6, 1)
    return out


def settings_for(corpus: Corpus) -> Any:
    from newsqa.settings import load_settings

    return load_settings(index_dir=corpus.index_dir, articles_dir=corpus.folder / "articles")


def timed_build(
    corpus: Corpus, sources: Sequence[Path], embedder: SyntheticEmbedder
) -> tuple[Any, float]:
    """(`BuildSummary`, wall seconds measured here) of `build_index` over `sources`."""
    from newsqa.index import build_index

    began = time.perf_counter()
    summary = build_index(settings_for(corpus), sources=list(sources), embedder=embedder)
    return summary, time.perf_counter() - began


def initial_build(
    corpus: Corpus, embedder: SyntheticEmbedder, step_articles: int, reuse: bool
) -> dict[str, Any]:
    """Build the base index (in steps of `step_articles`), or reuse the one on disk."""
    state_file = corpus.folder / "built.json"
    if reuse and state_file.is_file() and corpus.index_dir.is_dir():
        state = json.loads(state_file.read_text())
        # Back to the base corpus (a run stopped before its deletion step left the 10
        # added articles in); a no-op when it is already there, a full build when the
        # index format changed since.
        summary, wall = timed_build(corpus, corpus.shards, embedder)
        rebuilt = bool(getattr(summary, "full", False) or getattr(summary, "added", 0))
        if rebuilt:
            print(f"  reused index was rebuilt ({wall:.1f} s)", flush=True)
            state = {
                "build_s": wall,
                "passages": summary.passages,
                "index_bytes": disk_bytes(corpus.index_dir),
                "steps": 1,
            }
            state_file.write_text(json.dumps(state))
        return {**state, "reused": not rebuilt}
    shutil.rmtree(corpus.index_dir, ignore_errors=True)
    per_shard = max(1, step_articles // SHARD_ARTICLES)
    steps = [*range(per_shard, len(corpus.shards), per_shard), len(corpus.shards)]
    total = 0.0
    summary = None
    for done in steps:
        summary, wall = timed_build(corpus, corpus.shards[:done], embedder)
        total += wall
        if len(steps) > 1:
            print(
                f"  build step {done}/{len(corpus.shards)} shards: {summary.passages} "
                f"passages, {wall:.1f} s",
                flush=True,
            )
    assert summary is not None
    state = {
        "build_s": total,
        "passages": summary.passages,
        "index_bytes": disk_bytes(corpus.index_dir),
        "steps": len(steps),
    }
    state_file.write_text(json.dumps(state))
    return {**state, "reused": False}


def measured_update(
    corpus: Corpus, sources: Sequence[Path], embedder: SyntheticEmbedder
) -> dict[str, Any]:
    with DiskSampler(corpus.index_dir) as disk:
        summary, wall = timed_build(corpus, sources, embedder)
    return {
        "s": round(wall, 3),
        "added": getattr(summary, "added", None),
        "deleted": getattr(summary, "deleted", None),
        "embedded": getattr(summary, "embedded", None),
        "passages": summary.passages,
        "full": getattr(summary, "full", None),
        "disk_before_mb": mb(disk.before),
        "disk_peak_mb": mb(disk.peak),
        "disk_after_mb": mb(disk.after),
        "disk_samples": disk.samples,
    }


def child(args: list[str], timeout: float = 3600) -> tuple[float, dict[str, Any]]:
    """(wall seconds, JSON it printed last) of `python -m bench.scale ARGS` as a process."""
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bench.scale", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
    )
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"bench.scale {args[0]} failed:\n{done.stderr[-3000:]}")
    return wall, json.loads(done.stdout.strip().splitlines()[-1])


def cold_noop(index_dir: Path, sources: Sequence[Path]) -> dict[str, Any]:
    """Child process: a no-op `build_index` with the imports a fresh process pays."""
    began = time.perf_counter()
    from newsqa.index import build_index
    from newsqa.settings import load_settings

    imported = time.perf_counter() - began
    summary = build_index(
        load_settings(index_dir=index_dir), sources=list(sources), embedder=SyntheticEmbedder()
    )
    return {
        "import_s": imported,
        "build_s": getattr(summary, "seconds", None),
        "changed": getattr(summary, "changed", None),
    }


def serve(index_dir: Path, questions: list[str], answers: int, answer_with_model: bool) -> dict:
    """Child process: what a bot pays to open the index and answer (retrieval, RSS)."""
    from newsqa.bot.retrieve import retrieve
    from newsqa.index import IndexHandle
    from newsqa.settings import load_settings

    settings = load_settings(index_dir=index_dir)
    embedder = SyntheticEmbedder()
    began = time.perf_counter()
    handle = IndexHandle(settings)
    with handle.lease() as snapshot:
        warm = getattr(snapshot, "warm", None)
        if warm is not None:
            warm()
    opened = time.perf_counter() - began
    timings = []
    for number, question in enumerate(questions):
        began = time.perf_counter()
        with handle.lease() as snapshot:
            retrieve(
                snapshot,
                embedder.embed_query(question),
                question,
                settings.top_k,
                settings.candidates_k,
                settings.rrf_k,
            )
        if number >= WARMUP_QUESTIONS:
            timings.append((time.perf_counter() - began) * 1000)
    out: dict[str, Any] = {
        "open_s": opened,
        "questions": len(timings),
        "retrieve_p50_ms": percentile(timings, 50),
        "retrieve_p95_ms": percentile(timings, 95),
        "rss_index_mb": memory_mb()["VmRSS"],
    }
    handle.close()
    if answers:
        from newsqa.bot.components import build_answerer

        query_encoder = None
        if answer_with_model:
            from newsqa.index import Embedder

            query_encoder = Embedder(settings.embedding_model, settings.embed_batch_size)
        answerer = build_answerer(settings, embedder=SyntheticEmbedder(query_encoder=query_encoder))
        answerer.warm()
        latencies = []
        for question in questions[:answers]:
            began = time.perf_counter()
            answerer.run(question)
            latencies.append((time.perf_counter() - began) * 1000)
        memory = memory_mb()
        out |= {
            "answers": len(latencies),
            "answer_p50_ms": percentile(latencies, 50),
            "answer_p95_ms": percentile(latencies, 95),
            "bot_rss_mb": memory["VmRSS"],
            "bot_hwm_mb": memory["VmHWM"],
        }
    return out


def embedding_cost(corpus: Corpus, count: int = 50) -> dict[str, float]:
    """ms per passage and per query with the real bundled model (after a warm-up)."""
    from newsqa.index import Embedder

    try:
        from newsqa.index import split_spans
    except ImportError:  # moved: a sentence per line of the passage is close enough
        split_spans = None
    embedder = Embedder(None)
    texts, spans = [], []
    with corpus.shards[0].open(encoding="utf-8") as source:
        for line in source:
            record = json.loads(line)
            words = record["text"].split(" ")[:96]  # about one 128-token passage core
            text = f"{record['title']}\n" + " ".join(words)
            texts.append(text)
            if split_spans is not None:
                spans.append(split_spans(text))
            else:
                spans.append([(0, len(text))])
            if len(texts) == count:
                break
    embedder.encode_passages(texts[:4], spans[:4])  # load the model
    embedder.embed_query(corpus.questions[0])
    per_passage = per_query = math.inf
    for _ in range(2):  # the better of two rounds: the machine may be shared
        began = time.perf_counter()
        embedder.encode_passages(texts, spans)
        per_passage = min(per_passage, (time.perf_counter() - began) * 1000 / len(texts))
        began = time.perf_counter()
        for question in corpus.questions[:count]:
            embedder.embed_query(question)
        asked = min(count, len(corpus.questions))
        per_query = min(per_query, (time.perf_counter() - began) * 1000 / asked)
    return {
        "model": embedder.name,
        "passages": len(texts),
        "ms_per_passage": round(per_passage, 2),
        "ms_per_query": round(per_query, 2),
    }


def run_size(target: int, work: Path, args: argparse.Namespace, ratio: float) -> dict[str, Any]:
    embedder = SyntheticEmbedder()
    folder = work / f"p{target}"
    began = time.perf_counter()
    corpus = make_corpus(folder, target, args.seed, ratio, args.questions + WARMUP_QUESTIONS)
    generated = time.perf_counter() - began
    print(f"{target} passages: {corpus.articles} articles ({generated:.1f} s)", flush=True)
    built = initial_build(corpus, embedder, int(args.build_step / ratio), args.reuse)
    index_bytes = built["index_bytes"]
    print(
        f"  built: {built['passages']} passages, {mb(index_bytes)} MB, "
        f"{built['build_s']:.1f} s{' (reused)' if built['reused'] else ''}",
        flush=True,
    )
    with_add = [*corpus.shards, corpus.add]
    rounds = []
    cold_wall, cold, served = 0.0, {}, {}
    for number in range(args.rounds):  # add 10, no-op, delete them: back to the base corpus
        add = measured_update(corpus, with_add, embedder)
        print(f"  add {ADD_ARTICLES}: {add['s']:.2f} s, peak {add['disk_peak_mb']} MB", flush=True)
        noop, noop_s = timed_build(corpus, with_add, embedder)
        print(f"  no-op: {noop_s:.2f} s", flush=True)
        if number == 0:
            cold_wall, cold = child(["_noop", str(corpus.index_dir), *map(str, with_add)])
            print(f"  no-op cold: {cold_wall:.2f} s", flush=True)
            served = serve_in_child(corpus, args)
        delete = measured_update(corpus, corpus.shards, embedder)
        print(f"  delete {ADD_ARTICLES}: {delete['s']:.2f} s", flush=True)
        rounds.append(
            {
                "add": add,
                "noop_s": round(noop_s, 3),
                "noop_changed": getattr(noop, "changed", None),
                "delete": delete,
            }
        )
    worst = max(rounds, key=lambda r: r["add"]["disk_peak_mb"])["add"]
    return {
        "target_passages": target,
        "passages": built["passages"],
        "articles": corpus.articles,
        "generate_s": round(generated, 1),
        "build_s": round(built["build_s"], 1),
        "build_steps": built["steps"],
        "reused": built["reused"],
        "index_mb": mb(index_bytes),
        "add_s": round(statistics.median(r["add"]["s"] for r in rounds), 3),
        "add_disk": worst,  # the round whose update took the most disk
        "peak_over_index": round(worst["disk_peak_mb"] / max(mb(index_bytes), 0.1), 2),
        "noop_s": round(statistics.median(r["noop_s"] for r in rounds), 3),
        "noop_cold_s": round(cold_wall, 2),
        "noop_cold": cold,
        "delete_s": round(statistics.median(r["delete"]["s"] for r in rounds), 3),
        "serve": served,
        "rounds": rounds,
        "corpus": str(folder),
    }


def serve_in_child(corpus: Corpus, args: argparse.Namespace) -> dict[str, Any]:
    """Retrieval timings and RSS from a fresh process (see `serve`)."""
    questions = corpus.folder / "questions.json"
    questions.write_text(json.dumps(corpus.questions))
    mode = "model" if args.embed else "synthetic"
    _, served = child(["_serve", str(corpus.index_dir), str(questions), str(args.answers), mode])
    print(
        f"  retrieve p50/p95: {served['retrieve_p50_ms']:.1f}/{served['retrieve_p95_ms']:.1f} ms, "
        f"RSS {served['rss_index_mb']} MB",
        flush=True,
    )
    return served


# -- report -------------------------------------------------------------------------

COLUMNS = [
    ("passages", lambda r: f"{r['passages']:,}"),
    ("build s", lambda r: f"{r['build_s']:.0f}" + (" (reused)" if r["reused"] else "")),
    ("index MB", lambda r: f"{r['index_mb']:,.0f}"),
    ("add 10 s", lambda r: f"{r['add_s']:.2f}"),
    ("disk before / peak / after MB", lambda r: _disk(r["add_disk"])),
    ("peak/index", lambda r: f"{r['peak_over_index']:.2f}×"),
    ("no-op s", lambda r: f"{r['noop_s']:.2f}"),
    ("no-op cold s", lambda r: f"{r['noop_cold_s']:.2f}"),
    ("delete 10 s", lambda r: f"{r['delete_s']:.2f}"),
    ("retrieve p50 / p95 ms", lambda r: _pair(r["serve"], "retrieve")),
    ("RSS index MB", lambda r: f"{r['serve']['rss_index_mb']:,.0f}"),
    ("bot RSS / peak MB", lambda r: _bot_rss(r["serve"])),
    ("answer p50 ms", lambda r: _answer(r["serve"])),
]


def _disk(update: dict[str, Any]) -> str:
    return (
        f"{update['disk_before_mb']:,.0f} / {update['disk_peak_mb']:,.0f} / "
        f"{update['disk_after_mb']:,.0f}"
    )


def _pair(served: dict[str, Any], what: str) -> str:
    return f"{served[f'{what}_p50_ms']:.1f} / {served[f'{what}_p95_ms']:.1f}"


def _bot_rss(served: dict[str, Any]) -> str:
    if "bot_rss_mb" not in served:
        return "–"
    return f"{served['bot_rss_mb']:,.0f} / {served['bot_hwm_mb']:,.0f}"


def _answer(served: dict[str, Any]) -> str:
    return f"{served['answer_p50_ms']:.0f}" if "answer_p50_ms" in served else "–"


def table(rows: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| " + " | ".join(name for name, _ in COLUMNS) + " |",
        "|" + "|".join("---:" for _ in COLUMNS) + "|",
    ]
    lines += ["| " + " | ".join(cell(row) for _, cell in COLUMNS) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    def git(*argv: str) -> str:
        with contextlib.suppress(Exception):
            return subprocess.run(
                ["git", *argv], cwd=ROOT, capture_output=True, text=True, timeout=10
            ).stdout.strip()
        return ""

    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load": os.getloadavg(),
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--", "index", "bot", "newsqa")),
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


# -- entry points -------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--passages",
        type=int,
        nargs="+",
        default=[10_000, 100_000],
        help="corpus sizes, in passages (default: 10000 100000)",
    )
    parser.add_argument("--work", type=Path, help="folder for corpora and indexes")
    parser.add_argument("--keep", action="store_true", help="keep --work (default: removed)")
    parser.add_argument(
        "--reuse", action="store_true", help="reuse corpora and indexes found in --work"
    )
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument("--seed", type=int, default=21, help="of the synthetic corpus")
    parser.add_argument("--questions", type=int, default=200, help="retrieval questions")
    parser.add_argument(
        "--answers", type=int, default=50, help="questions through the whole chain (0: none)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="add/no-op/delete rounds; times are their medians, disk the worst round",
    )
    parser.add_argument(
        "--build-step", type=int, default=250_000, help="passages per initial build step"
    )
    parser.add_argument(
        "--no-embed",
        dest="embed",
        action="store_false",
        help="skip the real model (embedding cost; the chain then encodes queries synthetically)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    # Warnings only, also from libraries that set their own loggers to DEBUG (bm25s).
    handler = logging.StreamHandler()
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    if argv and argv[0] == "_noop":
        print(json.dumps(cold_noop(Path(argv[1]), [Path(a) for a in argv[2:]])))
        return 0
    if argv and argv[0] == "_serve":
        questions = json.loads(Path(argv[2]).read_text())
        print(json.dumps(serve(Path(argv[1]), questions, int(argv[3]), argv[4] == "model")))
        return 0
    args = parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="newsqa-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"machine": machine(), "sizes": []}
    try:
        ratio = calibrated(args.seed, work, args.reuse)
        report["passages_per_article"] = round(ratio, 3)
        print(f"{ratio:.2f} passages an article; work in {work}", flush=True)
        for target in args.passages:
            report["sizes"].append(run_size(target, work, args, ratio))
            if args.json:  # after each size: a long run keeps what it measured
                args.json.write_text(json.dumps(report, indent=1))
        if args.embed:
            folder = work / f"p{args.passages[0]}"
            corpus = make_corpus(
                folder, args.passages[0], args.seed, ratio, args.questions + WARMUP_QUESTIONS
            )
            report["embedding"] = embedding_cost(corpus)
        report["machine"]["load_end"] = os.getloadavg()
    finally:
        if args.json:
            args.json.write_text(json.dumps(report, indent=1))
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(table(report["sizes"]))
    print()
    embedding = report.get("embedding")
    if embedding:
        print(
            f"Embedding, measured apart ({embedding['model']}, {embedding['passages']} "
            f"passages of the corpus): {embedding['ms_per_passage']:.1f} ms per new passage, "
            f"{embedding['ms_per_query']:.1f} ms per query."
        )
    m = report["machine"]
    print(
        f"{m['cores']} cores, Python {m['python']}, commit {m['commit'] or 'unknown'}"
        f"{' + local changes' if m['dirty'] else ''}, {m['when']}; load "
        f"{m['load'][0]:.1f} at the start, {m.get('load_end', m['load'])[0]:.1f} at the end. "
        f"Synthetic vectors ({report.get('passages_per_article')} passages an article)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
