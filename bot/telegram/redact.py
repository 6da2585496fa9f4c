"""Keep the bot token (and the other secrets) out of every log line, tracebacks included.

httpx logs request URLs (`…/bot<token>/getUpdates`) and an exception may carry the
token in its message; a log record factory rewrites each record as it is made, so no
handler, formatter or test capture ever sees the secret.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

MASK = "[REDACTED-TOKEN]"


def redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


class _RedactingFactory:
    def __init__(self, previous: Callable[..., logging.LogRecord], secret: str) -> None:
        self.previous = previous
        self.secrets: tuple[str, ...] = (secret,)

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep the raw text, still redacted
            message = f"{record.msg} {record.args}"
        record.msg, record.args = redact(message, self.secrets), ()
        if record.exc_info and record.exc_info[0] is not None:
            text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_text = redact(text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        return record


def redact_logs(secret: str, *more: str) -> Callable[[], None]:
    """Redact `secret` (and `more`) from every log record from now on; returns the undo
    function."""
    current = logging.getLogRecordFactory()
    if isinstance(current, _RedactingFactory):
        for value in (secret, *more):
            if value and value not in current.secrets:
                current.secrets = (*current.secrets, value)
        return lambda: None
    factory = _RedactingFactory(current, secret)
    factory.secrets = tuple(dict.fromkeys(v for v in (secret, *more) if v))
    logging.setLogRecordFactory(factory)

    def undo() -> None:
        if logging.getLogRecordFactory() is factory:
            logging.setLogRecordFactory(factory.previous)

    return undo
