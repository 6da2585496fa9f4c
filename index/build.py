"""The incremental build: load → diff by content hash → chunk → embed → store.

Articles are compared with the current generation by content hash: unchanged ones are
left where they are, changed ones re-embedded, removed ones deleted. When nothing changed,
nothing is written and no model is loaded.

An update changes the current generation in place and costs what changed:

1. the new passages are chunked and embedded, and written into a new vector segment (a
   copy of the small delta, or, now and then, a compacted base: see `index.segments`);
2. one document-store transaction deletes the old articles' rows, adds the new ones with
   their stored lexical terms, names the new segment and lists the changed articles for
   the lexical index. Its commit is the switch: before it, readers see the old state, after
   it the new one;
3. the lexical index (tantivy, in place) drops and re-adds the listed articles' passages
   and the list is cleared; an update interrupted here is finished by the next run, and
   until then searches skip what the document store no longer holds.

A killed or failed update leaves at most an unnamed segment folder, removed by the next
run. A full build (`--full`, a new model or chunking, a damaged index) writes a whole new
generation and switches `CURRENT` to it (see `index.generations`).
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import json
import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from newsqa.index.articles import (
    Article,
    FileRecord,
    LoadResult,
    Problem,
    load_articles,
    unchanged_files,
)
from newsqa.index.audit import audit
from newsqa.index.chroma import ChromaTarget, close_client
from newsqa.index.chunking import Passage, chunk_article
from newsqa.index.docstore import BASE, DELTA, DocStore
from newsqa.index.embedding import Embedder, collection_slug
from newsqa.index.errors import (
    IndexCorruptError,
    IndexProblem,
    StoreUnavailableError,
    disk_full,
    is_disk_full,
)
from newsqa.index.generations import DOCSTORE, LEXICAL, IndexDir
from newsqa.index.lexical import TERMS_VERSION, LexicalWriter, terms
from newsqa.index.segments import (
    SegmentWriter,
    copy_records,
    discard,
    folders,
    opened,
    retire,
    segment_name,
    should_compact,
)
from newsqa.settings import Settings

log = logging.getLogger(__name__)

FORMAT = "2"  # 2: the document store and lexical index updated in place, vector segments
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


def _retained_or_none(
    loaded: LoadResult, settings: Settings, summary: BuildSummary, where: list[Path]
) -> list[Article]:
    """The loaded articles inside NEWSQA_KEEP_DAYS; raises when none is left."""
    articles = loaded.articles
    if settings.keep_days is not None:
        articles = retained(loaded.articles, settings.keep_days)
        summary.retired = len(loaded.articles) - len(articles)
    if not articles:
        places = ", ".join(str(s) for s in where)
        retired = f" ({summary.retired} older than NEWSQA_KEEP_DAYS)" if summary.retired else ""
        raise NoArticlesError(f"no valid articles found in {places}{retired}")
    return articles


def _known_files(index_dir: IndexDir, settings: Settings) -> dict[str, FileRecord]:
    """What the current generation recorded of each source file ({} when it cannot say)."""
    try:
        current = index_dir.current()
        if current is None:
            return {}
        with DocStore(current / DOCSTORE, readonly=True) as store:
            if store.get_meta().get("files_max_chars") != str(settings.max_article_chars):
                return {}
            return store.known_files()
    except Exception:  # an unreadable record only means reading every file
        return {}


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
        "terms_version": TERMS_VERSION,
    }


def _hashes(current: Path | None) -> dict[str, str]:
    """Each indexed article's content hash ({} for a new generation)."""
    if current is None:
        return {}
    with DocStore(current / DOCSTORE, readonly=True) as store:
        return store.hashes()


def _nothing_changed(
    current: Path, settings: Settings, where: list[Path]
) -> BuildSummary | None:
    """The summary of a run with nothing to do, when every source file is exactly as the
    current generation recorded it (and no retention can take an article out); else None.
    It stats the files and reads no article: what each file gave is on record."""
    if settings.keep_days is not None:
        return None
    try:
        with DocStore(current / DOCSTORE, readonly=True) as store:
            meta = store.get_meta()
            if meta.get("files_max_chars") != str(settings.max_article_chars) or meta.get(
                "keep_days", ""
            ):  # another size limit, or retention just lifted: articles may come back
                return None
            states = store.file_states()
    except Exception:
        return None
    if not states or not unchanged_files(where, states):
        return None
    problems = [Problem(w, r) for w, r in json.loads(meta.get("problems", "[]"))]
    articles = int(meta.get("articles", "0"))
    return BuildSummary(
        unchanged=articles,
        passages=int(meta.get("passages", "0")),
        generation=current.name,
        problems=problems,
    )


def _reusable(current: Path | None, wanted: dict[str, str], target: ChromaTarget) -> str | None:
    """Why the current generation cannot be updated in place (None when it can).

    An update interrupted after its switch is finished first (the lexical index brought up
    to date with the document store); then the parts are audited, at a cost that does not
    grow with the index (`index.audit`)."""
    if current is None:
        return None
    try:
        with DocStore(current / DOCSTORE, readonly=True) as store:
            meta, pending = store.get_meta(), store.lexical_pending()
    except Exception as exc:  # a damaged generation is rebuilt, never trusted
        return f"the current index is unreadable ({exc}); rebuilding it in full"
    changed = [key for key, value in wanted.items() if meta.get(key) != value]
    if changed:
        return f"{', '.join(changed)} changed since the last build; rebuilding in full"
    if pending:
        log.info("finishing an interrupted update (%d articles)", len(pending))
        try:
            with DocStore(current / DOCSTORE) as store:
                _sync_lexical(current, store)
            IndexDir(current.parent).touch()  # readers still on the old state move on
        except Exception as exc:
            if is_disk_full(exc):
                raise
            return f"the lexical index cannot be brought up to date ({exc}); rebuilding"
    problem = audit(current, target, wanted["model_slug"])
    if problem:
        return f"the current index is out of step ({problem}); rebuilding it in full"
    return None


def build_index(
    settings: Settings,
    sources: Sequence[Path] | None = None,
    full: bool = False,
    progress: Progress | None = None,
    embedder: Embedder | None = None,
) -> BuildSummary:
    """Build or update the index in `settings.index_dir` from `sources`."""
    started = time.perf_counter()
    where = list(sources or [settings.articles_dir])
    index_dir = IndexDir(settings.index_dir)
    with index_dir.build_lock():
        embedder = embedder or Embedder(settings.embedding_model, settings.embed_batch_size)
        wanted = build_meta(settings, embedder)
        try:
            current = None if full else index_dir.current()
        except IndexCorruptError as exc:
            log.warning("%s", exc)
            current = None
        target = ChromaTarget.from_settings(settings)
        reason = _reusable(current, wanted, target)
        if reason:
            log.warning("%s", reason)
            current = None
        if current is not None and (quiet := _nothing_changed(current, settings, where)):
            # Every source file as it was: nothing read, nothing written.
            _clear_leftovers(index_dir, current, target, wanted["model_slug"])
            quiet.seconds = time.perf_counter() - started
            return quiet
        known = _known_files(index_dir, settings) if current is not None else {}
        loaded = load_articles(where, max_chars=settings.max_article_chars, known=known)
        summary = BuildSummary(problems=loaded.problems, full=full or bool(reason))
        articles = _retained_or_none(loaded, settings, summary, where)
        old_hashes = _hashes(current)
        if any(old_hashes.get(a.id) != a.content_hash for a in articles if a.unread):
            # Articles to embed whose unchanged files were not read (a full rebuild, or
            # retention lifted): read everything.
            loaded = load_articles(where, max_chars=settings.max_article_chars)
            summary.problems = loaded.problems
            articles = _retained_or_none(loaded, settings, summary, where)
        new = {a.id: a for a in articles}
        to_embed = [a for a in articles if old_hashes.get(a.id) != a.content_hash]
        summary.added = sum(1 for a in to_embed if a.id not in old_hashes)
        summary.updated = len(to_embed) - summary.added
        deleted = [i for i in old_hashes if i not in new]
        summary.deleted = len(deleted)
        summary.unchanged = len(new) - len(to_embed)
        if current is not None and not summary.changed:
            with DocStore(current / DOCSTORE, readonly=True) as store:
                summary.passages = int(store.get_meta().get("passages", "0"))
            if loaded.records != known:  # files touched, not changed: remember them
                with contextlib.suppress(Exception), DocStore(current / DOCSTORE) as store:
                    store.save_files(loaded.records, known)  # (or read them next time)
                    store.commit()
            _clear_leftovers(index_dir, current, target, wanted["model_slug"])
            summary.generation = current.name
            summary.seconds = time.perf_counter() - started
            return summary
        work = _Work(settings, embedder, wanted, to_embed, progress)
        work.files = (loaded.records, known if current is not None else {})
        if current is not None:
            removed = [a.id for a in to_embed if a.id in old_hashes] + deleted
            _update(index_dir, current, target, work, removed, summary)
        else:
            _build_generation(index_dir, target, work, summary)
    summary.seconds = time.perf_counter() - started
    return summary


@dataclass
class _Work:
    """What a build adds: the articles to embed, and how."""

    settings: Settings
    embedder: Embedder
    meta: dict[str, str]
    articles: list[Article]
    progress: Progress | None
    # What each source file gave now, and what the index recorded before (see `FileRecord`).
    files: tuple[dict[str, FileRecord], dict[str, FileRecord]] = ({}, {})

    @property
    def slug(self) -> str:
        return self.meta["model_slug"]


def _build_generation(
    index_dir: IndexDir, target: ChromaTarget, work: _Work, summary: BuildSummary
) -> None:
    """A whole new generation from `work.articles`, made current in one atomic step."""
    generation = index_dir.new_generation()
    base = segment_name("base", 1)
    try:
        store = DocStore(generation / DOCSTORE)
        try:
            segment = SegmentWriter(target, generation, base, work.slug)
            try:
                summary.embedded = _embed_into(work, segment, store, BASE, commit=True)
                base_count = segment.count()
            finally:
                segment.close()
            _finish_transaction(store, work, summary, base, "", base_count, 0, 1)
            store.mark_lexical_pending(a.id for a in work.articles)
            store.commit()
            _sync_lexical(generation, store, create=True)
        finally:
            store.close()
        index_dir.publish(generation)
    except BaseException as exc:
        if _published(index_dir, generation):  # interrupted after the switch: done
            raise
        shutil.rmtree(generation, ignore_errors=True)
        target.drop_generations(work.slug, [generation])
        _raise_clearly(exc, index_dir.root, generation, target)
        raise
    target.drop_generations(work.slug, index_dir.prune())
    summary.generation = generation.name


def _update(
    index_dir: IndexDir,
    generation: Path,
    target: ChromaTarget,
    work: _Work,
    removed: list[str],
    summary: BuildSummary,
) -> None:
    """Change `generation` in place: a new vector segment, one document-store transaction
    (the switch), then the lexical index."""
    store: DocStore | None = None
    written: SegmentWriter | None = None
    switched = False
    try:
        store = DocStore(generation / DOCSTORE)
        meta = store.get_meta()
        version = int(meta.get("version", "1")) + 1
        base, delta = meta["vectors_base"], meta.get("vectors_delta", "")
        base_count, delta_count = int(meta["base_count"]), int(meta["delta_count"])
        gone = store.passages_of(removed)
        gone_ids = [pid for pids in gone.values() for pid in pids]
        gone_by_segment = store.segments_of(gone_ids)
        # The delta holds exactly the live passages whose vector is there; the rest of the
        # live passages have theirs in the base, which also keeps dead ones.
        live_delta = delta_count - gone_by_segment.get(DELTA, 0)
        live_base = int(meta["passages"]) - delta_count - gone_by_segment.get(BASE, 0)
        compact = should_compact(live_base + live_delta, live_delta, base_count - live_base)
        if compact:  # a new base from every live vector; the delta starts empty
            name, kind = segment_name("base", version), BASE
            written = SegmentWriter(target, generation, name, work.slug)
            _copy_live(target, generation, work.slug, store, base, delta, set(gone_ids), written)
        else:  # the old delta, less what goes, plus what comes
            name, kind = segment_name("delta", version), DELTA
            written = SegmentWriter(
                target,
                generation,
                name,
                work.slug,
                source=delta or None,
                source_ids=sorted(store.ids_in_segment(DELTA)) if target.url and delta else (),
            )
            written.delete(sorted(store.live(gone_ids, DELTA)))
        # The switch: one transaction, committed below (readers see none of it before).
        store.delete_articles(removed)
        summary.embedded = _embed_into(work, written, store, kind, commit=False)
        count = written.count()
        written.close()
        if compact:
            store.set_all_segments(BASE)
            new_base, new_delta, counts = name, "", (count, 0)
        else:
            new_base, new_delta, counts = base, name, (base_count, count)
        store.mark_lexical_pending([*removed, *(a.id for a in work.articles)])
        _finish_transaction(store, work, summary, new_base, new_delta, *counts, version)
        store.commit()
        switched = True
        _sync_lexical(generation, store)
        index_dir.touch()  # readers open the new state (after the lexical index has it)
    except BaseException as exc:
        if switched:  # readers must see what was committed, even if half finished
            with contextlib.suppress(Exception):
                index_dir.touch()
        if written is not None:
            written.close()
        if not switched:
            if store is not None:
                with contextlib.suppress(Exception):
                    store.db.rollback()
            if written is not None:
                discard(target, work.slug, [written.path])
        if store is not None:
            store.close()
        _raise_clearly(exc, index_dir.root, generation, target)
        raise
    store.close()
    keep = {new_base, new_delta, base, delta} - {""}
    retire(target, generation, work.slug, sorted(keep))
    target.drop_generations(work.slug, index_dir.prune())  # e.g. a killed full build's
    summary.generation = generation.name


def _copy_live(
    target: ChromaTarget,
    generation: Path,
    slug: str,
    store: DocStore,
    base: str,
    delta: str,
    gone: set[str],
    into: SegmentWriter,
) -> None:
    """Copy every live vector (base ones not replaced, delta ones) into a new base."""
    for name, kind in ((base, BASE), (delta, DELTA)):
        if not name:
            continue
        keep = store.ids_in_segment(kind) - gone
        with opened(target, generation, name, slug) as collection:
            copy_records(collection, into.collection, keep)  # one page of ids at a time


def _raise_clearly(exc: BaseException, root: Path, where: Path, target: ChromaTarget) -> None:
    """Turn a full disk or a vanished server into their one-line errors."""
    full_disk = is_disk_full(exc, local_only=target.url is not None) or (
        target.url is None
        and isinstance(exc, Exception)
        and not isinstance(exc, IndexProblem)
        and _nearly_full(root)
    )
    if full_disk:
        raise disk_full(root) from exc
    if target.url and not isinstance(exc, IndexProblem | OSError | KeyboardInterrupt):
        try:  # the server went away mid-build: say so in one line
            close_client(target.client(where))
        except StoreUnavailableError as down:
            raise down from exc


def _clear_leftovers(
    index_dir: IndexDir, current: Path, target: ChromaTarget, slug: str
) -> None:
    """What killed builds left: unfinished generations, and embedded segments numbered past
    the current version (an update killed before its switch). Cheap: two folder listings."""
    target.drop_generations(slug, index_dir.prune())
    if target.url is None:
        with DocStore(current / DOCSTORE, readonly=True) as store:
            version = int(store.get_meta().get("version", "1"))
        late = [p for p in folders(current) if int(p.name.rsplit("-", 1)[1]) > version]
        discard(target, slug, late)


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


def _embed_into(
    work: _Work, segment: SegmentWriter, store: DocStore, kind: str, commit: bool
) -> int:
    """Chunk and embed `work.articles` into `segment`, and add each article's rows (texts,
    passages, sentence vectors, lexical terms) to `store` as soon as its passages are
    embedded, so memory stays the size of a group. With `commit` (a full build, into a
    generation nobody reads yet) they are committed group by group, which keeps the
    write-ahead log small too; an update commits them all at once, as its switch."""
    articles = work.articles
    pieces: list[tuple[Article, Passage]] = []
    by_article: dict[str, list[Passage]] = {}
    embedder, settings = work.embedder, work.settings
    for article in articles:
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
        pieces += [(article, p) for p in passages]
    if work.progress:
        work.progress.start(len(pieces))
    vectors: dict[str, list] = {}
    waiting = collections.deque(articles)

    def flush() -> None:
        """Hand on every article (in order) whose passages are all embedded."""
        stored: list[str] = []
        while waiting and all(p.id in vectors for p in by_article[waiting[0].id]):
            article = waiting.popleft()
            passages = by_article.pop(article.id)
            store.add_article(article, passages, [vectors.pop(p.id) for p in passages], kind)
            stored.append(article.id)
        if stored:
            store.passage_terms(stored, terms)
            if commit:
                store.commit()

    for at in range(0, len(pieces), EMBED_GROUP):
        group = pieces[at : at + EMBED_GROUP]
        _embed_group(group, embedder, segment, vectors)
        flush()
        if work.progress:
            work.progress.advance(len(group))
    flush()
    return len(pieces)


def _finish_transaction(
    store: DocStore,
    work: _Work,
    summary: BuildSummary,
    base: str,
    delta: str,
    base_count: int,
    delta_count: int,
    version: int,
) -> None:
    """The build record: what was built with, the segments and the counts readers check;
    and what each source file gave, for the next build."""
    store.save_files(*work.files)
    articles, passages, sentences = store.counts()
    summary.passages = passages
    store.set_meta(
        {
            **work.meta,
            "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "articles": str(articles),
            "passages": str(passages),
            "sentences": str(sentences),
            "vectors_base": base,
            "vectors_delta": delta,
            "base_count": str(base_count),
            "delta_count": str(delta_count),
            "version": str(version),
            "files_max_chars": str(work.settings.max_article_chars),
            "keep_days": "" if work.settings.keep_days is None else str(work.settings.keep_days),
            # What the sources gave that was skipped, said again by a run that reads nothing.
            "problems": json.dumps([[p.where, p.reason] for p in summary.problems]),
        }
    )


def _sync_lexical(generation: Path, store: DocStore, create: bool = False) -> None:
    """Bring the lexical index up to date with the document store for the articles listed
    as pending, then clear the list (idempotent: an interrupted run is simply repeated)."""
    pending = store.lexical_pending()
    if not pending:
        return
    writer = LexicalWriter(generation / LEXICAL, create=create)
    if not create:
        writer.delete_articles(pending)
    for at in range(0, len(pending), 2000):
        for passage_id, article_id, found in store.passage_terms(pending[at : at + 2000], terms):
            writer.add(passage_id, article_id, found)
    writer.commit()
    store.clear_lexical_pending(pending)
    store.commit()


def _title_prefix(article: Article) -> str:
    return f"{article.title[:120]}\n" if article.title else ""


def _embed_group(
    group: list[tuple[Article, Passage]], embedder: Embedder, segment: SegmentWriter, out: dict
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
    segment.add(
        [p.id for _, p in group],
        [e.vector for e in encoded],
        [a.text[p.start : p.end] for a, p in group],
        metadatas,
    )
    for (_, passage), enc in zip(group, encoded, strict=True):
        out[passage.id] = list(enc.sentence_vectors)
