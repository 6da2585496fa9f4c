"""A fake OpenAI-compatible chat server on 127.0.0.1, scripted per test.

A real HTTP server (stdlib `http.server` in a thread, ephemeral port) serving
`POST /v1/chat/completions`, as JSON or, when the request asks for `stream`, as
server-sent events. Each request takes the next scripted `Reply` (the last one repeats):
a text, an HTTP error, a malformed body, a stall longer than the client's timeout, or a
connection closed without a response. Request bodies and headers are recorded.

    with FakeOpenAI() as server:
        server.script(Reply("Russia sent Igor Kostyukov [1]."))
        llm = ChatOpenAI(base_url=server.base_url, api_key="k", model="fake", max_retries=0)
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted response."""

    text: str = ""
    status: int = 200
    body: bytes | None = None  # sent as is instead of a completion (malformed JSON, …)
    delay: float = 0.0  # seconds before anything is sent
    chunk_delay: float = 0.0  # seconds before each streamed event after the first piece
    close: bool = False  # drop the connection without sending a response
    chunks: list[str] | None = None  # the streamed pieces; default: `text` word by word


@dataclass
class Request:
    path: str
    headers: dict[str, str]  # names in lower case
    body: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))

    @property
    def prompt_text(self) -> str:
        """Every message's content, joined: everything the model was shown."""
        return "\n".join(str(m.get("content", "")) for m in self.messages)


@dataclass
class _State:
    replies: list[Reply] = field(default_factory=lambda: [Reply("")])
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)

    def next_reply(self) -> Reply:
        with self.lock:
            return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


def _error_body(status: int) -> bytes:
    kinds = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}
    error = {"message": f"scripted error {status}", "type": "fake", "code": kinds.get(status)}
    return json.dumps({"error": error}).encode()


def _completion(model: str, text: str) -> bytes:
    return json.dumps({
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }).encode()


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {
        "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def do_POST(self) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {"unparsed": raw.decode("utf-8", "replace")}
        with state.lock:
            headers = {name.lower(): value for name, value in self.headers.items()}
            state.requests.append(Request(self.path, headers, body))
        reply = state.next_reply()
        if reply.delay and state.stopping.wait(reply.delay):
            return
        if reply.close:
            self.close_connection = True
            return
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send(404, _error_body(404))
        elif reply.status != 200:
            self._send(reply.status, reply.body or _error_body(reply.status))
        elif body.get("stream"):
            self._stream(reply, str(body.get("model", "fake")))
        else:
            self._send(200, reply.body or _completion(str(body.get("model", "fake")), reply.text))

    def _send(self, status: int, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        try:
            self.wfile.write(payload)
        except OSError:
            return  # the client gave up (a timeout test)

    def _stream(self, reply: Reply, model: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.close_connection = True
        if reply.body is not None:
            events = [reply.body]
        else:
            pieces = reply.chunks
            if pieces is None:
                words = reply.text.split(" ")
                pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
            events = [_chunk(model, {"role": "assistant", "content": ""})]
            events += [_chunk(model, {"content": piece}) for piece in pieces if piece]
            events += [_chunk(model, {}, "stop"), b"data: [DONE]\n\n"]
        stopping = self.server.state.stopping
        try:
            for i, event in enumerate(events):
                # events[0] is the role chunk, events[1] the first piece of text
                if i > 1 and reply.chunk_delay and stopping.wait(reply.chunk_delay):
                    return
                self.wfile.write(event)
                self.wfile.flush()
        except OSError:
            return  # the client gave up (a timeout test)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, state: _State) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client that hung up early is part of the script, not an error


class FakeOpenAI:
    """The fake server; a context manager that starts and stops it."""

    def __init__(self) -> None:
        self._state = _State()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> FakeOpenAI:
        self._server = _Server(self._state)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._state.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *replies: Reply | str) -> None:
        """Replace the script: each request takes the next reply; the last one repeats."""
        assert replies
        with self._state.lock:
            self._state.replies = [r if isinstance(r, Reply) else Reply(r) for r in replies]

    @property
    def requests(self) -> list[Request]:
        with self._state.lock:
            return list(self._state.requests)


def closed_port() -> int:
    """A loopback port nothing listens on (connection refused)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- retrieval fixtures: passages built directly, no index ----------------------------------
SAMPLE_ARTICLE = "abu-dhabi-talks.txt"


def sample_text() -> str:
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "data" / "articles" / SAMPLE_ARTICLE
    return path.read_text(encoding="utf-8")


def make_retrieval(
    text: str,
    paragraphs: list[int] | None = None,
    article_id: str = SAMPLE_ARTICLE,
    title: str | None = "Ukraine and Russia to meet again after Abu Dhabi talks",
    query: str = "question",
) -> Any:
    """A `Retrieval` whose candidates are the given paragraphs (lines) of `text`, in order."""
    import re

    import numpy as np

    from newsqa.bot.retrieve import Candidate, Retrieval
    from newsqa.index import ArticleRecord, PassageRecord

    article = ArticleRecord(
        id=article_id, text=text, title=title, url=None, published="2026-01-25", source=None
    )
    lines = [m.span() for m in re.finditer(r"[^\n]+", text)]
    chosen = range(len(lines)) if paragraphs is None else paragraphs
    candidates = []
    for rank, index in enumerate(chosen):
        start, end = lines[index]
        passage = PassageRecord(f"{article_id}#{index}", article_id, index, start, end)
        candidates.append(Candidate(passage, article, rank=rank, fused=1.0 / (rank + 1)))
    return Retrieval(query=query, vector=np.zeros(3, dtype=np.float32), candidates=candidates)
