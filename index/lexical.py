"""BM25 over passages (tantivy), with a tokenizer that keeps names and numbers whole.

"4,600" stays "4600", "Al-Nahyan" is indexed as "al-nahyan" and as its parts, and
words are stemmed, so exact names and figures in a question find their passage.
"""

from __future__ import annotations

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


class Lexical:
    """The BM25 index over passage terms (tantivy), read-only: what one snapshot searches.

    Tantivy keeps the index in immutable segments and publishes each commit atomically, so
    a reader opened here keeps the segments it opened with while a build adds and deletes
    passages in place beside it; BM25 statistics (document frequencies, average length)
    are over the whole index, never per segment.
    """

    def __init__(self, index: Any) -> None:
        self._index = index
        self._searcher = index.searcher()
        self._schema = index.schema

    @classmethod
    def open(cls, directory: Path) -> Lexical:
        """Open the index in `directory`; raises when it is missing or unreadable."""
        import tantivy

        if not (directory / "meta.json").is_file():
            raise FileNotFoundError(f"{directory / 'meta.json'} is missing")
        return cls(tantivy.Index.open(str(directory)))

    @property
    def count(self) -> int:
        """Passages in the index."""
        return int(self._searcher.num_docs)

    @property
    def ids(self) -> list[str]:
        """Every passage id in the index (reads them all: for checks and tests)."""
        import tantivy

        if not self.count:
            return []
        hits = self._searcher.search(tantivy.Query.all_query(), self.count).hits
        return [self._searcher.doc(address)[PID][0] for _, address in hits]

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """Top `k` passage ids with their BM25 scores (only passages sharing a term)."""
        words = list(dict.fromkeys(terms(query)))
        if not words or k <= 0:
            return []
        import tantivy

        q = tantivy.Query.boolean_query(
            [
                (tantivy.Occur.Should, tantivy.Query.term_query(self._schema, TERMS, _safe(w)))
                for w in words
            ]
        )
        hits = self._searcher.search(q, k).hits
        return [(self._searcher.doc(address)[PID][0], float(score)) for score, address in hits]

    def idf(self, term: str) -> float:
        """Inverse document frequency of a (normalized) term; unseen terms weigh most."""
        n = self.count
        # Deleted passages count in document frequencies until tantivy merges them away.
        df = min(n, int(self._searcher.doc_freq(TERMS, _safe(term))))
        return float(np.log(1.0 + (n - df + 0.5) / (df + 0.5)))


# The index's fields: the passage id (stored), its article (to delete an article's
# passages in one step) and its terms, pre-tokenized by `terms` and joined by spaces.
PID, ARTICLE, TERMS = "pid", "article", "terms"
WRITER_HEAP = 32_000_000  # bytes tantivy buffers before it writes a segment


def _schema() -> Any:
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_text_field(PID, stored=True, tokenizer_name="raw")
    builder.add_text_field(ARTICLE, stored=False, tokenizer_name="raw")
    builder.add_text_field(TERMS, stored=False, tokenizer_name="whitespace", index_option="freq")
    return builder.build()


def _safe(term: str) -> str:
    """A term as indexed: terms hold no spaces already; this keeps it so."""
    return term.replace(" ", "_")


class LexicalWriter:
    """Adds and deletes passages in place; nothing is visible until `commit`."""

    def __init__(self, directory: Path, create: bool = False) -> None:
        import tantivy

        if create:
            directory.mkdir(parents=True, exist_ok=True)
            self._index = tantivy.Index(_schema(), path=str(directory))
        else:
            self._index = tantivy.Index.open(str(directory))
        self._writer = self._index.writer(heap_size=WRITER_HEAP, num_threads=1)

    def delete_articles(self, article_ids: Sequence[str]) -> None:
        for article_id in article_ids:
            self._writer.delete_documents_by_term(ARTICLE, article_id)

    def add(self, passage_id: str, article_id: str, passage_terms: Sequence[str]) -> None:
        import tantivy

        self._writer.add_document(
            tantivy.Document(
                **{
                    PID: passage_id,
                    ARTICLE: article_id,
                    TERMS: " ".join(_safe(t) for t in passage_terms),
                }
            )
        )

    def commit(self) -> None:
        """Publish the changes atomically, and let merges finish (the lock is released)."""
        self._writer.commit()
        self._writer.wait_merging_threads()
