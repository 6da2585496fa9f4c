"""Following the news from Telegram: /add (any allowed user, limited per hour), /feeds,
/feed_add and /feed_remove (admins), and the timed refresh (PTB's JobQueue).

Fetching and rebuilding run in threads under the bot's one rebuild lock, so at most one
build runs at a time and answering, which reads the current index, never waits for them.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from telegram import Update

from newsqa import prompts
from newsqa.bot.telegram.format import esc
from newsqa.bot.telegram.handlers import Context, reply, reply_prompt
from newsqa.bot.telegram.state import BotState, get_state

log = logging.getLogger(__name__)
MAX_LINKS = 5  # per /add message


def _report_html(report: Any) -> str:
    lines = []
    if report.feeds is not None:
        lines += [esc(line) for line in report.feeds.lines()]
    for result in report.links:
        lines.append(("✅ " if result.changed else "• ") + esc(result.message))
    if report.build is not None:
        lines.append(
            esc(
                prompts.render(
                    "tg_follow_indexed",
                    added=report.build.added,
                    updated=report.build.updated,
                    passages=report.build.passages,
                )
            )
        )
    elif report.build_error is not None:
        lines.append(esc(prompts.render("tg_follow_not_indexed", reason=report.build_error)))
    return "\n".join(lines) or esc(prompts.load("tg_follow_nothing"))


def _is_admin(state: BotState, update: Update) -> bool:
    user = update.effective_user
    return state.policy.is_admin(user.id if user else None)


async def add(update: Update, context: Context) -> None:
    """/add URL…: fetch the articles behind the links and index them."""
    state = get_state(context)
    urls = [arg for arg in (context.args or []) if arg.strip()]
    if not urls:
        await reply_prompt(update, "tg_add_usage")
        return
    if len(urls) > MAX_LINKS:
        await reply_prompt(update, "tg_add_too_many", limit=MAX_LINKS)
        return
    if state.reindexing.locked():  # before the limit: a busy bot costs the user nothing
        await reply_prompt(update, "tg_reindex_busy")
        return
    user = update.effective_user
    if not _is_admin(state, update) and user is not None:
        wait = state.add_limiter.take(user.id, len(urls))
        if wait:
            limit = state.add_limiter.per_minute  # per hour here: its window is an hour
            if math.isinf(wait):
                await reply_prompt(update, "tg_add_too_many", limit=min(limit, MAX_LINKS))
            else:
                minutes = math.ceil(wait / 60)
                await reply_prompt(update, "tg_add_limited", limit=limit, minutes=minutes)
            return
    async with state.reindexing:
        await reply_prompt(update, "tg_add_started", count=len(urls))
        report = await asyncio.to_thread(state.follow.add, urls)
    await reply(update, _report_html(report))
    if report.changed:
        from newsqa.bot.telegram.watch import after_refresh

        await after_refresh(context.application, report)


async def feeds(update: Update, context: Context) -> None:
    """/feeds: the subscriptions, each with its state."""
    from newsqa.index.web.feeds import FeedError

    state = get_state(context)
    if not _is_admin(state, update):
        await reply_prompt(update, "tg_not_admin")
        return
    try:
        listed = await asyncio.to_thread(state.follow.feeds)
    except FeedError as exc:
        await reply(update, esc(str(exc)))
        return
    if not listed:
        await reply_prompt(update, "tg_feeds_none")
        return
    lines = [f"{feed.id}. <b>{esc(feed.name)}</b> [{esc(feed.status)}]" for feed in listed]
    await reply(update, "\n".join(lines))


async def feed_add(update: Update, context: Context) -> None:
    """/feed_add URL: subscribe (admins)."""
    feed = await _feed_command(update, context, "feed_add", "tg_feed_add_usage")
    if feed is not None:
        await reply_prompt(update, "tg_feed_added", id=feed.id, url=feed.url)


async def feed_remove(update: Update, context: Context) -> None:
    """/feed_remove N: unsubscribe (admins)."""
    feed = await _feed_command(update, context, "feed_remove", "tg_feed_remove_usage")
    if feed is not None:
        await reply_prompt(update, "tg_feed_removed", id=feed.id, title=feed.name)


async def _feed_command(update: Update, context: Context, action: str, usage: str) -> Any:
    """Run `Follower.<action>(argument)` for an admin with one argument; the Feed, or None
    once the refusal, the usage or the feed list's one-line error has been replied."""
    from newsqa.index.web.feeds import FeedError

    state = get_state(context)
    if not _is_admin(state, update):
        await reply_prompt(update, "tg_not_admin")
        return None
    args = context.args or []
    if len(args) != 1:
        await reply_prompt(update, usage)
        return None
    try:
        return await asyncio.to_thread(getattr(state.follow, action), args[0])
    except FeedError as exc:
        await reply(update, esc(str(exc)))
        return None


async def refresh_tick(context: Context) -> None:
    """Every process asks often whether a timed refresh is due and its to run (the lease
    in the database, `newsqa.leases.Refresher`); the one told yes runs it."""
    state = get_state(context.application)
    try:
        due = await asyncio.to_thread(state.feed_refresher().due)
    except Exception as exc:  # the database away for a moment: ask again at the next tick
        log.warning("could not ask whether a feed refresh is due: %s", exc)
        return
    if due:
        log.info("feed refresh due: this process runs it")
        context.application.create_task(refresh_job(context), name="newsqa-refresh")


async def refresh_job(context: Context) -> None:
    """The timed refresh: skipped (not queued) while another build runs."""
    state = get_state(context.application)
    if state.reindexing.locked():
        log.info("feed refresh skipped: a rebuild is running")
        return
    async with state.reindexing:
        try:
            report = await asyncio.to_thread(state.follow.refresh)
        except Exception:
            log.exception("feed refresh failed")
            return
    if report.build_error is not None:
        log.error(
            "feed refresh saved articles but could not update the index: %s", report.build_error
        )
    failed = report.feeds.failed if report.feeds is not None else []
    log.info(
        "feeds refreshed: %d new article(s), %d feed(s) failing, %.1f s",
        report.changed,
        len(failed),
        report.seconds,
    )
    for result in failed:
        log.warning("feed %s", result.summary)
    if report.changed:  # the watch step, timed apart (its own log line)
        from newsqa.bot.telegram.watch import after_refresh

        await after_refresh(context.application, report)
    else:  # a push recorded before a restart, or one that failed for now
        from newsqa.bot.telegram.watch import push_pending

        await push_pending(context.bot, state)
