"""The explicit qualifiers of a question, and whether cited text meets them.

A sentence can be on topic and hold an answer of the right type and still not answer the
question, because one qualifier of the question is not met: another year ("How much did
it grow in 2000?" over a sentence about 2010), another ordinal ("the 22nd" against "the
32nd"), another number, quarter or person. These are literal, so they are checked
literally: each year, quarter, ordinal, number and name that the question states must
occur in the evidence (the cited sentence, its neighbours, the article's title and date).
Verbs and paraphrases are the support model's part (`support.py`).

Names are compared without case or accents ("Mongke" meets "Möngke"); an acronym meets the
name it abbreviates and the other way round ("US" and "United States"). Pure functions.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .text_rules import MONTHS, NAME_PARTICLES

_YEAR = re.compile(r"\b(1\d{3}|20\d{2})(s?)\b")
_ORDINAL_WORDS = {
    word: i
    for i, word in enumerate(
        "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
        "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth "
        "twentieth".split(),
        start=1,
    )
}
_ORDINAL = re.compile(
    r"\b(?:(\d+)(?:st|nd|rd|th)|(" + "|".join(_ORDINAL_WORDS) + r"))\b", re.IGNORECASE
)
_QUARTER = re.compile(
    r"\b(?:q([1-4])|(first|second|third|fourth|1st|2nd|3rd|4th)[- ]quarter)\b", re.IGNORECASE
)
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?![\w])")
# A run of capitalized words; lower-case particles may sit inside ("Charles de Gaulle").
_NAME = re.compile(
    r"\b[A-Z][\w'’\-]*(?:\s+(?:(?:" + "|".join(sorted(NAME_PARTICLES)) + r"|of|the)\s+)?"
    r"[A-Z][\w'’\-]*)*"
)
# Capitalized words that do not name anything by themselves.
_NOT_NAMES = frozenset(
    """a an the and or but if of at by for with about to from in on into over under as
    this that these those it its they their there he she his her we our you your i me my
    who whom whose what which when where why how is are was were will would did does do
    has have had can could should may might must shall be been being
    according after before during since until while also then than not no yes
    mr mrs ms dr prof sir
    monday tuesday wednesday thursday friday saturday sunday""".split()
)
_PARTICLES = frozenset(NAME_PARTICLES) | {"of", "the", "and", "s"}
# A demonym used as an adjective ("the American official", "the Emirati president") says
# where, not who: articles write it as often as the country ("US official"), so it is not
# required to occur.
_DEMONYM = re.compile(r"^[A-Z][a-z]+(?:ian|ean|can|ese|ish|ati|eli|ani|ic)$")


def plain(text: str) -> str:
    """Lower case, accents removed, apostrophes and dashes as spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"['’\-]", " ", stripped.lower())


def _tokens(text: str) -> set[str]:
    return set(re.findall(r"\w+", plain(text)))


@dataclass(frozen=True)
class Qualifier:
    kind: str  # year | quarter | ordinal | number | name
    text: str  # as the question writes it


def qualifiers(question: str) -> list[Qualifier]:
    """The years, quarters, ordinals, numbers and names that `question` states."""
    found: list[Qualifier] = []
    taken: list[tuple[int, int]] = []

    def add(kind: str, match: re.Match[str]) -> None:
        if any(a < match.end() and match.start() < b for a, b in taken):
            return
        taken.append((match.start(), match.end()))
        found.append(Qualifier(kind, match.group(0)))

    for m in _QUARTER.finditer(question):
        add("quarter", m)
    for m in _YEAR.finditer(question):
        add("year", m)
    for m in _ORDINAL.finditer(question):
        add("ordinal", m)
    for m in _NUMBER.finditer(question):
        add("number", m)
    for m in _NAME.finditer(question):
        words = [w for w in re.findall(r"[\w'’\-]+", m.group(0))]
        if m.start() > 0 and len(words) == 1 and words[0] in MONTHS:  # a date qualifier
            found.append(Qualifier("month", words[0]))
            continue
        if m.start() == 0 and words:  # the question's first word is capitalized anyway
            words.pop(0)
        while words and words[0].lower() in _NOT_NAMES:
            words.pop(0)
        while words and words[-1].lower() in _NOT_NAMES | _PARTICLES:
            words.pop()
        words = [re.sub(r"['’]s$", "", w) for w in words]
        after = question[m.end() :]
        if len(words) == 1 and _DEMONYM.match(words[0]) and re.match(r"['’]?s?\s+[a-z]", after):
            continue
        if not words:
            continue
        if any(a < m.end() and m.start() < b for a, b in taken):
            continue
        taken.append((m.start(), m.end()))
        found.append(Qualifier("name", " ".join(words)))
    return found


def _ordinal_value(text: str) -> int | None:
    m = _ORDINAL.fullmatch(text.strip())
    if not m:
        return None
    return int(m.group(1)) if m.group(1) else _ORDINAL_WORDS[m.group(2).lower()]


def _quarter_value(text: str) -> int | None:
    m = _QUARTER.fullmatch(text.strip())
    if not m:
        return None
    if m.group(1):
        return int(m.group(1))
    return {"first": 1, "second": 2, "third": 3, "fourth": 4, "1st": 1, "2nd": 2, "3rd": 3,
            "4th": 4}[m.group(2).lower()]


def _initials(words: list[str]) -> str:
    return "".join(w[0] for w in words if w.lower() not in _PARTICLES)


def _name_met(name: str, evidence: str, tokens: set[str]) -> bool:
    words = [w for w in re.findall(r"\w+", plain(name)) if w not in _PARTICLES]
    if not words:
        return True
    if all(w in tokens for w in words):
        return True
    # An acronym and the name it abbreviates: "US" / "United States", "UAE".
    compact = re.sub(r"[.\s]", "", name)
    if compact.isupper() and 2 <= len(compact) <= 6:
        for m in _NAME.finditer(evidence):
            parts = [p for p in re.findall(r"\w+", m.group(0))]
            if _initials(parts).upper() == compact:
                return True
        return compact.lower() in tokens
    if len(words) > 1:
        acronym = _initials(re.findall(r"\w+", name)).lower()
        if len(acronym) >= 2 and acronym in tokens:
            return True
    return False


def unmet(question: str, evidence: str) -> list[Qualifier]:
    """The qualifiers of `question` that `evidence` does not meet."""
    tokens = _tokens(evidence)
    digits = {n.replace(",", "") for n in _NUMBER.findall(evidence)}
    ordinals = {v for m in _ORDINAL.finditer(evidence) if (v := _ordinal_value(m.group(0)))}
    quarters = {v for m in _QUARTER.finditer(evidence) if (v := _quarter_value(m.group(0)))}
    years = set(_YEAR.findall(evidence))
    missing = []
    for q in qualifiers(question):
        if q.kind == "year":
            year = q.text.rstrip("s")
            ok = (year, q.text[4:]) in years or (
                q.text.endswith("s") and any(y[:3] == year[:3] for y, _ in years)
            )
        elif q.kind == "quarter":
            ok = _quarter_value(q.text) in quarters
        elif q.kind == "ordinal":
            ok = _ordinal_value(q.text) in ordinals
        elif q.kind == "number":
            ok = q.text.replace(",", "") in digits
        elif q.kind == "month":
            ok = plain(q.text) in tokens or any(
                MONTHS.get(w.capitalize()) == MONTHS[q.text] for w in tokens
            )
        else:
            ok = _name_met(q.text, evidence, tokens)
        if not ok:
            missing.append(q)
    return missing


# Where a sentence sets two facts against each other ("The US was represented by A, while
# Russia sent B"), each clause has its own qualifiers. Not at ";": "A won the title; it was
# in 2024" holds one fact.
_CONTRAST = re.compile(r",\s+(?:while|whereas|but)\s+", re.IGNORECASE)


def clauses(sentence: str) -> list[tuple[int, int]]:
    """The spans of `sentence`'s contrasted clauses (the whole sentence when it has none)."""
    cuts = [0]
    for match in _CONTRAST.finditer(sentence):
        cuts += [match.start(), match.end()]
    cuts.append(len(sentence))
    return list(zip(cuts[::2], cuts[1::2], strict=True))


def in_other_clause(question: str, sentence: str, span: tuple[int, int]) -> list[Qualifier]:
    """The qualifiers of `question` that `sentence` meets only in a contrasted clause other
    than the one holding the short answer at `span`: "Who represented Russia?" is not
    answered by A in "The US was represented by A, while Russia sent B"."""
    parts = clauses(sentence)
    if len(parts) < 2:
        return []
    own = next((p for p in parts if p[0] <= span[0] < p[1]), parts[-1])
    in_sentence = unmet(question, sentence)
    in_own = unmet(question, sentence[own[0] : own[1]])
    return [q for q in in_own if q not in in_sentence]
