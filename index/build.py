"""The incremental build: load → diff by content hash → chunk → embed → store → switch.

Articles are compared with the current generation by content hash: unchanged ones are
carried over with their vectors, changed ones re-embedded, removed ones deleted. When
nothing changed, nothing is written and no model is loaded. Otherwise the new
generation starts as a copy of the current one, takes the changes, gets a fresh BM25
index, and becomes current in one atomic step (see `index.generations`).
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from newsqa.index.articles import Article, LoadResult, Problem, load_articles
from newsqa.index.audit import audit
from newsqa.index.chroma import ChromaTarget, close_client
from newsqa.index.chunking import Passage, chunk_article
from newsqa.index.docstore import DocStore
from newsqa.index.embedding import Embedder, collection_slug
from newsqa.index.errors import (
    IndexCorruptError,
    IndexProblem,
    StoreUnavailableError,
    disk_full,
    is_disk_full,
)
from newsqa.index.generations import BM25, DOCSTORE, IndexDir
from newsqa.index.lexical import TERMS_VERSION, Lexical, terms
from newsqa.settings import Settings

log = logging.getLogger(__name__)

FORMAT = "1"
EMBED_GROUP = 256  # passages per progress step and per Chroma write


class NoArticlesError(IndexProblem):
    """Nothing valid was found in the sources (exit code 2)."""


class Progress(Protocol):
    def start(self, total: int) -> None: ...
    def advance(self, count: int) -> None: ...


@dataclass
class BuildSummary:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    passages: int = 0  # in the index after the build
    embedded: int = 0  # passages embedded by this build
    seconds: float = 0.0
    generation: str | None = None
    full: bool = False
    problems: list[Problem] = field(default_factory=list)
    retired: int = 0  # articles left out as older than NEWSQA_KEEP_DAYS

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.deleted)


def retained(
    articles: list[Article], keep_days: int, today: dt.date | None = None
) -> list[Article]:
    """The articles published within the last `keep_days` days, and the undated ones
    (their age is unknown: they are kept rather than lost)."""
    cutoff = (today or dt.datetime.now(dt.UTC).date()) - dt.timedelta(days=keep_days)
    kept = []
    for article in articles:
        try:
            day = dt.date.fromisoformat(article.published[:10]) if article.published else None
        except ValueError:
            day = None
        if day is None or day >= cutoff:
            kept.append(article)
    return kept


def build_meta(settings: Settings, embedder: Embedder) -> dict[str, str]:
    """What must match for a generation to be updated incrementally."""
    target = ChromaTarget.from_settings(settings)
    return {
        "format": FORMAT,
        "store": target.url or "embedded",
        "model": embedder.name,
        "model_slug": collection_slug(embedder.name),
        "chunk_max_tokens": str(settings.chunk_max_tokens),
        "chunk_overlap_sentences": str(settings.chunk_overlap_sentences),
    }


def _reusable(
    current: Path | None, wanted: dict[str, str], target: ChromaTarget
) -> tuple[dict[str, str], str | None]:
    """Hashes of the current generation if it can be updated in place, else a reason."""
    if current is None:
        return {}, None
    try:
        with DocStore(current / DOCSTORE, readonly=True) as store:
            meta, hashes = store.get_meta(), store.hashes()
    except Exception as exc:  # a damaged generation is rebuilt, never trusted
        return {}, f"the current index is unreadable ({exc}); rebuilding it in full"
    changed = [key for key, value in wanted.items() if meta.get(key) != value]
    if changed:
        return {}, f"{', '.join(changed)} changed since the last build; rebuilding in full"
    problem = audit(current, target, wanted["model_slug"])
    if problem:
        return {}, f"the current index is out of step ({problem}); rebuilding it in full"
    return hashes, None


def build_index(
    settings: Settings,
    sources: Sequence[Path] | None = None,
    full: bool = False,
    progress: Progress | None = None,
    embedder: Embedder | None = None,
) -> BuildSummary:
    """Build or update the index in `settings.index_dir` from `sources`."""
    started = time.perf_counter()
    loaded: LoadResult = load_articles(
        sources or [settings.articles_dir], max_chars=settings.max_article_chars
    )
    summary = BuildSummary(problems=loaded.problems, full=full)
    if settings.keep_days is not None:
        kept = retained(loaded.articles, settings.keep_days)
        summary.retired = len(loaded.articles) - len(kept)
        loaded.articles = kept
    if not loaded.articles:
        where = ", ".join(str(s) for s in (sources or [settings.articles_dir]))
        retired = f" ({summary.retired} older than NEWSQA_KEEP_DAYS)" if summary.retired else ""
        raise NoArticlesError(f"no valid articles found in {where}{retired}")
    embedder = embedder or Embedder(settings.embedding_model, settings.embed_batch_size)
    wanted = build_meta(settings, embedder)
    index_dir = IndexDir(settings.index_dir)
    with index_dir.build_lock():
        try:
            current = None if full else index_dir.current()
        except IndexCorruptError as exc:
            log.warning("%s", exc)
            current = None
        target = ChromaTarget.from_settings(settings)
        old_hashes, reason = _reusable(current, wanted, target)
        if reason:
            log.warning("%s", reason)
            current = None
            summary.full = True
        new = {a.id: a for a in loaded.articles}
        to_embed = [a for a in loaded.articles if old_hashes.get(a.id) != a.content_hash]
        summary.added = sum(1 for a in to_embed if a.id not in old_hashes)
        summary.updated = len(to_embed) - summary.added
        deleted = [i for i in old_hashes if i not in new]
        summary.deleted = len(deleted)
        summary.unchanged = len(new) - len(to_embed)
        if current is not None and not summary.changed:
            with DocStore(current / DOCSTORE, readonly=True) as store:
                summary.passages = store.counts()[1]
            summary.generation = current.name
            summary.seconds = time.perf_counter() - started
            return summary
        generation = index_dir.new_generation()
        try:
            if current is not None:
                shutil.copytree(current, generation, dirs_exist_ok=True)
            _write_generation(
                generation,
                current,
                target,
                settings,
                embedder,
                wanted,
                to_embed,
                [a.id for a in to_embed if a.id in old_hashes] + deleted,
                summary,
                progress,
            )
            index_dir.publish(generation)
        except BaseException as exc:
            if _published(index_dir, generation):  # interrupted after the switch: done
                raise
            full_disk = is_disk_full(exc, local_only=target.url is not None) or (
                target.url is None
                and isinstance(exc, Exception)
                and not isinstance(exc, IndexProblem)
                and _nearly_full(generation)
            )
            shutil.rmtree(generation, ignore_errors=True)
            target.drop(wanted["model_slug"], [generation])
            if full_disk:
                raise disk_full(settings.index_dir) from exc
            if target.url and not isinstance(exc, IndexProblem | OSError | KeyboardInterrupt):
                try:  # the server went away mid-build: say so in one line
                    close_client(target.client(generation))
                except StoreUnavailableError as down:
                    raise down from exc
            raise
        target.drop(wanted["model_slug"], index_dir.prune())
        summary.generation = generation.name
    summary.seconds = time.perf_counter() - started
    return summary


def _published(index_dir: IndexDir, generation: Path) -> bool:
    try:
        return index_dir.current() == generation
    except IndexProblem:
        return False


def _nearly_full(path: Path, floor: int = 1 << 20) -> bool:
    """Less than `floor` bytes left where `path` lives: Chroma's Rust core reports some
    writes that failed for want of space only as a failed compaction."""
    try:
        return shutil.disk_usage(path).free < floor
    except OSError:
        return False


def _write_generation(
    generation: Path,
    previous: Path | None,
    target: ChromaTarget,
    settings: Settings,
    embedder: Embedder,
    meta: dict[str, str],
    to_embed: list[Article],
    to_remove: list[str],
    summary: BuildSummary,
    progress: Progress | None,
) -> None:
    store = DocStore(generation / DOCSTORE)
    client = target.client(generation)
    try:
        collection = client.get_or_create_collection(
            target.collection_name(meta["model_slug"], generation),
            configuration={"hnsw": {"space": "cosine"}},
        )
        removed = store.delete_articles(to_remove)
        if target.url and previous is not None:
            # A server generation starts empty: carry the unchanged vectors over.
            old = client.get_collection(target.collection_name(meta["model_slug"], previous))
            _copy_vectors(old, collection, skip=set(removed))
        elif removed:
            collection.delete(ids=removed)
        work: list[tuple[Article, Passage]] = []
        by_article: dict[str, list[Passage]] = {}
        for article in to_embed:
            # The title is embedded with each passage: leave it room in the model's window.
            title_tokens = embedder.count_tokens([_title_prefix(article)])[0]
            budget = min(settings.chunk_max_tokens, embedder.max_tokens - 2 - title_tokens)
            passages = chunk_article(
                article.id,
                article.text,
                embedder.count_tokens,
                max(8, budget),
                settings.chunk_overlap_sentences,
            )
            by_article[article.id] = passages
            work += [(article, p) for p in passages]
        if progress:
            progress.start(len(work))
        vectors: dict[str, list] = {}
        for at in range(0, len(work), EMBED_GROUP):
            group = work[at : at + EMBED_GROUP]
            _embed_group(group, embedder, collection, vectors)
            if progress:
                progress.advance(len(group))
        for article in to_embed:
            passages = by_article[article.id]
            store.add_article(article, passages, [vectors[p.id] for p in passages])
        summary.embedded = len(work)
        ids, corpus_terms = store.passage_terms(terms, TERMS_VERSION)
        Lexical.from_terms(ids, corpus_terms).save(generation / BM25)
        articles, passages, sentences = store.counts()
        summary.passages = passages
        store.set_meta(
            {
                **meta,
                "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "articles": str(articles),
                "passages": str(passages),
                "sentences": str(sentences),
            }
        )
        store.commit()
    finally:
        store.close()
        close_client(client)


def _copy_vectors(source: Any, target: Any, skip: set[str], page: int = 1000) -> None:
    """Copy records (vectors, documents, metadata) between collections, without `skip`."""
    offset = 0
    while True:
        batch = source.get(
            limit=page, offset=offset, include=["embeddings", "documents", "metadatas"]
        )
        if not batch["ids"]:
            return
        keep = [i for i, pid in enumerate(batch["ids"]) if pid not in skip]
        if keep:
            target.add(
                ids=[batch["ids"][i] for i in keep],
                embeddings=[batch["embeddings"][i] for i in keep],
                documents=[batch["documents"][i] for i in keep],
                metadatas=[batch["metadatas"][i] for i in keep],
            )
        offset += page


def _title_prefix(article: Article) -> str:
    return f"{article.title[:120]}\n" if article.title else ""


def _embed_group(
    group: list[tuple[Article, Passage]], embedder: Embedder, collection: object, out: dict
) -> None:
    texts, spans = [], []
    for article, passage in group:
        prefix = _title_prefix(article)
        shift = len(prefix) - passage.core_start  # only the core is embedded
        texts.append(prefix + article.text[passage.core_start : passage.end])
        spans.append([(s + shift, e + shift) for s, e in passage.sentences])
    encoded = embedder.encode_passages(texts, spans)
    metadatas = []
    for article, passage in group:
        meta = {
            "article_id": article.id,
            "seq": passage.seq,
            "start": passage.start,
            "end": passage.end,
            "title": article.title,
            "published": article.published,
        }
        metadatas.append({k: v for k, v in meta.items() if v is not None})
    collection.add(  # type: ignore[attr-defined]
        ids=[p.id for _, p in group],
        embeddings=[e.vector for e in encoded],
        documents=[a.text[p.start : p.end] for a, p in group],
        metadatas=metadatas,
    )
    for (_, passage), enc in zip(group, encoded, strict=True):
        out[passage.id] = list(enc.sentence_vectors)
