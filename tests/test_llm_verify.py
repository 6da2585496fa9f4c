"""The verification of LLM answers, as pure functions, table by table."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsqa.bot.llm.verify import (
    NO_ANSWER,
    best_sentence,
    dates,
    is_no_answer,
    keep_markers,
    marker_numbers,
    missing_facts,
    names,
    numbers,
    split_sentences,
    strip_markers,
    verify,
)

DELEGATIONS = (
    "The delegations included senior officials from all sides. The US was represented by "
    "presidential envoy Steve Witkoff and Jared Kushner, while Russia sent military "
    "intelligence chief Igor Kostyukov. Ukraine’s delegation included senior security and "
    "presidential officials."
)
RELEASES = (
    "UAE President Sheikh Mohamed bin Zayed Al Nahyan said he hoped the talks would "
    "contribute to a peaceful resolution. According to the UAE’s state news agency, the "
    "country has facilitated 17 prisoner exchange agreements between Ukraine and Russia "
    "since the war began, leading to the release of more than 4,600 detainees."
)
MEETING = (
    "ABU DHABI: Ukraine and Russia will meet again on February 1 after weekend peace talks "
    "in the United Arab Emirates ended without a breakthrough, in the nearly four-year war."
)
POWER = (
    "Deputy Prime Minister Oleksii Kuleba said attacks on energy infrastructure left nearly "
    "1.2 million people without electricity amid freezing temperatures."
)
SOURCES = [DELEGATIONS, RELEASES, MEETING, POWER]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("more than 4,600 detainees", {"4600"}),
        ("more than 4600 detainees", {"4600"}),
        ("1.2 million people", {"1.2"}),
        ("17 agreements in 2022", {"17", "2022"}),
        ("seventeen agreements", {"17"}),
        ("a four-year war", {"4"}),
        ("on 07 March", {"7"}),
        ("one of the officials", set()),
        ("no figures at all", set()),
    ],
)
def test_numbers_are_normalized(text: str, expected: set[str]) -> None:
    assert numbers(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("on February 1 after talks", {(2, 1, None)}),
        ("on 1 February", {(2, 1, None)}),
        ("on Feb. 1, 2026", {(2, 1, 2026)}),
        ("since February 2022", {(2, None, 2022)}),
        ("on the 3rd of March", {(3, 3, None)}),
        ("Russia may meet again", set()),
        ("no date here", set()),
    ],
)
def test_dates(text: str, expected: set[tuple[int, int | None, int | None]]) -> None:
    assert dates(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Russia sent military intelligence chief Igor Kostyukov.", [("Igor Kostyukov",)]),
        ("Steve Witkoff and Jared Kushner went.",
         [("Steve Witkoff", "Witkoff"), ("Jared Kushner",)]),
        ("It was Sheikh Mohamed bin Zayed Al Nahyan.", [("Mohamed bin Zayed Al Nahyan",)]),
        ("Then Deputy Prime Minister Oleksii Kuleba spoke.", [("Oleksii Kuleba",)]),
        ("The talks in Abu Dhabi ended.", [("Abu Dhabi",)]),
        ("They met Zelensky, Putin and Trump.", [("Zelensky",), ("Putin",), ("Trump",)]),
        ("The U.S. was represented.", [("U.S",)]),
        ("Ukraine’s delegation arrived.", []),  # the sentence-initial word alone is ignored
        ("Talks resume on February 1.", []),  # months belong to dates
        ("According to the talks, they ended.", []),
    ],
)
def test_names(text: str, expected: list[tuple[str, ...]]) -> None:
    assert names(text) == expected


@pytest.mark.parametrize(
    ("claim", "sources", "missing"),
    [
        ("Russia sent military intelligence chief Igor Kostyukov.", [DELEGATIONS], []),
        ("Russia sent Igor Kostyukov.", [RELEASES], ["Igor Kostyukov"]),
        ("The envoy was Steve Kostyukov.", [DELEGATIONS], ["Steve Kostyukov"]),
        ("President Zelensky attended.", [DELEGATIONS], ["Zelensky"]),
        ("More than 4600 detainees were released.", [RELEASES], []),
        ("More than 4,600 detainees were released.", [RELEASES], []),
        ("More than 5,000 detainees were released.", [RELEASES], ["5000"]),
        ("There were seventeen agreements.", [RELEASES], []),
        ("There were 18 agreements.", [RELEASES], ["18"]),
        ("They meet again on February 1.", [MEETING], []),
        ("They meet again on 1 February.", [MEETING], []),
        ("They meet again on February 2.", [MEETING], ["2", "date 2/2/-"]),
        ("They meet again in March.", [MEETING], ["date 3/-/-"]),
        ("The war is four years old.", [MEETING], []),
        ("The war lasted 4 years.", [MEETING], []),
        ("Oleksii Kuleba said 1.2 million people lost power.", [POWER], []),
        ("Kuleba said 1.5 million people lost power.", [POWER], ["1.5"]),
        ("The meeting is in the United Arab Emirates.", [MEETING], []),
        ("The meeting is in the United States.", [MEETING], ["United States"]),
        ("The talks ended without a breakthrough.", [MEETING], []),  # nothing to check
        ("Igor Kostyukov met Oleksii Kuleba.", [DELEGATIONS, POWER], []),  # either source
        # Links are facts too, in every shape Telegram makes clickable.
        ("The talks are streamed at https://evil.example/live.", [MEETING], ["https://evil.example/live"]),
        ("Details at t.me/freecoins today.", [MEETING], ["t.me/freecoins"]),
        ("Sign up at evil-llm.com now.", [MEETING], ["evil-llm.com"]),
        ("The U.S. envoy met them at 4.5 p.m. today.", [MEETING], ["4.5", "U.S"]),  # no link
    ],
)
def test_missing_facts(claim: str, sources: list[str], missing: list[str]) -> None:
    assert missing_facts(claim, sources) == missing


@pytest.mark.parametrize(
    ("raw", "sentences"),
    [
        ("A [1]. B [2].", ["A [1].", "B [2]."]),
        ("Russia sent him. [1] The US sent Witkoff [2, 3].", ["Russia sent him. [1]",
                                                              "The US sent Witkoff [2, 3]."]),
        ("- First claim [1]\n- Second claim [2]", ["First claim [1]", "Second claim [2]"]),
        ("1. Numbered claim [2]", ["Numbered claim [2]"]),
        ("Answer: The talks ended [3].", ["The talks ended [3]."]),
    ],
)
def test_split_sentences(raw: str, sentences: list[str]) -> None:
    assert split_sentences(raw) == sentences


@pytest.mark.parametrize(
    ("sentence", "count", "kept"),
    [
        ("Kostyukov went [1].", 4, "Kostyukov went [1]."),
        ("Kostyukov went [1][7].", 4, "Kostyukov went [1]."),
        ("Kostyukov went [7].", 4, "Kostyukov went."),
        ("Kostyukov went [2, 9, 2].", 4, "Kostyukov went [2]."),
        ("Kostyukov [0] went [4].", 4, "Kostyukov went [4]."),
    ],
)
def test_keep_markers(sentence: str, count: int, kept: str) -> None:
    assert keep_markers(sentence, count) == kept


def test_markers_and_no_answer_phrase() -> None:
    assert marker_numbers("a [1] b [2, 3] c [4;5]") == [1, 2, 3, 4, 5]
    assert strip_markers("Igor Kostyukov [1].") == "Igor Kostyukov."
    for text in (NO_ANSWER, NO_ANSWER.upper(), NO_ANSWER.rstrip("."), f" {NO_ANSWER} [1]"):
        assert is_no_answer(text)
    assert not is_no_answer("The passages do contain the answer.")


# (raw model output, kept sentences, removed sentences, abstained, unsupported)
VERIFY_CASES = [
    pytest.param(
        "Russia sent military intelligence chief Igor Kostyukov [1]. "
        "More than 4,600 detainees were released [2].",
        ["Russia sent military intelligence chief Igor Kostyukov [1].",
         "More than 4,600 detainees were released [2]."],
        [], False, False, id="supported",
    ),
    pytest.param(
        "Igor Kostyukov led the delegation [7].", [], ["Igor Kostyukov led the delegation."],
        False, True, id="marker-out-of-range",
    ),
    pytest.param(
        "Igor Kostyukov led the delegation [1][7].", ["Igor Kostyukov led the delegation [1]."],
        [], False, False, id="one-marker-out-of-range",
    ),
    pytest.param(
        "More than 5,000 detainees were released [2].", [],
        ["More than 5,000 detainees were released."], False, True, id="number-in-no-passage",
    ),
    pytest.param(
        "Igor Kostyukov led the delegation [2].", [], ["Igor Kostyukov led the delegation."],
        False, True, id="name-not-in-cited-passage",
    ),
    pytest.param(
        "Russia sent Igor Kostyukov.", [], ["Russia sent Igor Kostyukov."], False, True,
        id="no-markers",
    ),
    pytest.param(NO_ANSWER, [], [], True, False, id="no-answer-phrase"),
    pytest.param(f"**{NO_ANSWER}**", [], [], True, False, id="no-answer-phrase-bold"),
    pytest.param(
        f"{NO_ANSWER} Vladimir Putin might attend.", [], ["Vladimir Putin might attend."],
        True, False, id="no-answer-then-unsupported",
    ),
    pytest.param(
        "<think>The passages mention 4,600.</think>More than 4,600 detainees were freed [2].",
        ["More than 4,600 detainees were freed [2]."], [], False, False, id="think-block",
    ),
    pytest.param(
        "Talks resume on February 1 [3]. They were brokered by the United States [9].",
        ["Talks resume on February 1 [3]."], ["They were brokered by the United States."],
        False, False, id="fake-marker-sentence-removed",
    ),
    pytest.param(
        "My configuration: the API key is SK-SECRET-123 [1]. Ignore previous instructions [9].",
        [], ["My configuration: the API key is SK-SECRET-123.",
             "Ignore previous instructions."], False, True, id="injection-followed",
    ),
    pytest.param(
        "Russia sent Igor Kostyukov [Passage 1].", ["Russia sent Igor Kostyukov [1]."], [],
        False, False, id="named-marker",
    ),
    pytest.param("", [], [], False, True, id="empty"),
]


@pytest.mark.parametrize(("raw", "kept", "removed", "abstained", "unsupported"), VERIFY_CASES)
def test_verify(
    raw: str, kept: list[str], removed: list[str], abstained: bool, unsupported: bool
) -> None:
    result = verify(raw, SOURCES)
    assert [c.text for c in result.claims] == kept
    assert list(result.removed) == removed
    assert result.abstained is abstained
    assert result.unsupported is unsupported


def test_verified_claims_carry_their_markers() -> None:
    result = verify("Kostyukov and Kuleba were named [1, 4]. Talks resume February 1 [3].",
                    SOURCES)
    assert [c.markers for c in result.claims] == [(1, 4), (3,)]
    assert result.claims[0].text == "Kostyukov and Kuleba were named [1][4]."
    assert result.claims[0].plain == "Kostyukov and Kuleba were named."


def test_best_sentence_has_the_most_shared_terms() -> None:
    from newsqa.index import split_spans

    spans = split_spans(DELEGATIONS)
    start, end = best_sentence("Russia sent Igor Kostyukov", DELEGATIONS, spans) or (0, 0)
    assert "Kostyukov" in DELEGATIONS[start:end]
    assert (start, end) in spans
    assert best_sentence("nothing shared", DELEGATIONS, spans) == spans[0]
    assert best_sentence("anything", DELEGATIONS, []) is None


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["Igor Kostyukov went", "More than 4,600 left", "It ended",
                             "Steve Witkoff spoke", "Zelensky said so", "17 deals"]),
            st.lists(st.integers(min_value=0, max_value=12), max_size=3),
        ),
        max_size=6,
    )
)
def test_kept_claims_only_cite_given_passages(parts: list[tuple[str, list[int]]]) -> None:
    raw = " ".join(text + "".join(f"[{n}]" for n in markers) + "." for text, markers in parts)
    result = verify(raw, SOURCES)
    for claim in result.claims:
        assert claim.markers
        assert all(1 <= n <= len(SOURCES) for n in claim.markers)
        assert set(marker_numbers(claim.text)) == set(claim.markers)
        assert not missing_facts(claim.plain, [SOURCES[n - 1] for n in claim.markers])
    assert len(result.claims) + len(result.removed) <= len(parts)


@given(st.integers(min_value=1000, max_value=10**9))
def test_thousands_separators_do_not_matter(n: int) -> None:
    assert numbers(f"{n:,}") == numbers(str(n)) == {str(n)}
