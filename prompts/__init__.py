"""Every text a model or a user reads that is not code, as files beside this module.

`render(name, **values)` fills `{placeholders}`; a missing or unexpected value is an
error, so a text and the code that fills it cannot drift apart unnoticed.
"""

from __future__ import annotations

import string
from functools import cache
from pathlib import Path

_HERE = Path(__file__).resolve().parent


@cache
def load(name: str) -> str:
    """The text of `prompts/<name>.md`, without its trailing newline."""
    return (_HERE / f"{name}.md").read_text(encoding="utf-8").rstrip("\n")


def placeholders(name: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(load(name)) if field}


def render(name: str, **values: object) -> str:
    expected = placeholders(name)
    if set(values) != expected:
        raise KeyError(f"prompt {name!r} takes {sorted(expected)}, got {sorted(values)}")
    return load(name).format(**values)


def names() -> list[str]:
    return sorted(path.stem for path in _HERE.glob("*.md"))
