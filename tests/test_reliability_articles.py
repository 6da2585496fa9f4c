"""Hostile article files of every supported format: loading never raises, every bad file
is reported by name (file or file:line), the good files beside them load, and a build
over such a folder indexes exactly the good ones."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from conftest import make_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from newsqa.index import build_index, open_snapshot
from newsqa.index.articles import load_articles

pytestmark = pytest.mark.timeout(240)

GOOD = {
    "good.txt": "The harbour reopened on Friday. Fishing boats returned within hours.",
    "good.md": "---\nid: good-md\ntitle: Bridge\n---\nThe new bridge carries 40,000 cars a day.",
    "good.html": "<html><head><title>Rail</title></head><body><article><p>"
    + "The rail line to the coast was finished in March after six years of work. " * 3
    + "</p></article></body></html>",
    "good.json": json.dumps({"id": "good-json", "text": "Wheat prices fell by 3 percent."}),
    "good.jsonl": json.dumps({"id": "good-jsonl", "text": "The museum doubled its visitors."}),
}
GOOD_IDS = {"good.txt", "good-md", "good.html", "good-json", "good-jsonl"}

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=30),
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
WRONG_OBJECTS = st.dictionaries(
    st.sampled_from(["id", "text", "title", "url", "published", "source", "extra"]),
    JSON_VALUES,
    max_size=6,
)


def _huge(line: str, n: int) -> str:
    return (line or "x") * n


def _nested(depth: int, tag: str, text: str) -> str:
    return f"<{tag}>" * depth + text + f"</{tag}>" * (depth // 2)


TEXTISH = st.one_of(
    st.text(max_size=200),
    st.builds(_huge, st.text(min_size=1, max_size=5), st.integers(10_000, 200_000)),
)
FILES: dict[str, st.SearchStrategy[bytes]] = {
    ".txt": st.one_of(TEXTISH.map(str.encode), st.binary(max_size=300)),
    ".md": st.one_of(
        st.builds(
            lambda meta, body, close: (
                "---\n" + meta + ("\n---\n" if close else "\n") + body
            ).encode(),
            st.one_of(
                st.text(max_size=80),
                st.sampled_from(
                    [
                        "id: [unclosed",
                        "title: {a: b",
                        "- a list",
                        "id: !!python/object:os.system x",
                        "published: 2024-13-45",
                        "id:\n  nested: map",
                        "&a [*a]",
                        "title: " + "x" * 50_000,
                    ]
                ),
            ),
            TEXTISH,
            st.booleans(),
        ),
        st.binary(max_size=300),
    ),
    ".html": st.one_of(
        st.builds(
            lambda depth, tag, text: _nested(depth, tag, text).encode(),
            st.integers(0, 3000),
            st.sampled_from(["div", "p", "b", "table", "script", "article"]),
            st.text(max_size=200),
        ),
        st.text(max_size=300).map(str.encode),
        st.binary(max_size=300),
    ),
    ".json": st.one_of(
        WRONG_OBJECTS.map(lambda o: json.dumps(o).encode()),
        JSON_VALUES.map(lambda o: json.dumps(o).encode()),
        st.binary(max_size=300),
        st.text(max_size=100).map(str.encode),
    ),
    ".jsonl": st.one_of(
        st.lists(
            st.one_of(
                WRONG_OBJECTS.map(json.dumps),
                JSON_VALUES.map(json.dumps),
                st.text(max_size=40).filter(lambda s: "\n" not in s and "\r" not in s),
            ),
            max_size=6,
        ).map(lambda lines: "\n".join(lines).encode()),
        st.binary(max_size=300),
    ),
}
FUZZED = st.lists(
    st.sampled_from(sorted(FILES)).flatmap(lambda ext: FILES[ext].map(lambda b: (ext, b))),
    min_size=1,
    max_size=6,
)


def write_folder(root: Path, fuzzed: list[tuple[str, bytes]]) -> list[Path]:
    for name, text in GOOD.items():
        (root / name).write_text(text, encoding="utf-8")
    paths = []
    for i, (ext, data) in enumerate(fuzzed):
        path = root / f"fuzz{i}{ext}"
        path.write_bytes(data)
        paths.append(path)
    return paths


@settings(deadline=None, max_examples=200)
@given(fuzzed=FUZZED)
def test_fuzzed_files_never_stop_loading(fuzzed: list[tuple[str, bytes]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        paths = write_folder(root, fuzzed)
        result = load_articles([root])  # must not raise
        assert result.files == len(GOOD) + len(paths)
        ids = {a.id for a in result.articles}
        assert ids >= GOOD_IDS  # the good files beside the bad ones load
        for path in paths:
            loaded = [a for a in result.articles if a.origin.split(":")[0] == str(path)]
            named = [p for p in result.problems if p.where.split(":")[0] == str(path)]
            assert loaded or named, f"{path.name} neither loaded nor reported"
            for problem in named:
                assert problem.reason and "\n" not in problem.reason
        for article in result.articles:
            assert article.text.strip() and isinstance(article.id, str) and article.id
            for meta in (article.title, article.url, article.published, article.source):
                assert meta is None or isinstance(meta, str)


BAD = {
    "bad-utf8.txt": b"caf\xe9 \xff\xfe broken",
    "binary.txt": b"\x00\x01\x02PNG\x00",
    "empty.md": b"",
    "open-front.md": b"---\ntitle: never closed\nThe body.",
    "bad-yaml.md": b"---\ntitle: [unclosed\n---\nThe body.",
    "list-front.md": b"---\n- a\n- b\n---\nThe body.",
    "bad-date.md": b"---\npublished: 2024-13-45\n---\nThe body.",
    "nested.html": ("<div>" * 5000 + "</div>" * 5000).encode(),
    "script-only.html": b"<html><script>var a = 1;</script></html>",
    "array.json": b"[1, 2, 3]",
    "broken.json": b'{"text": "never closed',
    "number-text.json": b'{"text": 42}',
    "dict-title.json": b'{"text": "Fine text.", "title": {"a": 1}}',
    "wrong.jsonl": b'{"text": 1}\n[]\n{"text": "ok", "id": [1]}\nnot json\n',
}


def test_build_over_a_mixed_folder_indexes_only_the_good(tmp_path: Path, embedder) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name, text in GOOD.items():
        (src / name).write_text(text, encoding="utf-8")
    (src / "huge-line.txt").write_text("A very long line about the port. " * 400)
    for name, data in BAD.items():
        (src / name).write_bytes(data)
    summary = build_index(make_settings(tmp_path / "ix", articles_dir=src), embedder=embedder)
    snapshot = open_snapshot(tmp_path / "ix")
    assert set(snapshot.docs.hashes()) == {*GOOD_IDS, "huge-line.txt"}
    assert summary.added == len(GOOD) + 1
    reported = {Path(p.where.split(":")[0]).name for p in summary.problems}
    assert reported == set(BAD), reported
    lines = {p.where.rsplit(":", 1)[-1] for p in summary.problems if "wrong.jsonl" in p.where}
    assert lines == {"1", "2", "3", "4"}
    status = snapshot.status()
    assert status.articles == len(GOOD) + 1 and status.passages > len(GOOD)


@pytest.mark.timeout(120)
def test_an_article_over_the_size_limit_is_skipped_and_named(tmp_path: Path, embedder) -> None:
    """A 20 MB article without line breaks is refused unread (it held the build lock for
    more than ten minutes with the quadratic splitter); one over the limit in characters
    but not in bytes is refused after parsing; a page of markup is measured by its text;
    the rest is indexed."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "good.txt").write_text("The port reopened on Monday after the storm.")
    (src / "huge.txt").write_bytes(b"A very long line about the port. " * 640_000)  # 21 MB
    (src / "long.jsonl").write_text(json.dumps({"text": "Port news. " * 500}) + "\n")
    # A page of markup (90 KB, over four times the limit in bytes) holding a short article.
    markup = "<div class='nav'><a href='/x'>menu</a></div>\n" * 2000
    (src / "page.html").write_text(
        f"<html><head><title>Port</title></head><body>{markup}<article><p>The harbour "
        "master said the port reopened on Monday after the storm, and ferries ran again "
        "on the evening tide.</p></article></body></html>"
    )
    settings = make_settings(tmp_path / "ix", articles_dir=src, max_article_chars=4_000)
    summary = build_index(settings, embedder=embedder)
    assert set(open_snapshot(tmp_path / "ix").docs.hashes()) == {"good.txt", "page.html"}
    reasons = {Path(p.where.split(":")[0]).name: p.reason for p in summary.problems}
    assert set(reasons) == {"huge.txt", "long.jsonl"}
    assert all("NEWSQA_MAX_ARTICLE_CHARS" in r for r in reasons.values())
    assert "5,499 characters" in reasons["long.jsonl"]  # trimmed of its last space

