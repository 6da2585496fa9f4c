"""The trained reader model, run through ONNX Runtime.

A MiniLM-L6 cross-encoder with a span head (`train/reader.py` trains it, `make
train-reader`): it reads a question with one candidate sentence and the tail of the
sentence before it, and gives (1) the probability that the sentence answers the question
and (2) the short answer as a character span of the sentence. Weights, tokenizer, model
card and calibrated thresholds live in `bot/models/reader/`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from .runtime import load_tokenizer, open_session

MAX_QUESTION_TOKENS = 32
MAX_SENTENCE_TOKENS = 64
MAX_CONTEXT_TOKENS = 24
MAX_ANSWER_TOKENS = 24

DEFAULT_DIR = Path(__file__).parent.parent / "models" / "reader"


class ReaderModelError(RuntimeError):
    """The reader's weights are missing or cannot be loaded."""


@dataclass(frozen=True)
class SentenceRead:
    """What the model makes of one candidate sentence."""

    relevance: float  # probability that the sentence answers the question
    span: tuple[int, int] | None  # the short answer, as offsets into the sentence


@dataclass(frozen=True)
class Calibration:
    """The reader's thresholds, fitted by `train/calibrate.py`."""

    answer: float = 0.5  # best sentence's relevance at or above: a confident answer
    also: float = 0.5  # another passage's sentence this relevant is cited too
    # Below `answer`: when some retrieved sentence is at least this similar to the question
    # (cosine of the embeddings), the passages bear on it (unsure), otherwise none.
    topic: float = 0.2
    # With the support model: a judged candidate is confident when its support probability
    # is at least this (and its relevance at least `answer`).
    support: float = 0.5


def assemble(
    question: Sequence[int],
    sentence: Sequence[int],
    offsets: Sequence[tuple[int, int]],
    context: Sequence[int],
    cls: int = 101,
    sep: int = 102,
) -> tuple[list[int], list[int], int, list[tuple[int, int]]]:
    """[CLS] question [SEP] sentence [SEP] context tail [SEP]: ids, segments, where the
    sentence starts, and the kept sentence tokens' character offsets."""
    q = list(question[:MAX_QUESTION_TOKENS])
    s = list(sentence[:MAX_SENTENCE_TOKENS])
    c = list(context[-MAX_CONTEXT_TOKENS:]) if context else []
    ids = [cls, *q, sep, *s, sep, *([*c, sep] if c else [])]
    first = len(q) + 2
    types = [0] * first + [1] * (len(ids) - first)
    return ids, types, first, [tuple(o) for o in offsets[:MAX_SENTENCE_TOKENS]]


class ReaderModel:
    """Loads lazily; thread-safe (ONNX Runtime sessions are)."""

    def __init__(
        self, path: Path = DEFAULT_DIR, onnx_file: Path | None = None, threads: int = 0
    ) -> None:
        self.path = Path(path)
        self.onnx_file = onnx_file or self.path / "reader.onnx"
        self.threads = threads
        self._lock = threading.Lock()

    @cached_property
    def _tokenizer(self) -> Any:
        return load_tokenizer(self.path / "tokenizer.json", ReaderModelError, "reader")

    @cached_property
    def _session(self) -> Any:
        return open_session(self.onnx_file, self.threads, ReaderModelError, "reader")

    @cached_property
    def calibration(self) -> Calibration:
        path = self.path / "calibration.json"
        if not path.is_file():
            return Calibration()
        data = json.loads(path.read_text(encoding="utf-8"))
        return Calibration(**{k: float(data[k]) for k in ("answer", "also", "topic")})

    def load(self) -> None:
        """Open the weights now (a bot warms up before its first question)."""
        with self._lock:
            _ = self._session, self._tokenizer

    def read(
        self, question: str, sentences: Sequence[str], previous: Sequence[str]
    ) -> list[SentenceRead]:
        """Score each sentence (with the sentence before it as context)."""
        if not sentences:
            return []
        self.load()
        tok = self._tokenizer
        cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
        q = tok.encode(question, add_special_tokens=False).ids
        encoded_s = tok.encode_batch(list(sentences), add_special_tokens=False)
        encoded_c = tok.encode_batch(list(previous), add_special_tokens=False)
        rows = [
            assemble(q, s.ids, s.offsets, c.ids, cls, sep)
            for s, c in zip(encoded_s, encoded_c, strict=True)
        ]
        # One row per run: int8 activations are scaled per run, so a batch would make a
        # sentence's score depend on its neighbours (and on their padding); unpadded rows
        # also cost only their own tokens.
        return [self._run(row) for row in rows]

    def _run(self, row: tuple[list[int], list[int], int, list[tuple[int, int]]]) -> SentenceRead:
        ids, types, first, offsets = row
        feed = {
            "input_ids": np.array([ids], dtype=np.int64),
            "token_type_ids": np.array([types], dtype=np.int64),
            "attention_mask": np.ones((1, len(ids)), dtype=np.int64),
        }
        relevance, starts, ends = self._session.run(None, feed)
        probability = 1.0 / (1.0 + np.exp(-float(relevance[0])))
        return SentenceRead(probability, _best_span(starts[0], ends[0], first, offsets))


def _best_span(
    start: np.ndarray, end: np.ndarray, first: int, offsets: list[tuple[int, int]]
) -> tuple[int, int] | None:
    """The highest-scoring start ≤ end pair within the sentence, as character offsets."""
    n = len(offsets)
    if n == 0:
        return None
    s = start[first : first + n]
    e = end[first : first + n]
    scores = s[:, None] + e[None, :]
    i, j = np.indices(scores.shape)
    scores = np.where((j >= i) & (j - i < MAX_ANSWER_TOKENS), scores, -np.inf)
    a, b = np.unravel_index(int(np.argmax(scores)), scores.shape)
    return offsets[a][0], offsets[b][1]
