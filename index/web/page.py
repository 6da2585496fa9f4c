"""A fetched web page turned into an article file the index loader reads.

`extract` finds the main text and metadata with trafilatura; `article_path` picks a stable
file name under `<articles>/web/<host>/`; `save` writes it atomically as Markdown with YAML
front matter (`title`, `url`, `published`, `source`, which `index.articles` reads, plus
`author`, `fetched`, `fetched_url` and `sources`, which it ignores). No `id` is written: the
article's id is its path relative to the articles folder.

A canonical URL (<link rel=canonical> / og:url) is only trusted when it points to the same
site as the fetched URL, so a page cannot claim another site's URL and overwrite its file.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import re
import tempfile
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from newsqa.index.web.fetch import HTML_TYPES, Fetched

__all__ = ["PageError", "WebArticle", "article_path", "canonical_url", "extract", "save"]

MAX_SLUG = 80
_TRACKING = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "_ga",
        "_gl",
        "ref_src",
    }
)
_PAGE_SUFFIXES = (".html", ".htm", ".shtml", ".php", ".asp", ".aspx", ".jsp", ".cms")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ][0-9:.]+(?:Z|[+-]\d{2}:?\d{2})?)?")


class PageError(Exception):
    """A page that gives no article; `str(exc)` is one line, e.g. "too little text ..."."""


@dataclass(frozen=True)
class WebArticle:
    """An article read from a web page."""

    url: str  # canonical, normalized (see `canonical_url`)
    fetched_url: str
    title: str | None
    text: str
    published: str | None  # ISO date from the page itself, never the fetch date
    author: str | None
    source: str | None  # the site's name, else its host without "www."
    fetched_at: str  # ISO UTC timestamp


def canonical_url(url: str) -> str:
    """`url` normalized: lower-case scheme and host, no user info, default port, fragment
    or tracking parameters (utm_*, fbclid, gclid, ...); an empty path becomes "/"."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    default = {"http": 80, "https": 443}.get(scheme)
    netloc = host if port is None or port == default else f"{host}:{port}"
    kept = []
    for pair in parts.query.split("&"):
        if not pair:
            continue
        key = unquote(pair.split("=", 1)[0]).strip().lower()
        if key.startswith("utm_") or key in _TRACKING:
            continue
        kept.append(pair)
    return urlunsplit((scheme, netloc, parts.path or "/", "&".join(kept), ""))


def _host(host: str) -> str:
    return host.lower().removeprefix("www.")


def _choose_url(found: str | None, final_url: str) -> str:
    """The page's canonical URL when it names the same host as the page (ignoring
    "www."), else the URL the page was fetched from. A page may not claim another host's
    URL: on shared hosting (x.github.io, y.substack.com) that would let one site's page
    take the place of another's saved article."""
    final = canonical_url(final_url)
    if not found:
        return final
    candidate = canonical_url(urljoin(final_url, found.strip()))
    cand, base = urlsplit(candidate), urlsplit(final)
    if cand.scheme not in ("http", "https") or not cand.hostname or not base.hostname:
        return final
    return candidate if _host(cand.hostname) == _host(base.hostname) else final


def _one_line(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    return value or None


def _source(sitename: Any) -> str | None:
    name = _one_line(sitename)
    if name and " " not in name and "." in name:  # a host name, not a site name
        name = name.lower().removeprefix("www.")
    return name


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _clean_text(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    text = _CONTROL.sub("", text)
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()


def extract(fetched: Fetched, *, min_chars: int = 400) -> WebArticle:
    """The article in a fetched HTML page; `PageError` when there is none or too little."""
    if fetched.status != 200 or not fetched.body:
        raise PageError(f"nothing to read: the page is empty (HTTP {fetched.status})")
    ctype = fetched.content_type
    if ctype and ctype not in HTML_TYPES and not ctype.startswith("text/"):
        raise PageError(f"not a web page ({ctype})")
    import trafilatura  # lazy: heavy

    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    try:
        doc = trafilatura.bare_extraction(
            fetched.text(),
            url=fetched.final_url,
            with_metadata=True,
            include_comments=False,
            date_extraction_params={
                "original_date": True,
                "extensive_search": False,  # only dates the page states, not stray numbers
                "max_date": today,
            },
        )
    except Exception as exc:  # trafilatura / lxml raise many kinds on odd markup
        raise PageError(f"could not read the page ({type(exc).__name__})") from None
    text = _clean_text(getattr(doc, "text", None) or "") if doc is not None else ""
    if len(text) < min_chars:
        raise PageError(f"too little text ({len(text)} characters): an empty or paywalled page?")
    url = _choose_url(getattr(doc, "url", None), fetched.final_url)
    date = getattr(doc, "date", None)
    published = date if isinstance(date, str) and _DATE.fullmatch(date) else None
    host = (urlsplit(url).hostname or "").removeprefix("www.")
    return WebArticle(
        url=url,
        fetched_url=fetched.final_url,
        title=_one_line(getattr(doc, "title", None)),
        text=text,
        published=published,
        author=_one_line(getattr(doc, "author", None)),
        source=_source(getattr(doc, "sitename", None)) or host or None,
        fetched_at=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


# --- file names ---------------------------------------------------------------------------


def _slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def _host_dir(host: str) -> str:
    host = host.lower().strip("[]").removeprefix("www.")
    with contextlib.suppress(UnicodeError):
        host = host.encode("idna").decode("ascii")
    safe = re.sub(r"[^a-z0-9.-]+", "-", host).strip(".-")
    return safe or "unknown-site"


def _slug(article: WebArticle) -> tuple[str, bool]:
    """A slug for the article, and whether it is exact (derived from the whole URL path, not
    truncated, not from the title, and the URL has no query)."""
    parts = urlsplit(article.url)
    path = unquote(parts.path).strip("/")
    for suffix in _PAGE_SUFFIXES:
        if path.lower().endswith(suffix):
            path = path[: -len(suffix)]
            break
    if path.lower().endswith("/index") or path.lower() == "index":
        path = path[: -len("index")]
    slug = _slugify(path)
    exact = bool(slug) and not parts.query
    if not slug:
        slug = _slugify(article.title or "") or "article"
    if len(slug) > MAX_SLUG:
        slug = slug[:MAX_SLUG].rstrip("-")
        exact = False
    return slug, exact


def read_front_matter(path: Path) -> tuple[dict[str, Any], str] | None:
    """An article file's front matter and the rest of the file, or None when the file is
    missing, unreadable or has no valid front matter."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeError):
        return None
    if not text.startswith("---\n"):
        return None
    end = text.find("\n---", 4)
    if end < 0:
        return None
    import yaml

    try:
        meta = yaml.safe_load(text[4:end])
    except (yaml.YAMLError, ValueError, TypeError):
        return None
    return (meta, text[end + 4 :]) if isinstance(meta, dict) else None


def _url_of(path: Path) -> str | None:
    """The `url` in an existing article file's front matter, if readable."""
    found = read_front_matter(path)
    url = found[0].get("url") if found else None
    return url if isinstance(url, str) else None


def _front(meta: dict[str, Any]) -> str:
    import yaml

    return "---\n" + yaml.safe_dump(meta, allow_unicode=True, sort_keys=False, width=1_000_000)


def _write_atomic(path: Path, content: str) -> None:
    """Write `content` to `path` through a temp file and a rename, fsynced: a reader sees
    the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A dot name: the loader skips it if a crash leaves it behind.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def add_source(path: Path, url: str) -> bool:
    """Add `url` to the `sources` list of a saved article (another site's copy of it).
    The loader does not read `sources`, so the article's index entry stays as it is.
    False when the file cannot be read as a saved article."""
    found = read_front_matter(path)
    if found is None:
        return False
    meta, rest = found
    sources = [s for s in meta.get("sources") or [] if isinstance(s, str)]
    if url in sources or url == meta.get("url"):
        return True
    meta["sources"] = [*sources, url]
    _write_atomic(path, _front(meta) + "---" + rest)
    return True


def article_path(articles_dir: Path, article: WebArticle) -> Path:
    """Where `article` is saved: `articles_dir/web/<host>/<slug>.md`.

    The same canonical URL always gets the same path. A slug that could stand for several
    URLs (a query, a truncated or title-made slug) gets an 8-character hash of the URL, and so
    does a slug whose file already holds another URL.
    """
    folder = Path(articles_dir) / "web" / _host_dir(urlsplit(article.url).hostname or "")
    slug, exact = _slug(article)
    if exact:
        plain = folder / f"{slug}.md"
        if not plain.exists() or _url_of(plain) == article.url:
            return plain
    digest = hashlib.sha256(article.url.encode("utf-8")).hexdigest()[:8]
    slug = slug[: MAX_SLUG - len(digest) - 1].rstrip("-")
    return folder / f"{slug}-{digest}.md"


def save(articles_dir: Path, article: WebArticle, *, extra_sources: Sequence[str] = ()) -> Path:
    """Write `article` as Markdown with YAML front matter (temp file + rename); its path."""

    path = article_path(articles_dir, article)
    meta: dict[str, Any] = {
        "title": _one_line(article.title),
        "url": article.url,
        "published": article.published,
        "source": _one_line(article.source),
        "author": _one_line(article.author),
        "fetched": article.fetched_at,
        "fetched_url": article.fetched_url if article.fetched_url != article.url else None,
        "sources": [s for s in dict.fromkeys(extra_sources) if s != article.url] or None,
    }
    meta = {key: value for key, value in meta.items() if value is not None}
    _write_atomic(path, f"{_front(meta)}---\n\n{_clean_text(article.text)}\n")
    return path
