"""Following the news: links and feeds in, article files out, the index updated once.

`Follower.add(urls)` is `newsqa add` and Telegram's /add; `Follower.refresh()` is
`newsqa refresh` and the bot's timed job. Both fetch pages in parallel (the fetcher keeps
each host to a few requests at a time), extract each article, and then, one at a time:

- a link already saved (its URL, its canonical URL or a redirect that led to it) is not
  fetched again; a saved article whose text is unchanged is not written or embedded again;
- a page that repeats an article already saved (the same wire story on another site:
  near-duplicate text) is recorded as an extra source of that article, not indexed twice;
- anything else is written as `articles/web/<site>/<slug>.md` with YAML front matter.

Then the index is updated once, incrementally, from the articles folder, which stays the
single source of truth. A link that fails is reported in one line and changes nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from newsqa.index.web.feeds import (
    Feed,
    FeedEntry,
    FeedError,
    FeedsReport,
    FeedStore,
    normalize_feed_url,
    refresh_feeds,
)
from newsqa.index.web.fetch import HTML_TYPES, Fetcher, FetchError, FetchPolicy, link_refusal
from newsqa.index.web.links import LinkRegistry, SavedArticle
from newsqa.index.web.page import (
    PageError,
    WebArticle,
    add_source,
    canonical_url,
    extract,
    save,
)

if TYPE_CHECKING:
    from newsqa.index.build import BuildSummary
    from newsqa.index.duplicates import DuplicateFinder
    from newsqa.settings import Settings

log = logging.getLogger(__name__)

FEEDS_FILE = "feeds.sqlite"
LINKS_FILE = "links.sqlite"
# Written when an article file is saved, removed when the index has been updated: saved
# articles whose build failed or never ran get indexed by the next add or refresh.
PENDING_FILE = ".follow-pending"
# Failures worth trying again at the next refresh; any other failure of a feed entry's
# page (404, not a page, too little text, a corrupt body) is permanent and the entry is
# not fetched again.
_TRANSIENT = frozenset({"dns", "connect", "timeout", "network"})
_TRANSIENT_STATUS = frozenset({408, 425, 429})  # and every 5xx but 501 and 505

Outcome = Literal["added", "updated", "known", "duplicate", "failed"]


@dataclass(frozen=True)
class LinkResult:
    """What became of one link."""

    url: str
    outcome: Outcome
    message: str  # one line for the user
    path: Path | None = None
    title: str | None = None
    published: str | None = None
    transient: bool = False  # a failure that may go away (worth trying again)
    refused: bool = False  # an address never fetched (loopback, private, metadata): bad input

    @property
    def changed(self) -> bool:
        return self.outcome in ("added", "updated")


@dataclass
class FollowReport:
    links: list[LinkResult] = field(default_factory=list)
    feeds: FeedsReport | None = None
    build: BuildSummary | None = None
    build_error: str | None = None
    seconds: float = 0.0

    @property
    def changed(self) -> int:
        return sum(result.changed for result in self.links)

    @property
    def failed(self) -> list[LinkResult]:
        return [result for result in self.links if result.outcome == "failed"]


def fetch_policy(settings: Settings) -> FetchPolicy:
    return FetchPolicy(
        allow_private=settings.fetch_allow_private,
        timeout_s=settings.fetch_timeout_s,
        max_bytes=settings.fetch_max_bytes,
        max_redirects=settings.fetch_max_redirects,
        per_host=settings.fetch_per_host,
    )


def feed_store(settings: Settings) -> FeedStore:
    """The feed list and each feed's state: in the shared database when
    `NEWSQA_DATABASE_URL` names one, else beside the index (shared by a host's processes)."""
    if settings.database_url:
        return FeedStore(settings.database_url)
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    return FeedStore(settings.index_dir / FEEDS_FILE)


def subscribe(store: FeedStore, url: str, settings: Settings) -> Feed:
    """`store.add(url)`, but a feed the fetcher would refuse (a loopback, private or
    metadata address, checked after DNS as a refresh checks it) is refused now, with a
    FeedError, before anything is sent to it, rather than at every refresh."""
    normalized = normalize_feed_url(url)
    reason = link_refusal(normalized, allow_private=settings.fetch_allow_private)
    if reason:
        raise FeedError(f"not subscribed: {reason}")
    return store.add(normalized)


def _text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Follower:
    """Adds links and refreshes feeds for one articles folder and index."""

    def __init__(
        self,
        settings: Settings,
        *,
        fetcher: Fetcher | None = None,
        build: Callable[[], BuildSummary] | None = None,
    ) -> None:
        self.settings = settings
        self.fetcher = fetcher or Fetcher(fetch_policy(settings))
        self._owns_fetcher = fetcher is None
        self._build = build
        self._finder: DuplicateFinder | None = None

    @cached_property
    def _pool(self) -> ThreadPoolExecutor:
        """The fetch threads, started once and kept for the Follower's life rather than
        started anew for every add or refresh."""
        return ThreadPoolExecutor(self.settings.fetch_workers, thread_name_prefix="newsqa-fetch")

    @cached_property
    def links(self) -> LinkRegistry:
        """The link registry, opened on first use (a bot starts without writing anything)."""
        return LinkRegistry(self.settings.database_url or self.settings.index_dir / LINKS_FILE)

    def close(self) -> None:
        """Release the fetch threads, the HTTP pool and the registry, at the end of a command
        or when a bot shuts down; does not wait for a fetch in flight."""
        pool = self.__dict__.pop("_pool", None)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        if self._owns_fetcher:
            self.fetcher.close()
        links = self.__dict__.pop("links", None)
        if links is not None:
            links.close()

    def __enter__(self) -> Follower:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the two entry points -------------------------------------------------------------
    def add(self, urls: Sequence[str], *, update_index: bool = True) -> FollowReport:
        """Fetch and save the articles behind `urls`, then update the index once."""
        began = time.monotonic()
        report = FollowReport(links=self._take([(url, None) for url in urls]))
        if update_index:
            self._update_index(report)
        report.seconds = time.monotonic() - began
        return report

    def refresh(self, *, force: bool = False, update_index: bool = True) -> FollowReport:
        """Fetch every due feed, save its new entries' articles, update the index once."""
        began = time.monotonic()
        with feed_store(self.settings) as store:
            feeds = refresh_feeds(
                store,
                self.fetcher,
                workers=self.settings.fetch_workers,
                max_entries_per_feed=self.settings.feed_max_entries,
                force=force,
            )
            entries = feeds.new_entries
            try:
                results = self._take([(entry.link, entry) for entry in entries])
            except BaseException:
                # Nothing was marked seen: make sure the next refresh sees the entries again.
                for feed_id in {entry.feed_id for entry in entries if entry.feed_id}:
                    store.forget_validators(feed_id)
                raise
            done: dict[int, list[FeedEntry]] = {}
            retry: set[int] = set()
            for entry, result in zip(entries, results, strict=True):
                if result.outcome == "failed" and result.transient:
                    retry.add(entry.feed_id or 0)
                else:
                    done.setdefault(entry.feed_id or 0, []).append(entry)
            for feed_id, finished in done.items():
                store.mark_seen(feed_id, finished)
            for feed_id in retry:  # the feed may answer 304 next time: ask for all of it
                store.forget_validators(feed_id)
        report = FollowReport(links=results, feeds=feeds)
        if update_index:
            self._update_index(report)
        report.seconds = time.monotonic() - began
        return report

    # -- the feed list (for front-ends that hold one Follower) -------------------------------
    def feeds(self) -> list[Feed]:
        with feed_store(self.settings) as store:
            return store.list()

    def feed_add(self, url: str) -> Feed:
        with feed_store(self.settings) as store:
            return subscribe(store, url, self.settings)

    def feed_remove(self, feed: str) -> Feed:
        with feed_store(self.settings) as store:
            return store.remove(feed)

    def last_refresh(self) -> datetime | None:
        """When a feed was last checked, by any process."""
        checked = [feed.last_checked for feed in self.feeds() if feed.last_checked]
        return max(checked) if checked else None

    # -- the work -------------------------------------------------------------------------
    def _take(self, items: list[tuple[str, FeedEntry | None]]) -> list[LinkResult]:
        """Fetch the unknown links in parallel, then save them one at a time, in order."""
        todo: dict[int, str] = {}
        keys: set[str] = set()
        results: dict[int, LinkResult] = {}
        for i, (url, _) in enumerate(items):
            try:
                key = canonical_url(url)
            except Exception:  # an unparsable URL is bad input, said in one line
                results[i] = LinkResult(url, "failed", f"{url}: not a web address")
                continue
            known = self.links.lookup(key) or self.links.lookup(url)
            if known is not None and (self.settings.articles_dir / known.path).is_file():
                results[i] = self._known(url, known)
            elif key in keys:
                results[i] = LinkResult(url, "known", f"{url}: listed twice; fetched once")
            else:  # new, or saved once but its file is gone: fetch it (again)
                todo[i] = url
                keys.add(key)
        fetched: dict[int, WebArticle | LinkResult] = {}
        if todo:
            futures = {i: self._pool.submit(self._fetch, url) for i, url in todo.items()}
            fetched = {i: future.result() for i, future in futures.items()}
        for i in todo:
            got = fetched[i]
            entry = items[i][1]
            if isinstance(got, LinkResult):
                results[i] = got
            else:
                results[i] = self._store(items[i][0], got, entry)
        return [results[i] for i in range(len(items))]

    def _fetch(self, url: str) -> WebArticle | LinkResult:
        try:
            page = self.fetcher.get(url, accept=HTML_TYPES)
            return extract(page, min_chars=self.settings.fetch_min_chars)
        except FetchError as exc:
            return LinkResult(
                url, "failed", str(exc), transient=_transient(exc), refused=exc.kind == "refused"
            )
        except PageError as exc:
            return LinkResult(url, "failed", f"{url}: {exc}")
        except Exception as exc:
            log.warning("unexpected error reading %s", url, exc_info=True)
            return LinkResult(url, "failed", f"{url}: unexpected {type(exc).__name__}")

    def _known(self, url: str, known: SavedArticle) -> LinkResult:
        return LinkResult(
            url,
            "known",
            f"{url}: already saved as {known.path}",
            path=self.settings.articles_dir / known.path,
            title=known.title,
            published=known.published,
        )

    def _store(self, url: str, article: WebArticle, entry: FeedEntry | None) -> LinkResult:
        if article.published is None and entry is not None and entry.published:
            # The feed's own date for the entry: a publication date, never the fetch date.
            article = dataclasses.replace(article, published=entry.published[:10])
        aliases = [url, article.fetched_url]
        text_hash = _text_hash(article.text)
        saved = self.links.lookup(article.url)
        present = saved is not None and (self.settings.articles_dir / saved.path).is_file()
        if saved is not None and present and saved.text_hash == text_hash:
            self.links.save(saved, aliases)  # remember the new way in
            return self._known(url, saved)
        finder = self.finder()
        if saved is None:
            duplicate = finder.find(article.text)
            if duplicate is not None:
                return self._copy(url, article, duplicate.article_id, duplicate.similarity)
        copies = [copy for copy, _ in self.links.copies(article.url)] if saved else []
        self._pending().touch()
        path = save(self.settings.articles_dir, article, extra_sources=copies)
        relative = path.relative_to(self.settings.articles_dir).as_posix()
        signature = finder.signature(article.text)
        record = SavedArticle(
            article.url,
            relative,
            text_hash,
            signature,
            article.title,
            article.published,
            article.source,
        )
        self.links.save(record, aliases)
        finder.add_signature(article.url, signature)  # replaces an older signature
        outcome: Outcome = "updated" if present else "added"
        dated = f" ({article.published})" if article.published else " (no date on the page)"
        return LinkResult(
            url,
            outcome,
            f"{outcome} {article.title or article.url}{dated}",
            path=path,
            title=article.title,
            published=article.published,
        )

    def _copy(self, url: str, article: WebArticle, of: str, similarity: float) -> LinkResult:
        """`article` repeats the saved article at `of`: keep it as an extra source of it."""
        self.links.add_copy(of, [url, article.fetched_url, article.url], article.source)
        saved = self.links.lookup(of)
        assert saved is not None
        add_source(self.settings.articles_dir / saved.path, article.url)
        return LinkResult(
            url,
            "duplicate",
            f"{url}: the same story as {saved.title or saved.url} "
            f"(similarity {similarity:.2f}); kept as another source of it",
            path=self.settings.articles_dir / saved.path,
            title=saved.title,
            published=saved.published,
        )

    def finder(self) -> DuplicateFinder:
        """The near-duplicate index of every saved web article (built on first use)."""
        if self._finder is None:
            from newsqa.index.duplicates import DuplicateFinder

            threshold = self.settings.duplicate_threshold
            finder = DuplicateFinder() if threshold is None else DuplicateFinder(threshold)
            for url, signature in self.links.signatures():
                finder.add_signature(url, signature)
            self._finder = finder
        return self._finder

    def _pending(self) -> Path:
        self.settings.index_dir.mkdir(parents=True, exist_ok=True)
        return self.settings.index_dir / PENDING_FILE

    def _update_index(self, report: FollowReport) -> None:
        """Build once if this run saved something, or an earlier run saved articles that
        never reached the index (its build failed or never ran).

        The marker is claimed (renamed) before the build reads the articles: a file that
        another process saves meanwhile leaves a fresh marker for the next run, and a
        failed build puts the claimed one back."""
        pending = self._pending()
        if not report.changed and not pending.exists():
            return
        from newsqa.index.errors import IndexProblem

        claimed = pending.with_name(f"{PENDING_FILE}.{os.getpid()}.{threading.get_ident()}")
        with contextlib.suppress(FileNotFoundError):
            pending.replace(claimed)
        try:
            report.build = self._build() if self._build else _default_build(self.settings)
        except BaseException as exc:
            with contextlib.suppress(FileNotFoundError):
                claimed.replace(pending)
            if report.changed:
                pending.touch()
            if isinstance(exc, IndexProblem):
                report.build_error = str(exc)
                return
            raise
        claimed.unlink(missing_ok=True)


def _default_build(settings: Settings) -> BuildSummary:
    from newsqa.index.build import build_index

    return build_index(settings)


def _transient(exc: FetchError) -> bool:
    """A timeout, a refused connection, 429 or a 5xx may go away; a 404 will not."""
    if exc.kind in _TRANSIENT:
        return True
    status = exc.status or 0
    return exc.kind == "status" and (
        status in _TRANSIENT_STATUS or (status >= 500 and status not in (501, 505))
    )
