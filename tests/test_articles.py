"""Loaders: every format, ids, metadata, and bad input skipped with file:line."""

from __future__ import annotations

import json
from pathlib import Path

from newsqa.index.articles import load_articles


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_every_format_with_ids_and_metadata(tmp_path: Path) -> None:
    root = tmp_path / "src"
    write(root / "plain.txt", "\ufeffFirst line.\r\nSecond line.\r\n")
    write(
        root / "sub" / "story.md",
        "---\nid: md-1\ntitle: Talks resume\npublished: 2025-01-25\nurl: https://e.x/a\n"
        "---\nBody of the story.\n",
    )
    write(root / "one.json", json.dumps({"id": 7, "text": "Json body.", "source": "Wire"}))
    write(
        root / "many.jsonl",
        json.dumps({"text": "Line one."}) + "\n\n" + json.dumps({"id": "x", "text": "Two."}) + "\n",
    )
    write(
        root / "page.html",
        "<html><head><title>Page title</title></head><body><nav>Menu Home About</nav>"
        "<article><h1>Page title</h1><p>The delegations met in Abu Dhabi on Saturday and "
        "agreed to meet again next week, officials said after the talks ended.</p>"
        "<p>A second paragraph explains the background of the negotiations in detail.</p>"
        "</article></body></html>",
    )
    write(root / "notes.csv", "ignored,file")
    result = load_articles([root])
    by_id = {a.id: a for a in result.articles}
    assert result.problems == []
    assert set(by_id) == {"plain.txt", "md-1", "7", "many.jsonl:1", "x", "page.html"}
    assert by_id["plain.txt"].text == "First line.\nSecond line."
    story = by_id["md-1"]
    assert (story.title, story.published, story.url) == (
        "Talks resume",
        "2025-01-25",
        "https://e.x/a",
    )
    assert story.text == "Body of the story."
    assert by_id["7"].source == "Wire"
    assert "Abu Dhabi" in by_id["page.html"].text and "Menu" not in by_id["page.html"].text


def test_bad_input_is_skipped_and_named(tmp_path: Path) -> None:
    root = tmp_path / "src"
    write(root / "good.txt", "A good article.")
    write(root / "empty.txt", "   \n")
    write(root / "binary.txt", b"\x00\x01\x02binary")
    write(root / "latin1.txt", "caf\xe9".encode("latin-1"))
    write(root / "bad.json", "{not json")
    write(
        root / "lines.jsonl",
        json.dumps({"text": "ok"})
        + "\n{broken\n"
        + json.dumps({"title": "no text"})
        + "\n"
        + json.dumps(["not", "an", "object"])
        + "\n",
    )
    write(root / "front.md", "---\ntitle: [unclosed\n---\nbody")
    result = load_articles([root, tmp_path / "missing"])
    assert [a.id for a in result.articles] == ["good.txt", "lines.jsonl:1"]
    problems = {str(p) for p in result.problems}
    assert any("empty.txt: empty" in p for p in problems)
    assert any("binary.txt: binary" in p for p in problems)
    assert any("latin1.txt: not valid UTF-8" in p for p in problems)
    assert any("bad.json: malformed JSON" in p for p in problems)
    assert any(
        p.endswith(
            "lines.jsonl:2: malformed JSON: Expecting property name enclosed in double quotes"
        )
        for p in problems
    )
    assert any("lines.jsonl:3: no 'text' string" in p for p in problems)
    assert any("lines.jsonl:4: expected a JSON object" in p for p in problems)
    assert any("front.md: front matter is not valid YAML" in p for p in problems)
    assert any("missing: no such file or folder" in p for p in problems)


def test_duplicate_ids_keep_the_first(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.jsonl",
        json.dumps({"id": "same", "text": "one"})
        + "\n"
        + json.dumps({"id": "same", "text": "two"})
        + "\n",
    )
    result = load_articles([path])
    assert [a.text for a in result.articles] == ["one"]
    assert "duplicate id 'same'" in str(result.problems[0])


def test_content_hash_changes_with_text_and_metadata(tmp_path: Path) -> None:
    from newsqa.index.articles import Article

    base = Article(id="a", text="t")
    assert base.content_hash == Article(id="a", text="t").content_hash
    assert base.content_hash != Article(id="a", text="t2").content_hash
    assert base.content_hash != Article(id="a", text="t", title="new").content_hash
