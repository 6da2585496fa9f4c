"""index/duplicates.py: near-duplicate articles are found, different stories are not."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsqa.index.duplicates import DEFAULT_THRESHOLD, DuplicateFinder, DuplicateOf, normalize

HEADLINE = "Workers walk out at Brennan Motors plant in Lakeside"
LEAD = (
    "Some 4,200 workers at Brennan Motors' assembly plant in Lakeside walked off the job on "
    "Monday after negotiations over pay and pensions collapsed, halting production of the "
    "company's best-selling pickup truck."
)
NEW_LEAD = (
    "Around 4,200 workers at the Brennan Motors factory in Lakeside went on strike on Monday "
    "after talks on a new contract broke down."
)
BODY = [
    "The United Auto and Machine Workers union said its members had rejected a final offer of "
    "a 9% raise over three years, which it said failed to keep up with living costs.",
    '"Our members built record profits for this company, and they deserve a share of them," '
    "said union local president Gary Holm, speaking on a picket line outside the main gate.",
    "Brennan Motors said it was disappointed and that its offer was the most generous in the "
    "plant's history. The company said it would continue to negotiate.",
    "Analysts estimated that the stoppage could cost the carmaker about $50 million a week in "
    "lost output. Suppliers in the region said they were preparing to lay off staff.",
    "The Lakeside plant, which opened in 1978, is the town's largest employer. The last strike "
    "there, in 2009, lasted six weeks and ended with workers accepting a wage freeze.",
]
ARTICLE = "\n\n".join([HEADLINE, LEAD, *BODY])

# The same topic, people and places, but a different story (the deal that ended the strike).
OTHER_STORY = "\n\n".join(
    [
        "Brennan Motors and union reach tentative deal to end Lakeside strike",
        "Brennan Motors and the United Auto and Machine Workers union announced a tentative "
        "agreement on Sunday that could end an 18-day strike at the company's Lakeside "
        "assembly plant.",
        "The deal would raise wages by 14% over four years, restore cost-of-living adjustments "
        "and increase pension contributions, according to a summary released by the union.",
        "Union local president Gary Holm called the agreement a victory but said members would "
        "have the final say in a ratification vote expected later this week.",
        "Brennan Motors chief executive Sandra Kell said the company was pleased to have "
        "reached a fair deal and hoped to restart production of its pickup truck within days.",
        # A background paragraph reused from the first story.
        BODY[-1],
    ]
)


def market_brief(seed: int) -> str:
    rng = random.Random(seed)
    up = rng.random() < 0.5
    return "\n\n".join(
        [
            f"Norland stocks {'rose' if up else 'fell'} on Tuesday",
            f"The benchmark Halvik All-Share index {'rose' if up else 'fell'} "
            f"{rng.uniform(0.1, 2.5):.2f}% to {rng.uniform(4000, 6000):,.2f} on Tuesday, with "
            f"{rng.choice(['Quantix', 'Ferro Auto', 'Linkwave'])} leading the moves.",
            f"Trading volume was {rng.randint(300, 900)} million shares, compared with the "
            f"{rng.randint(400, 800)} million average over the past 20 sessions.",
            f"The norland crown {rng.choice(['strengthened', 'weakened'])} to "
            f"{rng.uniform(10, 12):.4f} per euro, and the yield on the 10-year government bond "
            f"{rng.choice(['rose', 'fell'])} {rng.randint(1, 9)} basis points to "
            f"{rng.uniform(2.5, 4.5):.2f}%.",
            f"Brent crude {rng.choice(['rose', 'fell'])} to ${rng.uniform(70, 95):.2f} a barrel.",
        ]
    )


@pytest.fixture()
def finder() -> DuplicateFinder:
    f = DuplicateFinder()
    f.add("strike-day-1", ARTICLE)
    return f


def test_exact_copy_is_found(finder: DuplicateFinder) -> None:
    assert finder.find(ARTICLE) == DuplicateOf("strike-day-1", 1.0)


def test_rewritten_lead_changed_byline_and_boilerplate_copy_is_found(
    finder: DuplicateFinder,
) -> None:
    copy = "\n\n".join(
        [
            "UPDATE 1-Brennan Motors workers strike in Lakeside",
            "By Jane Doe, Reuters",
            "LAKESIDE (Reuters) \u2014 " + NEW_LEAD,
            *BODY[:2],
            "Sign up for our morning newsletter to get the day's top stories.",
            *BODY[2:4],  # the last paragraph trimmed
            "Reporting by Jane Doe; Editing by Mark Hale",
        ]
    ).replace('"', "\u201c", 1)
    found = finder.find(copy)
    assert found is not None
    assert found.article_id == "strike-day-1"
    assert DEFAULT_THRESHOLD <= found.similarity < 1.0


def test_same_topic_different_story_is_not_a_duplicate(finder: DuplicateFinder) -> None:
    assert finder.find(OTHER_STORY) is None
    # Not only because of the figures: its text alone is below the threshold too.
    words_only = DuplicateFinder(figure_overlap=None)
    words_only.add("strike-day-1", ARTICLE)
    assert words_only.find(OTHER_STORY) is None
    assert words_only.find(ARTICLE) is not None


def test_templated_brief_with_other_figures_is_not_a_duplicate() -> None:
    f = DuplicateFinder()
    f.add("tuesday", market_brief(1))
    assert f.find(market_brief(1)) == DuplicateOf("tuesday", 1.0)
    for seed in range(2, 12):
        assert f.find(market_brief(seed)) is None, seed


def test_best_match_wins() -> None:
    f = DuplicateFinder()
    f.add("other", OTHER_STORY)
    f.add("trimmed", "\n\n".join([HEADLINE, LEAD, *BODY[:3]]))
    f.add("full", ARTICLE)
    assert f.find(ARTICLE) == DuplicateOf("full", 1.0)


def test_remove_forgets_the_article(finder: DuplicateFinder) -> None:
    finder.remove("strike-day-1")
    assert finder.find(ARTICLE) is None
    assert "strike-day-1" not in finder and len(finder) == 0
    finder.remove("strike-day-1")  # unknown ids are ignored
    finder.add("again", ARTICLE)
    assert finder.find(ARTICLE) == DuplicateOf("again", 1.0)


def test_adding_an_id_again_replaces_its_text(finder: DuplicateFinder) -> None:
    finder.add("strike-day-1", OTHER_STORY)
    assert finder.find(ARTICLE) is None
    assert finder.find(OTHER_STORY) == DuplicateOf("strike-day-1", 1.0)
    assert len(finder) == 1


def test_signature_round_trip(finder: DuplicateFinder) -> None:
    signature = finder.signature(ARTICLE)
    assert isinstance(signature, bytes) and len(signature) < 600
    restored = DuplicateFinder()
    restored.add_signature("strike-day-1", signature)
    copy = "\n\n".join(["By Jane Doe", NEW_LEAD, *BODY])
    assert restored.find(copy) == finder.find(copy) is not None
    assert restored.find(OTHER_STORY) is None


def test_signature_of_other_settings_is_rejected() -> None:
    signature = DuplicateFinder(num_perm=64).signature(ARTICLE)
    with pytest.raises(ValueError, match="num_perm"):
        DuplicateFinder().add_signature("x", signature)
    with pytest.raises(ValueError):
        DuplicateFinder().add_signature("x", b"garbage")


SIGNATURE_SCRIPT = (
    "import sys; from newsqa.index.duplicates import DuplicateFinder; "
    "sys.stdout.write(DuplicateFinder().signature(sys.stdin.read()).hex())"
)


def test_signatures_are_the_same_in_processes_with_other_hash_seeds() -> None:
    here = DuplicateFinder().signature(ARTICLE).hex()
    for seed in ("1", "4242"):
        out = subprocess.run(
            [sys.executable, "-c", SIGNATURE_SCRIPT],
            input=ARTICLE,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            timeout=60,
        ).stdout
        assert out == here


def test_empty_text_never_matches() -> None:
    f = DuplicateFinder()
    f.add("empty", "Advertisement\n\n   ")
    f.add("article", ARTICLE)
    assert f.find("") is None
    assert f.find("Advertisement") is None
    assert len(f) == 2
    f.remove("empty")
    assert len(f) == 1


def test_normalize_drops_site_furniture() -> None:
    text = (
        "By Jane Doe, Reuters\n"
        "GENEVA (Reuters) \u2014 Talks \u201copened\u201d on Monday, 5 percent higher.\n"
        "Read more: What the talks mean\n"
        "Sign up for our newsletter\n"
        "(AP) -- The second   paragraph\u2019s text.\n"
        "Copyright 2024 The Ledger. All rights reserved."
    )
    assert normalize(text) == 'talks "opened" on monday, 5% higher. the second paragraph\'s text.'
    # Ordinary sentences that start like furniture stay.
    assert normalize("By the end of the day, prices rose.") == "by the end of the day, prices rose."


def test_find_uses_lsh_candidates_not_a_scan() -> None:
    rng = random.Random(7)
    vocabulary = [f"word{i}" for i in range(5000)]
    f = DuplicateFinder()
    for i in range(2000):
        f.add_signature(f"n{i}", f.signature(" ".join(rng.choices(vocabulary, k=60))))
    f.add("target", ARTICLE)
    seen: list[int] = []
    query = f._lsh.query

    def counting(minhash: object) -> list:
        result = query(minhash)
        seen.append(len(result))
        return result

    f._lsh.query = counting
    assert f.find("\n\n".join([NEW_LEAD, *BODY])).article_id == "target"
    assert seen and seen[0] < 50


def test_signature_is_fast() -> None:
    text = " ".join((ARTICLE + " ") * 6).split()[:1000]
    article = " ".join(text)
    f = DuplicateFinder()
    f.signature(article)
    began = time.perf_counter()
    for _ in range(20):
        f.signature(article)
    assert (time.perf_counter() - began) / 20 < 0.025  # ~2 ms here; generous for busy CI


def test_one_writer_and_concurrent_readers() -> None:
    f = DuplicateFinder()
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        try:
            while not stop.is_set():
                found = f.find(ARTICLE)
                assert found is None or found.similarity == 1.0
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for t in readers:
        t.start()
    for i in range(100):
        f.add(f"a{i}", ARTICLE if i % 2 else OTHER_STORY + str(i))
        if i % 3 == 0:
            f.remove(f"a{i}")
    stop.set()
    for t in readers:
        t.join()
    assert not errors
    assert f.find(ARTICLE) is not None


words = st.lists(st.from_regex(r"[A-Za-z0-9]{1,10}", fullmatch=True), min_size=1, max_size=80)


@given(words)
def test_an_added_text_is_always_found(tokens: list[str]) -> None:
    f = DuplicateFinder()
    f.add("other", OTHER_STORY)
    text = " ".join(tokens)
    f.add("it", text)
    assert f.find(text) == DuplicateOf("it", 1.0)
