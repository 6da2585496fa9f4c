"""The Telegram application: built in one function, run by `run_telegram`."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from telegram import BotCommand, Update
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackContext,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from newsqa import prompts
from newsqa.bot.llm.generate import secrets_of
from newsqa.bot.telegram import follow, handlers, watch
from newsqa.bot.telegram.access import AccessPolicy, RateLimiter
from newsqa.bot.telegram.redact import MASK, redact_logs
from newsqa.bot.telegram.state import STATE_KEY, BotState, get_state
from newsqa.index.web.follow import Follower

if TYPE_CHECKING:
    from newsqa.bot.chain import Answerer
    from newsqa.database import Database
    from newsqa.index import BuildSummary
    from newsqa.settings import Settings

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
NO_TOKEN = "set TELEGRAM_BOT_TOKEN to the token @BotFather gave your bot to run the Telegram bot"


class MissingTokenError(ValueError):
    """No bot token in the settings."""


def bot_token(settings: Settings) -> str:
    secret = settings.telegram_bot_token
    token = secret.get_secret_value().strip() if secret is not None else ""
    if not token:
        raise MissingTokenError(NO_TOKEN)
    return token


def api_urls(api_url: str | None) -> tuple[str, str] | None:
    """(base_url, base_file_url) for a self-hosted Bot API server at `api_url`."""
    if not api_url:
        return None
    root = api_url.rstrip("/")
    return f"{root}/bot", f"{root}/file/bot"


def command_list() -> list[BotCommand]:
    """The command menu, from `prompts/tg_commands.md` ("name - description" lines)."""
    commands = []
    for line in prompts.load("tg_commands").splitlines():
        name, sep, description = line.partition(" - ")
        if sep:
            commands.append(BotCommand(name.strip(), description.strip()))
    return commands


async def _post_init(application: Application) -> None:  # type: ignore[type-arg]
    state = get_state(application)
    if state.policy.open:
        log.warning("NEWSQA_TELEGRAM_ALLOWED is empty: the bot answers everyone who finds it")
    else:
        log.info("allow-list: %d user or chat id(s)", len(state.policy.allowed))
    await application.bot.set_my_commands(command_list())
    loop = asyncio.get_running_loop()
    from newsqa.index import IndexProblem

    try:
        await loop.run_in_executor(state.executor, state.answerer.warm)
    except IndexProblem as exc:  # stay up: a rebuild (or /reindex) is picked up live
        log.error("%s; until then questions get an apology", exc)
    try:  # pushes recorded before a restart go out now, once
        await watch.push_pending(application.bot, state)
    except Exception:
        log.warning("could not send the pending watch pushes", exc_info=True)
    log.info("bot @%s ready", application.bot.username)


async def _post_shutdown(application: Application) -> None:  # type: ignore[type-arg]
    state = get_state(application)
    state.executor.shutdown(wait=False, cancel_futures=True)
    try:
        state.follow.close()
    except Exception:  # shutting down: say so, and still undo what the bot set up
        log.warning("could not close the link registry cleanly", exc_info=True)
    finally:
        if state.watches is not None:
            state.watches.close()
        if state.refresher is not None:
            state.refresher.resign()  # another process takes the next refresh at once
            if state.refresher.db is not state.database:
                state.refresher.db.close()
        if state.database is not None:
            state.database.close()
        for undo in state.undo:
            undo()


def build_application(
    settings: Settings,
    answerer: Answerer | None = None,
    *,
    build: Callable[[], BuildSummary] | None = None,
    typing_every_s: float = 4.0,
    answer_timeout_s: float | None = None,
) -> Application:  # type: ignore[type-arg]
    """The bot, wired: handlers, rate limiter, error handler, shared state in bot_data.

    `answerer` defaults to the real one for `settings` (index problems raise with
    one-line messages); `build` defaults to an incremental `build_index` that reuses the
    answerer's embedding model; `answer_timeout_s` overrides the setting.
    Raises `MissingTokenError` without a token.
    """
    token = bot_token(settings)
    # PTB logs every Bot API call's parameters at DEBUG (setWebhook's secret_token too).
    undo_redaction = redact_logs(token, *secrets_of(settings), webhook_secret_of(settings))
    if answerer is None:
        from newsqa.bot.components import build_answerer

        answerer = build_answerer(settings)
    if build is None:
        from newsqa.index import build_index

        embedder = answerer.embedder

        def build() -> BuildSummary:
            return build_index(settings, embedder=embedder)

    from newsqa.database import shared_database

    shared = shared_database(settings)  # None: this process keeps its own state
    if shared is not None:
        build = _locked(shared, build)

    builder = (
        ApplicationBuilder()
        .token(token)
        .rate_limiter(AIORateLimiter(max_retries=2))
        .concurrent_updates(True)
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
    )
    urls = api_urls(settings.telegram_api_url)
    if urls is not None:
        builder = builder.base_url(urls[0]).base_file_url(urls[1])
    application = builder.build()

    limit = settings.telegram_max_question_chars or settings.max_question_chars
    timeout = answer_timeout_s or settings.telegram_answer_timeout_s
    state = BotState(
        settings=settings,
        answerer=answerer,
        policy=AccessPolicy.of(settings.telegram_allowed, settings.telegram_admins),
        limiter=RateLimiter(settings.telegram_rate_per_minute),
        executor=ThreadPoolExecutor(
            max_workers=settings.telegram_workers,
            thread_name_prefix="newsqa-answer",
        ),
        build=build,
        follow=Follower(settings, build=build),
        add_limiter=RateLimiter(settings.telegram_add_per_hour, window_s=3600.0),
        answer_timeout_s=float(timeout),  # type: ignore[arg-type]
        max_question_chars=int(limit),  # type: ignore[call-overload]
        typing_every_s=typing_every_s,
        undo=[undo_redaction],
        database=shared,
    )
    if shared is not None:  # any process can take any update
        from newsqa.bot.telegram.shared import DatabaseRateLimiter, DatabaseSources

        state.limiter = DatabaseRateLimiter(shared, "questions", settings.telegram_rate_per_minute)
        state.add_limiter = DatabaseRateLimiter(
            shared, "add", settings.telegram_add_per_hour, window_s=3600.0
        )
        state.sources = DatabaseSources(shared)
    application.bot_data[STATE_KEY] = state

    private, groups = filters.ChatType.PRIVATE, filters.ChatType.GROUPS
    new_message = filters.UpdateType.MESSAGE
    application.add_handler(TypeHandler(Update, handlers.gate), group=-1)
    application.add_handlers(
        [
            CommandHandler("start", handlers.start),
            CommandHandler("help", handlers.help_command),
            CommandHandler("status", handlers.status),
            CommandHandler("reset", handlers.reset),
            CommandHandler("sources", handlers.sources),
            CommandHandler("ask", handlers.ask),
            CommandHandler("reindex", handlers.reindex),
            CommandHandler("add", follow.add),
            CommandHandler("feeds", follow.feeds),
            CommandHandler("feed_add", follow.feed_add),
            CommandHandler("feed_remove", follow.feed_remove),
            CommandHandler("watch", watch.watch),
            CommandHandler("watches", watch.watches),
            CommandHandler("unwatch", watch.unwatch),
            CommandHandler("latest", watch.latest),
            CallbackQueryHandler(handlers.source_button, pattern=f"^{handlers.SOURCE_PREFIX}:"),
            MessageHandler(
                new_message & private & filters.TEXT & ~filters.COMMAND, handlers.private_text
            ),
            MessageHandler(
                new_message & groups & filters.TEXT & ~filters.COMMAND, handlers.group_text
            ),
            MessageHandler(new_message & private & filters.COMMAND, handlers.unknown_command),
            MessageHandler(
                new_message & private & ~filters.TEXT & ~filters.StatusUpdate.ALL, handlers.not_text
            ),
        ]
    )
    application.add_error_handler(handlers.on_error)
    if settings.refresh_minutes > 0:
        if application.job_queue is None:  # the job-queue extra is a dependency; say so if not
            raise RuntimeError("NEWSQA_REFRESH_MINUTES needs python-telegram-bot[job-queue]")
        # Every process asks often; the one holding the refresh lease runs each refresh.
        tick = state.feed_refresher().tick_s
        application.job_queue.run_repeating(
            follow.refresh_tick, interval=tick, first=tick, name="refresh"
        )
    return application


def _locked(db: Database, build: Callable[[], BuildSummary]) -> Callable[[], BuildSummary]:
    """`build` under the database's index build lease: builds started by processes on
    several hosts (the timed refresh, /add, /reindex, `newsqa index`) never interleave."""
    from newsqa.leases import guarded

    def locked() -> BuildSummary:
        return guarded(db, build)

    return locked


def webhook_secret(token: str, configured: str | None = None) -> str:
    """The X-Telegram-Bot-Api-Secret-Token value: NEWSQA_TELEGRAM_WEBHOOK_SECRET, or one
    derived from the bot token so that it stays the same across restarts."""
    if configured:
        return configured
    return hashlib.sha256(f"newsqa-webhook:{token}".encode()).hexdigest()[:48]


def webhook_secret_of(settings: Settings) -> str:
    configured = settings.telegram_webhook_secret
    return webhook_secret(
        bot_token(settings), configured.get_secret_value() if configured else None
    )


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas for the threads started from now on (what
    MALLOC_ARENA_MAX does, set from inside). With one arena per thread, a bot that answers
    on several threads and rebuilds its index every few minutes kept growing: +23 MB over
    25 rebuilds and 250 questions in the soak run, none of it a leak; with 2 arenas, +2 MB
    (RELIABILITY.md). A no-op where the C library is not glibc, or where MALLOC_ARENA_MAX
    is set already."""
    import ctypes
    import os

    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(-8, arenas))  # -8: M_ARENA_MAX
    except (OSError, AttributeError):
        return False


class _QuietBootstrap(logging.Filter):
    """Drops PTB's traceback for a start that failed (no network, a bad token): the
    exception reaches `run_telegram`, which says what went wrong in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        failed_start = "(Bootstrap Initialize Application)" in record.getMessage()
        return not (failed_start and record.levelno >= logging.ERROR)


def _error(message: str, code: int) -> int:
    print(f"newsqa: error: {message}", file=sys.stderr)
    return code


def webhook_problem(webhook_url: str | None, port: int | None) -> str | None:
    """Why `--webhook-url URL --port N` cannot be used (one line), or None."""
    if port is not None and not 1 <= port <= 65535:
        return f"--port {port}: a port is a number from 1 to 65535"
    if webhook_url is None:
        return None
    parts = urlparse(webhook_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return prompts.render("telegram_bad_webhook", url=webhook_url)
    return None


def start_error(exc: Exception, settings: Settings) -> tuple[str, int]:
    """The one line and the exit code for a bot that could not start: the Bot API
    refused the token (2), could not be reached (1), or refused something else (1)."""
    from telegram.error import InvalidToken, NetworkError

    reason = " ".join(str(exc).split()) or type(exc).__name__
    reason = reason.replace(bot_token(settings), MASK)
    if isinstance(exc, InvalidToken):
        return prompts.load("telegram_bad_token"), EXIT_USAGE
    if isinstance(exc, NetworkError):  # TimedOut included
        url = settings.telegram_api_url or "https://api.telegram.org"
        return prompts.render("telegram_unreachable", url=url, reason=reason), EXIT_FAILED
    return prompts.render("telegram_refused", reason=reason), EXIT_FAILED


def _announce(application: Application, mode: str) -> None:  # type: ignore[type-arg]
    """Print one line once the bot is up, so that a good start says so: a job that runs
    when the application has started (updates are being fetched, or the webhook server
    listens), never for a start that failed."""
    ready = application.post_init

    def say(username: str) -> None:
        print(prompts.render("telegram_ready", username=username, mode=mode), flush=True)

    async def running(context: CallbackContext) -> None:  # type: ignore[type-arg]
        say(context.bot.username)

    async def post_init(app: Application) -> None:  # type: ignore[type-arg]
        if ready is not None:
            await ready(app)
        if app.job_queue is not None:  # a dependency (the job-queue extra); else print now
            app.job_queue.run_once(running, 0, name="announce")
        else:
            say(app.bot.username)

    application.post_init = post_init


def run_telegram(
    settings: Settings, webhook_url: str | None = None, port: int | None = None
) -> int:
    """`newsqa telegram`: run the bot until SIGINT/SIGTERM; long polling unless
    `webhook_url` is given. Returns the exit code: 2 without a token, with a token the
    Bot API refuses, a bad webhook URL or port, or no index; 1 when the Bot API cannot
    be reached. Every failure is one line on stderr."""
    from telegram.error import TelegramError

    from newsqa.database import DatabaseError
    from newsqa.index import IndexMissingError, IndexProblem, ModelNotFoundError

    problem = webhook_problem(webhook_url, port)
    if problem:
        return _error(problem, EXIT_USAGE)
    limit_malloc_arenas()
    try:
        application = build_application(settings)
    except MissingTokenError as exc:
        return _error(str(exc), EXIT_USAGE)
    except (IndexMissingError, ModelNotFoundError) as exc:
        return _error(str(exc), EXIT_USAGE)
    except (IndexProblem, DatabaseError) as exc:
        return _error(str(exc), EXIT_FAILED)
    updates = [Update.MESSAGE, Update.CALLBACK_QUERY]
    quiet = _QuietBootstrap()
    logging.getLogger("telegram.ext").addFilter(quiet)
    try:
        if webhook_url:
            listen = settings.telegram_webhook_listen
            port = port or settings.telegram_webhook_port
            mode = prompts.render(
                "telegram_mode_webhook", url=webhook_url, listen=listen, port=port
            )
            _announce(application, mode)
            application.run_webhook(
                listen=listen,
                port=port,
                url_path=urlparse(webhook_url).path.lstrip("/"),
                webhook_url=webhook_url,
                secret_token=webhook_secret_of(settings),
                allowed_updates=updates,
            )
        else:
            _announce(application, prompts.load("telegram_mode_polling"))
            application.run_polling(allowed_updates=updates)
    except TelegramError as exc:
        message, code = start_error(exc, settings)
        return _error(message, code)
    except OSError as exc:  # the webhook server could not listen (port taken, no such address)
        if not webhook_url:
            raise
        where = f"{settings.telegram_webhook_listen}:{port}"
        message = prompts.render("telegram_cannot_listen", where=where, reason=exc.strerror or exc)
        return _error(message, EXIT_FAILED)
    finally:
        logging.getLogger("telegram.ext").removeFilter(quiet)
    return EXIT_OK
