"""Metrics against hand-computed cases, `newsqa eval` end to end, and the gold set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLE_DIR, SAMPLE_ID

from newsqa.bot.cli import main
from newsqa.bot.evaluate import run_eval, summarize
from newsqa.bot.metrics import abstention, best_f1, f1, normalize, percentile, present
from newsqa.bot.metrics import normalize as norm
from newsqa.bot.question_files import read_questions

GOLD = ROOT / "tests" / "data" / "gold_abu_dhabi.jsonl"


def test_normalization_and_f1() -> None:
    assert normalize("The  U.S. envoy, “Steve”!") == "us envoy steve"
    assert f1("Steve Witkoff", "Steve Witkoff") == 1.0
    assert f1("envoy Steve Witkoff", "Steve Witkoff") == pytest.approx(0.8)  # p=2/3, r=1
    assert f1("Kushner", "Steve Witkoff") == 0.0
    assert f1("the", "a") == 1.0  # both empty after normalization
    assert best_f1("more than 4,600", ["4,600", "more than 4,600"]) == 1.0
    assert best_f1("anything", []) == 0.0


def test_presence_matches_whole_words_only() -> None:
    assert present(["4,600"], "the release of more than 4,600 detainees")
    assert not present(["600"], "the release of more than 4,600 detainees")
    assert present(["Kushner"], "", "Steve Witkoff and Jared Kushner.")
    assert not present([], "anything")


def test_abstention_counts_and_balanced_accuracy() -> None:
    # (is_impossible, abstained): 2 tp, 1 fn, 1 fp, 4 tn.
    pairs = [(True, True)] * 2 + [(True, False)] + [(False, True)] + [(False, False)] * 4
    counts = abstention(pairs)
    assert (counts.tp, counts.fn, counts.fp, counts.tn) == (2, 1, 1, 4)
    assert counts.precision == pytest.approx(2 / 3)
    assert counts.recall == pytest.approx(2 / 3)
    assert counts.balanced_accuracy == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert abstention([(False, False)]).precision is None


def test_percentiles() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0 and percentile(values, 95) == 95.0
    assert percentile([], 50) is None and percentile([7.0], 95) == 7.0


def test_eval_end_to_end_on_a_tiny_file(sample_index: Path, tmp_path: Path, capsys) -> None:
    lines = [
        {"id": "a", "question": "Who represented the US?", "answers": ["Jared Kushner"],
         "is_impossible": False, "article_id": SAMPLE_ID},
        {"id": "b", "question": "How many soldiers have died?", "answers": [],
         "is_impossible": True},
        {"id": "c", "question": "Who did Russia send?", "answers": ["Igor Kostyukov"],
         "is_impossible": False, "article_id": SAMPLE_ID, "conversation": "x"},
        {"id": "d", "question": "What is his job?", "answers": ["military intelligence chief"],
         "is_impossible": False, "article_id": SAMPLE_ID, "conversation": "x"},
    ]
    path = tmp_path / "tiny.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines))
    assert main(["eval", "--index-dir", str(sample_index), "--json", str(path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"overall", "answerable", "unanswerable", "first-turn", "follow-up"}
    overall = report["overall"]
    assert overall["questions"] == 4 and report["follow-up"]["questions"] == 1
    # c opens conversation x, d follows it up; a and b are in no conversation.
    assert report["first-turn"]["questions"] == 1
    assert report["first-turn"]["right"] == 1.0  # Igor Kostyukov, in the answer
    assert report["unanswerable"]["right"] == 1.0  # abstained on b
    assert overall["citation_validity"] == 1.0 and overall["recall_at_4"] == 1.0
    assert report["unanswerable"]["abstention_recall"] == 1.0
    # a: "Steve Witkoff and Jared Kushner" vs "Jared Kushner" = 4/7; c: exact = 1; d: ≥ 0.
    assert report["answerable"]["f1"] >= round((4 / 7 + 1) / 3, 4)
    assert overall["latency_p50_ms"] > 0
    assert main(["eval", "--index-dir", str(sample_index), str(path)]) == 0
    assert "answer_presence" in capsys.readouterr().out


def test_eval_rejects_files_without_gold(sample_index: Path, tmp_path: Path, capsys) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "Who?"}\n')
    assert main(["eval", "--index-dir", str(sample_index), str(path)]) == 2
    assert f"{path}:1: needs 'answers'" in capsys.readouterr().err


def test_gold_set_is_well_formed() -> None:
    items = read_questions(GOLD, require_gold=True)
    text = norm((SAMPLE_DIR / SAMPLE_ID).read_text(encoding="utf-8").replace("’", "'"))
    assert len(items) >= 30 and len({i.id for i in items}) == len(items)
    assert sum(i.is_impossible for i in items) >= 8
    conversations: dict[str, list] = {}
    for item in items:
        if item.conversation:
            conversations.setdefault(item.conversation, []).append(item)
        for answer in item.answers:
            assert norm(answer.replace("’", "'")) in text, (item.id, answer)
    assert sum(len(turns) >= 2 for turns in conversations.values()) >= 4


def test_gold_set_floors(answerer) -> None:
    """Regression floors for the trained reader on the gold set, a little under what it
    measured when committed (not the targets: see BENCHMARKS.md for where it stands)."""
    report = summarize(run_eval(answerer, read_questions(GOLD, require_gold=True)), 4)
    overall, answerable = report["overall"], report["answerable"]
    assert overall["citation_validity"] == 1.0
    assert overall["recall_at_4"] == 1.0
    assert overall["citation_hit"] in (None, 1.0)
    # Known: one follow-up (c4b) gets the ask-for-the-whole-question reply (issue #17, open).
    assert answerable["outcome_none"] <= 1
    assert answerable["answer_presence"] >= 0.50  # measured 0.545
    assert report["unanswerable"]["abstention_recall"] >= 0.5  # measured 0.583
