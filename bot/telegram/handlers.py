"""The bot's handlers: one small async function per command or kind of update.

They are wired in `bot.telegram.app.build_application`; what they share comes from
`context.bot_data` (`get_state`). Answering runs in a thread pool with a timeout, so a
slow question never blocks the event loop or other chats.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from typing import TypeVar

from telegram import (
    Bot,
    Chat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
    User,
)
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes

from newsqa import prompts
from newsqa.bot.question import QuestionError, clean_question
from newsqa.bot.telegram.format import (
    answer_html,
    covered_names,
    esc,
    html_to_text,
    passage_html,
    sources_html,
    split_html,
)
from newsqa.bot.telegram.state import BotState, get_state
from newsqa.index import IndexProblem

log = logging.getLogger(__name__)
Context = ContextTypes.DEFAULT_TYPE
SOURCE_PREFIX = "src"
T = TypeVar("T")


# -- helpers -----------------------------------------------------------------------------
def conversation_key(chat: Chat, user: User | None) -> str:
    """One conversation per private chat, one per user in a group."""
    if chat.type == ChatType.PRIVATE or user is None:
        return f"tg:{chat.id}"
    return f"tg:{chat.id}:{user.id}"


def _mentions(message: Message, bot: Bot) -> list[str]:
    """The pieces of `message.text` that mention this bot."""
    found = []
    username = (bot.username or "").lower()
    entities = message.parse_entities([MessageEntity.MENTION, MessageEntity.TEXT_MENTION])
    for entity, text in entities.items():
        named = entity.type == MessageEntity.MENTION and text.lower() == f"@{username}"
        linked = entity.user is not None and entity.user.id == bot.id
        if (named and username) or linked:
            found.append(text)
    return found


def _replies_to_bot(message: Message, bot: Bot) -> bool:
    reply = message.reply_to_message
    return reply is not None and reply.from_user is not None and reply.from_user.id == bot.id


def addressed(update: Update, bot: Bot) -> bool:
    """Whether the update is meant for the bot (always in private chats)."""
    if update.callback_query is not None:
        return True
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return False
    if chat.type == ChatType.PRIVATE:
        return True
    text = message.text or ""
    if text.startswith("/"):
        command = text.split(maxsplit=1)[0]
        return "@" not in command or command.lower().endswith(f"@{(bot.username or '').lower()}")
    return bool(_mentions(message, bot)) or _replies_to_bot(message, bot)


async def send_html(
    bot: Bot,
    chat_id: int,
    markup: str,
    reply_markup: InlineKeyboardMarkup | None = None,
    reply_to: int | None = None,
    thread_id: int | None = None,
) -> Message | None:
    """Send `markup` as HTML in parts under Telegram's limit, buttons on the last part.

    A part Telegram cannot parse is sent again as plain text rather than lost.
    """
    parts = [part for part in split_html(markup) if html_to_text(part).strip()]
    sent = None
    for i, part in enumerate(parts):
        keyboard = reply_markup if i == len(parts) - 1 else None
        common = {
            "chat_id": chat_id,
            "reply_markup": keyboard,
            "message_thread_id": thread_id,
            "link_preview_options": LinkPreviewOptions(is_disabled=True),
            "reply_parameters": (
                ReplyParameters(reply_to, allow_sending_without_reply=True)
                if reply_to is not None and i == 0
                else None
            ),
        }
        try:
            sent = await bot.send_message(text=part, parse_mode=ParseMode.HTML, **common)
        except BadRequest as exc:
            if "parse entities" not in exc.message.lower():
                raise
            log.warning("Telegram rejected a reply's HTML (%s); sending it as plain text", exc)
            sent = await bot.send_message(text=html_to_text(part), **common)
    return sent


async def reply(
    update: Update,
    markup: str,
    reply_markup: InlineKeyboardMarkup | None = None,
    bot: Bot | None = None,
) -> Message | None:
    """Answer the update's message in its chat (quoting it in groups)."""
    message, chat = update.effective_message, update.effective_chat
    if chat is None or message is None:
        return None
    bot = bot or message.get_bot()
    quote = message.message_id if chat.type != ChatType.PRIVATE else None
    thread = message.message_thread_id if message.is_topic_message else None
    return await send_html(bot, chat.id, markup, reply_markup, reply_to=quote, thread_id=thread)


async def reply_prompt(update: Update, name: str, **values: object) -> Message | None:
    text = prompts.render(name, **values) if values else prompts.load(name)
    return await reply(update, esc(text))


@asynccontextmanager
async def typing(
    bot: Bot, chat_id: int, every_s: float, thread_id: int | None = None
) -> AsyncIterator[None]:
    """Show "typing…" in the chat, renewed every `every_s` seconds, until the block ends."""

    async def keep_typing() -> None:
        while True:
            try:
                await bot.send_chat_action(chat_id, ChatAction.TYPING, message_thread_id=thread_id)
            except TelegramError as exc:
                log.debug("chat action failed: %s", exc)
            await asyncio.sleep(every_s)

    task = asyncio.create_task(keep_typing())
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


async def _in_pool(state: BotState, function: Callable[..., T], *args: object) -> T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(state.executor, function, *args)


async def answer_question(update: Update, context: Context, question: str) -> None:
    """Check, rate-limit and answer one question, then reply with the cited answer."""
    state = get_state(context)
    message, chat, user = update.effective_message, update.effective_chat, update.effective_user
    if message is None or chat is None:
        return
    try:
        clean_question(question, state.max_question_chars)
    except QuestionError as exc:
        await reply(update, esc(str(exc)))
        return
    user_id = user.id if user is not None else chat.id
    wait = state.limiter.check(user_id)
    if wait:
        log.info("rate limit: user %s waits %.0f s", user_id, wait)
        if state.limiter.should_warn(user_id):
            await reply_prompt(
                update, "tg_rate_limited", limit=state.limiter.per_minute, seconds=math.ceil(wait)
            )
        return
    key = conversation_key(chat, user)
    thread = message.message_thread_id if message.is_topic_message else None
    abandoned = threading.Event()  # set on timeout: the late answer joins no conversation
    run = functools.partial(state.answerer.run, question, key, abandoned=abandoned)
    async with state.lock_for(key), typing(context.bot, chat.id, state.typing_every_s, thread):
        try:
            answer, retrieval = await asyncio.wait_for(_in_pool(state, run), state.answer_timeout_s)
        except TimeoutError:
            abandoned.set()
            log.warning("no answer within %.0f s for conversation %s", state.answer_timeout_s, key)
            await reply_prompt(update, "tg_timeout")
            return
        except QuestionError as exc:
            await reply(update, esc(str(exc)))
            return
        except IndexProblem as exc:  # one line for the operator, an apology for the user
            log.error("cannot answer: %s", exc)
            await reply_prompt(update, "tg_error")
            return
    covered = covered_names(retrieval.candidates) if not answer.citations else []
    keyboard = None
    if answer.citations:
        token = state.keep_sources(answer.citations, retrieval.candidates)
        keyboard = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        prompts.render("tg_source_button", n=c.n),
                        callback_data=f"{SOURCE_PREFIX}:{token}:{c.n}",
                    )
                    for c in answer.citations
                ]
            ]
        )
    await reply(update, answer_html(answer, covered), keyboard, bot=context.bot)


# -- gatekeeping -------------------------------------------------------------------------
async def gate(update: Update, context: Context) -> None:
    """Runs before every handler: users and chats not on the allow-list stop here.

    They get one polite refusal (the first time they address the bot); nothing they send
    reaches retrieval.
    """
    state = get_state(context)
    user, chat = update.effective_user, update.effective_chat
    if state.policy.allows(user.id if user else None, chat.id if chat else None):
        return
    if addressed(update, context.bot):
        first = user is not None and state.policy.first_refusal(user.id)
        # Said once per user at WARNING: how the owner learns an id to allow (their own too).
        (log.warning if first else log.info)(
            "refused user %s in chat %s; add the user id to NEWSQA_TELEGRAM_ALLOWED to let them in",
            user.id if user else None,
            chat.id if chat else None,
        )
        if update.callback_query is not None:
            text = prompts.load("tg_refusal") if first else None
            await update.callback_query.answer(text, show_alert=first)
        elif first:
            await reply_prompt(update, "tg_refusal")
    raise ApplicationHandlerStop


# -- commands ----------------------------------------------------------------------------
async def start(update: Update, context: Context) -> None:
    """/start: what the bot knows and how to ask."""
    state = get_state(context)
    status = await asyncio.to_thread(lambda: state.answerer.index.status())
    await reply_prompt(
        update,
        "tg_welcome",
        articles=status.articles,
        newest=status.newest_published or prompts.load("tg_undated"),
    )


async def help_command(update: Update, context: Context) -> None:
    """/help: how to ask, the commands, and group use."""
    await reply_prompt(update, "tg_help", username=context.bot.username or "this_bot")


async def status(update: Update, context: Context) -> None:
    """/status: index size, embedding model, last build."""
    state = get_state(context)
    current = await asyncio.to_thread(lambda: state.answerer.index.status())
    try:
        refreshed = await asyncio.to_thread(state.follow.last_refresh)
    except Exception:  # the feed list cannot be read: /status still answers
        log.warning("cannot read the feed list", exc_info=True)
        refreshed = None
    await reply_prompt(
        update,
        "tg_status",
        articles=current.articles,
        passages=current.passages,
        sentences=current.sentences,
        model=current.model,
        built_at=current.built_at or prompts.load("tg_unknown_build"),
        newest=current.newest_published or prompts.load("tg_undated"),
        refreshed=f"{refreshed:%Y-%m-%d %H:%M} UTC" if refreshed else prompts.load("tg_never"),
    )


async def reset(update: Update, context: Context) -> None:
    """/reset: forget this conversation (this user's, in a group)."""
    state = get_state(context)
    if update.effective_chat is None:
        return
    key = conversation_key(update.effective_chat, update.effective_user)
    state.answerer.reset(key)
    await reply_prompt(update, "tg_reset")


async def sources(update: Update, context: Context) -> None:
    """/sources: the passages behind the last answer, in full."""
    state = get_state(context)
    if update.effective_chat is None:
        return
    key = conversation_key(update.effective_chat, update.effective_user)
    found = await _in_pool(state, functools.partial(state.answerer.sources, key))
    if found is None:
        await reply_prompt(update, "tg_no_sources")
        return
    await reply(update, sources_html(found))


async def ask(update: Update, context: Context) -> None:
    """/ask QUESTION: a question in a group (works in private chats too)."""
    question = " ".join(context.args or [])
    message = update.effective_message
    if not question.strip() and message is not None and message.reply_to_message is not None:
        question = message.reply_to_message.text or ""
    if not question.strip():
        await reply_prompt(update, "tg_ask_usage")
        return
    await answer_question(update, context, question)


async def reindex(update: Update, context: Context) -> None:
    """/reindex (admins only): update the index while questions use the current one."""
    from newsqa.index import IndexProblem

    state = get_state(context)
    user = update.effective_user
    if not state.policy.is_admin(user.id if user else None):
        await reply_prompt(update, "tg_not_admin")
        return
    if state.reindexing.locked():
        await reply_prompt(update, "tg_reindex_busy")
        return
    async with state.reindexing:
        await reply_prompt(update, "tg_reindex_started")
        try:
            summary = await asyncio.to_thread(state.build)
        except IndexProblem as exc:
            log.warning("reindex failed: %s", exc)
            await reply_prompt(update, "tg_reindex_failed", reason=str(exc))
            return
    log.info("reindexed: %s", summary)
    await reply_prompt(
        update,
        "tg_reindex_done",
        seconds=f"{summary.seconds:.1f}",
        added=summary.added,
        updated=summary.updated,
        unchanged=summary.unchanged,
        deleted=summary.deleted,
        passages=summary.passages,
    )


# -- messages ----------------------------------------------------------------------------
async def private_text(update: Update, context: Context) -> None:
    """A text message in a private chat is a question."""
    message = update.effective_message
    if message is not None and message.text is not None:
        await answer_question(update, context, message.text)


async def group_text(update: Update, context: Context) -> None:
    """A group message is a question only when it mentions or replies to the bot."""
    message = update.effective_message
    if message is None or message.text is None:
        return
    mentions = _mentions(message, context.bot)
    if not mentions and not _replies_to_bot(message, context.bot):
        return
    question = message.text
    for mention in mentions:
        question = question.replace(mention, " ")
    await answer_question(update, context, question)


async def unknown_command(update: Update, context: Context) -> None:
    """A command the bot does not have, in a private chat: point to /help."""
    await reply_prompt(update, "tg_unknown_command")


async def not_text(update: Update, context: Context) -> None:
    """Photos, stickers, voice… in a private chat: say that only text is read."""
    await reply_prompt(update, "tg_text_only")


async def source_button(update: Update, context: Context) -> None:
    """A "Source N" button: the full passage around the quote, without re-running."""
    state = get_state(context)
    query = update.callback_query
    if query is None:
        return
    _, _, rest = (query.data or "").partition(":")
    token, _, number = rest.partition(":")
    kept = state.sources.get(token)
    citation = None
    if kept is not None and number.isdigit():
        citation = next((c for c in kept.citations if c.n == int(number)), None)
    if kept is None or citation is None:
        await query.answer(prompts.load("tg_source_expired"), show_alert=True)
        return
    await query.answer()
    message = query.message
    if message is None:
        return
    await send_html(
        context.bot,
        message.chat.id,
        passage_html(citation, kept.passages.get(citation.n)),
        reply_to=message.message_id,
        thread_id=getattr(message, "message_thread_id", None),
    )


async def on_error(update: object, context: Context) -> None:
    """The one error handler: the traceback to the log, a short apology to the user."""
    log.error("error while handling an update", exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        if update.callback_query is not None:
            with suppress(TelegramError):
                await update.callback_query.answer()
        with suppress(TelegramError):
            await context.bot.send_message(update.effective_chat.id, prompts.load("tg_error"))
