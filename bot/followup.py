"""Follow-up rewriting: a question that leans on the previous turn becomes a standalone one.

Without an LLM the rewrite is deterministic: a pronoun that points at a person takes the
name from the previous answer, "it"/"they"/"there" take the previous question's topic, and
"What about X?" repeats the previous question about X.
"""

from __future__ import annotations

import re

from newsqa.bot.answer_types import AType, candidates, question_type
from newsqa.bot.conversation import Turn

_PERSON_PRONOUN = re.compile(r"\b(he|she|him|his|her|hers)\b", re.I)
_THING_PRONOUN = re.compile(r"\b(it|its|they|them|their|there|this|that|these|those)\b", re.I)
_WHAT_ABOUT = re.compile(r"^\s*(?:(?:and\s+)?what\s+about|how\s+about|and)\s+(.+?)\s*\??\s*$", re.I)
_LEAD = re.compile(
    r"^\s*(?:who|whom|whose|what|which|when|where|why|how(?:\s+many|\s+much)?)\s+"
    r"(?:is|are|was|were|will|would|did|does|do|has|have|had|can|could|should)\s+",
    re.I,
)


_STOP_VERBS = frozenset(
    "be been take took held hold begin start end happen say said send sent do go meet "
    "met sit sat last".split()
)
_BARE_WH = re.compile(r"^\s*(who|whom|what|when|where|why|how|which)\s*\??\s*$", re.I)
_LEAD_WH = re.compile(r"^\s*(who|whom|whose|what|when|where|why|how|which)\b", re.I)
_PLURAL = {"they", "them", "their"}
_PREPOSITIONS = ("for ", "in ", "of ", "to ", "from ", "with ", "about ", "on ")
MAX_TOPIC_WORDS = 5


def _topic(standalone: str) -> str | None:
    """The noun phrase a question was about: "When is the next round?" → "the next round"."""
    match = _LEAD.match(standalone)
    if not match:
        return None
    words = standalone[match.end() :].rstrip(" ?.!").split()
    # Stop before a trailing verb phrase ("the talks held" → "the talks").
    for i, word in enumerate(words[1:], start=1):
        if word.lower() in _STOP_VERBS:
            words = words[:i]
            break
    return " ".join(words) if 0 < len(words) <= MAX_TOPIC_WORDS else None


def _person(turn: Turn) -> str | None:
    if turn.short_answer and question_type(turn.standalone) is AType.PERSON:
        return turn.short_answer
    for text in (turn.short_answer, turn.quote):
        if text:
            names = [s.text for s in candidates(text, AType.PERSON, turn.standalone)]
            multiword = [n for n in names if len(n.split()) > 1]
            if multiword or names:
                return (multiword or names)[-1]
    return None


def _names_in(question: str) -> list[str]:
    return [s.text for s in candidates(question, AType.ENTITY, "")]


def _bare_wh(question: str, previous: Turn) -> str | None:
    """ "Where?" after "When do they meet again?" → "Where do they meet again?"."""
    bare = _BARE_WH.match(question)
    lead = _LEAD_WH.match(previous.standalone)
    if not bare or not lead:
        return None
    word = bare.group(1)
    return word.capitalize() + previous.standalone[lead.end() :]


def _swap_subject(question: str, previous: Turn) -> str | None:
    """ "What about Russia?" after "Who represented the US?" → "Who represented Russia?"."""
    about = _WHAT_ABOUT.match(question)
    if not about:
        return None
    subject = about.group(1)
    names = candidates(previous.standalone, AType.ENTITY, "")
    if not names:
        return f"{previous.standalone.rstrip(' ?')} ({subject})?"
    swap = names[0]  # the first name is usually the one asked about
    head = previous.standalone[: swap.start]
    if subject[:1].isupper() and head.lower().endswith("the "):
        head = head[:-4]  # "the US" → "Russia", not "the Russia"
    for preposition in _PREPOSITIONS:  # "And for Russia?" after "… for Washington …"
        if subject.lower().startswith(preposition) and head.lower().endswith(preposition):
            subject = subject[len(preposition) :]
            break
    return head + subject + previous.standalone[swap.end :]


def _resolve_person(question: str, previous: Turn) -> str | None:
    if not _PERSON_PRONOUN.search(question):
        return None
    person = _person(previous)
    if not person:
        return None

    def name(match: re.Match[str]) -> str:
        word = match.group(1).lower()
        possessive = word in {"his", "hers"} or (
            word == "her" and _possessive_her(question, match.end())
        )
        return f"{person}'s" if possessive else person

    return _PERSON_PRONOUN.sub(name, question)


def _resolve_thing(question: str, previous: Turn) -> str | None:
    found = _THING_PRONOUN.search(question)
    if not found:
        return None
    word = found.group(1).lower()
    names = _names_in(previous.standalone)
    if word in _PLURAL and len(names) >= 2:
        referent = " and ".join(names[:2])  # "them" after "… Trump meet Zelensky …"
    elif (
        word == "there"
        and previous.short_answer
        and (question_type(previous.standalone) is AType.PLACE)
    ):
        referent = previous.short_answer
    else:
        referent = _topic(previous.standalone) or ""
    if referent:
        possessive = word in {"its", "their"}
        text = f"{referent}'s" if possessive else referent
        return question[: found.start()] + text + question[found.end() :]
    # No safe substitution: keep the question and say what it follows up on.
    return f"{question.rstrip(' ?')} (after: {previous.standalone.rstrip(' ?')})?"


_RULES = (_bare_wh, _swap_subject, _resolve_person, _resolve_thing)


def rewrite(question: str, history: list[Turn]) -> str:
    """A standalone version of `question` given the turns before it."""
    if not history:
        return question
    for rule in _RULES:
        rewritten = rule(question, history[-1])
        if rewritten:
            return rewritten
    return question


def _possessive_her(question: str, after: int) -> bool:
    """ "her job" (possessive) rather than "ask her" (object)."""
    rest = question[after:].lstrip()
    return bool(rest) and rest[0].isalpha() and not rest.lower().startswith(("and ", "or "))
