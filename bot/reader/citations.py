"""Citation resolution: offsets into article texts → verified `Citation` objects.

Pure functions, no I/O: a quote is always cut from the article text by its offsets,
so `quote == text[start:end]` holds by construction, and `check` verifies it again
for anything that arrives from elsewhere (an LLM, a stale index).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from ...index import ArticleRecord
from ..answer import Citation


class CitationError(ValueError):
    """Offsets that do not address a stretch of the article text."""


def make_citation(
    n: int,
    article: ArticleRecord,
    start: int,
    end: int,
    score: float,
    highlight: tuple[int, int] | None = None,
) -> Citation:
    if not 0 <= start < end <= len(article.text):
        raise CitationError(f"offsets {start}:{end} outside article {article.id!r}")
    if highlight is not None and not start <= highlight[0] < highlight[1] <= end:
        highlight = None
    return Citation(
        n=n,
        article_id=article.id,
        title=article.title,
        url=article.url,
        published=article.published,
        source=article.source,
        quote=article.text[start:end],
        start=start,
        end=end,
        score=round(score, 4),
        highlight=highlight,
    )


def newest_first(
    quotes: Sequence[tuple[str, int, int]], articles: Mapping[str, ArticleRecord]
) -> list[tuple[str, int, int]]:
    """Quotes from several dated articles, newest article first; undated ones after them,
    and quotes of one article kept together in their order. When two articles give two
    figures for one thing, the reader sees the newer one first, and both, with dates."""
    dated = {articles[a].published for a, _, _ in quotes if articles[a].published}
    if len({a for a, _, _ in quotes}) < 2 or not dated:
        return list(quotes)
    first_seen = {a: i for i, (a, _, _) in reversed(list(enumerate(quotes)))}

    def key(quote: tuple[str, int, int]) -> tuple[str, int]:
        # Undated ("") sorts last; the same article's quotes stay together, in order.
        return ((articles[quote[0]].published or "")[:10], -first_seen[quote[0]])

    return sorted(quotes, key=key, reverse=True)  # stable: equal keys keep their order


def resolve(
    quotes: Sequence[tuple[str, int, int]],
    articles: Mapping[str, ArticleRecord],
    score: float,
    highlight: tuple[str, int, int] | None = None,
    by_date: bool = False,
) -> list[Citation]:
    """Number the quotes [1], [2], … one citation each, in order, or with `by_date`
    newest article first (`newest_first`): only for quotes whose text is built after
    numbering, never for an LLM text whose markers already point at its order."""
    if by_date:
        quotes = newest_first(quotes, articles)
    citations = []
    for n, (article_id, start, end) in enumerate(quotes, start=1):
        mark = None
        if highlight is not None and highlight[0] == article_id:
            mark = (highlight[1], highlight[2])
        citations.append(make_citation(n, articles[article_id], start, end, score, mark))
    return citations


def check(citation: Citation, article_text: str) -> bool:
    """True when the citation's quote is exactly the article text at its offsets."""
    return article_text[citation.start : citation.end] == citation.quote


# A marker-like "[9]" or "[2, 3]" that an article's own text contains.
_MARKER_LIKE = re.compile(r"\s*\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\]")


def unmarked(text: str) -> str:
    """`text` without "[9]"-style references, which would read as markers of ours."""
    return _MARKER_LIKE.sub("", text).strip()


def answer_text(citations: Sequence[Citation]) -> str:
    """The extractive answer: the quotes themselves, each followed by its marker.

    A quote's own "[9]"-style references are left out of the answer text (the citation
    keeps the verbatim quote), so every marker in the answer names one of its citations.
    """
    return " ".join(f"{unmarked(c.quote)} [{c.n}]" for c in citations)
