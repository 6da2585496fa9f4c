"""Topic watches: words followed across refreshes, answered by a digest of new articles.

Topic or question: text with no question mark whose first word is not a wh-word or an
auxiliary (nor a preposition and a wh-word, "In which ...") is a topic ("Storm Ardent",
"harbour tram line"); anything else is a question ("Who won?", "how many were freed").

After a refresh, each new article's passage vectors (from the vector store) are compared
with the topic's embedding; an article is on the topic when its closest passage reaches
`NEWSQA_WATCH_TOPIC_SIMILARITY` (cosine). New articles that are near-duplicates of one
another (the MinHash test of `index.duplicates`, the follower's threshold) count as one
story, the earliest id first, the copies' sources named with it. A watch gets at most one
digest per refresh, recorded in the outbox with the articles it announced, so an article
is never announced to a watch twice.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from newsqa import prompts

if TYPE_CHECKING:
    import numpy as np

    from newsqa.bot.chain import Answerer
    from newsqa.bot.watches import Push, Watch, WatchStore
    from newsqa.index import ArticleRecord

log = logging.getLogger(__name__)

DIGEST_MAX = 10  # stories listed in one digest; more are counted, not listed
LEAD_MAX = 280  # characters of the lead sentence shown
_WORD = re.compile(r"[A-Za-z']+")


def is_topic(text: str) -> bool:
    """Topic words rather than a question: no "?" and no leading wh-word or auxiliary."""
    from newsqa.bot.followup import AUX, PREPOSITIONS, WH

    if "?" in text:
        return False
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        return False
    if words[0] in WH or words[0] in AUX:
        return False
    return not (len(words) > 1 and words[0] in PREPOSITIONS and words[1] in WH)


@dataclass
class Story:
    """One new article on a topic, with the sources of its near-duplicates."""

    article: ArticleRecord
    also: list[str] = field(default_factory=list)
    copies: list[str] = field(default_factory=list)  # ids of the copies, counted with it


def stories(articles: Sequence[ArticleRecord], threshold: float | None) -> list[Story]:
    """`articles` with near-duplicates of one another folded into the first of them."""
    from newsqa.index.duplicates import DuplicateFinder

    finder = DuplicateFinder() if threshold is None else DuplicateFinder(threshold)
    kept: dict[str, Story] = {}
    for article in sorted(articles, key=lambda a: (a.published or "9999", a.id)):
        copy = finder.find(article.text)
        if copy is not None:
            story = kept[copy.article_id]
            story.copies.append(article.id)
            name = article.source or article.title or article.id
            if name not in story.also and name != story.article.source:
                story.also.append(name)
            continue
        finder.add(article.id, article.text)
        kept[article.id] = Story(article)
    return list(kept.values())


def lead(text: str) -> str:
    """The article's first sentence (shortened to LEAD_MAX characters)."""
    from newsqa.index.sentences import split_spans

    spans = split_spans(text)
    first = text[spans[0][0] : spans[0][1]] if spans else text
    first = " ".join(first.split())
    return first if len(first) <= LEAD_MAX else first[: LEAD_MAX - 1].rstrip() + "…"


def digest_text(topic: str, found: Sequence[Story]) -> str:
    """The digest: a head line, then per story its title, date, source, link and lead."""
    from newsqa.bot.watches import day

    lines = [prompts.render("watch_digest", topic=topic, count=len(found))]
    for story in found[:DIGEST_MAX]:
        article = story.article
        where = [day(article.published)]
        if article.source:
            where.append(article.source)
        if story.also:
            where.append(prompts.render("watch_digest_also", sources=", ".join(story.also)))
        lines.append(f"• {article.title or article.id} ({'; '.join(where)})")
        if article.url:
            lines.append(f"  {article.url}")
        lines.append(f"  {lead(article.text)}")
    if len(found) > DIGEST_MAX:
        lines.append(prompts.render("watch_digest_more", more=len(found) - DIGEST_MAX))
    return "\n".join(lines)


def on_topic(
    topics: np.ndarray, passages: dict[str, np.ndarray], threshold: float
) -> list[set[str]]:
    """For each topic vector, the articles whose closest passage reaches `threshold`."""
    import numpy as np

    found: list[set[str]] = [set() for _ in range(len(topics))]
    for article_id, matrix in passages.items():
        best = np.max(topics @ matrix.T, axis=1)
        for i in np.nonzero(best >= threshold)[0]:
            found[int(i)].add(article_id)
    return found


def digests(
    store: WatchStore, answerer: Answerer, watches: Sequence[Watch], new_articles: Iterable[str]
) -> list[Push]:
    """Record one digest per topic watch that has new articles on its topic."""
    settings = answerer.settings
    new = sorted(set(new_articles))
    if not watches or not new:
        return []
    with answerer.index.lease() as snapshot:
        passages = snapshot.passage_vectors(new)
        records = snapshot.articles(list(passages))
    if not passages:
        return []
    topics = answerer.embedder.embed_queries([watch.question for watch in watches])
    hits = on_topic(topics, passages, settings.watch_topic_similarity)
    pushes = []
    for watch, hit in zip(watches, hits, strict=True):
        told = set(watch.baseline.articles)
        fresh = [records[a] for a in sorted(hit) if a in records and a not in told]
        if not fresh:
            continue
        found = stories(fresh, settings.duplicate_threshold)
        announced = [a.id for a in fresh]
        push = store.record_digest(watch, announced, digest_text(watch.question, found))
        if push is not None:
            pushes.append(push)
    return pushes
