"""Answer-quality metrics, as pure functions over gold and predicted answers.

Normalization and F1 follow the official SQuAD 2.0 evaluation script's definitions
(lower-case, punctuation and English articles removed, whitespace collapsed).
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

_PUNCT = set(string.punctuation) | set("“”‘’—–…")


def normalize(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def f1(prediction: str, gold: str) -> float:
    pred, ref = normalize(prediction).split(), normalize(gold).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def best_f1(prediction: str, golds: Sequence[str]) -> float:
    return max((f1(prediction, g) for g in golds), default=0.0)


def present(golds: Sequence[str], *texts: str) -> bool:
    """A gold answer appears, normalized, in any of `texts`."""
    haystacks = [f" {normalize(t)} " for t in texts if t]
    return any(f" {normalize(g)} " in h for g in golds if normalize(g) for h in haystacks)


@dataclass(frozen=True)
class Abstention:
    tp: int  # abstained on an unanswerable question
    fp: int  # abstained on an answerable one
    fn: int  # answered an unanswerable one
    tn: int  # answered an answerable one

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def balanced_accuracy(self) -> float | None:
        """Mean of: share of unanswerable abstained on, share of answerable answered."""
        parts = []
        if self.tp + self.fn:
            parts.append(self.tp / (self.tp + self.fn))
        if self.tn + self.fp:
            parts.append(self.tn / (self.tn + self.fp))
        return sum(parts) / len(parts) if parts else None


def abstention(pairs: Sequence[tuple[bool, bool]]) -> Abstention:
    """From (is_impossible, abstained) pairs."""
    count = Counter(pairs)
    return Abstention(
        tp=count[(True, True)],
        fp=count[(False, True)],
        fn=count[(True, False)],
        tn=count[(False, False)],
    )


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]
