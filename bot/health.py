"""`newsqa health`: whether this process could answer now, for load balancers and
orchestrators. The index must open, its BM25 part load and agree with the document
store, and the vector store (embedded, or the Chroma server the settings name) answer."""

from __future__ import annotations

from newsqa.index import ChromaTarget, IndexStatus, open_snapshot
from newsqa.settings import Settings


def check_health(settings: Settings) -> IndexStatus:
    """The index's status when every part answers; raises `IndexMissingError` or
    `IndexProblem` (one-line messages) naming the first part that does not."""
    snapshot = open_snapshot(settings.index_dir, ChromaTarget.from_settings(settings))
    try:
        status = snapshot.status()
        _ = snapshot.lexical  # loads BM25 and checks it holds the document store's passages
        problem = snapshot.store_problem()
        if problem is not None:
            raise problem
        return status
    finally:
        snapshot.close()


def healthy_line(status: IndexStatus) -> str:
    """What `newsqa health` prints when all is well."""
    return (
        f"ok: index {status.location} ({status.generation}), {status.articles} articles, "
        f"{status.passages} passages, store {status.store}"
    )
