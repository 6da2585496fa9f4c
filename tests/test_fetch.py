"""Safe fetching: schemes, address checks on every hop, redirects, timeouts, size caps,
content types, conditional requests, per-host limits and charsets.

Tests that must be refused never send a packet: `no_connect` makes any connection attempt
fail the test, and `fake_dns` answers for made-up host names (real DNS is never asked).
"""

from __future__ import annotations

import gzip
import ipaddress
import pickle
import socket
import ssl
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from web_server import ARTICLE_ETAG, ARTICLE_LAST_MODIFIED, WebServer

from newsqa.index.web import fetch
from newsqa.index.web.fetch import (
    FEED_TYPES,
    HTML_TYPES,
    Fetcher,
    FetchError,
    FetchPolicy,
    address_refusal,
    decode_html,
)

pytestmark = pytest.mark.timeout(30)

LOCAL = FetchPolicy(allow_private=True, timeout_s=5.0)


@pytest.fixture(scope="module")
def server() -> Iterator[WebServer]:
    with WebServer.with_fixtures() as web:
        yield web


@pytest.fixture()
def fetcher() -> Iterator[Fetcher]:
    with Fetcher(LOCAL) as f:
        yield f


class Connections:
    """Connection attempts seen; only addresses in `allowed` go through."""

    def __init__(self) -> None:
        self.attempts: list[Any] = []
        self.allowed: set[tuple[str, int]] = set()


@pytest.fixture()
def no_connect(monkeypatch: pytest.MonkeyPatch) -> Connections:
    """Any connection attempt (loopback included) is recorded and fails, unless allowed."""
    seen = Connections()
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        seen.attempts.append(address)
        if isinstance(address, tuple) and tuple(address[:2]) in seen.allowed:
            return real_connect(self, address)
        raise AssertionError(f"a connection was attempted: {address!r}")

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> None:
        seen.attempts.append(address)
        raise AssertionError(f"a connection was attempted: {address!r}")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    return seen


FAKE_DNS = {
    "internal.example": ["10.1.2.3"],
    "metadata.example": ["169.254.169.254"],
    "metadata6.example": ["fd00:ec2::254"],
    "mixed.example": ["93.184.216.34", "10.0.0.1"],
    "mapped.example": ["::ffff:192.168.1.1"],
    "loopback.example": ["127.0.0.1"],
    "public.example": ["93.184.216.34"],
    "localhost": ["127.0.0.1", "::1"],
}


@pytest.fixture()
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """getaddrinfo answers from FAKE_DNS and IP literals only; returns the names asked."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(
        host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else str(host)
        asked.append(name)
        answers = FAKE_DNS.get(name.lower(), [name])
        if callable(answers):
            answers = answers()
        found: list[Any] = []
        for address in answers:
            try:  # numeric only: never a real DNS query
                found += real(address, port, family, type, proto, flags | socket.AI_NUMERICHOST)
            except socket.gaierror:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
        return found

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


# --- schemes and addresses ----------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/file.txt",
        "gopher://example.com:70/",
        "data:text/html,<h1>hi</h1>",
        "javascript:alert(1)",
        "example.com/news",
        "http:///no-host",
    ],
)
def test_only_http_and_https_are_fetched(
    url: str, no_connect: Connections, fake_dns: list[str]
) -> None:
    with Fetcher(LOCAL) as f, pytest.raises(FetchError) as caught:
        f.get(url, accept=HTML_TYPES)
    assert caught.value.kind == "scheme"
    assert caught.value.url == url
    assert "\n" not in str(caught.value)
    assert fake_dns == [] and no_connect.attempts == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://10.0.0.5/admin", "private"),
        ("http://192.168.1.1/", "private"),
        ("http://127.0.0.1:8080/", "loopback"),
        ("http://localhost/", "loopback"),
        ("http://[::1]/", "loopback"),
        ("http://[::ffff:10.0.0.5]/", "private"),
        ("http://[fe80::1]/", "link-local"),
        ("http://100.64.1.1/", "shared"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://[fd00:ec2::254]/", "metadata"),
        ("http://internal.example/news", "private"),
        ("http://metadata.example/", "metadata"),
        ("http://mixed.example/", "private"),
        ("http://mapped.example/", "private"),
    ],
)
def test_private_addresses_are_refused_without_a_packet(
    url: str, reason: str, no_connect: Connections, fake_dns: list[str]
) -> None:
    with Fetcher(FetchPolicy(allow_private=False)) as f, pytest.raises(FetchError) as caught:
        f.get(url, accept=HTML_TYPES)
    assert caught.value.kind == "refused", str(caught.value)
    assert reason in str(caught.value)
    assert no_connect.attempts == []


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://metadata.example/",
        "http://metadata6.example/",
        "http://239.1.1.1/",
    ],
)
def test_metadata_and_multicast_stay_refused_when_private_is_allowed(
    url: str, no_connect: Connections, fake_dns: list[str]
) -> None:
    with Fetcher(LOCAL) as f, pytest.raises(FetchError) as caught:
        f.get(url, accept=HTML_TYPES)
    assert caught.value.kind == "refused"
    assert no_connect.attempts == []


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("93.184.216.34", False),
        ("8.8.8.8", False),
        ("2606:4700:4700::1111", False),
        ("172.16.0.1", True),
        ("100.127.255.254", True),
        ("198.18.0.1", True),  # benchmarking range, not global
        ("240.0.0.1", True),  # reserved
        ("::ffff:127.0.0.1", True),
        ("2002:0a00:0005::1", True),  # 6to4 around 10.0.0.5
        ("64:ff9b::a9fe:a9fe", True),  # NAT64 around 169.254.169.254
        ("64:ff9b:1::a00:5", True),  # local-use NAT64 around 10.0.0.5
        ("64:ff9b:1:a00:1:8:808:808", True),  # local-use NAT64, IPv4 in the middle bits
        ("::7f00:1", True),  # deprecated IPv4-compatible form of 127.0.0.1
        ("::a9fe:a9fe", True),  # ... and of 169.254.169.254
        ("fc00::1", True),
    ],
)
def test_address_refusal(address: str, refused: bool) -> None:
    ip = ipaddress.ip_address(address)
    assert (address_refusal(ip, allow_private=False) is not None) is refused


def test_allow_private_allows_private_but_not_metadata() -> None:
    assert address_refusal(ipaddress.ip_address("10.0.0.5"), allow_private=True) is None
    assert address_refusal(ipaddress.ip_address("127.0.0.1"), allow_private=True) is None
    assert address_refusal(ipaddress.ip_address("169.254.169.254"), allow_private=True)
    assert address_refusal(ipaddress.ip_address("::ffff:169.254.169.254"), allow_private=True)


@pytest.fixture()
def only_server_allowed(
    monkeypatch: pytest.MonkeyPatch, server: WebServer, no_connect: Connections, fake_dns: list[str]
) -> Connections:
    """The policy refuses private addresses, except the test server's 127.0.0.1."""
    real = fetch.address_refusal

    def refusal(ip: Any, *, allow_private: bool) -> str | None:
        if ip == ipaddress.ip_address("127.0.0.1"):
            return None
        return real(ip, allow_private=allow_private)

    monkeypatch.setattr(fetch, "address_refusal", refusal)
    port = int(server.base_url.rsplit(":", 1)[1])
    no_connect.allowed.add(("127.0.0.1", port))
    return no_connect


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://internal.example/admin",
        "http://10.0.0.5/",
        "http://[::1]:8080/",
    ],
)
def test_redirect_to_a_private_address_is_refused_before_connecting(
    target: str, server: WebServer, only_server_allowed: Connections
) -> None:
    server.add_redirect("/to-private", target)
    with Fetcher(FetchPolicy()) as f:
        assert f.get(server.url("/article.html"), accept=HTML_TYPES).status == 200
        with pytest.raises(FetchError) as caught:
            f.get(server.url("/to-private"), accept=HTML_TYPES)
    assert caught.value.kind == "refused"
    assert caught.value.url == server.url("/to-private")
    port = int(server.base_url.rsplit(":", 1)[1])
    assert {tuple(a[:2]) for a in only_server_allowed.attempts} == {("127.0.0.1", port)}


def test_redirect_to_another_scheme_is_refused(server: WebServer, fetcher: Fetcher) -> None:
    server.add_redirect("/to-file", "file:///etc/passwd")
    with pytest.raises(FetchError) as caught:
        fetcher.get(server.url("/to-file"), accept=HTML_TYPES)
    assert caught.value.kind == "scheme"


def test_connects_to_the_address_it_checked(
    server: WebServer,
    only_server_allowed: Connections,
    fake_dns: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One lookup per connection and the socket goes to that answer, so a second, private
    answer (DNS rebinding) is never used; the Host header still names the host."""
    port = int(server.base_url.rsplit(":", 1)[1])
    answers = iter([["127.0.0.1"], ["10.1.2.3"], ["10.1.2.3"]])
    monkeypatch.setitem(FAKE_DNS, "rebind.example", lambda: next(answers))
    with Fetcher(FetchPolicy()) as f:
        got = f.get(f"http://rebind.example:{port}/article.html", accept=HTML_TYPES)
    assert got.status == 200
    assert fake_dns.count("rebind.example") == 1
    assert only_server_allowed.attempts == [("127.0.0.1", port)]
    assert server.last_headers("/article.html")["host"] == f"rebind.example:{port}"


def test_tls_uses_the_host_name_for_sni_and_certificates(
    server: WebServer, fake_dns: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The socket goes to the checked IP, but TLS is told the URL's host name."""
    port = int(server.base_url.rsplit(":", 1)[1])
    monkeypatch.setitem(FAKE_DNS, "tls.example", ["127.0.0.1"])
    names: list[Any] = []

    def wrap_socket(self: ssl.SSLContext, sock: socket.socket, *args: Any, **kwargs: Any) -> None:
        names.append(kwargs.get("server_hostname"))
        raise ssl.SSLError("test: no handshake")

    monkeypatch.setattr(ssl.SSLContext, "wrap_socket", wrap_socket)
    with Fetcher(LOCAL) as f, pytest.raises(FetchError) as caught:
        f.get(f"https://tls.example:{port}/", accept=HTML_TYPES)
    assert names == ["tls.example"]
    assert caught.value.kind == "connect"


def test_proxy_variables_are_ignored(server: WebServer, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://10.9.9.9:3128")
    with Fetcher(LOCAL) as f:
        assert f.get(server.url("/article.html"), accept=HTML_TYPES).status == 200


# --- answers from the server --------------------------------------------------------------


def test_fetches_a_page_with_a_user_agent(server: WebServer, fetcher: Fetcher) -> None:
    got = fetcher.get(server.url("/article.html"), accept=HTML_TYPES)
    assert got.status == 200
    assert got.url == got.final_url == server.url("/article.html")
    assert got.content_type == "text/html" and got.charset == "utf-8"
    assert got.headers["etag"] == ARTICLE_ETAG
    assert b"Old Harbour Bridge" in got.body and "Old Harbour Bridge" in got.text()
    sent = server.last_headers("/article.html")
    assert sent["user-agent"] == LOCAL.user_agent
    assert "newsqa" in sent["user-agent"]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/missing", "127.0.0.1: 404 Not Found"),
        ("/gone", "127.0.0.1: 410 Gone"),
        ("/error", "127.0.0.1: 500 Internal Server Error"),
    ],
)
def test_error_statuses(path: str, message: str, server: WebServer, fetcher: Fetcher) -> None:
    with pytest.raises(FetchError) as caught:
        fetcher.get(server.url(path), accept=HTML_TYPES)
    assert caught.value.kind == "status"
    assert str(caught.value) == message


def test_redirects_are_followed(server: WebServer, fetcher: Fetcher) -> None:
    got = fetcher.get(server.url("/redirect-chain/4"), accept=HTML_TYPES)
    assert got.url == server.url("/redirect-chain/4")
    assert got.final_url == server.url("/article.html")
    assert b"Old Harbour Bridge" in got.body


def test_too_many_redirects(server: WebServer, fetcher: Fetcher) -> None:
    server.add_page("/hops/0", "<html>end</html>")
    for n in range(1, 8):
        server.add_redirect(f"/hops/{n}", f"/hops/{n - 1}")
    with pytest.raises(FetchError) as caught:
        fetcher.get(server.url("/hops/7"), accept=HTML_TYPES)
    assert caught.value.kind == "redirects"
    assert str(caught.value) == "127.0.0.1: too many redirects (more than 5)"
    # /hops/7 and five redirects (6..2) were requested; /hops/1 never was.
    assert [server.requests(f"/hops/{n}") for n in range(8)] == [0, 0, 1, 1, 1, 1, 1, 1]
    assert fetcher.get(server.url("/hops/5"), accept=HTML_TYPES).status == 200


def test_redirect_loop(server: WebServer, fetcher: Fetcher) -> None:
    before = server.requests("/loop-a") + server.requests("/loop-b")
    with pytest.raises(FetchError) as caught:
        fetcher.get(server.url("/loop-a"), accept=HTML_TYPES)
    assert caught.value.kind == "redirects"
    assert "loop" in str(caught.value)
    assert server.requests("/loop-a") + server.requests("/loop-b") - before == 2


def test_a_trickling_server_cannot_hold_us_past_the_deadline(server: WebServer) -> None:
    start = time.monotonic()
    with (
        Fetcher(FetchPolicy(allow_private=True, timeout_s=1.0)) as f,
        pytest.raises(FetchError) as caught,
    ):
        f.get(server.url("/trickle"), accept=HTML_TYPES)
    assert caught.value.kind == "timeout"
    assert "timed out" in str(caught.value)
    assert time.monotonic() - start < 2.5


def test_a_silent_server_times_out(server: WebServer) -> None:
    server.add_page("/very-slow", "<html>late</html>", delay_s=3.0)
    start = time.monotonic()
    with (
        Fetcher(FetchPolicy(allow_private=True, timeout_s=0.5)) as f,
        pytest.raises(FetchError) as caught,
    ):
        f.get(server.url("/very-slow"), accept=HTML_TYPES)
    assert caught.value.kind == "timeout"
    assert time.monotonic() - start < 2.0


def test_gzip_bomb_stops_at_the_cap_without_holding_the_whole_body(server: WebServer) -> None:
    policy = FetchPolicy(allow_private=True, max_bytes=1_000_000)
    with Fetcher(policy) as f:
        tracemalloc.start()
        try:
            with pytest.raises(FetchError) as caught:
                f.get(server.url("/bomb.html"), accept=HTML_TYPES)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert caught.value.kind == "too_large"
    assert str(caught.value) == "127.0.0.1: the page is larger than 1 MB"
    assert peak < 2_500_000  # the 10 MB body was never held


def test_a_declared_length_over_the_cap_is_refused(server: WebServer) -> None:
    server.add_page("/big.html", "<html>" + "x" * 5000 + "</html>")
    with (
        Fetcher(FetchPolicy(allow_private=True, max_bytes=1000)) as f,
        pytest.raises(FetchError) as caught,
    ):
        f.get(server.url("/big.html"), accept=HTML_TYPES)
    assert caught.value.kind == "too_large"


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate"])
def test_compressed_pages_are_decoded(encoding: str, server: WebServer, fetcher: Fetcher) -> None:
    page = ("<html><body>" + "Riverton harbour news. " * 2000 + "</body></html>").encode()
    if encoding == "gzip":
        packed = gzip.compress(page)
    elif encoding == "deflate":
        packed = zlib.compress(page)
    else:
        squeezer = zlib.compressobj(wbits=-15)
        packed = squeezer.compress(page) + squeezer.flush()
    name = encoding.removeprefix("raw-")
    server.add_page(f"/packed-{encoding}.html", packed, headers={"Content-Encoding": name})
    got = fetcher.get(server.url(f"/packed-{encoding}.html"), accept=HTML_TYPES)
    assert got.body == page


def test_content_type_must_be_accepted(server: WebServer, fetcher: Fetcher) -> None:
    with pytest.raises(FetchError) as caught:
        fetcher.get(server.url("/report.pdf"), accept=HTML_TYPES)
    assert caught.value.kind == "content_type"
    assert str(caught.value) == "127.0.0.1/report.pdf is application/pdf, not a web page"
    with pytest.raises(FetchError) as caught:
        fetcher.get(server.url("/feed.rss"), accept=HTML_TYPES)
    assert caught.value.kind == "content_type"
    feed = fetcher.get(server.url("/feed.rss"), accept=FEED_TYPES)
    assert feed.content_type == "application/rss+xml"
    assert server.base_url.encode() in feed.body  # {base_url} was filled in


def test_a_missing_content_type_is_sniffed(server: WebServer, fetcher: Fetcher) -> None:
    server.add_page("/untyped.html", "<!doctype html><html><p>hi</p></html>", content_type=None)
    server.add_page("/untyped.pdf", b"%PDF-1.4 binary", content_type=None)
    assert fetcher.get(server.url("/untyped.html"), accept=HTML_TYPES).content_type == "text/html"
    with pytest.raises(FetchError) as caught:
        fetcher.get(server.url("/untyped.pdf"), accept=HTML_TYPES)
    assert caught.value.kind == "content_type"


def test_conditional_requests(server: WebServer, fetcher: Fetcher) -> None:
    url = server.url("/article.html")
    same = fetcher.get(url, accept=HTML_TYPES, etag=ARTICLE_ETAG)
    assert (same.status, same.body) == (304, b"")
    assert server.last_headers("/article.html")["if-none-match"] == ARTICLE_ETAG
    same = fetcher.get(url, accept=HTML_TYPES, last_modified=ARTICLE_LAST_MODIFIED)
    assert same.status == 304
    assert server.last_headers("/article.html")["if-modified-since"] == ARTICLE_LAST_MODIFIED
    changed = fetcher.get(url, accept=HTML_TYPES, etag='"article-v0"')
    assert changed.status == 200 and changed.body


def test_a_304_without_a_conditional_request_is_an_error(
    server: WebServer, fetcher: Fetcher
) -> None:
    server.add_page("/odd-304", b"", status=304)
    with pytest.raises(FetchError) as caught:
        fetcher.get(server.url("/odd-304"), accept=HTML_TYPES)
    assert caught.value.kind == "status"


def test_unknown_host(fake_dns: list[str], no_connect: Connections) -> None:
    with Fetcher(LOCAL) as f, pytest.raises(FetchError) as caught:
        f.get("http://nosuchhost.invalid/news", accept=HTML_TYPES)
    assert caught.value.kind == "dns"
    assert str(caught.value) == "host not found: nosuchhost.invalid"
    assert no_connect.attempts == []


def test_refused_connection(fetcher: Fetcher) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FetchError) as caught:
        fetcher.get(f"http://127.0.0.1:{port}/", accept=HTML_TYPES)
    assert caught.value.kind == "connect"
    assert str(caught.value) == "127.0.0.1: connection refused"


def test_per_host_limit_across_threads(server: WebServer) -> None:
    server.add_page("/slow-limit", "<html><body>slow</body></html>", delay_s=0.3)
    with (
        Fetcher(FetchPolicy(allow_private=True, per_host=2)) as f,
        ThreadPoolExecutor(max_workers=6) as pool,
    ):
        start = time.monotonic()
        results = list(
            pool.map(lambda _: f.get(server.url("/slow-limit"), accept=HTML_TYPES), range(6))
        )
        elapsed = time.monotonic() - start
    assert [r.status for r in results] == [200] * 6
    assert server.requests("/slow-limit") == 6
    assert server.max_concurrent("/slow-limit") == 2
    assert elapsed >= 0.85  # three rounds of two


def test_fetch_error_pickles() -> None:
    error = FetchError("example.com: 404 Not Found", kind="status", url="http://example.com/")
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.kind, copy.url) == (str(error), "status", "http://example.com/")


# --- charsets -----------------------------------------------------------------------------

CYRILLIC = "Новый мост через реку Сосновку"


def test_windows_1251_from_the_header(server: WebServer, fetcher: Fetcher) -> None:
    got = fetcher.get(server.url("/cp1251.html"), accept=HTML_TYPES)
    assert got.charset == "windows-1251"
    assert "открыли новый мост" in got.text()


def test_windows_1251_from_meta(server: WebServer, fetcher: Fetcher) -> None:
    got = fetcher.get(server.url("/cp1251-meta.html"), accept=HTML_TYPES)
    assert got.charset is None
    assert "открыли новый мост" in got.text()


def test_decode_html_fallbacks() -> None:
    latin = "<p>Café déjà vu — naïve</p>".encode("cp1252")
    assert decode_html(latin, "iso-8859-1") == "<p>Café déjà vu — naïve</p>"
    assert decode_html(latin, None) == "<p>Café déjà vu — naïve</p>"  # not UTF-8: windows-1252
    meta = f'<meta charset="koi8-r"><p>{CYRILLIC}</p>'.encode("koi8-r")
    assert CYRILLIC in decode_html(meta, None)
    assert decode_html("<p>ok ü</p>".encode(), None) == "<p>ok ü</p>"
    assert decode_html(b"\xef\xbb\xbf<p>bom</p>", "windows-1251") == "<p>bom</p>"
    assert decode_html(b"<p>\xff\xfe\x00 junk</p>", "no-such-charset")  # never raises
    assert decode_html(b"<p>x</p>", "rot13") == "<p>x</p>"  # not a text encoding: skipped


def test_thread_safe_shared_fetcher(server: WebServer) -> None:
    errors: list[BaseException] = []
    with Fetcher(FetchPolicy(allow_private=True, per_host=4)) as f:

        def work() -> None:
            try:
                for path in ("/article.html", "/feed.atom", "/cp1251.html"):
                    f.get(server.url(path), accept=HTML_TYPES | FEED_TYPES)
            except BaseException as exc:  # collected for the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=20)
    assert errors == []


@pytest.mark.parametrize("cut", [1, 10, 500])
def test_gzip_members_split_across_network_chunks(cut: int) -> None:
    """A second gzip member that starts in a later chunk is read, not dropped; padding
    and junk after the last member are ignored."""
    import gzip

    from newsqa.index.web.fetch import _Inflater

    one, two = gzip.compress(b"first " * 500), gzip.compress(b"second" * 50)
    body = one + two + b"\x00\x00"
    chunks = [body[i : i + cut] for i in range(0, len(body), cut)]
    inflater = _Inflater("gzip", "example.com")
    assert b"".join(p for c in chunks for p in inflater.feed(c)) == b"first " * 500 + b"second" * 50
    junk = _Inflater("gzip", "example.com")
    assert b"".join(p for c in (one, b"<html>junk") for p in junk.feed(c)) == b"first " * 500
