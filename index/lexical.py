"""BM25 over passages (bm25s), with a tokenizer that keeps names and numbers whole.

"4,600" stays "4600", "Al-Nahyan" is indexed as "al-nahyan" and as its parts, and
words are stemmed, so exact names and figures in a question find their passage.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

_TOKEN = re.compile(r"(?:[A-Za-z]\.){2,}|\d+(?:[.,]\d+)*|\w+(?:[-'’]\w+)*", re.UNICODE)
STOPWORDS = frozenset(
    """a an the and or but if of at by for with about against between into through during
    before after above below to from up down in out on off over under again further then
    once here there when where why how all any both each few more most other some such no
    nor not only own same so than too very s t can will just don should now is are was were
    be been being have has had having do does did doing i me my we our you your he him his
    she her it its they them their what which who whom this that these those am would could
    ought i'm you're he's she's it's we're they're many much""".split()
)


# Irregular verb forms the stemmer cannot join to their base ("sent" → "send").
_IRREGULAR = dict(
    pair.split(":")
    for pair in """sent:send said:say says:say met:meet held:hold took:take taken:take led:lead
    gave:give given:give won:win began:begin begun:begin went:go gone:go made:make left:leave
    kept:keep told:tell thought:think brought:bring bought:buy built:build fought:fight
    found:find got:get gotten:get knew:know known:know lost:lose paid:pay ran:run saw:see
    seen:see sold:sell spent:spend stood:stand struck:strike taught:teach wrote:write
    written:write chose:choose chosen:choose drew:draw drawn:draw flew:fly flown:fly
    grew:grow grown:grow hit:hit hung:hang laid:lay lay:lie lain:lie meant:mean rose:rise
    risen:rise sought:seek shot:shoot spoke:speak spoken:speak stole:steal stolen:steal
    swore:swear threw:throw thrown:throw understood:understand woke:wake wore:wear
    worn:wear fell:fall fallen:fall felt:feel fled:flee forgot:forget forgotten:forget
    froze:freeze frozen:freeze broke:break broken:break became:become come:come came:come
    died:die dead:die death:die deaths:die killed:kill""".split()
)


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


# Bumped whenever `term_spans` would tokenize a text differently: stored terms are redone.
TERMS_VERSION = "1"


def terms(text: str) -> list[str]:
    """Lower-cased, stemmed content terms of `text`, numbers normalized ("4,600" → "4600")."""
    return [term for _, _, term in term_spans(text)]


def term_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, term) for each content term of `text`, offsets into `text`."""
    stem = _stemmer().stemWord
    out: list[tuple[int, int, str]] = []
    for match in _TOKEN.finditer(text):
        start, end = match.span()
        raw = match.group(0)
        token = raw.lower().replace("’", "'")
        if token[0].isdigit():
            out.append((start, end, token.replace(",", "")))
            continue
        if token.endswith("'s"):
            token = token[:-2]
        if "." in token or (raw.isupper() and len(raw) > 1):  # U.S., UN, US: acronyms
            out.append((start, end, token.replace(".", "")))
            continue
        if token in STOPWORDS:
            continue
        if "-" in token:
            out.append((start, end, token))
            out.extend((start, end, stem(p)) for p in token.split("-") if p and p not in STOPWORDS)
            continue
        if len(token) > 1:
            out.append((start, end, stem(_IRREGULAR.get(token, token))))
    return out


# What `Lexical.save` writes (bm25s's files and our ids).
_SAVED_FILES = (
    "ids.json",
    "params.index.json",
    "vocab.index.json",
    "data.csc.index.npy",
    "indices.csc.index.npy",
    "indptr.csc.index.npy",
)


class Lexical:
    """A BM25 index over passage texts, addressed by passage id."""

    def __init__(self, retriever: Any, ids: list[str]) -> None:
        self._retriever = retriever
        self.ids = ids
        self._vocab: dict[str, int] = retriever.vocab_dict

    @classmethod
    def build(cls, ids: Sequence[str], texts: Sequence[str]) -> Lexical:
        return cls.from_terms(ids, [terms(text) for text in texts])

    @classmethod
    def from_terms(cls, ids: Sequence[str], corpus_terms: Sequence[list[str]]) -> Lexical:
        """The index over passages already tokenized by `terms` (stored per passage)."""
        import bm25s

        retriever = bm25s.BM25()
        retriever.index(list(corpus_terms), show_progress=False)
        return cls(retriever, list(ids))

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._retriever.save(str(directory), show_progress=False)
        (directory / "ids.json").write_text(json.dumps(self.ids))

    @staticmethod
    def stored_ids(directory: Path) -> list[str]:
        """The passage ids saved in `directory`, without loading the index (or bm25s).

        Raises `FileNotFoundError` when a file of the saved index is missing.
        """
        for name in _SAVED_FILES:
            if not (directory / name).is_file():
                raise FileNotFoundError(f"{directory / name} is missing")
        return list(json.loads((directory / "ids.json").read_text()))

    @classmethod
    def load(cls, directory: Path) -> Lexical:
        import bm25s

        ids = json.loads((directory / "ids.json").read_text())
        retriever = bm25s.BM25.load(str(directory), mmap=False, show_progress=False)
        return cls(retriever, ids)

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """Top `k` passage ids with their BM25 scores (only passages sharing a term)."""
        if not self.ids:
            return []
        query_ids = [self._vocab[t] for t in dict.fromkeys(terms(query)) if t in self._vocab]
        if not query_ids:
            return []
        scores = self._retriever.get_scores(query_ids)
        k = min(k, len(self.ids))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(self.ids[i], float(scores[i])) for i in top if scores[i] > 0]

    def idf(self, term: str) -> float:
        """Inverse document frequency of a (normalized) term; unseen terms weigh most."""
        n = len(self.ids)
        tid = self._vocab.get(term)
        df = 0 if tid is None else int(np.count_nonzero(self._retriever.get_scores([tid])))
        return float(np.log(1.0 + (n - df + 0.5) / (df + 0.5)))
