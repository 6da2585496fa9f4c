"""Word lists that several text rules share: month names, number words, name particles.

The reader's answer types (`answer_types.py`) and the LLM verifier (`llm/verify.py`) both
find dates, numbers and names in sentences; they read these lists from here so the two
cannot disagree about what a month or a name particle is.
"""

from __future__ import annotations

# Month names and abbreviations, each with its number.
MONTHS: dict[str, int] = {
    name: number
    for number, names in enumerate(
        [
            ("January", "Jan"),
            ("February", "Feb"),
            ("March", "Mar"),
            ("April", "Apr"),
            ("May",),
            ("June", "Jun"),
            ("July", "Jul"),
            ("August", "Aug"),
            ("September", "Sept", "Sep"),
            ("October", "Oct"),
            ("November", "Nov"),
            ("December", "Dec"),
        ],
        start=1,
    )
    for name in names
}
# A regex alternation of the month names, longest first.
MONTH_PATTERN = "|".join(sorted(MONTHS, key=len, reverse=True))

_UNITS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty"
).split()
_TENS = "thirty forty fifty sixty seventy eighty ninety".split()
# Number words with their values. "one" is left out: it is a pronoun as often as a number.
NUMBER_VALUES: dict[str, int] = {
    word: value for value, word in enumerate(_UNITS) if word != "one"
} | {word: 10 * i for i, word in enumerate(_TENS, 3)}
# Words that make a count in a sentence ("two dozen", "hundreds", "a third").
COUNT_WORDS: tuple[str, ...] = (
    *_UNITS[1:],
    *_TENS,
    "hundred",
    "hundreds",
    "thousand",
    "thousands",
    "dozen",
    "dozens",
    "half",
    "a third",
    "a quarter",
)
COUNT_PATTERN = "|".join(sorted(COUNT_WORDS, key=len, reverse=True))

# Lower-case particles that belong inside a name: "Mohamed bin Zayed", "Ursula von der Leyen".
NAME_PARTICLES: frozenset[str] = frozenset(
    "bin ibn al el de del della da di van von der den du la le".split()
)
NAME_PARTICLE_PATTERN = "|".join(sorted(NAME_PARTICLES, key=len, reverse=True))

