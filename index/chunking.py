"""Sentence-aware passages with character offsets into their article.

Sentences are packed greedily into passages of at most `max_tokens` model tokens;
consecutive passages of one article share `overlap` sentences. Every sentence belongs
to exactly one passage (the first that holds it): that passage's forward pass gives
the sentence its vector, so no token is embedded twice for the reader.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from index.sentences import hard_split, split_spans

TokenCounter = Callable[[Sequence[str]], list[int]]


@dataclass(frozen=True)
class Passage:
    article_id: str
    seq: int  # position within the article
    start: int
    end: int
    sentences: tuple[tuple[int, int], ...]  # spans owned by this passage (absolute)

    @property
    def id(self) -> str:
        return f"{self.article_id}#{self.seq}"


def sentence_spans(text: str, count_tokens: TokenCounter, max_tokens: int) -> list[tuple[int, int]]:
    """Sentence spans of `text`, with over-long sentences cut to fit `max_tokens`."""
    spans = split_spans(text)
    counts = count_tokens([text[s:e] for s, e in spans])
    out: list[tuple[int, int]] = []
    for (start, end), tokens in zip(spans, counts, strict=True):
        if tokens <= max_tokens:
            out.append((start, end))
            continue
        max_chars = max(16, int((end - start) * max_tokens / tokens * 0.8))
        out.extend(hard_split(text, start, end, max_chars))
    return out


def chunk_article(
    article_id: str,
    text: str,
    count_tokens: TokenCounter,
    max_tokens: int = 200,
    overlap: int = 1,
) -> list[Passage]:
    """Split one article into passages; offsets satisfy `text[p.start:p.end]`."""
    spans = sentence_spans(text, count_tokens, max_tokens)
    if not spans:
        return []
    tokens = count_tokens([text[s:e] for s, e in spans])
    passages: list[Passage] = []
    owned_until = 0  # sentences before this index already belong to a passage
    first = 0
    while first < len(spans):
        last = first
        total = tokens[first]
        while last + 1 < len(spans) and total + tokens[last + 1] <= max_tokens:
            last += 1
            total += tokens[last]
        owned = tuple(spans[max(first, owned_until) : last + 1])
        passages.append(Passage(article_id, len(passages), spans[first][0], spans[last][1], owned))
        owned_until = last + 1
        if last + 1 >= len(spans):
            break
        first = max(first + 1, last + 1 - overlap)
    return passages
