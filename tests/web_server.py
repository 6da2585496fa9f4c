"""A loopback HTTP server for tests that fetch pages and feeds.

`WebServer` serves registered routes on 127.0.0.1 from a thread: pages with ETag /
Last-Modified (answering 304 to a matching conditional request), slow and trickling
responses, errors, redirects, a gzip bomb. It counts requests per path and remembers the
last request's headers, and tracks how many requests to a path ran at once.

    with WebServer.with_fixtures() as server:
        fetcher.get(server.url("/article.html"), accept=HTML_TYPES)
        assert server.requests("/article.html") == 1

Bodies may contain `{base_url}` (e.g. feed links); it is replaced by the server's
"http://127.0.0.1:PORT" when served. Counts are per path, without the query string.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data" / "web"
PDF_BYTES = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
ARTICLE_ETAG = '"article-v1"'
ARTICLE_LAST_MODIFIED = "Mon, 13 May 2024 08:00:00 GMT"
FEED_ETAG = '"feed-v1"'
FEED_LAST_MODIFIED = "Mon, 13 May 2024 09:30:00 GMT"


@dataclass
class Route:
    """What the server answers on one path."""

    status: int = 200
    body: bytes = b""
    content_type: str | None = "text/html; charset=utf-8"
    etag: str | None = None
    last_modified: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # wait before answering
    trickle_s: float = 0.0  # >0: send the body one byte at a time, this long apart
    raw: bool = False  # the body is sent as is ({base_url} not replaced)


class WebServer:
    """An HTTP server on 127.0.0.1 with registered routes; start/stop or use `with`."""

    def __init__(self) -> None:
        self._routes: dict[str, Route] = {}
        self._counts: Counter[str] = Counter()
        self._inflight: Counter[str] = Counter()
        self._peak: Counter[str] = Counter()
        self._headers: dict[str, dict[str, str]] = {}
        self._times: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._base = ""
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------

    @classmethod
    def with_fixtures(cls) -> WebServer:
        """A server with the standard routes (see `add_fixtures`)."""
        server = cls()
        server.add_fixtures()
        return server

    def start(self) -> WebServer:
        if self._httpd is not None:
            return self
        handler = type("Handler", (_Handler,), {"web": self})
        httpd = _QuietServer(("127.0.0.1", 0), handler)
        self._httpd = httpd
        self._base = f"http://127.0.0.1:{httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> WebServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the web server is not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    # --- routes ---------------------------------------------------------------------------

    def add_page(
        self,
        path: str,
        body: bytes | str,
        content_type: str | None = "text/html; charset=utf-8",
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        headers: dict[str, str] | None = None,
        status: int = 200,
        delay_s: float = 0.0,
        trickle_s: float = 0.0,
    ) -> None:
        """Serve `body` on `path`; a str body is sent as UTF-8."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        self._routes[path] = Route(
            status=status,
            body=data,
            content_type=content_type,
            etag=etag,
            last_modified=last_modified,
            headers=dict(headers or {}),
            delay_s=delay_s,
            trickle_s=trickle_s,
        )

    def add_error(self, path: str, status: int) -> None:
        phrase = HTTPStatus(status).phrase
        self.add_page(path, f"<html><body><h1>{status} {phrase}</h1></body></html>", status=status)

    def add_redirect(self, path: str, location: str, status: int = 302) -> None:
        self.add_page(path, b"", content_type=None, status=status, headers={"Location": location})

    def add_gzip_bomb(self, path: str, size: int = 10_000_000) -> None:
        """`size` zero bytes, gzipped (about 10 KB for 10 MB), sent as a gzipped page."""
        packed = gzip.compress(b"\0" * size, compresslevel=9)
        self._routes[path] = Route(
            body=packed,
            content_type="text/html",
            headers={"Content-Encoding": "gzip"},
            raw=True,
        )

    def add_fixtures(self) -> None:
        """The standard routes:

        /article.html (ETag ARTICLE_ETAG, Last-Modified ARTICLE_LAST_MODIFIED),
        /paywalled.html, /empty.html, /cp1251.html (charset in the header),
        /cp1251-meta.html (charset only in <meta>), /feed.rss and /feed.atom (ETag FEED_ETAG,
        Last-Modified FEED_LAST_MODIFIED; items link to /article.html and /paywalled.html),
        /report.pdf, /missing (404), /gone (410), /error (500), /redirect (-> /article.html),
        /redirect-chain/N (-> N-1 ... -> /article.html, N <= 9), /loop-a <-> /loop-b,
        /bomb.html (gzip bomb), /slow (the article after 0.3 s), /trickle (one byte / 0.2 s).
        """
        article = (DATA / "article.html").read_bytes()
        self.add_page(
            "/article.html", article, etag=ARTICLE_ETAG, last_modified=ARTICLE_LAST_MODIFIED
        )
        self.add_page("/paywalled.html", (DATA / "paywalled.html").read_bytes())
        self.add_page("/empty.html", b"")
        cp1251 = (DATA / "cp1251.html").read_bytes()
        self.add_page("/cp1251.html", cp1251, content_type="text/html; charset=windows-1251")
        self.add_page("/cp1251-meta.html", cp1251, content_type="text/html")
        self.add_page(
            "/feed.rss",
            (DATA / "feed.rss").read_bytes(),
            content_type="application/rss+xml; charset=utf-8",
            etag=FEED_ETAG,
            last_modified=FEED_LAST_MODIFIED,
        )
        self.add_page(
            "/feed.atom",
            (DATA / "feed.atom").read_bytes(),
            content_type="application/atom+xml; charset=utf-8",
            etag=FEED_ETAG,
            last_modified=FEED_LAST_MODIFIED,
        )
        self.add_page("/report.pdf", PDF_BYTES, content_type="application/pdf")
        self.add_error("/missing", 404)
        self.add_error("/gone", 410)
        self.add_error("/error", 500)
        self.add_redirect("/redirect", "/article.html")
        self.add_redirect("/redirect-chain/0", "/article.html")
        for n in range(1, 10):
            self.add_redirect(f"/redirect-chain/{n}", f"/redirect-chain/{n - 1}")
        self.add_redirect("/loop-a", "/loop-b")
        self.add_redirect("/loop-b", "/loop-a")
        self.add_gzip_bomb("/bomb.html")
        self.add_page("/slow", article, delay_s=0.3)
        self.add_page("/trickle", b"<html><body>" + b"x" * 200 + b"</body></html>", trickle_s=0.2)

    # --- what happened --------------------------------------------------------------------

    def requests(self, path: str) -> int:
        """How many requests `path` (without query) received."""
        with self._lock:
            return self._counts[path]

    def request_times(self, path: str) -> list[float]:
        """When (`time.monotonic()`) each request to `path` arrived, in order."""
        with self._lock:
            return list(self._times.get(path, []))

    def max_concurrent(self, path: str) -> int:
        """The most requests to `path` that were being answered at the same time."""
        with self._lock:
            return self._peak[path]

    def last_headers(self, path: str) -> dict[str, str]:
        """The headers (lower-case names) of the last request to `path`."""
        with self._lock:
            return dict(self._headers.get(path, {}))

    def reset_counts(self) -> None:
        with self._lock:
            self._counts.clear()
            self._times.clear()
            self._peak.clear()
            self._headers.clear()

    # --- called by the handler ------------------------------------------------------------

    def _enter(self, path: str, headers: dict[str, str]) -> Route | None:
        with self._lock:
            self._counts[path] += 1
            self._times.setdefault(path, []).append(time.monotonic())
            self._inflight[path] += 1
            self._peak[path] = max(self._peak[path], self._inflight[path])
            self._headers[path] = headers
            return self._routes.get(path)

    def _leave(self, path: str) -> None:
        with self._lock:
            self._inflight[path] -= 1


def _not_modified(route: Route, headers: dict[str, str]) -> bool:
    match = headers.get("if-none-match")
    if match is not None and route.etag:
        tags = {t.strip().removeprefix("W/") for t in match.split(",")}
        return "*" in tags or route.etag.removeprefix("W/") in tags
    since = headers.get("if-modified-since")
    if since and route.last_modified:
        try:
            return parsedate_to_datetime(route.last_modified) <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


class _QuietServer(ThreadingHTTPServer):
    """Handler threads never block shutdown, and a client that hangs up is no error."""

    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class _Handler(BaseHTTPRequestHandler):
    web: WebServer
    server_version = "newsqa-test"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        headers = {k.lower(): v for k, v in self.headers.items()}
        route = self.web._enter(path, headers)
        left = False
        try:
            if route is None:
                route = Route(status=404, body=b"<html><body>no such page</body></html>")
            if route.delay_s:
                time.sleep(route.delay_s)
            # Leave before the last bytes go out: a client that has the whole answer never
            # overlaps with this request in the concurrency count.
            self.web._leave(path)
            left = True
            self._answer(route, headers)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass
        finally:
            if not left:
                self.web._leave(path)

    def _answer(self, route: Route, headers: dict[str, str]) -> None:
        if route.status == 200 and _not_modified(route, headers):
            self.send_response(304)
            if route.etag:
                self.send_header("ETag", route.etag)
            self.end_headers()
            return
        body = route.body
        if not route.raw:
            body = body.replace(b"{base_url}", self.web._base.encode("ascii"))
        self.send_response(route.status)
        if route.content_type:
            self.send_header("Content-Type", route.content_type)
        if route.etag:
            self.send_header("ETag", route.etag)
        if route.last_modified:
            self.send_header("Last-Modified", route.last_modified)
        for name, value in route.headers.items():
            self.send_header(name, value)
        if not route.trickle_s:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not route.trickle_s:
            self.wfile.write(body)
            return
        for i in range(len(body)):  # bounded by the body's length
            self.wfile.write(body[i : i + 1])
            self.wfile.flush()
            time.sleep(route.trickle_s)
