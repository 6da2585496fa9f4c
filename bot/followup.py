"""Follow-ups without an LLM: candidate standalone questions, judged by the reader.

A follow-up ("What is his job?", "Where?", "And Russia?", "and who is he?") leans on the
turns before it: their questions, short answers and quotes. The rules here only *propose*
standalone versions of it; none of them decides:

- a pronoun takes, in turn, the previous short answer, the names and noun phrases of the
  previous questions, and the names in the previous quote ("What is his job?" → "What is
  Igor Kostyukov's job?");
- a bare wh-word takes the previous question's predicate ("Where?" after "When will they
  meet again?" → "Where will they meet again?", whose "they" is then resolved too);
- "And Russia?" / "What about X?" swaps X into the previous questions ("Who represented
  Russia?");
- a leading "and" is dropped from a question that is whole without it;
- the question as asked, when it is a well-formed question itself.

Every proposal must pass `well_formed`, so no rule can hand on a garbled question; the
chain (`bot/chain.py`) retrieves and reads for each one and keeps the proposal whose best
sentence the reader model finds most relevant. Pure functions, no model and no I/O.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from newsqa.bot.conversation import Turn
from newsqa.bot.reader.text_rules import MONTHS, NAME_PARTICLES

MAX_PROPOSALS = 4  # rewrites judged per follow-up, besides the question as asked
MAX_REFERENT_WORDS = 8

WH = frozenset("who whom whose what which when where why how".split())
AUX = frozenset(
    "is are was were am be do does did has have had will would can could should shall may "
    "might must".split()
)
_DO = frozenset({"do", "does", "did"})
_COPULA = frozenset({"is", "are", "was", "were", "am"})
PREPOSITIONS = frozenset(
    "in on at by for from to with about of into over under until till since after before "
    "during against between through among within without toward towards across".split()
)
DETERMINERS = frozenset("the a an this that these those its their his her our my your".split())
_CONNECTIVES = frozenset({"and", "but", "so", "then", "also", "ok", "okay"})
_PERSON = frozenset({"he", "she", "him", "his", "her", "hers"})
_PLURAL = frozenset({"they", "them", "their"})
_THING = frozenset({"it", "its"})
_DEMONSTRATIVE = frozenset({"that", "this"})
_POSSESSIVE = frozenset({"his", "its", "their", "hers"})
PRONOUNS = _PERSON | _PLURAL | _THING | frozenset({"i", "you", "we", "us", "me"})
# A wh-word that asks for a circumstance, not for the subject or the object.
_ADJUNCT = frozenset({"when", "where", "why", "how"})
_ADJUNCT_NOUNS = frozenset(
    "time year date day month minute hour week city country place town region venue "
    "round stage season".split()
)
_HOW = frozenset("many much long often far old big large soon".split())

# Past forms that are not "-ed", with their base form.
_IRREGULAR = dict(
    pair.split(":")
    for pair in """
    began:begin became:become broke:break brought:bring built:build bought:buy came:come
    caught:catch chose:choose cut:cut dealt:deal drew:draw drove:drive fell:fall felt:feel
    fought:fight found:find flew:fly forgot:forget froze:freeze gave:give got:get went:go
    grew:grow had:have heard:hear held:hold hit:hit hurt:hurt kept:keep knew:know laid:lay
    led:lead left:leave lent:lend let:let lost:lose made:make meant:mean met:meet paid:pay
    put:put quit:quit ran:run rang:ring rose:rise said:say saw:see sold:sell sent:send
    set:set shot:shoot shut:shut sang:sing sank:sink sat:sit slept:sleep spoke:speak
    spent:spend split:split spread:spread stood:stand stole:steal struck:strike swept:sweep
    swam:swim took:take taught:teach tore:tear told:tell thought:think threw:throw
    understood:understand woke:wake wore:wear won:win withdrew:withdraw wrote:write
    beat:beat bid:bid cost:cost overtook:overtake oversaw:oversee undertook:undertake
    fled:flee completed:complete competed:compete deleted:delete united:unite treated:treat
    defeated:defeat repeated:repeat created:create cancelled:cancel travelled:travel
    labelled:label focused:focus""".split()
)
_PARTICIPLES = frozenset(
    "begun broken chosen done drawn driven eaten fallen flown forgotten frozen given gone "
    "grown known ridden risen seen shown spoken stolen sworn taken thrown woken worn won "
    "written been withdrawn overtaken".split()
)
_NOT_VERBS = frozenset(
    "speed need seed feed breed hundred red bed shed bred deed weed greed creed reed "
    "thing spring string king ring wing evening morning building meeting ceiling".split()
)
# Base forms of verbs that questions about the news use: a noun phrase stops before one.
_BASE_VERBS = frozenset(
    """say tell send meet hold take give make get go come win lose lead build run pay cost
    ask start begin end open close want hope call plan expect need include mean produce
    happen agree vote play score reach keep serve employ recover contribute criticise
    criticize double ride propose represent report describe address focus demand require
    respond reject approve design find carve dry preserve promise offer announce sign
    launch release free kill injure damage hit strike attack fund buy sell cause become
    leave return visit discuss decide claim deny accept refuse warn blame praise welcome
    support oppose face charge arrest order allow ban join quit replace choose elect
    appoint name beat defeat draw lift raise cut increase reduce rise fall grow drop
    invest spend save earn owe cover protect host attend mark follow achieve broker
    facilitate mediate negotiate sit stand live work die stay move travel arrive happen
    declare evacuate flood flee rescue search believe think know see hear feel look
    show use try help put set let write read speak talk suggest insist explain state
    confirm reveal add note withdraw""".split()
)
_WORD = re.compile(r"[^\W_](?:[\w’'\-.,]*[^\W_])?|[?]", re.UNICODE)
_TITLES = frozenset(
    """president presidential vice prime minister deputy secretary chancellor premier sheikh
    king queen prince mayor governor senator envoy ambassador chief coach captain director
    councillor striker midfielder defender goalkeeper substitute meteorologist dr mr mrs ms
    regional economy union leader executive""".split()
)
# Capitalized words that open a sentence without being (part of) a name.
_OPENERS = frozenset(
    """the a an in on at it this that these those but and or as for from by with after before
    during while despite according however although when where if its their his her our we
    they he she there some many most who whom whose what which why how does did do is are
    was were will would can could should has have had more than about""".split()
)
_SPEECH = frozenset(
    "say says said tell told claim claimed report reported announce announced".split()
)
_STOPS = AUX | PREPOSITIONS | WH | DETERMINERS | frozenset({"and", "or", "not", "to"})
_WEEKDAYS = frozenset("monday tuesday wednesday thursday friday saturday sunday".split())


@dataclass(frozen=True)
class Proposal:
    """One candidate standalone question, and the rule that proposed it."""

    question: str
    rule: str  # "as asked", "pronoun", "ellipsis", "swap", "said"


# -- well-formedness --------------------------------------------------------------------------
def _tokens(text: str) -> list[str]:
    return [t for t in _WORD.findall(text) if t != "?"]


def _strip_connective(question: str) -> str:
    """ "and who is he?" → "Who is he?"; anything else as it is."""
    words = question.strip().split(maxsplit=1)
    if len(words) == 2 and words[0].lower().strip(",") in _CONNECTIVES:
        rest = words[1].lstrip(", ")
        if rest[:1].isalpha() and _lead_word(rest) is not None:
            return rest[0].upper() + rest[1:]
    return question.strip()


def _lead_word(question: str) -> str | None:
    """The question's wh-word or auxiliary (after a leading preposition), or None."""
    tokens = [t.lower() for t in _tokens(question)]
    if len(tokens) >= 2 and tokens[0] in PREPOSITIONS and tokens[1] in WH:
        return tokens[1]
    if tokens and (tokens[0] in WH or tokens[0] in AUX):
        return tokens[0]
    return None


def well_formed(question: str) -> bool:
    """Reads as one whole question: a wh-word or an auxiliary first, at least one more word,
    one question mark at the end, and nothing spliced in (no second wh-word after a
    determiner, preposition or auxiliary, no doubled word, no dangling article or
    conjunction, no brackets).

    "Who represented the who is he?" and "How many prisoner exchange agreements has the how
    many detainees were freed through them facilitated?" are not; "Where?" is not a whole
    question either (it needs the one before it).
    """
    text = _strip_connective(question)
    if not text.endswith("?") or text.count("?") != 1 or re.search(r"[()\[\]{}<>]", text):
        return False
    if not text[:1].isupper() or len(text) > 300:
        return False
    raw = [t.strip(".,") for t in _tokens(text)]
    # An acronym is a name, not the word it spells: "the US", "the IT budget".
    shouted = text.isupper()
    tokens = [t if len(t) > 1 and t.isupper() and not shouted else t.lower() for t in raw]
    first = 1 if len(tokens) > 1 and tokens[0] in PREPOSITIONS and tokens[1] in WH else 0
    if len(tokens) < first + 2 or tokens[first] not in WH | AUX:
        return False
    if tokens[first] in AUX and len(tokens) < 3:
        return False
    if _lead_length(tokens) >= len(tokens):  # "Where?", "In which minute?": no predicate
        return False
    for previous, token in itertools.pairwise(tokens[first:]):
        if token in WH and (
            token in {"how", "why", "what"}
            or previous in DETERMINERS | PREPOSITIONS | AUX | PRONOUNS | WH | _CONNECTIVES
        ):
            return False
        if token == previous and token not in {"that", "had"}:
            return False
        if previous in DETERMINERS - {"that", "this"} and (
            token in DETERMINERS | AUX | WH | PRONOUNS | PREPOSITIONS
        ):
            return False
    return tokens[-1] not in DETERMINERS - {"that", "this"} | {"and", "or", "’s", "'s"}


def _lead_length(tokens: list[str]) -> int:
    """How many of the (lower-case) tokens the wh-phrase takes: "in which minute" → 3."""
    i = 1 if len(tokens) > 1 and tokens[0] in PREPOSITIONS and tokens[1] in WH else 0
    j = i + 1
    if tokens[i] == "how" and j < len(tokens) and tokens[j] in _HOW:
        j += 1
    if tokens[i] in {"which", "what", "whose"} or tokens[j - 1] in {"many", "much"}:
        while (
            j < len(tokens) and tokens[j] not in AUX | PREPOSITIONS and not _verb_before(tokens, j)
        ):
            j += 1
    return j


def follows_up(question: str) -> bool:
    """The question leans on the conversation: a pronoun, a leading "and", an ellipsis."""
    words = {t.lower() for t in _tokens(question)}
    if words & (_PERSON | _PLURAL | _THING | {"there"}):
        return True
    if _demonstratives(question) or re.search(r"\b\w+\s+so\s*\?\s*$", question, re.I):
        return True  # "Who said that?", "Who said so?"
    first = question.strip().split(maxsplit=1)[0].lower().strip(",") if question.strip() else ""
    return first in _CONNECTIVES or elliptical(question)


def elliptical(question: str) -> bool:
    """Only a part of a question: "Where?", "In which minute?", "And Russia?", "What about
    X?". Such a question is never answered as asked; any other question may be, whatever
    its form (the user's words are not held to `well_formed`)."""
    return _ELLIPSIS.match(question.strip()) is not None or _about(question) is not None


# -- reading a question -----------------------------------------------------------------------
@dataclass(frozen=True)
class _Parsed:
    lead: list[str]  # the wh-phrase as written: ["When"], ["Which", "villages"], []
    wh: str  # the wh-word, lower case; "" for a yes/no question
    noun: list[str]  # "villages" of "Which villages", "people" of "How many people"
    kind: str  # "adjunct", "subject", "object" or "yesno"
    aux: str | None
    rest: list[str]  # after the auxiliary (or after the lead, starting with the verb)


def _verbish(word: str) -> bool:
    low = word.lower()
    if not word.islower() or low in _NOT_VERBS:
        return False
    if low in _IRREGULAR or low in _PARTICIPLES or low in _BASE_VERBS:
        return True
    return len(low) > 4 and (low.endswith("ed") or low.endswith("ing"))


def _verb_before(words: list[str], j: int) -> bool:
    """words[j] is a verb: one `_verbish`, or a present "-s" form followed by its object
    ("Which company makes the cars", "Who leads it"; not "the next round of talks")."""
    if _verbish(words[j]):
        return True
    low = words[j].lower()
    if not (low.endswith("s") and low[:-1] in _BASE_VERBS | {"doe", "goe"}):
        return False
    following = words[j + 1].lower() if j + 1 < len(words) else ""
    return not following or following in DETERMINERS | PRONOUNS or words[j + 1][:1].isupper()


def _parse(question: str) -> _Parsed | None:
    words = _tokens(_strip_connective(question))
    if len(words) < 2:
        return None
    low = [w.lower() for w in words]
    i = 1 if low[0] in PREPOSITIONS and low[1] in WH else 0
    wh = low[i]
    if i == 0 and wh in AUX:
        return _Parsed([], "", [], "yesno", words[0], words[1:])
    if wh not in WH:
        return None
    j = i + 1
    if wh == "how" and j < len(low) and low[j] in _HOW:
        j += 1
    noun: list[str] = []
    if wh in {"which", "what", "whose"} or (wh == "how" and low[j - 1] in {"many", "much"}):
        while (
            j < len(words)
            and len(noun) < 4
            and low[j] not in AUX
            and low[j] not in PREPOSITIONS
            and not _verb_before(words, j)
        ):
            noun.append(words[j])
            j += 1
    lead, tail = words[:j], words[j:]
    if not tail:
        return None
    adjunct = (
        i == 1
        or (wh in _ADJUNCT and not (wh == "how" and noun))
        or (bool(noun) and noun[-1].lower() in _ADJUNCT_NOUNS)
    )
    if tail[0].lower() in AUX:
        aux, rest = tail[0], tail[1:]
        if not rest:
            return None
        if adjunct:
            kind = "adjunct"
        elif aux.lower() in _DO or _starts_noun_phrase(rest[0]):
            kind = "object"
        else:
            kind = "subject"
        return _Parsed(lead, wh, noun, kind, aux, rest)
    if adjunct or not _verb_before(words, j):
        return None
    return _Parsed(lead, wh, noun, "subject", None, tail)


def _starts_noun_phrase(word: str) -> bool:
    low = word.lower()
    return (
        low in DETERMINERS
        or low in PRONOUNS
        or word[:1].isupper()
        or word[:1].isdigit()
        or (not _verbish(word) and low not in PREPOSITIONS and low not in {"not", "also"})
    )


def _base(verb: str) -> tuple[str, bool] | None:
    """The base form of a verb and whether it was past: "declared" → ("declare", True)."""
    low = verb.lower()
    if low in _IRREGULAR:
        return _IRREGULAR[low], True
    if low.endswith("ed") and len(low) > 4:
        stem = low[:-2]
        if stem.endswith("i"):
            return stem[:-1] + "y", True
        if len(stem) > 2 and stem[-1] == stem[-2] and stem[-1] in "bdgmnprt":
            return stem[:-1], True
        if stem.endswith("e"):  # agreed, freed
            return stem, True
        if re.search(
            r"(?:[aou]t|[aoui]r|[^aeiou][aeiou][cvzsg]|ng|rg|dg|[iy]z|[iy]s|ac|ic|uc)$", stem
        ):
            return stem + "e", True
        return stem, True
    if low.endswith("ies") and len(low) > 4:
        return low[:-3] + "y", False
    if re.search(r"(?:ch|sh|ss|x|o)es$", low):
        return low[:-2], False
    if low.endswith("s") and not low.endswith("ss") and len(low) > 3:
        return low[:-1], False
    return None


# -- what a pronoun can stand for -------------------------------------------------------------
_APOSTROPHE_S = re.compile(r"[’']s$")


def _names(text: str, skip_first: bool = True) -> list[str]:
    """Runs of capitalized words ("Igor Kostyukov", "the UAE", "Mohamed bin Zayed Al
    Nahyan"), without a sentence-opening function word, a possessive "'s", months,
    weekdays or a dateline ("ABU DHABI:"); "the" kept where the text has it. A run that
    only modifies a noun ("the UAE government") is a noun phrase, not a name."""
    matches = list(_WORD.finditer(text))
    found: list[str] = []
    run: list[str] = []
    the = False

    def close(following: str = "") -> None:
        while run and (run[-1].lower() in NAME_PARTICLES or run[-1].lower() == "of"):
            run.pop()
        modifier = the and following.islower() and following.lower() not in _STOPS
        if (
            run
            and not modifier
            and not following.startswith("’s")
            and not (len(run) > 1 and all(w.isupper() for w in run))
        ):
            found.append(("the " if the else "") + " ".join(run))
        run.clear()

    for index, match in enumerate(matches):
        word = match.group(0)
        gap = text[matches[index - 1].end() : match.start()] if index else ""
        if run and gap.strip():  # punctuation between two words ends a name
            close()
        bare = _APOSTROPHE_S.sub("", word).rstrip(".,")
        capital = (
            bare[:1].isupper()
            and bare not in MONTHS
            and bare.lower() not in _WEEKDAYS
            and not (bare.isupper() and len(bare) > 4)
        )
        opener = (index == 0 and skip_first) or bare.lower() in _OPENERS
        if capital and not (opener and not run):
            if not run:
                the = index > 0 and matches[index - 1].group(0) == "the"
            run.append(bare)
            if bare != word.rstrip(".,") or word.endswith(","):  # "Dunmore's", "Kyiv,"
                close()
        elif run and word.lower() in NAME_PARTICLES | {"of"}:
            run.append(word)
        else:
            close(word)
    close()
    return list(dict.fromkeys(found))


def _without_title(name: str) -> str:
    words = name.split()
    while len(words) > 2 and words[0].lower() in _TITLES:
        words.pop(0)
    return " ".join(words)


def _noun_phrases(question: str) -> list[str]:
    """ "the X" phrases of a question: "the next round of talks", "the UAE government"."""
    words = _tokens(question)
    found = []
    for i, word in enumerate(words):
        if word.lower() != "the" or i == 0:
            continue
        phrase = [word.lower()]
        for following in words[i + 1 :]:
            low = following.lower()
            if low == "of" and len(phrase) > 1:
                phrase.append(low)
                continue
            if (
                low in AUX
                or low in WH
                or low in PREPOSITIONS
                or low in DETERMINERS
                or low in {"and", "or", "not", "again", "also", "due", "likely", "able"}
                or (low in {"last", "first"} and len(phrase) > 1)  # "the first budget" stays
                or _verbish(following)
                or len(phrase) > 5
            ):
                break
            phrase.append(following)
        while phrase and phrase[-1] == "of":
            phrase.pop()
        if len(phrase) > 1:
            found.append(" ".join(phrase))
    return found


def _answer_phrase(turn: Turn) -> str | None:
    """The previous short answer as a noun phrase ("a new tram line" → "the new tram
    line", "Bronze Age boat" → "the Bronze Age boat"), or None when it is a clause, a date,
    a bare number or too long to repeat."""
    text = re.sub(r"^[A-Z][A-Z .’'\-]+:\s*", "", (turn.short_answer or "").strip())
    text = text.rstrip(".,;:")
    words = text.split()
    if not words or len(words) > MAX_REFERENT_WORDS or re.search(r"[,;:\"“”()]", text):
        return None
    first = words[0]
    if first in MONTHS or first.lower() in _WEEKDAYS or re.fullmatch(r"[\d,.]+", text):
        return None
    if text.isupper() and len(text) > 4:  # a dateline ("GRENFOLD"), not a name
        return None
    if first.lower() in {"a", "an"}:
        return "the " + " ".join(words[1:]) if len(words) > 1 else None
    if first.lower() in {"the", "its", "their"}:
        return first.lower() + text[len(first) :]  # "The city council" inside a question
    # A preposition may only bring in a name: "fisherman from Ossary", not "between …".
    place = re.fullmatch(r"(.+?) (?:of|from|in|at) (?:the )?[A-Z][^,;]*", text)
    head = place.group(1).split() if place else words
    if any(_verbish(w) or w.lower() in _STOPS - DETERMINERS - {"and"} for w in head):
        return None  # "held direct discussions", "between Tallow and Brenmouth"
    if first[:1].isupper():
        return f"the {text}" if words[-1].islower() else text
    return f"the {text}" if len(words) <= 4 else None


def _number_phrase(turn: Turn, parsed: _Parsed | None) -> str | None:
    """ "17" to "How many prisoner exchange agreements …?" → "the 17 prisoner exchange
    agreements"."""
    answer = (turn.short_answer or "").strip()
    if parsed is None or parsed.wh != "how" or not parsed.noun or not answer:
        return None
    if not re.fullmatch(r"(?:about |nearly |more than |some |over )?[\d,.]+", answer):
        return None
    number = answer.split()[-1]
    return f"the {number} {' '.join(parsed.noun)}"


def _split_names(text: str) -> list[str]:
    return [p for p in re.split(r",\s*|\s+and\s+", text) if p]


def _person_like(name: str) -> bool:
    words = name.split()
    return 2 <= len(words) <= 6 and all(w[:1].isupper() or w in NAME_PARTICLES for w in words)


def _referents(pronoun: str, history: Sequence[Turn]) -> list[str]:
    """What `pronoun` can stand for, most likely first."""
    last = history[-1]
    earlier = list(reversed(history[-3:-1]))
    parsed = _parse(last.standalone)
    asked = parsed.wh if parsed is not None else ""
    answer = _answer_phrase(last)
    # The answer to "when", "why" or "how" is no person or thing to point back at; the
    # answer to "where" is a place: "there", not "he" or "they".
    entity = (
        answer if asked not in _ADJUNCT and not (asked == "what" and _is_time(parsed)) else None
    )
    found: list[str] = []
    if pronoun in _PERSON:
        if entity and asked == "who":  # "he" is the person just named
            people = [_without_title(n) for n in _split_names(entity) if n[:1].isupper()]
            return people or [entity]
        if entity:
            found += [_without_title(n) for n in _split_names(entity) if n[:1].isupper()]
        for turn in [last, *earlier]:
            found += [_without_title(n) for n in _names(turn.standalone) if _person_like(n)]
        found += [_without_title(n) for n in _names(last.quote or "", False) if _person_like(n)]
        for turn in [last, *earlier]:  # a surname alone: "What did Adeyemi do before?"
            found += [n for n in _names(turn.standalone) if " " not in n and not n.isupper()]
    elif pronoun in _PLURAL:
        if entity and (entity[:1].isupper() or " and " in entity or entity.endswith("s")):
            found.append(entity)
        number = _number_phrase(last, parsed)
        if number:
            found.append(number)
        for turn in [last, *earlier]:
            found += _pairs(turn.standalone)
            people = [n for n in _names(turn.standalone) if not n.startswith("the ")]
            if len(people) == 2:
                found.append(" and ".join(people))  # "Where did Trump meet Zelensky?"
            found += _which_phrase(turn.standalone)
            found += [p for p in _noun_phrases(turn.standalone) if p.endswith("s")]
            found += [p for p in _object_phrase(turn.standalone) if p.endswith("s")]
        found += _pairs(last.quote or "")
        found += [n for n in _names(last.standalone) if len(n.split()) > 1]
    elif pronoun in _THING | _DEMONSTRATIVE:
        if entity and not re.fullmatch(r"[\d,.]+", entity):
            found.append(entity)
        elif pronoun in _DEMONSTRATIVE and last.short_answer and len(last.short_answer) < 40:
            found.append(last.short_answer.strip().rstrip(".,"))
        number = _number_phrase(last, parsed)
        if number and pronoun in _DEMONSTRATIVE:
            found.append(number)
        for turn in [last, *earlier]:
            found += _which_phrase(turn.standalone)
            found += _noun_phrases(turn.standalone)
            found += _object_phrase(turn.standalone)
            found += [n for n in _names(turn.standalone) if not _person_like(n) or " " in n]
        for turn in earlier:
            earlier_answer = _answer_phrase(turn)
            if earlier_answer:
                found.append(earlier_answer)
    elif pronoun == "there":
        if answer and answer[:1].isupper() and asked == "where":
            found.append(f"in {answer}")
        elif asked == "where" and last.short_answer:  # "a new depot at Kessel Point"
            found += [f"{m.group(1)} {m.group(2)}" for m in _PLACE.finditer(last.short_answer)]
        for turn in [last, *earlier]:
            found += [f"{m.group(1)} {m.group(2)}" for m in _PLACE.finditer(turn.standalone)]
    return [r for r in dict.fromkeys(found) if r and r.lower() != pronoun]


def _object_phrase(question: str) -> list[str]:
    """The bare noun phrase a question ends with, made definite: "When did Kyiv and
    Moscow last hold face-to-face talks?" → "the face-to-face talks"."""
    words = _tokens(question)
    tail: list[str] = []
    for word in reversed(words[1:]):
        if not word.islower() or word in _STOPS or _verbish(word) or len(tail) >= 3:
            break
        tail.insert(0, word)
    if not tail or len(tail) == len(words) - 1 or not _verbish(words[-len(tail) - 1]):
        return []
    return ["the " + " ".join(tail)]


def _is_time(parsed: _Parsed | None) -> bool:
    return parsed is not None and bool(parsed.noun) and parsed.noun[-1].lower() in _ADJUNCT_NOUNS


_PLACE = re.compile(r"\b(in|at)\s+((?:the\s+)?[A-Z][\w’'\-]*(?:\s+[A-Z][\w’'\-]*)*)")


def _pairs(text: str) -> list[str]:
    """ "Trump and Zelensky", "Brenmouth and Ossary": two names joined by "and"."""
    pattern = (
        r"\b([A-Z][\w’'\-]+(?: [A-Z][\w’'\-]+)*) and ([A-Z][\w’'\-]+(?: [A-Z][\w’'\-]+)*)"
        r"(?: ([a-z]+s)\b)?"
    )
    pairs = []
    for match in re.finditer(pattern, text):
        a, b, noun = match.group(1), match.group(2), match.group(3)
        a = " ".join(w for w in a.split() if w.lower() not in _OPENERS) or a
        if a.lower() in _OPENERS or b.lower() in _OPENERS:
            continue
        if noun and not _verbish(noun) and noun not in PREPOSITIONS | AUX:
            pairs.append(f"{a} and {b} {noun}")  # "Ukrainian and Russian delegations"
        else:
            pairs.append(f"{a} and {b}")
    return pairs


def _which_phrase(question: str) -> list[str]:
    """ "Which villages were flooded?" → "the villages"; "How many homes …" → "the homes"."""
    parsed = _parse(question)
    if parsed is None or not parsed.noun or parsed.wh not in {"which", "what", "how"}:
        return []
    if parsed.noun[-1].lower() in _ADJUNCT_NOUNS - {"city", "country", "place", "town", "region"}:
        return []
    return ["the " + " ".join(parsed.noun)]


# -- the rules --------------------------------------------------------------------------------
_PRONOUN = re.compile(
    r"\b(he|she|him|his|her|hers|they|them|their|it|its|there|that|this)\b", re.IGNORECASE
)


def _demonstratives(question: str) -> list[re.Match[str]]:
    """ "that"/"this" used as a pronoun: "Who said that?", "What did that produce?"."""
    found = []
    for match in re.finditer(r"\b(that|this)\b", question, re.IGNORECASE):
        after = question[match.end() :].strip()
        following = _tokens(after)
        before = _tokens(question[: match.start()])
        if before and before[-1].lower() in _SPEECH:
            continue  # "Who said that?": what was said, not a thing to name
        if not following or (
            before
            and before[-1].lower() in AUX
            and (_verbish(following[0]) or following[0].lower() in {"enough", "true", "so"})
        ):
            found.append(match)
    return found


def _pronouns(question: str) -> list[re.Match[str]]:
    demonstratives = {m.start() for m in _demonstratives(question)}
    found = []
    for match in _PRONOUN.finditer(question):
        word = match.group(1).lower()
        if word in _DEMONSTRATIVE and match.start() not in demonstratives:
            continue
        if word == "there" and re.match(
            r"\s+(?:is|are|was|were|be|been)\b", question[match.end() :]
        ):
            continue  # "was there …" is no place
        found.append(match)
    return found


def _substitute(question: str, match: re.Match[str], referent: str) -> str:
    word = match.group(1).lower()
    possessive = word in _POSSESSIVE or (word == "her" and _possessive_her(question, match.end()))
    text = referent
    if possessive:
        plural_noun = text.endswith("s") and text.split()[-1].islower()
        text = f"{text}'" if plural_noun else f"{text}'s"
    return question[: match.start()] + text + question[match.end() :]


def _possessive_her(question: str, after: int) -> bool:
    """ "her job" (possessive) rather than "ask her" (object)."""
    rest = question[after:].lstrip()
    return bool(rest) and rest[0].isalpha() and not rest.lower().startswith(("and ", "or "))


def _resolve_pronouns(question: str, history: Sequence[Turn], limit: int) -> list[str]:
    """`question` with each pronoun replaced by each of its referents (in combination)."""
    matches = _pronouns(question)
    if not matches:
        return []
    options = []
    for match in matches:
        word = match.group(1).lower()
        referents: list[str | None] = list(_referents(word, history)[:limit])
        if word in {"there"} | _DEMONSTRATIVE or not referents:
            referents.append(None)  # kept as it is
        options.append(referents)
    results = []
    for choice in itertools.product(*options):
        if all(c is None for c in choice):
            continue
        used: set[str] = set()
        picked = []
        for match, referent in zip(matches, choice, strict=True):
            # "What did she say about her players?": one name is enough, the second
            # pronoun then reads as it should.
            picked.append((match, None if referent in used else referent))
            if referent is not None:
                used.add(referent)
        text = question
        for match, referent in sorted(picked, key=lambda p: -p[0].start()):
            if referent is not None:
                text = _substitute(text, match, referent)
        results.append(_capitalize(text))
        if len(results) >= limit:
            break
    return results


_ELLIPSIS = re.compile(
    r"^(?:(?:and|so|but|then)\s+)?"
    r"((?:(?:in|at|on|by|for|from|until|till|since|to)\s+)?"
    r"(?:when|where|why|how(?:\s+(?:long|often|soon|far))?|(?:which|what)\s+[a-z]+))"
    r"(?:\s+(?:exactly|then|again))?\s*\??\s*$",
    re.IGNORECASE,
)


def _ellipsis(question: str, history: Sequence[Turn]) -> list[str]:
    """ "Where?" → the previous question's predicate asked with "where"."""
    match = _ELLIPSIS.match(question.strip())
    if not match:
        return []
    new = match.group(1)
    words = new.lower().split()
    if len(words) >= 2 and words[-2] in {"which", "what"} and words[-1] not in _ADJUNCT_NOUNS:
        return []
    results = []
    for turn in list(reversed(history[-2:])):
        parsed = _parse(turn.standalone)
        if parsed is None:
            continue
        for text in _with_wh(new, parsed, turn):
            results.append(text)
        if results:
            break
    return results


def _with_wh(new: str, parsed: _Parsed, turn: Turn) -> list[str]:
    lead = _capitalize(new)
    rest = " ".join(parsed.rest)
    if parsed.kind == "yesno":
        return [f"{lead} {parsed.aux.lower() if parsed.aux else ''} {rest}?".replace("  ", " ")]
    if parsed.kind == "adjunct":
        if " ".join(parsed.lead).lower() == new.lower():
            return []
        return [f"{lead} {parsed.aux} {rest}?"]
    answer = _answer_phrase(turn)
    fillers = []
    if parsed.noun:  # "Which villages were flooded?": "the villages" always fits
        fillers.append("the " + " ".join(parsed.noun))
    if answer and (answer[:1].isupper() or answer.startswith("the ")):
        fillers.append(answer)
    results = []
    for filler in fillers:
        if parsed.kind == "object":
            if parsed.aux and parsed.aux.lower() in _COPULA and filler[:1].isupper():
                results.append(f"{lead} {parsed.aux} {filler} {rest}?")
            elif len(parsed.rest) <= 3 and filler[:1].isupper():
                results.append(f"{lead} {parsed.aux} {rest} {filler}?")
        elif parsed.aux is not None:
            results.append(f"{lead} {parsed.aux} {filler} {rest}?")
        else:
            base = _base(parsed.rest[0])
            if base is None:
                continue
            verb, past = base
            plural = " and " in filler or (filler.islower() and filler.endswith("s"))
            do = "did" if past else "do" if plural else "does"
            tail = " ".join([verb, *parsed.rest[1:]])
            results.append(f"{lead} {do} {filler} {tail}?")
    return results


_ABOUT = re.compile(
    r"^(?:(?:and|but|so)\s+)?(?:(?:what|how)\s+about|and|also|but)\s+(.+?)\s*\??\s*$",
    re.IGNORECASE,
)


def _about(question: str) -> str | None:
    """X of "And X?", "What about X?", "How about X?", unless X is itself a question."""
    match = _ABOUT.match(question.strip())
    if not match:
        return None
    subject = match.group(1).strip()
    if not subject or _lead_word(subject) is not None:
        return None
    return subject


def _swap(question: str, history: Sequence[Turn]) -> list[str]:
    """ "And Russia?" after "Who represented the US?" → "Who represented Russia?"."""
    subject = _about(question)
    if subject is None:
        return []
    results = []
    if re.match(r"^(?:what|how)\s+about\b", question.strip(), re.IGNORECASE) and re.search(
        r"[’']s\s+\w", subject
    ):
        results.append(f"What is {subject}?")
    for turn in list(reversed(history[-2:])):
        results += _swaps_into(turn.standalone, subject)
    first = subject.split()[0].lower()
    if not results and first in PREPOSITIONS and len(subject.split()) > 1:
        # "And at the last election?" after "What was the turnout?": the new circumstance
        # added to the previous question.
        previous = history[-1].standalone.strip().rstrip("?").rstrip()
        results.append(f"{previous} {subject}?")
    return results


def _swaps_into(previous: str, subject: str) -> list[str]:
    base = previous.strip().rstrip("?").rstrip()
    words = subject.split()
    results = []
    preposition = words[0].lower() if words[0].lower() in PREPOSITIONS and len(words) > 1 else None
    if preposition:
        subject = " ".join(words[1:])
    one = re.fullmatch(r"(?:the\s+)?([\w’'\-]+)\s+ones?", subject, re.IGNORECASE)
    lead_end = len(" ".join(_tokens(base)[:1]))
    spans: list[tuple[int, int, str]] = []  # (start, end, kind)
    for match in re.finditer(
        r"\b(?:the\s+)?([A-Z][\w\-]*(?:\s+(?:of\s+|bin\s+|al\s+)?[A-Z][\w\-]*)*)"
        r"(?:[’']s(?:\s+[a-z]+){1,2})?",
        base,
    ):
        if match.start() < lead_end:
            continue
        kind = "possessive" if re.search(r"[’']s\s", match.group(0)) else "name"
        spans.append((match.start(), match.end(), kind))
    for phrase in _noun_phrases(base):
        at = base.find(phrase)
        if at >= 0 and not any(a <= at < b for a, b, _ in spans):
            spans.append((at, at + len(phrase), "phrase"))
    parsed = _parse(previous)
    if parsed is not None and parsed.aux and len(parsed.rest) == 2 and parsed.rest[0].islower():
        at = base.rfind(" " + parsed.rest[0] + " ")
        if at >= 0:
            spans.append((at + 1, at + 1 + len(parsed.rest[0]), "phrase"))
    if one:
        adjective = one.group(1)
        for match in re.finditer(r"\bthe\s+([A-Z][\w\-]*)\s+([a-z]+)", base):
            results.append(
                base[: match.start(1)] + adjective.capitalize() + base[match.end(1) :] + "?"
            )
        return results
    possessive = bool(re.search(r"[’']s\s+\w", subject))
    name = subject[:1].isupper() and not possessive
    for start, end, kind in spans:
        if possessive and kind != "possessive":
            continue
        if name and kind != "name":
            continue
        if not possessive and not name and kind == "possessive":
            continue
        if preposition and not base[:start].lower().rstrip().endswith(" " + preposition):
            continue
        results.append(base[:start] + subject + base[end:] + "?")
    return results


_SAID_SO = re.compile(
    r"^((?:who|which\s+\w+|what\s+\w+))\s+(said|says|claimed|reported|announced|told\s+\w+)"
    r"\s+(?:so|that|this|it)\s*\??\s*$",
    re.IGNORECASE,
)
_REPORTED = (
    re.compile(
        r"\b(?:said|says|told reporters|announced|claimed|reported)\s+(?:that\s+)?(.+?)[.!]?$"
    ),
    re.compile(r"^(.+?),\s+[^,]*\b(?:said|says|told reporters)[.!]?$"),
)


def _said_so(question: str, history: Sequence[Turn]) -> list[str]:
    """ "Who said so?" → "Who said <what the previous quote reports>?"."""
    match = _SAID_SO.match(_strip_connective(question))
    quote = (history[-1].quote or "").strip()
    if not match or not quote:
        return []
    results = []
    for pattern in _REPORTED:
        found = pattern.search(quote)
        if found:
            clause = found.group(1).strip().rstrip(".!")
            clause = clause[0].lower() + clause[1:] if clause[1:2].islower() else clause
            if 3 <= len(clause.split()) <= 25:
                results.append(f"{_capitalize(match.group(1))} {match.group(2)} {clause}?")
    return results


def _capitalize(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


# -- all together -----------------------------------------------------------------------------
def proposals(question: str, history: Sequence[Turn], limit: int = MAX_PROPOSALS) -> list[Proposal]:
    """Candidate standalone versions of `question` after `history`: the question as asked
    first (unless it is `elliptical`), then the rules' rewrites, each `well_formed`, most
    likely first, at most `limit` of them. Empty when nothing can be made of it."""
    asked = question.strip()
    found: list[Proposal] = []
    if not elliptical(asked):
        found.append(Proposal(asked, "as asked"))
    if not history:
        return found
    previous = {t.standalone.strip().lower() for t in history[-1:]}
    stripped = _strip_connective(asked)
    rewrites: list[Proposal] = []
    for text in _ellipsis(asked, history):
        rewrites += [Proposal(t, "ellipsis") for t in _resolve_pronouns(text, history, limit)]
        rewrites.append(Proposal(text, "ellipsis"))
    rewrites += [Proposal(t, "pronoun") for t in _resolve_pronouns(stripped, history, limit)]
    rewrites += [Proposal(t, "swap") for t in _swap(asked, history)]
    rewrites += [Proposal(t, "said") for t in _said_so(asked, history)]
    seen = {p.question.lower() for p in found} | previous | {asked.lower()}
    for proposal in rewrites:
        key = proposal.question.lower()
        if key in seen or not well_formed(proposal.question):
            continue
        seen.add(key)
        found.append(proposal)
        if len(found) - (found[0].rule == "as asked" if found else 0) >= limit:
            break
    return found


def names_in(question: str) -> list[str]:
    """The names a question mentions ("And Russia?" → ["Russia"]), without "the"."""
    return [n.removeprefix("the ") for n in _names(_strip_connective(question))]
