"""A fake Telegram Bot API server on 127.0.0.1 for end-to-end tests of the bot.

It speaks the real protocol (`POST /bot<token>/<method>`, form-encoded parameters whose
non-string values are JSON, `{"ok": true, "result": …}` answers, dates in Unix seconds),
serves queued updates to `getUpdates` (offset and a short long-poll), records every
request, and can be told to fail the next matching request.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

BOT_ID = 7_000_001
BOT_USERNAME = "newsqa_test_bot"
# Parameters PTB sends JSON-encoded (everything that is not a plain string).
_JSON_FIELDS = {
    "chat_id",
    "message_id",
    "offset",
    "limit",
    "timeout",
    "allowed_updates",
    "reply_markup",
    "reply_parameters",
    "link_preview_options",
    "commands",
    "show_alert",
    "cache_time",
    "message_thread_id",
    "entities",
    "disable_notification",
    "drop_pending_updates",
}
_MAX_POLL_S = 1.0
TELEGRAM_TAGS = {"b", "i", "u", "s", "a", "code", "pre", "blockquote", "tg-spoiler"}


class _Balance(HTMLParser):
    """Fails on a tag Telegram does not know or a tag closed out of order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in TELEGRAM_TAGS, tag
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, (self.stack, tag)
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def check_html(markup: str) -> str:
    """Assert `markup` is balanced Telegram HTML (as Telegram parses it); its visible text."""
    parser = _Balance()
    parser.feed(markup)
    parser.close()
    assert parser.stack == [], parser.stack
    return "".join(parser.text)


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)  # when the request arrived


@dataclass
class _Failure:
    method: str
    code: int
    description: str
    when: Callable[[dict[str, Any]], bool]
    times: int
    retry_after: int | None = None
    drop: bool = False


@dataclass
class FakeBotApi:
    token: str
    calls: list[Call] = field(default_factory=list)
    _updates: list[dict[str, Any]] = field(default_factory=list)
    _failures: list[_Failure] = field(default_factory=list)
    _chats: dict[int, dict[str, Any]] = field(default_factory=dict)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(10_000))
    _server: ThreadingHTTPServer | None = None

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeBotApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                api._handle(self)

            do_GET = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        with self._cond:
            self._cond.notify_all()

    # -- what tests do -------------------------------------------------------------------
    def push(self, update: dict[str, Any]) -> int:
        with self._cond:
            update_id = next(self._ids)
            self._updates.append({"update_id": update_id, **update})
            for key in ("message", "callback_query"):
                message = update.get(key, {})
                message = message.get("message", message)
                if "chat" in message:
                    self._chats[message["chat"]["id"]] = message["chat"]
            self._cond.notify_all()
        return update_id

    def user(self, user_id: int, name: str = "Ann") -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": name}

    def message(
        self,
        user_id: int,
        text: str,
        chat: dict[str, Any] | None = None,
        reply_to: dict[str, Any] | None = None,
        entities: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """A text message update (commands get their bot_command entity)."""
        chat = chat or {"id": user_id, "type": "private", "first_name": "Ann"}
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": self.user(user_id),
            "text": text,
        }
        entities = list(entities or [])
        if text.startswith("/"):
            entities.insert(
                0, {"type": "bot_command", "offset": 0, "length": len(text.split(maxsplit=1)[0])}
            )
        if entities:
            message["entities"] = entities
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        return {"message": message}

    def send(self, user_id: int, text: str, **kwargs: Any) -> int:
        return self.push(self.message(user_id, text, **kwargs))

    def press(self, user_id: int, message: dict[str, Any], data: str) -> int:
        """The user presses an inline button with `data` under the bot's `message`."""
        return self.push(
            {
                "callback_query": {
                    "id": f"cq{next(self._ids)}",
                    "from": self.user(user_id),
                    "chat_instance": "ci",
                    "message": message,
                    "data": data,
                }
            }
        )

    def fail_next(
        self,
        method: str,
        description: str,
        code: int = 400,
        when: Callable[[dict[str, Any]], bool] = lambda params: True,
        times: int = 1,
        retry_after: int | None = None,
        drop: bool = False,
    ) -> None:
        """Fail the next `times` matching requests with `code` and `description`.

        `retry_after` adds Telegram's `parameters.retry_after` (as a 429 carries);
        `drop` closes the connection without any response instead.
        """
        self._failures.append(
            _Failure(method, code, description, when, times, retry_after, drop)
        )

    def of(self, method: str) -> list[Call]:
        with self._cond:
            return [call for call in self.calls if call.method == method]

    def sent(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """Parameters of every sendMessage that succeeded, optionally to one chat."""
        return [
            call.params
            for call in self.of("sendMessage")
            if call.params.get("_ok") and (chat_id is None or call.params["chat_id"] == chat_id)
        ]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Wait (bounded) until `predicate()` holds; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    # -- the protocol --------------------------------------------------------------------
    def _params(self, request: BaseHTTPRequestHandler) -> dict[str, Any]:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        kind = request.headers.get("Content-Type", "")
        raw: dict[str, str] = {}
        if kind.startswith("application/json") and body:
            return dict(json.loads(body))
        if kind.startswith("multipart/form-data"):
            head = f"Content-Type: {kind}\r\n\r\n".encode()
            parsed = BytesParser(policy=HTTP).parsebytes(head + body)
            for part in parsed.iter_parts():
                name = part.get_param("name", header="content-disposition")
                raw[str(name)] = part.get_content()
        else:
            raw = dict(parse_qsl(body.decode(), keep_blank_values=True))
        params: dict[str, Any] = {}
        for key, value in raw.items():
            params[key] = json.loads(value) if key in _JSON_FIELDS else value
        return params

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        prefix = f"/bot{self.token}/"
        if not request.path.startswith(prefix):
            self._reply(
                request, 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
            )
            return
        method = request.path[len(prefix) :]
        params = self._params(request)
        call = Call(method, params)
        with self._cond:
            self.calls.append(call)
            failure = next(
                (
                    f
                    for f in self._failures
                    if f.method == method and f.times > 0 and f.when(params)
                ),
                None,
            )
            if failure is not None:
                failure.times -= 1
            self._cond.notify_all()
        if failure is not None and failure.drop:
            request.close_connection = True
            return
        if failure is not None:
            payload: dict[str, Any] = {
                "ok": False,
                "error_code": failure.code,
                "description": failure.description,
            }
            if failure.retry_after is not None:
                payload["parameters"] = {"retry_after": failure.retry_after}
            self._reply(request, failure.code, payload)
            return
        result = self._result(method, params)
        with self._cond:
            params["_ok"] = True
            self._cond.notify_all()
        self._reply(request, 200, {"ok": True, "result": result})

    def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return {
                "id": BOT_ID,
                "is_bot": True,
                "first_name": "NewsQA",
                "username": BOT_USERNAME,
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        if method == "getUpdates":
            return self._get_updates(params)
        if method in ("sendMessage", "editMessageText"):
            chat_id = params["chat_id"]
            chat = self._chats.get(chat_id, {"id": chat_id, "type": "private"})
            message = {
                "message_id": params.get("message_id") or next(self._message_ids),
                "date": int(time.time()),
                "chat": chat,
                "text": params.get("text", ""),
                "from": {
                    "id": BOT_ID,
                    "is_bot": True,
                    "first_name": "NewsQA",
                    "username": BOT_USERNAME,
                },
            }
            if "reply_markup" in params:
                message["reply_markup"] = params["reply_markup"]
            params["_message"] = message
            return message
        if method == "getWebhookInfo":
            return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
        return True  # sendChatAction, answerCallbackQuery, deleteWebhook, setMyCommands, …

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        wait = min(float(params.get("timeout") or 0), _MAX_POLL_S)
        deadline = time.monotonic() + wait
        with self._cond:
            while True:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
                if self._updates:
                    return self._updates[:limit]
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self._cond.wait(left)

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        try:
            request.send_response(status)
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            request.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass
