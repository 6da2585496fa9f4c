"""Verification of an LLM answer in code: what the model says must be in what it cites.

Pure functions, no I/O and no model. The model's output is split into sentences; each
keeps only the `[n]` markers that name a passage it was given (others are dropped); a
sentence left without a marker is removed, and so is one whose numbers, dates,
capitalized names or links do not occur in the passages it cites. The fixed no-answer phrase of
`prompts/answer.md` means the model abstained. The checks are deliberately literal:
a paraphrased name ("the United States" for "US") is removed, never guessed at.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from newsqa.bot.reader.text_rules import MONTH_PATTERN, MONTHS, NAME_PARTICLES, NUMBER_VALUES

# The sentence `prompts/answer.md` tells the model to reply with when the passages do not
# answer; a constant, so that code and prompt can be checked against each other.
NO_ANSWER = "The passages do not contain the answer."

_MARKER = re.compile(r"\[\s*(\d+(?:\s*[,;]\s*\d+)*)\s*\]")
_LEADING_MARKERS = re.compile(r"^(?:\s*\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\])+")
_THINK = re.compile(r"<think>.*?(?:</think>|$)", re.S | re.I)
_BULLET = re.compile(r"^[ \t]*(?:[-*•]|\d{1,2}[.)])[ \t]+", re.M)
_LABEL = re.compile(r"^\s*(?:final\s+)?answer\s*:\s*", re.I)
_EMPHASIS = re.compile(r"\*\*|__|`")
_NAMED_MARKER = re.compile(r"\[\s*(?:passage|source|doc(?:ument)?)\s*#?\s*(\d+)\s*\]", re.I)
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:!?])")


def _words(text: str) -> list[str]:
    return text.split()


_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_HOST = r"\b(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+"
# Links as Telegram would make them clickable: with a scheme or www., a host with a path,
# or a bare host under a common top-level domain.
_LINK = re.compile(
    r"(?:\b[a-z][a-z0-9+.-]*://|\bwww\.)[^\s<>()\[\]\"'`]+"
    rf"|{_HOST}[a-z]{{2,24}}/[^\s<>()\[\]\"'`]*"
    rf"|{_HOST}(?:com|net|org|io|me|info|biz|xyz|ru|app|dev|co|ly|gg|to|top|site|link)\b",
    re.I,
)
_WORD = re.compile(r"[^\W_]+(?:[’'.\-][^\W_]+)*", re.UNICODE)

_DATE = re.compile(
    rf"(?:\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?)?\b({MONTH_PATTERN})\b\.?"
    rf"(?:\s+(\d{{1,2}})(?:st|nd|rd|th)?\b)?(?:,?\s+(\d{{4}})\b)?"
)

# Capitalized words that are not names: titles and common sentence words. Stripped from
# the ends of a run of capitalized words before the run is looked up.
_COMMON = frozenset(
    _words(
        """a an the and or but if of at by for with about to from in on into over under as
    this that these those it its they their there he she his her we our you your i me my
    mr mrs ms dr prof sir madam president presidential vice prime minister ministers deputy
    secretary chancellor premier sheikh king queen prince princess emperor pope general gen
    colonel col chief envoy ambassador senator sen representative rep governor gov mayor
    spokesman spokeswoman spokesperson official officials foreign defence defense interior
    state federal national according however also yes no both after before during despite
    while although meanwhile overall addition other then so not only"""
    )
)


@dataclass(frozen=True)
class Claim:
    """One kept sentence: as written (valid markers only) and without its markers."""

    text: str
    plain: str
    markers: tuple[int, ...]  # valid passage numbers, 1-based, in order of first use


@dataclass(frozen=True)
class Verification:
    claims: tuple[Claim, ...]
    removed: tuple[str, ...]
    abstained: bool

    @property
    def unsupported(self) -> bool:
        """Nothing supported remains and the model did not abstain."""
        return not self.abstained and not self.claims


# -- splitting ------------------------------------------------------------------------------
def clean_output(raw: str) -> str:
    """The model's output without reasoning blocks (`<think>…</think>`) and emphasis marks,
    with "[Passage 2]"-style markers written as "[2]"."""
    text = _EMPHASIS.sub("", _THINK.sub("", raw))
    return _NAMED_MARKER.sub(r"[\1]", text).strip()


def marker_numbers(text: str) -> list[int]:
    """Every passage number cited in `text`, in order: "[1] … [2, 3]" → [1, 2, 3]."""
    return [int(n) for group in _MARKER.findall(text) for n in re.split(r"[,;]", group)]


def strip_markers(text: str) -> str:
    return _SPACE_BEFORE_PUNCT.sub(r"\1", _MARKER.sub("", text)).strip()


def split_sentences(text: str) -> list[str]:
    """Sentences of the model's output; markers that open a sentence go to the one before."""
    from newsqa.index import split_spans

    text = _BULLET.sub("", text)
    sentences: list[str] = []
    for start, end in split_spans(text):
        sentence = text[start:end]
        lead = _LEADING_MARKERS.match(sentence)
        if lead and sentences:
            sentences[-1] = f"{sentences[-1]} {lead.group(0).strip()}"
            sentence = sentence[lead.end() :].strip()
        sentence = _LABEL.sub("", sentence).strip()
        if sentence:
            sentences.append(sentence)
    return sentences


def keep_markers(sentence: str, count: int) -> str:
    """`sentence` with each marker cut down to the passage numbers 1..count ("[1][2]")."""

    def replace(match: re.Match[str]) -> str:
        numbers = [int(n) for n in re.split(r"[,;]", match.group(1))]
        return "".join(f"[{n}]" for n in dict.fromkeys(numbers) if 1 <= n <= count)

    kept = _MARKER.sub(replace, sentence)
    kept = re.sub(r"\s+(?=[.,;:!?]|$)", "", re.sub(r"[ \t]{2,}", " ", kept))
    return kept.strip()


def is_no_answer(text: str) -> bool:
    """True when `text` is the fixed no-answer phrase (case, punctuation and markers aside)."""
    return _phrase_key(strip_markers(text)) == _phrase_key(NO_ANSWER)


def _phrase_key(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower().replace("’", "'")))


# -- facts ----------------------------------------------------------------------------------
def numbers(text: str) -> set[str]:
    """Numbers in `text`, normalized: "4,600" → "4600", "07" → "7", "seventeen" → "17"."""
    found = set()
    for match in _NUMBER.finditer(text):
        token = match.group(0).replace(",", "")
        found.add(str(int(token)) if token.isdigit() else token)
    for word in re.findall(r"[a-z]+", text.lower()):
        if word in NUMBER_VALUES:
            found.add(str(NUMBER_VALUES[word]))
    return found


def dates(text: str) -> set[tuple[int, int | None, int | None]]:
    """(month, day, year) of each date naming a month: "February 1", "1 Feb 2022"."""
    found = set()
    for match in _DATE.finditer(text):
        day_before, month, day_after, year = match.groups()
        day = day_before or day_after
        found.add((MONTHS[month], int(day) if day else None, int(year) if year else None))
    return found


def names(text: str) -> list[tuple[str, ...]]:
    """Capitalized names in `text`, each as the spellings that would support it.

    A name is a run of capitalized words ("Igor Kostyukov", "Mohamed bin Zayed Al Nahyan")
    cut at titles and common words ("Deputy Prime Minister Oleksii Kuleba" → "Oleksii
    Kuleba"); months are left to `dates`. The sentence-initial word is capitalized anyway:
    alone it is ignored, and a name it starts may also be supported without it.
    """
    tokens = list(_WORD.finditer(text))
    runs: list[tuple[list[str], bool]] = []  # (words, starts the sentence)
    current: list[str] = []
    initial = False
    previous_end = 0
    for index, match in enumerate(tokens):
        word = match.group(0)
        adjacent = bool(current) and not text[previous_end : match.start()].strip()
        capital = word[0].isupper() and word not in MONTHS
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        connector = (
            word.lower() in NAME_PARTICLES
            and following is not None
            and following.group(0)[0].isupper()
            and not text[match.end() : following.start()].strip()
        )
        if adjacent and (capital or connector):
            current.append(word)
        else:
            if current:
                runs.append((current, initial))
            current, initial = ([word], index == 0) if capital else ([], False)
        previous_end = match.end()
    if current:
        runs.append((current, initial))
    found: list[tuple[str, ...]] = []
    for run, starts in runs:
        segment: list[str] = []
        first = True
        for word in [*run, ""]:
            if word and _plain(word) not in _COMMON:
                segment.append(word)
                continue
            if segment and segment[-1].lower() in NAME_PARTICLES:
                segment.pop()
            if segment and segment[0].lower() in NAME_PARTICLES:
                segment.pop(0)
            at_start = starts and first and segment == run[: len(segment)]
            if segment and at_start:
                if len(segment) > 1:
                    found.append((" ".join(segment), " ".join(segment[1:])))
            elif segment:
                found.append((" ".join(segment),))
            segment, first = [], False
    return found


def _plain(word: str) -> str:
    return re.sub(r"['’]s$", "", word.lower()).replace(".", "")


def _name_key(text: str) -> str:
    """Lower-case words without possessives or dots, space-separated and padded."""
    text = re.sub(r"['’]s\b", "", text.lower()).replace(".", "")
    words = re.findall(r"[^\W_]+", text)
    return " " + " ".join(words) + " "


def links(text: str) -> set[str]:
    """Links in `text` ("https://…", "www.…"), without trailing punctuation."""
    return {match.rstrip(".,;:!?") for match in _LINK.findall(text)}


def missing_facts(claim: str, sources: Sequence[str]) -> list[str]:
    """The numbers, dates, names and links of `claim` that occur in none of `sources`."""
    source = "\n".join(sources)
    missing: list[str] = sorted(link for link in links(claim) if link not in source)
    have_numbers = numbers(source)
    missing += sorted(n for n in numbers(claim) if n not in have_numbers)
    have_dates = dates(source)
    for month, day, year in sorted(dates(claim), key=str):
        if not any(m == month and day in (None, d) and year in (None, y) for m, d, y in have_dates):
            missing.append(f"date {month}/{day or '-'}/{year or '-'}")
    key = _name_key(source)
    missing += [
        spellings[0]
        for spellings in names(claim)
        if not any(_name_key(name) in key for name in spellings)
    ]
    return missing


# -- the verification -----------------------------------------------------------------------
# A support judgment: is `claim` stated by the cited `sources`? (`reader/support.py`)
Judge = Callable[[str, Sequence[str]], bool]


def verify(raw: str, sources: Sequence[str], judge: Judge | None = None) -> Verification:
    """Check an answer against the passages it was given (`sources[n - 1]` is passage n).

    With `judge`, a sentence whose facts all occur in what it cites must also be judged
    supported by it: a sentence can name only cited people and numbers and still say
    what the text does not ("Vladimir Putin attended in person")."""
    text = clean_output(raw)
    if is_no_answer(text):
        return Verification((), (), abstained=True)
    claims: list[Claim] = []
    removed: list[str] = []
    said_no_answer = False
    for sentence in split_sentences(text):
        if is_no_answer(sentence):
            said_no_answer = True
            continue
        kept = keep_markers(sentence, len(sources))
        plain = strip_markers(kept)
        if not re.search(r"[^\W\d_]", plain):
            continue  # a stray marker or list number, not a claim
        cited = tuple(dict.fromkeys(marker_numbers(kept)))
        cited_texts = [sources[n - 1] for n in cited]
        if (
            not cited
            or missing_facts(plain, cited_texts)
            or (judge is not None and not judge(plain, cited_texts))
        ):
            removed.append(strip_markers(sentence))
            continue
        claims.append(Claim(kept, plain, cited))
    return Verification(tuple(claims), tuple(removed), abstained=said_no_answer and not claims)


def best_sentence(
    claim: str, text: str, spans: Sequence[tuple[int, int]]
) -> tuple[int, int] | None:
    """The span of `text` sharing the most terms with `claim` (the earliest on a tie)."""
    from newsqa.index import terms

    wanted = set(terms(claim))
    best: tuple[int, int] | None = None
    best_score = -1
    for start, end in spans:
        score = len(wanted & set(terms(text[start:end])))
        if score > best_score:
            best, best_score = (start, end), score
    return best
