"""The question's explicit qualifiers must occur in what is cited (bot/reader/qualifiers.py)."""

from __future__ import annotations

import pytest

from newsqa.bot.reader.qualifiers import clauses, in_other_clause, qualifiers, unmet

WARSAW = (
    "In 2012 the Economist Intelligence Unit ranked Warsaw as the 32nd most liveable city "
    "in the world."
)


@pytest.mark.parametrize(
    ("question", "evidence", "missing"),
    [
        # SQuAD2's traps: one qualifier of the question is not the sentence's.
        ("When was Warsaw ranked as the 22nd most liveable city in the world?", WARSAW, ["22nd"]),
        ("When was Warsaw ranked as the 32nd most liveable city in the world?", WARSAW, []),
        (
            "How much did southern California grow in the year 2000?",
            "The 2010 census showed that Southern California grew by 10.0%.",
            ["2000"],
        ),
        (
            "Who won the 2022 World Cup?",
            "The talks in Abu Dhabi began in 2026.",
            ["2022", "World Cup"],
        ),
        (
            "What did Apple report in the second quarter?",
            "Apple's Q3 revenue rose.",
            ["second quarter"],
        ),
        ("How many were freed in the 3rd exchange?", "The third exchange freed 100.", []),
        # Accents, case and acronyms are not differences.
        ("When was Mongke Khan born?", "Möngke Khan succeeded Güyük as Great Khan in 1251.", []),
        ("Who represented the United States?", "The US was represented by Steve Witkoff.", []),
        ("Who represented the US?", "The United States sent Steve Witkoff.", []),
        ("What happened in January?", "On Jan. 5 the talks began.", []),
        ("What did the 1990s bring?", "In 1994 the wall fell.", []),
        ("How many detainees were released?", "More than 4,600 detainees were released.", []),
        ("Were 4,600 detainees released?", "More than 4600 detainees were released.", []),
        ("Were 4,800 detainees released?", "More than 4,600 detainees were released.", ["4,800"]),
        ("Who met Steve Witkoff?", "Jared Kushner met Witkoff's deputy.", ["Steve Witkoff"]),
    ],
)
def test_unmet_qualifiers(question: str, evidence: str, missing: list[str]) -> None:
    assert [q.text for q in unmet(question, evidence)] == missing


def test_question_words_and_sentence_starts_are_not_names() -> None:
    found = qualifiers("Who did the President of France meet in Paris in May 2024?")
    assert {(q.kind, q.text) for q in found} == {
        ("name", "President of France"),
        ("name", "Paris"),
        ("month", "May"),
        ("year", "2024"),
    }


def test_demonyms_and_possessives() -> None:
    """"the American official" says where, not who; "Washington's" names Washington."""
    assert qualifiers("Which press outlet relayed the American official's remarks?") == []
    assert [q.text for q in qualifiers("What did Washington's envoy say?")] == ["Washington"]
    assert [q.text for q in qualifiers("Who met the Americans?")] == ["Americans"]


SENT = (
    "The US was represented by presidential envoy Steve Witkoff and Jared Kushner, "
    "while Russia sent military intelligence chief Igor Kostyukov."
)


@pytest.mark.parametrize(
    ("question", "answer", "missing"),
    [
        ("Who represented Russia?", "Steve Witkoff", ["Russia"]),  # the other clause's
        ("Who did Russia send?", "Igor Kostyukov", []),
        ("Who represented the US?", "Steve Witkoff", []),
        ("Who represented the US?", "Igor Kostyukov", ["US"]),
    ],
)
def test_a_qualifier_met_only_by_another_contrasted_clause(
    question: str, answer: str, missing: list[str]
) -> None:
    start = SENT.index(answer)
    found = in_other_clause(question, SENT, (start, start + len(answer)))
    assert [q.text for q in found] == missing


def test_clauses_are_cut_at_contrasts_only() -> None:
    text = "In 2010 it grew 5%, while in 2000 it grew 10%, but prices fell; wages rose, too."
    assert [text[a:b] for a, b in clauses(text)] == [
        "In 2010 it grew 5%",
        "in 2000 it grew 10%",
        "prices fell; wages rose, too.",
    ]
    span = (text.index("5%"), text.index("5%") + 2)
    assert [q.text for q in in_other_clause("How much did it grow in 2000?", text, span)] == [
        "2000"
    ]
    assert clauses("One clause, and no contrast.") == [(0, 28)]
