"""`newsqa health`: whether this process could answer now, for load balancers and
orchestrators. The index must open, its BM25 part load and agree with the document
store, the vector store (embedded, or the Chroma server the settings name) answer, and
the shared database (`NEWSQA_DATABASE_URL`, when set) answer at its schema version."""

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


def check_database(settings: Settings) -> str | None:
    """Where the shared database is (None without one), when it answers; raises
    `DatabaseError` (one line) when it cannot be reached, or was written by a newer
    newsqa."""
    if not settings.database_url:
        return None
    from newsqa.database import connect

    with connect(settings.database_url) as db:
        db.ping()
        return db.where


def healthy_line(status: IndexStatus, database: str | None = None) -> str:
    """What `newsqa health` prints when all is well."""
    line = (
        f"ok: index {status.location} ({status.generation}), {status.articles} articles, "
        f"{status.passages} passages, store {status.store}"
    )
    return f"{line}, database {database}" if database else line
