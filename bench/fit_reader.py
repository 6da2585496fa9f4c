"""Refit the feature score's weights and threshold: `python -m bench.fit_reader`.

The feature score shortlists the sentences the trained reader model reads, and decides
alone when the model cannot be loaded (the trained model's thresholds are fitted by
`python -m train.calibrate`, not here).

Indexes the SQuAD 2.0 sample in a temporary folder, scores every candidate sentence of
every question with the reader's features, fits a logistic regression (label: the
sentence contains a gold answer) on the even-numbered questions, picks the support
threshold with the best balanced accuracy on the same half, and reports both halves.
Paste the printed values into `bot/reader/features.py` (Weights) and `newsqa/settings.py`
(abstain_threshold); never tune on the odd half that BENCHMARKS.md reports.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np

from bench.__main__ import SQUAD


def features(index_dir: Path, items: list[dict]) -> list[dict]:
    from newsqa.bot.components import build_answerer
    from newsqa.bot.metrics import present
    from newsqa.bot.reader.features import FEATURES, Weights, score_sentences
    from newsqa.bot.retrieve import retrieve
    from newsqa.settings import load_settings

    settings = load_settings(index_dir=index_dir)
    answerer = build_answerer(settings)
    rows = []
    with answerer.index.lease() as snapshot:
        for item in items:
            question = item["question"]
            vector = answerer.embedder.embed_query(question)
            retrieval = retrieve(
                snapshot, vector, question, settings.top_k, settings.candidates_k
            )
            scored = score_sentences(question, retrieval, snapshot, Weights())
            rows.append(
                {
                    "impossible": item["is_impossible"],
                    "sentences": [
                        (
                            [s.features[f] for f in FEATURES],
                            int(not item["is_impossible"] and present(item["answers"], s.text)),
                        )
                        for s in scored
                    ],
                }
            )
    return rows


def evaluate(rows: list[dict], w: np.ndarray, b: float, threshold: float | None = None) -> dict:
    best = []
    for row in rows:
        scores = [float(np.dot(w, f) + b) for f, _ in row["sentences"]] or [-99.0]
        j = int(np.argmax(scores))
        label = row["sentences"][j][1] if row["sentences"] else 0
        best.append((row["impossible"], scores[j], label))
    answerable = [(s, label) for imp, s, label in best if not imp]
    impossible = [s for imp, s, _ in best if imp]

    def balanced(t: float) -> float:
        return (np.mean([s >= t for s, _ in answerable]) + np.mean([s < t for s in impossible])) / 2

    if threshold is None:
        threshold = max(sorted({s for _, s, _ in best}), key=balanced)
    return {
        "threshold_score": round(threshold, 3),
        "threshold_support": round(1 / (1 + math.exp(-threshold)), 3),
        "balanced_accuracy": round(float(balanced(threshold)), 3),
        "presence": round(float(np.mean([lab and s >= threshold for s, lab in answerable])), 3),
        "top1_sentence": round(float(np.mean([lab for _, lab in answerable])), 3),
    }


def main() -> None:
    from sklearn.linear_model import LogisticRegression

    from newsqa.bot.reader.features import FEATURES
    from newsqa.index import build_index
    from newsqa.settings import load_settings

    items = [json.loads(x) for x in (SQUAD / "questions.jsonl").read_text().splitlines() if x]
    work = Path(tempfile.mkdtemp(prefix="newsqa-fit-"))
    try:
        build_index(load_settings(index_dir=work), [SQUAD / "articles.jsonl"])
        rows = features(work, items)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    train, test = rows[0::2], rows[1::2]
    x = np.array([f for r in train for f, _ in r["sentences"]])
    y = np.array([label for r in train for _, label in r["sentences"]])
    model = LogisticRegression(C=1.0, max_iter=5000).fit(x, y)
    w, b = model.coef_[0], float(model.intercept_[0])
    fitted = evaluate(train, w, b)
    print(
        "weights:",
        {f: round(float(v), 2) for f, v in zip(FEATURES, w, strict=True)},
        "bias:",
        round(b, 2),
    )
    print("even half (fit):    ", fitted)
    print("odd half (held out):", evaluate(test, w, b, fitted["threshold_score"]))


if __name__ == "__main__":
    main()
