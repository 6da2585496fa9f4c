"""Whether a generation's parts still agree before a build trusts it.

The document store is the record manager: it says which articles (at which content hash)
gave which passages. The BM25 files and the Chroma collection must hold exactly those
passages. They are written together and published in one step, so they fall out of step
only through outside damage: a Chroma server whose data was reset, files restored from
different backups, a collection edited by hand. `newsqa index` audits the current
generation before building on it and rebuilds it in full from the articles when the parts
disagree; readers check the cheap part of this (the counts) when they open it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from newsqa.index.chroma import ChromaTarget
from newsqa.index.docstore import DocStore
from newsqa.index.errors import DiskFullError, IndexCorruptError, disk_full
from newsqa.index.generations import BM25, DOCSTORE
from newsqa.index.lexical import Lexical

PAGE = 5000


def audit(generation: Path, target: ChromaTarget, model_slug: str) -> str | None:
    """Why `generation` cannot be built on, or None when its parts agree.

    Raises `StoreUnavailableError` when the Chroma server cannot be reached, and
    `DiskFullError` when the disk is too full for Chroma to open: neither is damage, and
    rebuilding would not help.
    """
    try:
        with DocStore(generation / DOCSTORE, readonly=True) as store:
            ids, orphans = store.passage_ids(), store.orphans()
    except Exception as exc:
        return f"document store: {exc}"
    if orphans:
        return f"the document store has {orphans} passages or articles without their pair"
    try:
        lexical = set(Lexical.stored_ids(generation / BM25))
    except Exception as exc:
        return f"BM25 files: {exc}"
    if lexical != ids:
        return f"BM25 holds {len(lexical)} passages, the document store {len(ids)}"
    name = target.collection_name(model_slug, generation)
    try:
        with target.connected(generation) as client:
            stored = _all_ids(client.get_collection(name))
    except Exception as exc:
        problem = target.problem(exc, generation.parent, name)
        if isinstance(problem, IndexCorruptError):  # rebuilding from the articles repairs it
            return problem.what
        if isinstance(problem, DiskFullError) and target.url is None:
            raise disk_full(generation.parent) from exc  # Chroma writes even to open
        raise problem from exc  # the server is down: say so, do not rebuild
    if stored != ids:
        return (
            f"Chroma holds {len(stored)} passages, the document store {len(ids)}: "
            f"{len(ids - stored)} missing from Chroma, {len(stored - ids)} unknown to the "
            "document store"
        )
    return None


def _all_ids(collection: Any) -> set[str]:
    ids: set[str] = set()
    offset = 0
    while True:
        page = collection.get(include=[], limit=PAGE, offset=offset)["ids"]
        ids.update(page)
        if len(page) < PAGE:
            return ids
        offset += PAGE
