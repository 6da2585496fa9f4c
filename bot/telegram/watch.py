"""Watches from Telegram: /watch QUESTION, /watches, /unwatch N, /latest [topic], and the
pushes that follow a refresh.

A watch belongs to its chat (in a group, to the group; adding or removing one there is for
the bot's admins). Pushes are taken from the store's outbox, sent, then marked sent; a chat
that blocked the bot or is gone (403, "chat not found") pauses its watches.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from typing import Any

from telegram import Bot, Update
from telegram.constants import ChatType
from telegram.error import BadRequest, Forbidden, TelegramError

from newsqa import prompts
from newsqa.bot.question import QuestionError
from newsqa.bot.telegram.format import answer_html, esc
from newsqa.bot.telegram.handlers import Context, _in_pool, reply, reply_prompt
from newsqa.bot.telegram.state import BotState, get_state
from newsqa.bot.watches import WatchError, WatchRun, article_ids, day, recheck
from newsqa.index import IndexProblem

log = logging.getLogger(__name__)
PUSH_LEASE = "watch-push"  # the one process (of those sharing a database) that sends pushes
PUSH_LEASE_S = 120.0


def owner_of(chat_id: int) -> str:
    return f"tg:{chat_id}"


def _in_group(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type != ChatType.PRIVATE


async def _may_change(update: Update, state: BotState) -> bool:
    """In a group only the bot's admins add or remove the chat's watches."""
    user = update.effective_user
    if _in_group(update) and not state.policy.is_admin(user.id if user else None):
        await reply_prompt(update, "tg_not_admin")
        return False
    return True


async def watch(update: Update, context: Context) -> None:
    """/watch QUESTION: follow a question; the current answer is its baseline. /watch on
    topic words (`watch_topics.is_topic`): a digest of the new articles on it after each
    refresh. /watch on the words of a paused watch resumes it."""
    from newsqa.bot.watch_topics import is_topic
    from newsqa.bot.watches import Baseline

    state = get_state(context)
    chat, user = update.effective_chat, update.effective_user
    if chat is None or not await _may_change(update, state):
        return
    store = state.watch_store()
    owner, group = owner_of(chat.id), _in_group(update)
    user_id = user.id if user is not None else None
    text = " ".join(context.args or [])
    resumed = await asyncio.to_thread(store.resume_same, owner, text)
    if resumed is not None:
        await reply_prompt(update, "watch_resumed", n=resumed.n, question=resumed.question)
        return
    try:
        question = store.check(owner, text, user_id, group=group)
    except WatchError as exc:
        await reply(update, esc(str(exc)))
        return
    if is_topic(question):
        try:
            added = store.add(
                owner,
                question,
                Baseline("topic", None),
                chat_id=chat.id,
                user_id=user_id,
                group=group,
                kind="topic",
            )
        except WatchError as exc:
            await reply(update, esc(str(exc)))
            return
        await reply_prompt(update, "tg_watch_topic_added", n=added.n, topic=added.question)
        return
    wait = state.limiter.check(user_id if user_id is not None else chat.id)
    if wait:
        await reply_prompt(
            update, "tg_rate_limited", limit=state.limiter.per_minute, seconds=math.ceil(wait)
        )
        return
    run = functools.partial(state.answerer.run, question)
    try:
        answer, _ = await asyncio.wait_for(_in_pool(state, run), state.answer_timeout_s)
    except TimeoutError:
        await reply_prompt(update, "tg_timeout")
        return
    except QuestionError as exc:
        await reply(update, esc(str(exc)))
        return
    except IndexProblem as exc:
        log.error("cannot answer: %s", exc)
        await reply_prompt(update, "tg_error")
        return
    try:
        added = store.add(
            owner, question, Baseline.of(answer), chat_id=chat.id, user_id=user_id, group=group
        )
    except WatchError as exc:  # another message added the same one meanwhile
        await reply(update, esc(str(exc)))
        return
    head = esc(prompts.render("tg_watch_added", n=added.n, question=added.question))
    await reply(update, f"{head}\n\n{answer_html(answer)}", bot=context.bot)


async def watches(update: Update, context: Context) -> None:
    """/watches: this chat's watches, each with its number and its current answer. The
    chat's paused watches (it had blocked the bot) are resumed: it can hear from it again."""
    state = get_state(context)
    chat = update.effective_chat
    if chat is None:
        return
    store = state.watch_store()
    paused = {w.id for w in store.list(owner_of(chat.id)) if w.paused}
    if paused:
        await asyncio.to_thread(store.resume, owner_of(chat.id))
    listed = store.list(owner_of(chat.id))
    if not listed:
        await reply_prompt(update, "tg_watches_none")
        return
    lines = [f"<b>{esc(prompts.load('tg_watches_title'))}</b>"]
    for item in listed:
        if item.topic:
            now = prompts.load("tg_watch_topic")
        elif item.baseline.short_answer:
            now = prompts.render(
                "tg_watch_now", short=item.baseline.short_answer, when=day(item.baseline.published)
            )
        else:
            now = prompts.load("tg_watch_no_answer")
        flag = f" [{prompts.load('tg_watch_resumed')}]" if item.id in paused else ""
        lines.append(f"{item.n}. {esc(item.question)} — <i>{esc(now)}</i>{esc(flag)}")
    await reply(update, "\n".join(lines))


async def unwatch(update: Update, context: Context) -> None:
    """/unwatch N: stop following watch N of this chat."""
    state = get_state(context)
    chat = update.effective_chat
    if chat is None or not await _may_change(update, state):
        return
    args = context.args or []
    if len(args) != 1:
        await reply_prompt(update, "tg_unwatch_usage")
        return
    try:
        removed = state.watch_store().remove(owner_of(chat.id), args[0])
    except WatchError as exc:
        await reply(update, esc(str(exc)))
        return
    await reply_prompt(update, "tg_watch_removed", n=removed.n, question=removed.question)


async def latest(update: Update, context: Context) -> None:
    """/latest [topic]: the newest articles (on a topic): title, date, source, link."""
    from newsqa.bot.latest import latest as newest

    state = get_state(context)
    topic = " ".join(context.args or []).strip()
    count = state.settings.latest_count
    try:
        found = await _in_pool(state, newest, state.answerer, topic, count)
    except IndexProblem as exc:
        log.error("cannot list articles: %s", exc)
        await reply_prompt(update, "tg_error")
        return
    if not found:
        if topic:
            await reply_prompt(update, "tg_latest_none_on", topic=topic)
        else:
            await reply_prompt(update, "tg_latest_none")
        return
    title = (
        prompts.render("tg_latest_title_on", topic=topic)
        if topic
        else prompts.load("tg_latest_title")
    )
    lines = [f"<b>{esc(title)}</b>"]
    for article in found:
        parts = [f"<b>{esc(article.title or article.id)}</b>"]
        parts.append(esc(article.published or prompts.load("tg_citation_undated")))
        if article.source:
            parts.append(esc(article.source))
        if article.url and article.url.lower().startswith(("http://", "https://")):
            parts.append(f'<a href="{esc(article.url)}">link</a>')
        lines.append("• " + " · ".join(parts))
    await reply(update, "\n".join(lines))


# -- after a refresh -------------------------------------------------------------------------
async def push_pending(bot: Bot, state: BotState) -> int:
    """Send the outbox's pushes, oldest first; each is marked sent once Telegram took it.
    A chat that blocked the bot or is gone pauses its watch; another failure leaves the
    push for the next time. Returns how many were sent.

    One sender at a time (a refresh's and an /add's may overlap): two would read the same
    pending pushes and send each twice. With processes that share a database, one sender
    over all of them: the `watch-push` lease; a process that does not get it leaves the
    pushes to the one that has it. A crash between Telegram taking a push and its mark
    leaves it pending: it is sent again at the next start (at least once, never lost)."""
    async with state.pushing:
        shared = state.database
        if shared is None:
            return await _push_pending(bot, state)
        from newsqa.leases import release, take

        if not await asyncio.to_thread(take, shared, PUSH_LEASE, state.holder, PUSH_LEASE_S):
            return 0
        try:
            return await _push_pending(bot, state)
        finally:
            await asyncio.to_thread(release, shared, PUSH_LEASE, state.holder)


async def _push_pending(bot: Bot, state: BotState) -> int:
    from newsqa.bot.telegram.handlers import send_html

    store = state.watch_store()
    sent = 0
    for push in await asyncio.to_thread(store.pending, telegram=True):
        assert push.chat_id is not None
        if state.database is not None:  # still the sender: renew the lease
            from newsqa.leases import take

            await asyncio.to_thread(take, state.database, PUSH_LEASE, state.holder, PUSH_LEASE_S)
        try:
            await send_html(bot, push.chat_id, esc(push.text))
        except (Forbidden, BadRequest) as exc:
            if isinstance(exc, BadRequest) and "chat not found" not in exc.message.lower():
                log.warning("push %s refused (%s); dropped", push.id, exc)
                await asyncio.to_thread(store.drop, push.id)
                continue
            log.warning("chat %s cannot be reached (%s); its watch is paused", push.chat_id, exc)
            await asyncio.to_thread(store.pause, push.watch_id)
            continue
        except TelegramError as exc:
            log.warning("push %s not sent (%s); trying again after the next refresh", push.id, exc)
            break
        await asyncio.to_thread(store.mark_sent, push.id)
        sent += 1
    return sent


async def after_refresh(application: Any, report: Any) -> WatchRun | None:
    """Ask again the watches the refresh's new articles touch, then send what is due."""
    state = get_state(application)
    new = article_ids(report, state.settings.articles_dir) if report.build is not None else set()
    run = None
    if new:
        try:
            run = await asyncio.to_thread(recheck, state.watch_store(), state.answerer, new)
        except Exception:
            log.exception("watches could not be asked again")
    await push_pending(application.bot, state)
    return run
