"""What kind of answer a question expects, and where such answers sit in a sentence.

`question_type` reads the wh-word; `candidates` finds spans of that type (numbers,
dates, names) in a sentence. Both are plain rules: they run in microseconds and are
easy to test, which matters more here than the last point of accuracy.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from enum import StrEnum

from .text_rules import (
    COUNT_PATTERN,
    MONTH_PATTERN,
    NAME_PARTICLE_PATTERN,
    NAME_PARTICLES,
)


class AType(StrEnum):
    PERSON = "person"
    NUMBER = "number"
    DATE = "date"
    PLACE = "place"
    ENTITY = "entity"  # which/what + a capitalized answer
    OTHER = "other"


_MODIFIER = (
    r"(?:(?:more|fewer|less|greater|higher|lower)\s+than|over|under|nearly|almost|about|"
    r"around|roughly|approximately|at\s+least|at\s+most|up\s+to|some|only|just|"
    r"an\s+estimated|as\s+many\s+as|as\s+much\s+as)\s+"
)
_SCALE = r"(?:\s+(?:million|billion|trillion|thousand|hundred|percent|per\s+cent))?%?"
NUMBER_RE = re.compile(
    rf"(?:{_MODIFIER})?(?:[$€£]\s?)?"
    rf"(?:\d+(?:[,.]\d+)*|(?:{COUNT_PATTERN})(?:[- ](?:{COUNT_PATTERN}))*)"
    rf"{_SCALE}",
    re.IGNORECASE,
)
DATE_RE = re.compile(
    rf"\b(?:(?:early|mid|late)[- ])?"
    rf"(?:(?:{MONTH_PATTERN})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{MONTH_PATTERN})(?:,?\s+\d{{4}})?"
    rf"|(?:{MONTH_PATTERN})\.?(?:\s+(?:of\s+)?\d{{4}})?"
    rf"|(?:1[5-9]|20)\d{{2}}s?"
    rf"|(?:last|next|this)\s+(?:week|month|year|summer|winter|spring|autumn|fall|weekend)"
    rf"|(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
    rf"|\d{{1,2}}(?:st|nd|rd|th)\s+century)\b"
)
# Runs of capitalized words, allowing lower-case particles inside names.
NAME_RE = re.compile(
    rf"\b[A-Z][\w’'\-]*(?:\s+(?:(?:{NAME_PARTICLE_PATTERN}|of|the|and)\s+)?"
    rf"[A-Z][\w’'\-]*)*"
)
_TYPE_RULES: list[tuple[re.Pattern[str], AType]] = [
    (
        re.compile(
            r"\bhow\s+(?:many|much|long|far|old|large|big|tall|high)\b|\bwhat\s+"
            r"(?:number|percentage|proportion|amount|share)\b",
            re.I,
        ),
        AType.NUMBER,
    ),
    (
        re.compile(
            r"\bwhen\b|\bwhat\s+(?:year|date|day|month|time|century|decade)\b|"
            r"\bwhich\s+(?:year|date|day|month|century|decade)\b",
            re.I,
        ),
        AType.DATE,
    ),
    (re.compile(r"\bwho(?:m|se)?\b", re.I), AType.PERSON),
    (
        re.compile(
            r"\bwhere\b|\b(?:what|which)\s+(?:city|country|place|region|town|state|"
            r"capital|continent|location)\b",
            re.I,
        ),
        AType.PLACE,
    ),
    (
        re.compile(
            r"\b(?:which|what)\s+(?:\w+\s+)?(?:organization|company|agency|team|party|"
            r"group|university|person|official|leader|president)\b",
            re.I,
        ),
        AType.ENTITY,
    ),
]
_SENTENCE_STARTERS = frozenset(
    "The A An In On At It This That These Those But And Or As For From By With After "
    "Before During While Despite According However Although When Where If Its Their His "
    "Her Our We They He She There Some Many Most Who Whom Whose What Which Why How Does Did "
    "Do Is Are Was Were Will Would Can Could Should Has Have Had".split()
)


@dataclass(frozen=True)
class Span:
    start: int  # offsets into the sentence
    end: int
    text: str


def question_type(question: str) -> AType:
    for pattern, kind in _TYPE_RULES:
        if pattern.search(question):
            return kind
    return AType.OTHER


_PARTICLES = NAME_PARTICLES | {"and", "of", "the", "s"}
_LOCATIVE = re.compile(r"\b(?:in|at|near|from|to|into|outside|inside|across)\s+(?:the\s+)?$", re.I)


def _words(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"\w+", text)} - _PARTICLES


def _names(sentence: str) -> list[Span]:
    spans = []
    for match in NAME_RE.finditer(sentence):
        tokens = [(m.start(), m.end()) for m in re.finditer(r"\S+", match.group(0))]
        text = match.group(0)
        # Drop capitalized function words that open a sentence, and dangling particles.
        while tokens and text[tokens[0][0] : tokens[0][1]] in _SENTENCE_STARTERS:
            tokens.pop(0)
        while tokens and text[tokens[-1][0] : tokens[-1][1]].islower():
            tokens.pop()
        if tokens:
            start, end = match.start() + tokens[0][0], match.start() + tokens[-1][1]
            spans.append(Span(start, end, sentence[start:end]))
    return spans


def candidates(sentence: str, kind: AType, question: str) -> list[Span]:
    """Spans of the expected type in `sentence` that do not just repeat the question."""
    asked = _words(question)
    if kind is AType.NUMBER:
        found = [Span(m.start(), m.end(), m.group(0)) for m in NUMBER_RE.finditer(sentence)]
        found = [s for s in found if any(ch.isdigit() for ch in s.text) or len(s.text) > 3]
    elif kind is AType.DATE:
        found = [Span(m.start(), m.end(), m.group(0)) for m in DATE_RE.finditer(sentence)]
    elif kind in (AType.PERSON, AType.ENTITY):
        found = _names(sentence)
    elif kind is AType.PLACE:
        found = _names(sentence)
        located = [s for s in found if _LOCATIVE.search(sentence, 0, s.start)]
        found = located or found
    else:
        return []
    return [s for s in found if not _words(s.text) <= asked]


_CLAUSE = re.compile(
    r",\s+(?=(?:while|whereas|but|although|though|which|who|and\s+the)\b)|;\s+|\s+[—–]\s+"
)


def _clauses(sentence: str) -> list[tuple[int, int]]:
    cuts = [0, *(m.end() for m in _CLAUSE.finditer(sentence)), len(sentence)]
    return [(a, b) for a, b in itertools.pairwise(cuts) if b > a]


def short_answer(sentence: str, kind: AType, question: str, anchors: list[int]) -> Span | None:
    """The most likely short answer in `sentence`, or None.

    `anchors` are positions where question terms occur. The answer is looked for in
    the clause holding most of them ("…, while Russia sent X" for "Whom did Russia
    send?"), nearest to them, preferring what follows an anchor (answers tend to come
    after the verb). Names joined by "and" stay together ("Witkoff and Kushner").
    """
    found = candidates(sentence, kind, question)
    if not found:
        return None
    if anchors:
        clauses = _clauses(sentence)
        best = max(clauses, key=lambda c: (sum(c[0] <= a < c[1] for a in anchors), -c[0]))
        inside = [s for s in found if best[0] <= s.start < best[1]]
        found = inside or found

        def distance(span: Span) -> float:
            return min(
                span.start - a if span.start >= a else 2.0 * max(0, a - span.end) for a in anchors
            )

        found.sort(key=lambda s: (distance(s), -len(s.text)))
    answer = found[0]
    if kind is AType.PERSON and len(answer.text.split()) == 1:
        longer = [s for s in found if len(s.text.split()) > 1]
        if longer:
            answer = longer[0]
    return answer
