"""Sentence boundaries as exact character spans.

A small rule-based splitter: sentence-final punctuation followed by space and a
capital, digit or opening quote ends a sentence, unless the word before it is a known
abbreviation or an initial; a line break always does. Spans index the original text,
so `text[start:end]` is always the sentence, verbatim.
"""

from __future__ import annotations

import re
from functools import lru_cache

_ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof sr jr st mt ft gen col lt sgt capt cmdr adm gov sen rep pres
    rev hon messrs jan feb mar apr jun jul aug sep sept oct nov dec no nos vol vs etc
    inc ltd co corp dept est fig approx e.g i.e a.m p.m u.s u.k u.n u.a.e d.c al cf""".split()
)

# Candidate boundary: terminal punctuation, optional closing quotes/brackets, then space.
# Tried only where a run of punctuation begins, and never backtracked into, so a line of a
# million "!" costs one pass, not a million.
_BOUNDARY = re.compile(r"""(?<![.!?…])[.!?…]++["'”’)\]]*+(?=\s+["'“‘(\[]?[A-Z0-9À-ÖØ-Þ])""")
_WORD_BEFORE = re.compile(r"([\w.]+)$")
_LONGEST_ABBREVIATION = 16  # characters looked back at for the word before a full stop


def _is_abbreviation(text: str, dot: int) -> bool:
    if text[dot] != ".":
        return False
    # A bounded look back: searching from the start of the text at every full stop made
    # splitting quadratic in the length of a line (a 400 KB line took 50 s). A longer word
    # is cut, and a cut word is never an abbreviation or an initial.
    match = _WORD_BEFORE.search(text, max(0, dot - _LONGEST_ABBREVIATION), dot)
    if not match:
        return False
    word = match.group(1).lower()
    if len(word) == 1 and word.isalpha():  # an initial: "John F. Kennedy"
        return True
    return word.rstrip(".") in _ABBREVIATIONS


def split_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans within `text[start:end]`, trimmed of surrounding whitespace."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n]+", text[start:end]):
        line_start, line_end = start + line.start(), start + line.end()
        cut = line_start
        for match in _BOUNDARY.finditer(text, line_start, line_end):
            if _is_abbreviation(text, match.start()):
                continue
            spans.append((cut, match.end()))
            cut = match.end()
        spans.append((cut, line_end))
    return [trimmed for span in spans if (trimmed := _trim(text, *span))]


def _trim(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if end > start else None


@lru_cache(maxsize=1)
def _word_re() -> re.Pattern[str]:
    return re.compile(r"\S+")


def hard_split(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """Split an over-long span at word boundaries into pieces of at most `max_chars`."""
    pieces: list[tuple[int, int]] = []
    piece_start = start
    last_end = start
    for word in _word_re().finditer(text, start, end):
        if word.end() - piece_start > max_chars and last_end > piece_start:
            pieces.append((piece_start, last_end))
            piece_start = word.start()
        last_end = word.end()
    if last_end > piece_start:
        pieces.append((piece_start, last_end))
    return [trimmed for span in pieces if (trimmed := _trim(text, *span))]
