"""Fit the reader's `answer` / `unsure` thresholds: `python -m train.calibrate`.

On the questions of the held-out training paragraphs (never SQuAD2), three cases, each
read by the shipped int8 model over the sentences that retrieval would hand it:

- answerable: the question with its own paragraph and BM25's best other paragraphs;
- off-topic: the same question with its own paragraph removed (nothing covers it);
- on-topic but unanswerable: the question with one name or number swapped for another
  from its paragraph, read over its own paragraph (SQuAD 2.0's kind of trap).

`answer` is the highest threshold on the best sentence's relevance that still answers 85%
of the answerable questions (the balanced accuracy against swapped questions is flat
between 0.55 and 0.6 over a wide range, so maximizing it only picks noise); the figures
at that point are reported. `topic` is the embedding cosine between a question and its
closest sentence (the bundled MiniLM; sentence vectors pooled from the paragraph's own pass,
as the index makes them) below which only 1% of the answerable questions of
the encyclopedic domain (`new_wiki`, the nearest to news) fall; a random paragraph of
another article stands for an article that does not cover the question. Below `topic`
the passages are taken not to bear on the question (`none`).
Writes `bot/models/reader/calibration.json` with the figures.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np

from newsqa.bot.reader.model import DEFAULT_DIR, ReaderModel
from newsqa.index.sentences import split_spans
from train.reader import DATA, _held_out, _load

_SWAPPABLE = re.compile(r"\b(?:\d[\d,.]*|[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*)\b")


def held_out_items() -> tuple[list[dict], dict[str, str]]:
    paragraphs = {p["id"]: p["text"] for p in _load(DATA / "articles.jsonl") if _held_out(p["id"])}
    return [
        {"question": q["question"], "paragraph": q["article_id"], "domain": q["domain"],
         "answers": [a["text"] for a in q["answers"]]}
        for q in _load(DATA / "questions.jsonl")
        if q["article_id"] in paragraphs
    ], paragraphs


def swapped(question: str, paragraph: str, answers: list[str], rng: random.Random) -> str | None:
    """The question with one name or number replaced by another one of the paragraph."""
    found = [m for m in _SWAPPABLE.finditer(question) if m.start() > 0]
    if not found:
        return None
    pool = {
        m.group(0) for m in _SWAPPABLE.finditer(paragraph)
        if m.group(0) not in question and not any(m.group(0) in a for a in answers)
    }
    target = rng.choice(found)
    numeric = target.group(0)[0].isdigit()
    pool = sorted(p for p in pool if p[0].isdigit() == numeric)
    if not pool:
        return None
    return question[: target.start()] + rng.choice(pool) + question[target.end() :]


def main(argv: list[str] | None = None) -> int:
    import argparse

    import bm25s

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=800, help="held-out questions used")
    args = parser.parse_args(argv)
    rng = random.Random(7)
    items, paragraphs = held_out_items()
    items = random.Random(3).sample(items, min(args.questions, len(items)))
    sentences = {
        pid: [text[s:e] for s, e in split_spans(text)] for pid, text in paragraphs.items()
    }
    flat = [(pid, i) for pid, sents in sentences.items() for i in range(len(sents))]
    retriever = bm25s.BM25()
    retriever.index(
        bm25s.tokenize([sentences[p][i] for p, i in flat], stopwords="en", show_progress=False),
        show_progress=False,
    )
    model = ReaderModel(DEFAULT_DIR)
    from newsqa.index import Embedder

    embedder = Embedder()
    wiki = sorted(pid for pid in paragraphs if pid.startswith("new_wiki"))
    # Sentence vectors as the index makes them: pooled from the paragraph's own pass.
    encoded = embedder.encode_passages(
        [paragraphs[p] for p in wiki], [split_spans(paragraphs[p]) for p in wiki]
    )
    vectors = {p: e.sentence_vectors for p, e in zip(wiki, encoded, strict=True)}

    def closeness(question: str, pids: list[str]) -> float:
        """The highest cosine between the question and a sentence of the paragraphs."""
        q = embedder.embed_query(question)
        return float(max((vectors[pid] @ q).max() for pid in pids))

    def best(question: str, pids: list[str]) -> float:
        texts, prev = [], []
        for pid in pids:
            sents = sentences[pid]
            texts += sents
            prev += ["", *sents[:-1]]
        return max(r.relevance for r in model.read(question, texts[:24], prev[:24]))

    hits, _ = retriever.retrieve(
        bm25s.tokenize([it["question"] for it in items], stopwords="en", show_progress=False),
        k=12, show_progress=False,
    )
    answerable, offtopic, trap, near, far = [], [], [], [], []
    for item, row in zip(items, hits, strict=True):
        others = list(
            dict.fromkeys(flat[int(h)][0] for h in row if flat[int(h)][0] != item["paragraph"])
        )[:3]
        answerable.append(best(item["question"], [item["paragraph"], *others[:2]]))
        if others:
            offtopic.append(best(item["question"], others))
        if item["domain"] == "new_wiki":
            near.append(closeness(item["question"], [item["paragraph"]]))
            here = int(item["paragraph"].rsplit("p", 1)[-1])  # neighbours share an article
            unrelated = rng.choice([p for p in wiki if abs(int(p.rsplit("p", 1)[-1]) - here) > 50])
            far.append(closeness(item["question"], [unrelated]))
        twisted = swapped(item["question"], paragraphs[item["paragraph"]], item["answers"], rng)
        if twisted:
            trap.append(best(twisted, [item["paragraph"]]))
    pos, off, neg = np.array(answerable), np.array(offtopic), np.array(trap)
    answer = float(np.floor(np.percentile(pos, 15) * 100) / 100)
    topic = float(np.floor(np.percentile(near, 1) * 1000) / 1000)
    result = {
        "answer": answer,
        "also": answer,
        "topic": topic,
        "fitted_on": "held-out qa-train paragraphs (sha1 mod 20 == 0); see train/calibrate.py",
        "questions": len(pos),
        "swapped_questions": len(neg),
        "answerable_answered": round(float((pos >= answer).mean()), 3),
        "swapped_not_answered": round(float((neg < answer).mean()), 3),
        "balanced_accuracy_vs_swapped": round(
            float(((pos >= answer).mean() + (neg < answer).mean()) / 2), 3
        ),
        "wiki_questions": len(near),
        "wiki_answerable_none": round(float((np.array(near) < topic).mean()), 3),
        "wiki_unrelated_article_none": round(float((np.array(far) < topic).mean()), 3),
        "offtopic_not_answered": round(float((off < answer).mean()), 3),
    }
    Path(DEFAULT_DIR / "calibration.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
