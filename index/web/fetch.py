"""Safe HTTP fetching of news pages and feeds.

`Fetcher.get` fetches one http(s) URL and returns a `Fetched` body, or raises `FetchError`
with a one-line message and a `kind`. What it guards against:

- Server-side request forgery: every host name is resolved by our own network backend, every
  resolved address is checked (`address_refusal`), and the socket connects to the checked
  address itself, so no second DNS answer can slip in between check and connect. Redirects
  are followed here, one hop at a time, each hop checked again. Proxies from the environment
  are ignored (a proxy would connect on our behalf, unchecked).
- Slow or endless servers: connect/read/write timeouts, plus a wall-clock deadline for the
  whole `get` (redirects included) that every socket read is clamped to.
- Huge bodies and compression bombs: the body is decompressed here in bounded pieces and the
  read stops as soon as the decompressed size passes `max_bytes`.
- Hammering one site: at most `per_host` requests run at once to one host, across threads.

Cloud metadata addresses (169.254.169.254, fd00:ec2::254, ...) are refused even when
`allow_private` is set; multicast and unspecified addresses are always refused too.
"""

from __future__ import annotations

import codecs
import ipaddress
import re
import socket
import threading
import time
import weakref
import zlib
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from types import MappingProxyType
from typing import Any
from urllib.parse import urljoin

import httpcore
import httpx
from httpcore._backends.sync import SyncStream  # httpcore's own socket stream (TLS included)

__all__ = [
    "FEED_TYPES",
    "HTML_TYPES",
    "KINDS",
    "FetchError",
    "FetchPolicy",
    "Fetched",
    "Fetcher",
    "address_refusal",
    "decode_html",
    "link_refusal",
    "sniff_charset",
]

HTML_TYPES: frozenset[str] = frozenset({"text/html", "application/xhtml+xml"})
# text/html is accepted for feeds too: some sites serve feeds with it, and a page found where
# a feed was expected can still be searched for <link rel="alternate"> feeds.
FEED_TYPES: frozenset[str] = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/rdf+xml",
        "application/xml",
        "text/xml",
        "application/feed+json",
        "application/json",
        "text/html",
    }
)

KINDS = (
    "refused",
    "dns",
    "connect",
    "timeout",
    "status",
    "redirects",
    "too_large",
    "content_type",
    "scheme",
    "protocol",
    "network",
)

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)
# IPv6 ranges that carry an IPv4 address in their last 32 bits: well-known NAT64, and the
# deprecated IPv4-compatible ::/96 (refused outright). Local-use NAT64 (64:ff9b:1::/48)
# may put the IPv4 address in the middle bits and is local by definition: refused unless
# private addresses are allowed.
_NAT64_ALL = (ipaddress.ip_network("64:ff9b::/96"),)
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_REDIRECTS = (301, 302, 303, 307, 308)
_PIECE = 64 * 1024  # the largest decompressed piece held beyond max_bytes


class FetchError(Exception):
    """A fetch that failed; `str(exc)` is a one-line, user-facing message such as
    "example.com: 404 Not Found", `kind` one of `KINDS`, `url` the URL asked for."""

    def __init__(
        self, message: str, *, kind: str, url: str = "", status: int | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.url = url
        self.status = status  # the HTTP status, for kind "status"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_error, (str(self), self.kind, self.url, self.status))


def _rebuild_error(message: str, kind: str, url: str, status: int | None = None) -> FetchError:
    return FetchError(message, kind=kind, url=url, status=status)


@dataclass(frozen=True)
class FetchPolicy:
    """Limits for a `Fetcher`; `allow_private` comes from NEWSQA_FETCH_ALLOW_PRIVATE."""

    allow_private: bool = False
    timeout_s: float = 10.0
    max_bytes: int = 5_000_000
    max_redirects: int = 5
    per_host: int = 2
    user_agent: str = "newsqa/0.1 (+https://github.com/newsqa/newsqa; news question answering bot)"


@dataclass(frozen=True)
class Fetched:
    """One fetched response (after redirects)."""

    url: str
    final_url: str
    status: int
    headers: Mapping[str, str]
    body: bytes
    content_type: str
    charset: str | None

    def text(self) -> str:
        """The body as text: declared charset, then <meta charset>, UTF-8, windows-1252."""
        return decode_html(self.body, self.charset)


# --- addresses ----------------------------------------------------------------------------


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    found = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if any(ip in net for net in _NAT64_ALL):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def address_refusal(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address, *, allow_private: bool
) -> str | None:
    """Why a connection to `ip` is refused ("a private address"), or None when allowed."""
    if isinstance(ip, ipaddress.IPv6Address):
        ip = ip.ipv4_mapped or ip
    if isinstance(ip, ipaddress.IPv6Address):
        for inner in _embedded_ipv4(ip):
            reason = address_refusal(inner, allow_private=allow_private)
            if reason:
                return reason
    if isinstance(ip, ipaddress.IPv6Address) and ip in _IPV4_COMPATIBLE and int(ip) > 1:
        return "a deprecated IPv4-compatible address"  # ::a.b.c.d, e.g. ::7f00:1
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified:
        return "an unspecified address"
    if isinstance(ip, ipaddress.IPv6Address) and ip in _NAT64_LOCAL:
        reason = "a local-use NAT64 address"
    elif ip.is_loopback:
        reason = "a loopback address"
    elif ip.is_link_local:
        reason = "a link-local address"
    elif ip.is_private:
        reason = "a private address"
    elif not ip.is_global:
        reason = "a reserved or shared address"
    else:
        return None
    return None if allow_private else reason


# --- the guarded network backend ----------------------------------------------------------


class _Deadline(threading.local):
    """The wall-clock deadline of the request running in this thread (monotonic time)."""

    at: float | None = None

    def clamp(self, timeout: float | None) -> float | None:
        if self.at is None:
            return timeout
        remaining = max(self.at - time.monotonic(), 0.001)
        return remaining if timeout is None else min(timeout, remaining)


class _GuardedStream(httpcore.NetworkStream):
    """A socket stream whose every read and write ends by the request's deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: _Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._deadline.clamp(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._deadline.clamp(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        # server_hostname is the URL's host name, so SNI and certificate checks use it.
        inner = self._inner.start_tls(ssl_context, server_hostname, self._deadline.clamp(timeout))
        return _GuardedStream(inner, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class GuardedBackend(httpcore.NetworkBackend):
    """Resolves a host, refuses it unless every address passes `address_refusal`, and
    connects to one of the checked addresses (never resolving the name again)."""

    def __init__(self, *, allow_private: bool, deadline: _Deadline | None = None) -> None:
        self._allow_private = allow_private
        self._deadline = deadline or _Deadline()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        timeout = self._deadline.clamp(timeout)
        addresses = _resolve(host, port)
        _refuse(host, addresses, allow_private=self._allow_private)
        last: OSError | None = None
        for family, socktype, proto, _canon, sockaddr in addresses:
            sock = socket.socket(family, socktype, proto)
            try:
                sock.settimeout(timeout)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                for option in socket_options or ():
                    sock.setsockopt(*option)
                if local_address:
                    sock.bind((local_address, 0))
                sock.connect(sockaddr)
            except TimeoutError:
                sock.close()
                raise FetchError(f"{host}: timed out connecting", kind="timeout") from None
            except OSError as exc:
                sock.close()
                last = exc
                continue
            except BaseException:
                sock.close()
                raise
            return _GuardedStream(SyncStream(sock), self._deadline)
        reason = (
            "connection refused"
            if isinstance(last, ConnectionRefusedError)
            else (f"could not connect ({(last.strerror or last) if last else 'no address'})")
        )
        raise FetchError(f"{host}: {reason}", kind="connect")

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        raise FetchError("unix sockets are never fetched", kind="refused")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def _refuse(host: str, addresses: list[tuple[Any, ...]], *, allow_private: bool) -> None:
    """FetchError "refused" unless every one of `host`'s resolved addresses is allowed."""
    for *_, sockaddr in addresses:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        reason = address_refusal(ip, allow_private=allow_private)
        if reason:
            shown = host if host == str(ip) else f"{host} ({ip})"
            raise FetchError(f"{shown}: refused to connect to {reason}", kind="refused")


def link_refusal(url: str, *, allow_private: bool, check_address: bool = True) -> str | None:
    """Why `Fetcher.get` would refuse `url` before sending it anything, as its one-line
    message, or None when it would try: not an http(s) link with a host, or (with
    `check_address`) a host with an address the fetcher refuses, resolved and checked as
    the fetcher does. A host name that does not resolve now is not refused (it may later).
    Nothing is sent to the host; a name is only looked up."""
    try:
        target = _check_url(url)
        if check_address:
            port = target.port or (443 if target.scheme == "https" else 80)
            _refuse(target.host, _resolve(target.host, port), allow_private=allow_private)
    except FetchError as exc:
        return None if exc.kind == "dns" else str(exc)
    return None


def _resolve(host: str, port: int) -> list[tuple[Any, ...]]:
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise FetchError(f"host not found: {host}", kind="dns") from None
    addresses = [a for a in found if a[0] in (socket.AF_INET, socket.AF_INET6)]
    if not addresses:
        raise FetchError(f"host not found: {host}", kind="dns")
    return addresses


class SafeTransport(httpx.HTTPTransport):
    """An httpx transport whose connections all go through a `GuardedBackend`."""

    def __init__(self, backend: httpcore.NetworkBackend, *, verify: bool = True) -> None:
        # HTTPTransport.__init__ only builds `_pool`; build it here with our backend.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            http1=True,
            http2=False,
            network_backend=backend,
        )


# --- decompression and charsets -----------------------------------------------------------


class _Inflater:
    """Decompresses gzip/deflate in pieces of at most `_PIECE` bytes. A gzip body may hold
    several members, and the next one may start in a later network chunk; bytes after the
    last member that do not start a new one (padding, junk) are ignored, as browsers do."""

    def __init__(self, encoding: str, where: str) -> None:
        self._where = where
        self._gzip = encoding in ("gzip", "x-gzip")
        self._wbits = 31 if self._gzip else 15
        self._obj = zlib.decompressobj(self._wbits)
        self._started = False  # the current member has produced or consumed input
        self._any = False  # some member has started
        self._done = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        while data and not self._done:
            if not self._started and self._any:
                data = data.lstrip(b"\x00")  # padding between or after gzip members
                if not data:
                    return
            try:
                out = self._obj.decompress(data, _PIECE)
            except zlib.error:
                if not self._any and self._wbits == 15:  # "deflate" sent raw
                    self._wbits = -15
                    self._obj = zlib.decompressobj(-15)
                    continue
                if not self._started and self._any:  # junk after the last member
                    self._done = True
                    return
                raise FetchError(
                    f"{self._where}: the compressed body is corrupt", kind="protocol"
                ) from None
            self._started = self._any = True
            if out:
                yield out
            if self._obj.eof:
                data = self._obj.unused_data
                if not self._gzip:
                    self._done = True
                    return
                self._obj = zlib.decompressobj(31)  # another member may follow
                self._started = False
                continue
            data = self._obj.unconsumed_tail
            while not data and len(out) == _PIECE:  # output still pending inside zlib
                out = self._obj.decompress(b"", _PIECE)
                if out:
                    yield out


def _pieces(raw: Iterator[bytes], encoding: str, where: str) -> Iterator[bytes]:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        yield from raw
        return
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise FetchError(f"{where}: unsupported Content-Encoding {encoding!r}", kind="protocol")
    inflater = _Inflater(encoding, where)
    for chunk in raw:
        yield from inflater.feed(chunk)


_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_:.\-]+)""", re.I)
_XML_ENCODING = re.compile(rb"""<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9_.\-]+)""", re.I)
_ALIASES = {
    "iso-8859-1": "cp1252",
    "latin-1": "cp1252",
    "latin1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "x-cp1251": "cp1251",
    "x-cp1252": "cp1252",
}


def sniff_charset(body: bytes) -> str | None:
    """The charset a page declares in its <meta> or <?xml encoding>, if any."""
    head = body[:4096]
    match = _META_CHARSET.search(head) or _XML_ENCODING.search(head)
    return match.group(1).decode("ascii") if match else None


def decode_html(body: bytes, declared: str | None = None) -> str:
    """Decode a page: BOM, the declared charset, the <meta> charset, UTF-8, then
    windows-1252 with replacement characters. Never raises."""
    for bom, codec in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if body.startswith(bom):
            return body[len(bom) :].decode(codec, errors="replace")
    for name in (declared, sniff_charset(body), "utf-8"):
        if not name:
            continue
        name = _ALIASES.get(name.strip().lower(), name.strip())
        try:
            return body.decode(name)
        except (LookupError, UnicodeDecodeError, ValueError):
            continue
    return body.decode("cp1252", errors="replace")


def _content_type(value: str | None) -> tuple[str, str | None]:
    if not value:
        return "", None
    main, *params = value.split(";")
    charset = None
    for param in params:
        key, _, val = param.partition("=")
        if key.strip().lower() == "charset":
            charset = val.strip().strip("\"'") or None
    return main.strip().lower(), charset


def _sniff_type(body: bytes) -> str:
    head = body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"<?xml") or head.startswith(b"<rss") or head.startswith(b"<feed"):
        return "application/xml"
    if head.startswith(b"<"):
        return "text/html"
    if head.startswith(b"%pdf"):
        return "application/pdf"
    return "application/octet-stream"


def _what(accept: frozenset[str]) -> str:
    if accept <= HTML_TYPES:
        return "a web page"
    if accept <= FEED_TYPES:
        return "a feed"
    return "one of " + ", ".join(sorted(accept))


def _short(url: httpx.URL) -> str:
    text = f"{url.host}{url.raw_path.decode('ascii', 'replace')}"
    return text if len(text) <= 80 else text[:77] + "..."


def _megabytes(n: int) -> str:
    return f"{n / 1_000_000:g} MB" if n >= 1_000_000 else f"{n:,} bytes"


# --- the fetcher --------------------------------------------------------------------------

DEFAULT_POLICY = FetchPolicy()


class Fetcher:
    """Fetches http(s) URLs under a `FetchPolicy`; thread-safe, and a context manager.

    `transport` replaces the guarded network layer (address checks and the socket deadline
    live there), for tests with `httpx.MockTransport`.
    """

    def __init__(
        self, policy: FetchPolicy = DEFAULT_POLICY, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.policy = policy
        self._deadline = _Deadline()
        if transport is None:
            backend = GuardedBackend(allow_private=policy.allow_private, deadline=self._deadline)
            transport = SafeTransport(backend)
        timeout = httpx.Timeout(policy.timeout_s)
        self._client = httpx.Client(
            transport=transport,
            follow_redirects=False,
            trust_env=False,
            timeout=timeout,
            headers={"User-Agent": policy.user_agent, "Accept-Encoding": "gzip, deflate"},
        )
        # One slot set per host while someone holds or waits for it: a host no request uses
        # any more drops out, so the map does not grow with every host ever fetched.
        self._hosts: weakref.WeakValueDictionary[str, threading.BoundedSemaphore] = (
            weakref.WeakValueDictionary()
        )
        self._lock = threading.Lock()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    @contextmanager
    def _host_slot(self, host: str) -> Iterator[None]:
        with self._lock:
            slot = self._hosts.get(host)
            if slot is None:
                slot = self._hosts[host] = threading.BoundedSemaphore(max(1, self.policy.per_host))
        with slot:
            yield

    def get(
        self,
        url: str,
        *,
        accept: Collection[str],
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> Fetched:
        """Fetch `url`, following redirects; raises `FetchError`."""
        wanted = frozenset(t.strip().lower() for t in accept)
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        deadline: float | None = None
        current = url
        seen: set[str] = set()
        try:
            for _hop in range(self.policy.max_redirects + 1):
                target = _check_url(current)
                seen.add(str(target))
                with self._host_slot(target.host):
                    if deadline is None:
                        deadline = time.monotonic() + self.policy.timeout_s
                    self._deadline.at = deadline
                    try:
                        result = self._one(url, target, headers, wanted, deadline)
                    finally:
                        self._deadline.at = None
                if isinstance(result, Fetched):
                    return result
                current = urljoin(str(target), result)
                if str(_check_url(current)) in seen:
                    raise FetchError(f"{target.host}: redirect loop", kind="redirects")
            raise FetchError(
                f"{_check_url(url).host}: too many redirects (more than "
                f"{self.policy.max_redirects})",
                kind="redirects",
            )
        except FetchError as exc:
            if not exc.url:
                exc.url = url
            raise

    def _one(
        self,
        url: str,
        target: httpx.URL,
        headers: dict[str, str],
        accept: frozenset[str],
        deadline: float,
    ) -> Fetched | str:
        host = target.host
        try:
            request = self._client.build_request("GET", target, headers=headers)
            response = self._client.send(request, stream=True)
            try:
                return self._handle(url, response, bool(headers), accept, deadline)
            finally:
                response.close()
        except httpx.TimeoutException:
            raise FetchError(
                f"{host}: timed out after {self.policy.timeout_s:g} s", kind="timeout"
            ) from None
        except httpx.ConnectError as exc:
            raise FetchError(f"{host}: could not connect ({exc})", kind="connect") from None
        except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError) as exc:
            # The connection broke or the server hung up: a hiccup, worth another try.
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise FetchError(f"{host}: connection lost ({detail})", kind="network") from None
        except httpx.HTTPError as exc:
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise FetchError(f"{host}: bad HTTP response ({detail})", kind="protocol") from None

    def _handle(
        self,
        url: str,
        response: httpx.Response,
        conditional: bool,
        accept: frozenset[str],
        deadline: float,
    ) -> Fetched | str:
        where = response.request.url.host
        status = response.status_code
        if status in _REDIRECTS and response.headers.get("location"):
            return response.headers["location"].strip()
        if status == 304 and conditional:
            return self._fetched(url, response, b"")
        if not 200 <= status < 300:
            reason = response.reason_phrase
            if not reason:
                try:
                    reason = HTTPStatus(status).phrase
                except ValueError:
                    reason = "error"
            raise FetchError(f"{where}: {status} {reason}", kind="status", status=status)
        declared, _ = _content_type(response.headers.get("content-type"))
        if declared and declared not in accept:
            raise FetchError(
                f"{_short(response.request.url)} is {declared}, not {_what(accept)}",
                kind="content_type",
            )
        limit = self.policy.max_bytes
        too_large = FetchError(
            f"{where}: the page is larger than {_megabytes(limit)}", kind="too_large"
        )
        length = response.headers.get("content-length", "")
        if length.strip().isdigit() and int(length) > limit:
            raise too_large
        parts: list[bytes] = []
        total = 0
        timed_out = FetchError(
            f"{where}: timed out after {self.policy.timeout_s:g} s", kind="timeout"
        )
        encoding = response.headers.get("content-encoding", "")
        for piece in _pieces(response.iter_raw(), encoding, where):
            total += len(piece)
            if total > limit:
                raise too_large
            parts.append(piece)
            if time.monotonic() > deadline:
                raise timed_out
        body = b"".join(parts)
        if not declared:
            sniffed = _sniff_type(body)
            if sniffed not in accept:
                raise FetchError(
                    f"{_short(response.request.url)} is {sniffed}, not {_what(accept)}",
                    kind="content_type",
                )
        return self._fetched(url, response, body)

    @staticmethod
    def _fetched(url: str, response: httpx.Response, body: bytes) -> Fetched:
        ctype, charset = _content_type(response.headers.get("content-type"))
        if not ctype and body:
            ctype = _sniff_type(body)
        return Fetched(
            url=url,
            final_url=str(response.request.url),
            status=response.status_code,
            headers=MappingProxyType({k.lower(): v for k, v in response.headers.items()}),
            body=body,
            content_type=ctype,
            charset=charset,
        )


def _check_url(url: str) -> httpx.URL:
    """The URL parsed, if it is an http(s) URL with a host; else FetchError "scheme"."""
    shown = url if len(url) <= 80 else url[:77] + "..."
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError, ValueError):
        raise FetchError(f"not a valid web link: {shown}", kind="scheme") from None
    if parsed.scheme not in ("http", "https"):
        raise FetchError(f"{shown}: only http and https links can be fetched", kind="scheme")
    if not parsed.host:
        raise FetchError(f"no host name in the link: {shown}", kind="scheme")
    return parsed
