"""The support judgment: does this text state this claim?

A second MiniLM-L6 cross-encoder (`train/support.py` trains it, `make train-support`). It
reads a claim and the text cited for it and gives the probability that the text supports
the claim. A claim is either a question with its candidate answer (the reader's) or one
sentence an LLM wrote. Its negatives were made to look like what a reader gets wrong: the
question with one qualifier changed (another year, ordinal, number, name or verb), another
sentence of the same article holding an answer of the right type, another candidate of the
same sentence, and entailment pairs that refute or leave a claim open.

Input layout (shared with the trainer): [CLS] claim [SEP] answer [SEP] evidence [SEP], the
answer segment only when there is one; the evidence is the tail of the sentence before the
cited one, then the cited sentence. Scores do not depend on the batch: the model is
statically quantized (int8 weights per channel, activation ranges fixed at export), so
one batched run judges every candidate.
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

MAX_CLAIM_TOKENS = 48
MAX_ANSWER_TOKENS = 16
MAX_SENTENCE_TOKENS = 96
MAX_EVIDENCE_TOKENS = 128  # the sentence, then as much of the one before as fits

DEFAULT_DIR = Path(__file__).parent.parent / "models" / "support"


class SupportModelError(RuntimeError):
    """The support model's weights are missing or cannot be loaded."""


@dataclass(frozen=True)
class Claim:
    """One judgment to make: `claim` (a question, or an LLM's sentence), the candidate
    `answer` (empty for an LLM sentence), and the evidence: the cited `sentence` with the
    `context` before it."""

    claim: str
    answer: str
    sentence: str
    context: str = ""


def assemble(
    claim: Sequence[int],
    answer: Sequence[int],
    sentence: Sequence[int],
    context: Sequence[int],
    cls: int = 101,
    sep: int = 102,
) -> tuple[list[int], list[int]]:
    """Token ids and segments: [CLS] claim [SEP] (answer [SEP]) context tail sentence [SEP]."""
    c = list(claim[:MAX_CLAIM_TOKENS])
    a = list(answer[:MAX_ANSWER_TOKENS])
    s = list(sentence[:MAX_SENTENCE_TOKENS])
    room = MAX_EVIDENCE_TOKENS - len(s)
    before = list(context[-room:]) if context and room > 0 else []
    first = [cls, *c, sep, *([*a, sep] if a else [])]
    ids = [*first, *before, *s, sep]
    return ids, [0] * len(first) + [1] * (len(ids) - len(first))


class SupportModel:
    """Loads lazily; thread-safe (ONNX Runtime sessions are)."""

    def __init__(self, path: Path = DEFAULT_DIR, threads: int = 0) -> None:
        self.path = Path(path)
        self.threads = threads
        self._lock = threading.Lock()

    @property
    def onnx_file(self) -> Path:
        return self.path / "support.onnx"

    def available(self) -> bool:
        return self.onnx_file.is_file()

    @cached_property
    def thresholds(self) -> dict[str, float]:
        """`relevance` and `support`: the reader's relevance and the support probability a
        confident answer needs, fitted together by `train/calibrate_support.py`; `claim`:
        the support an LLM's sentence needs."""
        path = self.path / "calibration.json"
        if not path.is_file():
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
        return {k: float(data[k]) for k in ("relevance", "support", "claim") if k in data}

    @cached_property
    def _tokenizer(self) -> Any:
        return load_tokenizer(self.path / "tokenizer.json", SupportModelError, "support model")

    @cached_property
    def _session(self) -> Any:
        return open_session(self.onnx_file, self.threads, SupportModelError, "support")

    def load(self) -> None:
        """Open the weights now (a bot warms up before its first question)."""
        with self._lock:
            _ = self._session, self._tokenizer

    def rows(self, claims: Sequence[Claim]) -> list[tuple[list[int], list[int]]]:
        tok = self._tokenizer
        cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")

        def ids(texts: list[str]) -> list[list[int]]:
            return [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]

        cs = ids([c.claim for c in claims])
        ans = ids([c.answer for c in claims])
        ss = ids([c.sentence for c in claims])
        xs = ids([c.context for c in claims])
        return [
            assemble(c, a, s, x, cls, sep) for c, a, s, x in zip(cs, ans, ss, xs, strict=True)
        ]

    def supports(self, claim: str, sources: Sequence[str], threshold: float | None = None) -> bool:
        """Whether some cited source supports an LLM's sentence `claim`: each source is cut
        to its sentences closest to the claim, as the model was trained on."""
        at = self.thresholds.get("claim", 0.5) if threshold is None else threshold
        evidence = [closest_sentences(claim, source) for source in sources]
        return any(p >= at for p in self.judge([Claim(claim, "", e) for e in evidence]))

    def judge(self, claims: Sequence[Claim]) -> list[float]:
        """The probability that each claim's evidence supports it, in one batched run."""
        if not claims:
            return []
        self.load()
        rows = self.rows(claims)
        width = max(len(ids) for ids, _ in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        types = np.zeros_like(ids)
        mask = np.zeros_like(ids)
        for i, (row, seg) in enumerate(rows):
            ids[i, : len(row)] = row
            types[i, : len(row)] = seg
            mask[i, : len(row)] = 1
        feed = {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}
        (logits,) = self._session.run(None, feed)
        return [float(p) for p in 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))]


def closest_sentences(claim: str, text: str, limit: int = 3) -> str:
    """`text` cut to its `limit` sentences sharing the most words with `claim`, in order."""
    from ...index import split_spans

    spans = split_spans(text)
    if len(spans) <= limit:
        return text
    wanted = _words(claim)
    ranked = sorted(range(len(spans)), key=lambda i: -len(wanted & _words(text[slice(*spans[i])])))
    return " ".join(text[slice(*spans[i])] for i in sorted(ranked[:limit]))


def _words(text: str) -> set[str]:
    import re

    return set(re.findall(r"\w+", text.lower()))
