"""`newsqa add`, `newsqa feeds add|list|remove` and `newsqa refresh`: the command line of
following the news. Each prints one line per link or feed, then the index summary."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from newsqa.index.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail, format_summary
from newsqa.settings import Settings

_MARK = {
    "added": "+",
    "updated": "~",
    "known": "=",
    "duplicate": "=",
    "failed": "!",
}


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register the commands on the `newsqa` parser's subparsers."""
    p = sub.add_parser(
        "add", parents=[common], help="fetch articles from links, save them, update the index"
    )
    p.add_argument("urls", nargs="+", metavar="URL", help="http(s) links to news articles")
    p = sub.add_parser("feeds", parents=[common], help="manage RSS/Atom subscriptions")
    feeds = p.add_subparsers(dest="feeds_command", required=True, metavar="ACTION")
    q = feeds.add_parser("add", parents=[common], help="subscribe to a feed")
    q.add_argument("url", metavar="URL")
    feeds.add_parser("list", parents=[common], help="the feeds and how each one is doing")
    q = feeds.add_parser("remove", parents=[common], help="unsubscribe (by number or URL)")
    q.add_argument("feed", metavar="ID")
    p = sub.add_parser(
        "refresh",
        parents=[common],
        help="fetch every feed, add new entries' articles, update the index once",
    )
    p.add_argument("--force", action="store_true", help="also fetch feeds that are backing off")


def _print_report(report: Any, settings: Settings) -> int:
    if report.feeds is not None:
        for result in report.feeds.results:
            print(result.summary, file=sys.stderr if result.outcome == "failed" else sys.stdout)
    for result in report.links:
        stream = sys.stderr if result.outcome == "failed" else sys.stdout
        print(f"{_MARK[result.outcome]} {result.message}", file=stream)
    if report.build is not None:
        print(format_summary(report.build, settings.index_dir))
    elif report.build_error is not None:
        return fail(
            f"the articles are saved, but the index was not updated: {report.build_error}",
            EXIT_FAILED,
        )
    elif report.links or report.feeds is not None:
        print("nothing new: the index is unchanged")
    return EXIT_OK


After = Callable[[Any], None]  # given the report once the index is updated (bot: watches)
Build = Callable[[], Any]  # the index update (default: `build_index(settings)`)


def cmd_add(
    args: argparse.Namespace,
    settings: Settings,
    after: After | None = None,
    build: Build | None = None,
) -> int:
    """Fetch articles from links, save them as article files, update the index (with
    `build`, the caller's build: e.g. under a lock)."""
    from newsqa.index.web.fetch import link_refusal
    from newsqa.index.web.follow import Follower

    # A link that is not an http(s) address with a host is bad input: refused before
    # anything is fetched. (Addresses are checked by the fetcher, after DNS.)
    bad = [
        reason
        for url in args.urls
        if (reason := link_refusal(url, allow_private=True, check_address=False))
    ]
    if bad:
        more = f" (and {len(bad) - 1} more bad links)" if len(bad) > 1 else ""
        return fail(f"{bad[0]}{more}; nothing was fetched", EXIT_USAGE)
    with Follower(settings, build=build) as follower:
        report = follower.add(args.urls)
    refused = [result for result in report.links if result.refused]
    if refused and len(refused) == len(report.links):  # only addresses never fetched
        more = f" (and {len(refused) - 1} more refused links)" if len(refused) > 1 else ""
        return fail(f"{refused[0].message}{more}; nothing was fetched", EXIT_USAGE)
    code = _print_report(report, settings)
    if after is not None and report.build is not None and report.changed:
        after(report)
    if code == EXIT_OK and report.failed and len(report.failed) == len(report.links):
        return EXIT_FAILED  # nothing could be added
    return code


def cmd_feeds(args: argparse.Namespace, settings: Settings) -> int:
    """Manage the feed list (kept in the index folder, shared by every bot process)."""
    from newsqa.index.web.feeds import FeedError
    from newsqa.index.web.follow import feed_store, subscribe

    try:
        with feed_store(settings) as store:
            if args.feeds_command == "add":
                feed = subscribe(store, args.url, settings)
                print(f"subscribed: feed {feed.id} {feed.url} (run `newsqa refresh` to fetch it)")
            elif args.feeds_command == "remove":
                feed = store.remove(args.feed)
                print(f"unsubscribed: feed {feed.id} {feed.name}")
            else:
                feeds = store.list()
                if not feeds:
                    print("no feeds yet: add one with `newsqa feeds add URL`")
                for feed in feeds:
                    print(f"{feed.id:>3}  {feed.name}  [{feed.status}]")
                    if feed.title:
                        print(f"     {feed.url}")
    except FeedError as exc:
        return fail(str(exc), EXIT_USAGE)
    return EXIT_OK


def cmd_refresh(
    args: argparse.Namespace,
    settings: Settings,
    after: After | None = None,
    build: Build | None = None,
) -> int:
    """Fetch every feed, add the new entries' articles, update the index once."""
    from newsqa.index.web.feeds import FeedError
    from newsqa.index.web.follow import Follower, feed_store

    try:
        with feed_store(settings) as store:
            if not store.list():
                print("no feeds yet: add one with `newsqa feeds add URL`")
                return EXIT_OK
        with Follower(settings, build=build) as follower:
            report = follower.refresh(force=args.force)
    except FeedError as exc:  # e.g. a feed list written by a newer newsqa
        return fail(str(exc), EXIT_FAILED)
    code = _print_report(report, settings)
    if after is not None and report.build is not None and report.changed:
        after(report)
    feeds = report.feeds
    fetched = feeds is not None and any(r.outcome in ("new", "unchanged") for r in feeds.results)
    if code == EXIT_OK and feeds is not None and feeds.failed and not fetched:
        waiting = f", {len(feeds.skipped)} backing off" if feeds.skipped else ""
        return fail(f"no feed could be fetched ({len(feeds.failed)} failed{waiting})", EXIT_FAILED)
    return code


COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "add": cmd_add,
    "feeds": cmd_feeds,
    "refresh": cmd_refresh,
}
