"""Whether a generation's parts still agree before a build trusts it, at a cost that does
not grow with the index.

The document store is the record manager: it says which articles (at which content hash)
gave which passages, which vector segment holds each passage's vector, and, in its build
record, how many vectors each segment and how many passages the lexical index must hold.
Every update writes those counts in the transaction that makes it current, so the parts
fall out of step only through outside damage: a Chroma server whose data was reset, files
restored from different backups, a collection edited by hand. `newsqa index` compares the
counts before building on a generation and rebuilds it in full from the articles when they
disagree; readers check the same counts when they open it.
"""

from __future__ import annotations

from pathlib import Path

from newsqa.index.chroma import ChromaTarget, stored_records
from newsqa.index.docstore import DocStore
from newsqa.index.errors import DiskFullError, IndexCorruptError, disk_full
from newsqa.index.generations import DOCSTORE, LEXICAL
from newsqa.index.lexical import Lexical
from newsqa.index.segments import opened, segment_path


def expected_counts(meta: dict[str, str]) -> dict[str, int]:
    """What each part must hold, from a generation's build record: passages (the lexical
    index) and the vectors of each named segment."""
    out = {"passages": int(meta.get("passages", "0"))}
    for key, count in (("vectors_base", "base_count"), ("vectors_delta", "delta_count")):
        if meta.get(key):
            out[meta[key]] = int(meta.get(count, "0"))
    return out


def audit(generation: Path, target: ChromaTarget, model_slug: str) -> str | None:
    """Why `generation` cannot be built on, or None when its parts agree.

    Raises `StoreUnavailableError` when the Chroma server cannot be reached, and
    `DiskFullError` when the disk is too full for Chroma to open: neither is damage, and
    rebuilding would not help.
    """
    try:
        with DocStore(generation / DOCSTORE, readonly=True) as store:
            meta = store.get_meta()
            pending = bool(store.lexical_pending())
            counted = store.counts()  # tens of milliseconds at a million rows
    except Exception as exc:
        return f"document store: {exc}"
    if not meta.get("vectors_base"):
        return "the document store names no vector segment"
    recorded = tuple(int(meta.get(k, "-1")) for k in ("articles", "passages", "sentences"))
    if counted != recorded:
        return (
            f"the document store holds {counted[0]} articles, {counted[1]} passages and "
            f"{counted[2]} sentences; its build record says {recorded[0]}, {recorded[1]} "
            f"and {recorded[2]}"
        )
    expected = expected_counts(meta)
    passages = expected.pop("passages")
    try:
        lexical = Lexical.open(generation / LEXICAL).count
    except Exception as exc:
        return f"lexical index: {exc}"
    if not pending and lexical != passages:
        return f"the lexical index holds {lexical} passages, the document store {passages}"
    for name, count in expected.items():
        quick = None if target.url else stored_records(segment_path(generation, name))
        if quick is not None:
            if quick != count:
                return f"Chroma segment {name} holds {quick} vectors, the document store {count}"
            continue
        try:
            with opened(target, generation, name, model_slug) as collection:
                stored = int(collection.count())
        except Exception as exc:
            problem = target.problem(exc, generation.parent, name)
            if isinstance(problem, IndexCorruptError):  # rebuilding from the articles repairs it
                return problem.what
            if isinstance(problem, DiskFullError) and target.url is None:
                raise disk_full(generation.parent) from exc  # Chroma writes even to open
            raise problem from exc  # the server is down: say so, do not rebuild
        if stored != count:
            return f"Chroma segment {name} holds {stored} vectors, the document store {count}"
    return None
