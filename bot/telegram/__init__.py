"""The Telegram front-end: `run_telegram` runs the bot that `newsqa telegram` starts.

Modules: `app` (the builder and runner), `handlers` (one function per command),
`format` (HTML and splitting), `access` (allow-list, rate limit), `state` (what the
handlers share), `redact` (the token out of the logs). Importing this package loads
nothing heavy; python-telegram-bot is imported when the bot is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from newsqa.settings import Settings


def run_telegram(
    settings: Settings, webhook_url: str | None = None, port: int | None = None
) -> int:
    """Run the bot until SIGINT/SIGTERM; returns the exit code (2 without a token)."""
    from newsqa.bot.telegram.app import run_telegram as run

    return run(settings, webhook_url, port)
