"""newsqa's index: articles in, a searchable Chroma + BM25 index out.

The public functions other packages use are re-exported here and imported lazily, so
`import newsqa.index` costs nothing.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_PUBLIC = {
    "Embedder": "newsqa.index.embedding",
    "ModelNotFoundError": "newsqa.index.embedding",
    "build_index": "newsqa.index.build",
    "BuildSummary": "newsqa.index.build",
    "NoArticlesError": "newsqa.index.build",
    "open_snapshot": "newsqa.index.snapshot",
    "IndexHandle": "newsqa.index.snapshot",
    "IndexStatus": "newsqa.index.snapshot",
    "Snapshot": "newsqa.index.snapshot",
    "index_status": "newsqa.index.snapshot",
    "IndexProblem": "newsqa.index.errors",
    "IndexMissingError": "newsqa.index.errors",
    "IndexCorruptError": "newsqa.index.errors",
    "BuildLockedError": "newsqa.index.errors",
    "StoreUnavailableError": "newsqa.index.errors",
    "DiskFullError": "newsqa.index.errors",
    "ChromaTarget": "newsqa.index.chroma",
    "ArticleRecord": "newsqa.index.docstore",
    "PassageRecord": "newsqa.index.docstore",
    "SentenceRecord": "newsqa.index.docstore",
    "split_spans": "newsqa.index.sentences",
    "terms": "newsqa.index.lexical",
    "term_spans": "newsqa.index.lexical",
    "STOPWORDS": "newsqa.index.lexical",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'newsqa.index' has no attribute {name!r}")
