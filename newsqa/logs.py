"""The application's logging: one line per record on stderr, as text or as JSON lines
(`NEWSQA_LOG_FORMAT=json`, for log collectors), each carrying the id of the question it
belongs to (`request_id`: set for the duration of one question, across threads)."""

from __future__ import annotations

import contextlib
import logging
import sys
import uuid
from collections.abc import Iterator
from contextvars import ContextVar

REQUEST_ID: ContextVar[str | None] = ContextVar("newsqa_request_id", default=None)
_installed: logging.Handler | None = None  # the handler setup_logging added to the root
NOISY = ("chromadb", "httpx", "sentence_transformers", "transformers", "bm25s")


class _RequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


def setup_logging(verbose: bool = False, json_lines: bool = False) -> None:
    """Records at INFO (`verbose`) or WARNING and above go to stderr."""
    level = logging.INFO if verbose else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(level)  # bm25s sets its own logger to DEBUG when imported
    handler.addFilter(_RequestId())
    if json_lines:
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    global _installed
    root = logging.getLogger()
    if _installed is not None:  # set up before (text, then json once settings are read)
        root.removeHandler(_installed)
        _installed = None
    if not root.handlers:  # else the host configured logging (an app, pytest): keep its
        root.addHandler(handler)
        root.setLevel(level)
        _installed = handler
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.ERROR)


@contextlib.contextmanager
def request(request_id: str | None = None) -> Iterator[str]:
    """Log records inside carry `request_id`: a new one when none is given, or the one a
    caller already set (a nested question keeps its caller's)."""
    current = REQUEST_ID.get()
    if current is not None and request_id is None:
        yield current
        return
    token = REQUEST_ID.set(request_id or uuid.uuid4().hex[:12])
    try:
        yield REQUEST_ID.get() or ""
    finally:
        REQUEST_ID.reset(token)
