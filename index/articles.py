"""The Article model and the loaders for every supported file format.

Bad input never stops a run: each unusable file or line becomes a `Problem` naming
`file:line`, and the caller decides what to do when nothing valid is left.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".json", ".jsonl")
META_FIELDS = ("title", "url", "published", "source")


@dataclass(frozen=True)
class Article:
    """One article: its id, exact text (citations are offsets into it) and metadata."""

    id: str
    text: str
    title: str | None = None
    url: str | None = None
    published: str | None = None
    source: str | None = None
    origin: str = ""  # where it was read from, for messages: "path" or "path:line"
    # Set on an article known from an unchanged file (`FileRecord`): its text was not read.
    known_hash: str | None = field(default=None, compare=False, repr=False)

    @property
    def unread(self) -> bool:
        """Known from an unchanged file only: id, hash and date, no text."""
        return self.known_hash is not None

    @property
    def content_hash(self) -> str:
        """Hash of everything that ends up in the index for this article."""
        if self.known_hash is not None:
            return self.known_hash
        payload = json.dumps(
            [self.text, self.title, self.url, self.published, self.source], ensure_ascii=False
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Problem:
    """An input that was skipped, and why."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass
class LoadResult:
    articles: list[Article] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files: int = 0
    # What each file gave, by its resolved path: the next build skips the unchanged ones.
    records: dict[str, FileRecord] = field(default_factory=dict)
    unread: int = 0  # files known unchanged, not read


@dataclass(frozen=True)
class FileRecord:
    """What one file gave, read under one default id, at one state of the file (size,
    modification and change times, inode): each article's id, content hash, date and
    origin, and the problems found. A file in the same state next time gives the same
    again without being read (a no-op build must not read a year of articles to find that
    nothing changed). The change time cannot be set back by tools that keep a copied
    file's modification time, and a file changed within the last seconds is read again
    next time (its times may not have ticked since it was read)."""

    stamp: tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, inode
    default_id: str
    articles: tuple[tuple[str, str, str | None, str], ...]
    problems: tuple[tuple[str, str], ...]

    def to_json(self) -> str:
        return json.dumps([self.stamp, self.default_id, self.articles, self.problems])

    @property
    def key(self) -> str:
        """The file's state and default id, as one string (what a no-op compares)."""
        return state_key(self.stamp, self.default_id)


    @classmethod
    def from_json(cls, text: str) -> FileRecord:
        stamp, default_id, articles, problems = json.loads(text)
        return cls(
            (stamp[0], stamp[1], stamp[2], stamp[3]),
            default_id,
            tuple((a[0], a[1], a[2], a[3]) for a in articles),
            tuple((p[0], p[1]) for p in problems),
        )


RACY_NS = 3_000_000_000  # a file changed this recently is not trusted unread next time


def state_key(stamp: tuple[int, int, int, int], default_id: str) -> str:
    return json.dumps([*stamp, default_id])


def file_state(path: Path, began_ns: int) -> tuple[int, int, int, int] | None:
    """(size, mtime_ns, ctime_ns, inode) of a file that has not changed in the last few
    seconds before `began_ns`; None when it cannot be read or may still be changing."""
    try:
        stat = path.stat()
    except OSError:
        return None
    if began_ns - max(stat.st_mtime_ns, stat.st_ctime_ns) <= RACY_NS:
        return None
    return stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino


def unchanged_files(sources: Iterable[Path], keys: dict[str, str]) -> bool:
    """Whether the files under `sources` are exactly those of `keys` (path → `state_key`),
    each in the same state: then they would give what they gave, and none needs reading."""
    began = time.time_ns()
    seen = 0
    for source in sources:
        if not source.exists():
            return False
        for path, default_id in iter_files(source):
            stamp = file_state(path, began)
            if stamp is None or keys.get(os.path.abspath(path)) != state_key(stamp, default_id):
                return False
            seen += 1
    return seen == len(keys)


class _Skip(Exception):
    """Raised by a parser for input that must be skipped."""


def clean_text(text: str) -> str:
    """Normalize newlines and strip a BOM and surrounding blank space."""
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").strip()


def _decode(raw: bytes) -> str:
    if b"\x00" in raw[:8192]:
        raise _Skip("binary file (NUL bytes), not text")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Skip(f"not valid UTF-8 (byte {exc.start})") from None


def _meta_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, str | int | float):
        text = str(value).strip()
        return text or None
    raise _Skip(f"metadata value of type {type(value).__name__} is not text")


def _from_mapping(obj: Any, default_id: str, origin: str) -> Article:
    if not isinstance(obj, dict):
        raise _Skip(f"expected a JSON object, got {type(obj).__name__}")
    text = obj.get("text")
    if not isinstance(text, str):
        raise _Skip("no 'text' string")
    text = clean_text(text)
    if not text:
        raise _Skip("empty text")
    raw_id = obj.get("id")
    if raw_id is not None and not isinstance(raw_id, str | int):
        raise _Skip("'id' must be a string or a number")
    article_id = str(raw_id).strip() if raw_id is not None else ""
    meta = {name: _meta_value(obj.get(name)) for name in META_FIELDS}
    return Article(id=article_id or default_id, text=text, origin=origin, **meta)


def _split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    if not text.startswith("---\n"):
        return {}, text
    end = text.find("\n---", 4)
    if end < 0:
        raise _Skip("front matter opened with '---' is never closed")
    import yaml  # lazy: only markdown with front matter needs it

    try:
        meta = yaml.safe_load(text[4:end]) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 2}" if mark is not None else ""
        raise _Skip(f"front matter is not valid YAML{line}") from None
    except (ValueError, OverflowError, TypeError) as exc:  # e.g. a date like 2024-13-45
        raise _Skip(f"front matter has a bad value ({exc})") from None
    if not isinstance(meta, dict):
        raise _Skip("front matter is not a mapping")
    body_start = text.find("\n", end + 4)
    return meta, text[body_start + 1 :] if body_start >= 0 else ""


def _parse_markdown(text: str, default_id: str, origin: str) -> Article:
    meta, body = _split_front_matter(clean_text(text))
    meta = {key: value for key, value in meta.items() if key in ("id", *META_FIELDS)}
    return _from_mapping({**meta, "text": body}, default_id, origin)


def _parse_html(text: str, default_id: str, origin: str) -> Article:
    import trafilatura  # lazy: heavy, and only HTML needs it

    doc = trafilatura.bare_extraction(
        text, with_metadata=True, include_comments=False, favor_recall=True
    )
    body = getattr(doc, "text", None) if doc is not None else None
    if not body or not body.strip():
        raise _Skip("no main text found in the HTML")
    meta = {
        "text": body,
        "title": getattr(doc, "title", None),
        "url": getattr(doc, "url", None),
        "published": getattr(doc, "date", None),
        "source": getattr(doc, "sitename", None),
    }
    return _from_mapping(meta, default_id, origin)


def _too_long(chars: int, max_chars: int) -> str:
    return f"too long: {chars:,} characters (NEWSQA_MAX_ARTICLE_CHARS is {max_chars:,})"


def _parse_one(path: Path, root_id: str, max_chars: int | None) -> Iterator[Article | Problem]:
    origin = str(path)
    try:
        size = path.stat().st_size
        # Plain text over the limit even at four bytes a character: refused unread, in no
        # time. (HTML is mostly markup and JSON may escape each character in six bytes:
        # those are measured after parsing, like each line of a .jsonl.)
        plain = path.suffix.lower() in (".txt", ".md", ".markdown")
        if max_chars and plain and size > 4 * max_chars + 65_536:
            yield Problem(origin, _too_long(size, max_chars).replace("characters", "bytes"))
            return
        raw = path.read_bytes()
    except OSError as exc:
        yield Problem(origin, f"unreadable ({exc.strerror or exc})")
        return
    try:
        text = _decode(raw)
    except _Skip as exc:
        yield Problem(origin, str(exc))
        return
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        yield from _parse_jsonl(text, root_id, origin)
        return
    try:
        if not text.strip():
            raise _Skip("empty file")
        if suffix in (".md", ".markdown"):
            yield _parse_markdown(text, root_id, origin)
        elif suffix in (".html", ".htm"):
            yield _parse_html(text, root_id, origin)
        elif suffix == ".json":
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                raise _Skip(f"malformed JSON at line {exc.lineno}: {exc.msg}") from None
            yield _from_mapping(obj, root_id, origin)
        else:
            yield _from_mapping({"text": text}, root_id, origin)
    except _Skip as exc:
        yield Problem(origin, str(exc))


def _parse_jsonl(text: str, root_id: str, origin: str) -> Iterator[Article | Problem]:
    seen_any = False
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        seen_any = True
        where = f"{origin}:{lineno}"
        try:
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise _Skip(f"malformed JSON: {exc.msg}") from None
            yield _from_mapping(obj, f"{root_id}:{lineno}", where)
        except _Skip as exc:
            yield Problem(where, str(exc))
    if not seen_any:
        yield Problem(origin, "empty file")


def iter_files(source: Path) -> Iterator[tuple[Path, str]]:
    """Supported files under `source` (a file or a folder), with their default ids."""
    if source.is_file():
        yield source, source.name
        return
    for dirpath, dirnames, filenames in os.walk(source):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.startswith(".") or path.suffix.lower() not in SUFFIXES:
                continue
            yield path, path.relative_to(source).as_posix()


def load_articles(
    sources: Iterable[Path],
    max_chars: int | None = None,
    known: dict[str, FileRecord] | None = None,
) -> LoadResult:
    """Read every article under `sources`; skipped inputs are listed in `problems`, among
    them any article longer than `max_chars` characters.

    A file in `known` at the same size and modification time is not read: its articles come
    back `unread` (id, content hash, date), its problems as they were."""
    result = LoadResult()
    seen: dict[str, str] = {}
    began = time.time_ns()
    for source in sources:
        if not source.exists():
            result.problems.append(Problem(str(source), "no such file or folder"))
            continue
        for path, default_id in iter_files(source):
            result.files += 1
            key = os.path.abspath(path)
            stamp = file_state(path, began)  # None: unreadable, or changed a moment ago
            record = (known or {}).get(key)
            if (
                stamp is not None
                and record is not None
                and record.stamp == stamp
                and record.default_id == default_id
            ):
                result.unread += 1
                items: Iterable[Article | Problem] = [
                    Problem(where, reason) for where, reason in record.problems
                ] + [
                    Article(i, "", published=day, origin=origin, known_hash=digest)
                    for i, digest, day, origin in record.articles
                ]
            else:
                items = [
                    Problem(item.origin, _too_long(len(item.text), max_chars))
                    if isinstance(item, Article) and max_chars and len(item.text) > max_chars
                    else item
                    for item in _parse_one(path, default_id, max_chars)
                ]
            if stamp is not None:
                # What the file itself gave (duplicates depend on the others).
                result.records[key] = FileRecord(
                    stamp,
                    default_id,
                    tuple(
                        (a.id, a.content_hash, a.published, a.origin)
                        for a in items
                        if isinstance(a, Article)
                    ),
                    tuple((p.where, p.reason) for p in items if isinstance(p, Problem)),
                )
            for item in items:
                if isinstance(item, Problem):
                    result.problems.append(item)
                elif item.id in seen:
                    result.problems.append(
                        Problem(item.origin, f"duplicate id {item.id!r} (first in {seen[item.id]})")
                    )
                else:
                    seen[item.id] = item.origin
                    result.articles.append(item)
    return result
