"""Sentence-aware passages with character offsets into their article.

Sentences are packed greedily into disjoint *cores* of at most `max_tokens` model
tokens. Each passage is its core plus the `overlap` sentences before it, so neighbours
share context for BM25, for the reader and for display; but only the core is embedded,
and every sentence belongs to exactly one core, whose forward pass gives the sentence
its vector. So overlap costs no embedding time: no token is embedded twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from newsqa.index.sentences import hard_split, split_spans

TokenCounter = Callable[[Sequence[str]], list[int]]


@dataclass(frozen=True)
class Passage:
    article_id: str
    seq: int  # position within the article
    start: int  # where the passage begins, overlap included
    end: int
    sentences: tuple[tuple[int, int], ...]  # spans owned by this passage (absolute)

    @property
    def core_start(self) -> int:
        """Where the embedded part begins (the first sentence this passage owns)."""
        return self.sentences[0][0]

    @property
    def id(self) -> str:
        return f"{self.article_id}#{self.seq}"


def sentence_spans(
    text: str, count_tokens: TokenCounter, max_tokens: int
) -> tuple[list[tuple[int, int]], list[int]]:
    """Sentence spans of `text` and their token counts; over-long sentences are cut."""
    spans = split_spans(text)
    counts = count_tokens([text[s:e] for s, e in spans])
    out: list[tuple[int, int]] = []
    out_counts: list[int] = []
    for (start, end), tokens in zip(spans, counts, strict=True):
        if tokens <= max_tokens:
            out.append((start, end))
            out_counts.append(tokens)
            continue
        max_chars = max(16, int((end - start) * max_tokens / tokens * 0.8))
        pieces = hard_split(text, start, end, max_chars)
        out.extend(pieces)
        out_counts.extend(count_tokens([text[a:b] for a, b in pieces]))
    return out, out_counts


def chunk_article(
    article_id: str,
    text: str,
    count_tokens: TokenCounter,
    max_tokens: int = 200,
    overlap: int = 1,
) -> list[Passage]:
    """Split one article into passages; offsets satisfy `text[p.start:p.end]`."""
    spans, tokens = sentence_spans(text, count_tokens, max_tokens)
    if not spans:
        return []
    passages: list[Passage] = []
    first = 0
    while first < len(spans):
        last, total = first, tokens[first]
        while last + 1 < len(spans) and total + tokens[last + 1] <= max_tokens:
            last += 1
            total += tokens[last]
        start = spans[max(0, first - overlap)][0]
        passages.append(
            Passage(
                article_id, len(passages), start, spans[last][1], tuple(spans[first : last + 1])
            )
        )
        first = last + 1
    return passages
