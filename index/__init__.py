"""newsqa's index: articles in, a searchable Chroma + BM25 index out.

The public functions other packages use are re-exported here and imported lazily, so
`import index` costs nothing.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_PUBLIC = {
    "Settings": "index.settings",
    "SettingsError": "index.settings",
    "load_settings": "index.settings",
    "Embedder": "index.embedding",
    "ModelNotFoundError": "index.embedding",
    "build_index": "index.build",
    "BuildSummary": "index.build",
    "NoArticlesError": "index.build",
    "open_snapshot": "index.snapshot",
    "IndexHandle": "index.snapshot",
    "IndexStatus": "index.snapshot",
    "Snapshot": "index.snapshot",
    "index_status": "index.snapshot",
    "IndexProblem": "index.store",
    "IndexMissingError": "index.store",
    "IndexCorruptError": "index.store",
    "BuildLockedError": "index.store",
    "StoreUnavailableError": "index.store",
    "DiskFullError": "index.store",
    "ChromaTarget": "index.store",
    "ArticleRecord": "index.docstore",
    "PassageRecord": "index.docstore",
    "SentenceRecord": "index.docstore",
    "split_spans": "index.sentences",
    "terms": "index.lexical",
    "STOPWORDS": "index.lexical",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'index' has no attribute {name!r}")
