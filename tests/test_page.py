"""A fetched page becomes an article file: extraction, canonical URLs, stable file names,
and front matter that `index.articles` reads back unchanged."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urljoin

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web_server import DATA, WebServer

from newsqa.index.articles import load_articles
from newsqa.index.web.fetch import HTML_TYPES, Fetched, Fetcher, FetchPolicy
from newsqa.index.web.page import (
    PageError,
    WebArticle,
    article_path,
    canonical_url,
    extract,
    save,
)

pytestmark = pytest.mark.timeout(60)

ARTICLE_URL = (
    "https://harbourtimes.example/news/2024/05/13/riverton-council-approves-harbour-bridge-rebuild"
)
CANONICAL = "https://www.harbourtimes.example/news/2024/05/13/riverton-council-approves-harbour-bridge-rebuild"


def fetched(
    body: bytes | str,
    url: str = ARTICLE_URL,
    charset: str | None = "utf-8",
    status: int = 200,
    content_type: str = "text/html",
) -> Fetched:
    data = body.encode("utf-8") if isinstance(body, str) else body
    return Fetched(
        url=url,
        final_url=url,
        status=status,
        headers=MappingProxyType({}),
        body=data,
        content_type=content_type,
        charset=charset,
    )


def article_html() -> str:
    return (DATA / "article.html").read_text(encoding="utf-8")


def web_article(url: str, title: str | None = "A title", text: str = "Some text.") -> WebArticle:
    return WebArticle(
        url=url,
        fetched_url=url,
        title=title,
        text=text,
        published=None,
        author=None,
        source="example.com",
        fetched_at="2024-05-13T10:00:00Z",
    )


# --- canonical URLs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "HTTPS://WWW.Example.COM:443/News/A?utm_source=rss&id=5&fbclid=x#comments",
            "https://www.example.com/News/A?id=5",
        ),
        ("http://example.com:80", "http://example.com/"),
        ("http://example.com:8080/a?gclid=1&UTM_Medium=feed", "http://example.com:8080/a"),
        ("https://user:secret@example.com/a?b=1&b=2", "https://example.com/a?b=1&b=2"),
        ("https://example.com/a?q=caf%C3%A9+au+lait", "https://example.com/a?q=caf%C3%A9+au+lait"),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected
    assert canonical_url(expected) == expected


# --- extraction ---------------------------------------------------------------------------


def test_extracts_a_news_article() -> None:
    article = extract(fetched(article_html()))
    assert article.url == CANONICAL  # from <link rel=canonical>, utm_* dropped
    assert article.fetched_url == ARTICLE_URL
    assert article.title == "Riverton council approves rebuild of the Old Harbour Bridge"
    assert article.published == "2024-05-13"
    assert article.author == "Marta Lindqvist"
    assert article.source == "The Harbour Times"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", article.fetched_at)
    assert "voted seven to two on Monday evening" in article.text
    assert "still be standing when our grandchildren cross it" in article.text
    assert "Privacy" not in article.text and "Subscribe" not in article.text  # boilerplate
    assert len(article.text) > 1500


def test_a_canonical_url_on_another_site_is_ignored() -> None:
    html = article_html().replace("https://www.harbourtimes.example/", "https://rival.example/")
    article = extract(fetched(html))
    assert article.url == ARTICLE_URL


def test_without_a_canonical_url_the_final_url_is_used() -> None:
    html = re.sub(r"<link rel=\"canonical\"[^>]*>", "", article_html())
    article = extract(
        fetched(html, url="https://WWW.HarbourTimes.example/story?utm_campaign=x#top")
    )
    assert article.url == "https://www.harbourtimes.example/story"


def test_no_date_on_the_page_gives_none_not_the_fetch_date() -> None:
    html = re.sub(r"<meta property=\"article:published_time\"[^>]*>", "", article_html())
    html = re.sub(r"<link rel=\"canonical\"[^>]*>", "", html).replace("&copy; 2024", "")
    article = extract(fetched(html, url="https://harbourtimes.example/news/bridge-vote"))
    assert article.published is None


def test_the_site_name_falls_back_to_the_host() -> None:
    html = re.sub(r"<meta property=\"og:site_name\"[^>]*>", "", article_html())
    html = html.replace(" | The Harbour Times", "").replace("The Harbour Times", "")
    article = extract(fetched(html))
    assert article.source == "harbourtimes.example"


def test_a_paywalled_page_is_too_short() -> None:
    page = fetched((DATA / "paywalled.html").read_bytes(), url="https://harbourtimes.example/f")
    with pytest.raises(PageError) as caught:
        extract(page)
    message = str(caught.value)
    assert re.fullmatch(
        r"too little text \(\d+ characters\): an empty or paywalled page\?", message
    )
    assert extract(page, min_chars=50).title == "Ferry operator announces new winter timetable"


@pytest.mark.parametrize("body", [b"", b"<html><body></body></html>", b"\x00\x01\x02 binary"])
def test_empty_pages(body: bytes) -> None:
    with pytest.raises(PageError) as caught:
        extract(fetched(body))
    assert "\n" not in str(caught.value)


def test_a_304_or_a_pdf_is_not_an_article() -> None:
    with pytest.raises(PageError):
        extract(fetched(b"", status=304))
    with pytest.raises(PageError, match="application/pdf"):
        extract(fetched(b"%PDF-1.4", content_type="application/pdf"))


@pytest.mark.parametrize("charset", ["windows-1251", None])
def test_a_windows_1251_page(charset: str | None) -> None:
    page = fetched(
        (DATA / "cp1251.html").read_bytes(), url="https://vesti.example/most", charset=charset
    )
    article = extract(page, min_chars=200)
    assert article.title == "В Заречье открыли новый мост через реку Сосновку"
    assert "торжественно открыли новый пешеходный мост" in article.text
    assert article.source == "Заречные вести"
    assert article.published == "2024-04-02"


# --- file names ---------------------------------------------------------------------------


def test_article_path_is_stable_and_readable(tmp_path: Path) -> None:
    article = web_article(CANONICAL)
    path = article_path(tmp_path, article)
    assert path == (
        tmp_path
        / "web"
        / "harbourtimes.example"
        / "news-2024-05-13-riverton-council-approves-harbour-bridge-rebuild.md"
    )
    assert article_path(tmp_path, replace(article, title="Another title")) == path
    saved = save(tmp_path, article)
    assert saved == path
    assert save(tmp_path, replace(article, text="Updated text.")) == path  # same URL, same file
    assert path.read_text(encoding="utf-8").endswith("\nUpdated text.\n")
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temp files left


def test_urls_that_collide_get_a_hash(tmp_path: Path) -> None:
    first = web_article("https://example.com/news/a_b")
    second = web_article("https://example.com/news/a-b")
    assert article_path(tmp_path, first) == article_path(tmp_path, second)  # before saving
    one, two = save(tmp_path, first), save(tmp_path, second)
    assert one != two
    assert one.name == "news-a-b.md"
    assert re.fullmatch(r"news-a-b-[0-9a-f]{8}\.md", two.name)
    assert save(tmp_path, second) == two and save(tmp_path, first) == one  # stable


def test_query_urls_get_distinct_hashed_paths(tmp_path: Path) -> None:
    a = article_path(tmp_path, web_article("https://example.com/article.php?id=1"))
    b = article_path(tmp_path, web_article("https://example.com/article.php?id=2"))
    assert a != b
    assert a.name.startswith("article-") and b.name.startswith("article-")


@pytest.mark.parametrize(
    ("url", "title", "pattern"),
    [
        ("https://example.com/" + "very-long-words-" * 20, None, r"[a-z0-9-]{1,71}-[0-9a-f]{8}"),
        ("https://vesti.example/новости/мост", "Мост открыт", r"article-[0-9a-f]{8}"),
        ("https://example.com/", "Breaking: Bridge Vote!", r"breaking-bridge-vote-[0-9a-f]{8}"),
        ("https://example.com/caf%C3%A9/index.html", None, r"cafe"),
    ],
)
def test_slugs_are_short_safe_ascii(
    url: str, title: str | None, pattern: str, tmp_path: Path
) -> None:
    path = article_path(tmp_path, web_article(url, title=title))
    assert re.fullmatch(pattern, path.stem), path.stem
    assert len(path.stem) <= 80
    assert path.parent.parent == tmp_path / "web"


def test_host_folder_drops_www_and_port(tmp_path: Path) -> None:
    path = article_path(tmp_path, web_article("http://www.Example.com:8080/a/b"))
    assert path.parent == tmp_path / "web" / "example.com"


# --- saving and loading back --------------------------------------------------------------


def test_save_then_load_gives_the_same_article(tmp_path: Path) -> None:
    article = extract(fetched(article_html()))
    path = save(tmp_path, article, extra_sources=["https://feeds.example/rss", article.url])
    result = load_articles([tmp_path])
    assert result.problems == []
    [loaded] = result.articles
    assert loaded.id == path.relative_to(tmp_path).as_posix()
    assert (loaded.text, loaded.title, loaded.url, loaded.published, loaded.source) == (
        article.text,
        article.title,
        article.url,
        article.published,
        article.source,
    )
    front = yaml.safe_load(path.read_text(encoding="utf-8").split("\n---\n", 1)[0][4:])
    assert "id" not in front
    assert front["author"] == "Marta Lindqvist"
    assert front["fetched"] == article.fetched_at
    assert front["fetched_url"] == ARTICLE_URL
    assert front["sources"] == ["https://feeds.example/rss"]


@pytest.mark.parametrize(
    "title",
    [
        "--- Breaking --- news ---",
        'He said: "no comment" and left',
        "Council: 'yes' to bridge",
        "yes",
        "2024-05-13",
        "- a list? # not a comment",
        "Заречье: открыт новый мост",
        "Title with\nnewline and   spaces",
    ],
)
def test_tricky_titles_round_trip(title: str, tmp_path: Path) -> None:
    article = web_article("https://example.com/tricky", title=title, text="---\nBody: text.")
    save(tmp_path, article)
    [loaded] = load_articles([tmp_path]).articles
    assert loaded.title == " ".join(title.split())
    assert loaded.text == "---\nBody: text."


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(title=st.text(min_size=1, max_size=60), text=st.text(min_size=1, max_size=200))
def test_any_title_and_text_round_trip(title: str, text: str, tmp_path: Path) -> None:
    article = web_article("https://example.com/prop", title=title, text=text)
    path = save(tmp_path, article)
    [loaded] = load_articles([path]).articles or [None]
    expected_text = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", text)
    expected_text = expected_text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    expected_text = "\n".join(line.rstrip() for line in expected_text.split("\n")).strip()
    if not expected_text:
        return  # an empty body is not an article; the loader skips it
    assert loaded is not None
    assert loaded.title == (" ".join(title.split()) or None)
    assert loaded.text == expected_text


@pytest.fixture(scope="module")
def server() -> Iterator[WebServer]:
    with WebServer.with_fixtures() as web:
        yield web


def test_fetch_extract_save_end_to_end(server: WebServer, tmp_path: Path) -> None:
    with Fetcher(FetchPolicy(allow_private=True)) as fetcher:
        page = fetcher.get(server.url("/article.html?utm_source=rss"), accept=HTML_TYPES)
        cyrillic = fetcher.get(server.url("/cp1251-meta.html"), accept=HTML_TYPES)
    article = extract(page)
    # The page's canonical URL is on harbourtimes.example, not this server: not trusted.
    assert article.url == server.url("/article.html")
    path = save(tmp_path, article)
    assert path == tmp_path / "web" / "127.0.0.1" / "article.md"
    save(tmp_path, extract(cyrillic, min_chars=200))
    loaded = {a.id: a for a in load_articles([tmp_path]).articles}
    assert loaded["web/127.0.0.1/article.md"].text == article.text
    assert "пешеходный мост" in loaded["web/127.0.0.1/cp1251-meta.md"].text


@pytest.mark.parametrize(
    ("canonical", "fetched", "kept"),
    [
        ("https://www.example.com/news/a", "https://example.com/news/a?utm_source=x", "canon"),
        ("/news/a", "https://example.com/news/a?ref=rss", "canon"),
        # Another host may not be claimed, above all on shared hosting.
        ("https://victim.github.io/news/story", "https://evil.github.io/p", "fetched"),
        ("https://victim.substack.com/p/story", "https://evil.substack.com/p/x", "fetched"),
        ("javascript:alert(1)", "https://example.com/a", "fetched"),
    ],
)
def test_a_canonical_url_counts_only_on_the_same_host(
    canonical: str, fetched: str, kept: str
) -> None:
    from newsqa.index.web.page import _choose_url

    chosen = _choose_url(canonical, fetched)
    if kept == "canon":
        assert chosen == canonical_url(urljoin(fetched, canonical))
    else:
        assert chosen == canonical_url(fetched)
