"""The newest articles (`/latest [topic]`, `newsqa latest [topic]`): title, date, source,
link, newest first; on a topic, among the articles retrieval finds for it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from newsqa.bot.chain import Answerer
    from newsqa.index import ArticleRecord


def latest(answerer: Answerer, topic: str | None, count: int) -> list[ArticleRecord]:
    """The `count` newest articles, on `topic` when one is given."""
    from newsqa.bot.retrieve import retrieve
    from newsqa.bot.watches import near

    topic = " ".join((topic or "").split())
    with answerer.index.lease() as snapshot:
        if not topic:
            return snapshot.newest(count)
        settings = answerer.settings
        pool = max(settings.candidates_k, count * 4)
        retrieval = retrieve(
            snapshot, answerer.embedder.embed_query(topic), topic, pool // 2, pool, settings.rrf_k
        )
    found: dict[str, ArticleRecord] = {}
    for candidate in retrieval.candidates:
        if near(candidate):  # on the topic
            found.setdefault(candidate.article.id, candidate.article)
    ordered = sorted(found.values(), key=lambda a: (a.published is None, a.published or ""))
    dated = [a for a in ordered if a.published]
    dated.sort(key=lambda a: a.published or "", reverse=True)
    return (dated + [a for a in ordered if not a.published])[:count]


def article_line(article: ArticleRecord) -> str:
    """`Title · date · source · link` as plain text."""
    parts = [article.title or article.id, article.published or "undated"]
    if article.source:
        parts.append(article.source)
    if article.url:
        parts.append(article.url)
    return " · ".join(parts)
