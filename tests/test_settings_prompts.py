"""Settings (one object, typos fail loudly, .env.example complete) and prompt files."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT

from newsqa import prompts
from newsqa.settings import Settings, SettingsError, load_settings


def test_env_example_lists_every_setting_with_its_default(tmp_path: Path) -> None:
    example = ROOT / ".env.example"
    keys = {}
    for line in example.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            keys[key] = value
    expected = {
        ("TELEGRAM_BOT_TOKEN" if name == "telegram_bot_token" else f"NEWSQA_{name.upper()}")
        for name in Settings.model_fields
    }
    assert set(keys) == expected
    loaded = load_settings(env_file=example)  # the example itself is valid
    defaults = Settings.model_construct()
    for name in Settings.model_fields:
        if name in ("telegram_allowed", "telegram_admins"):
            assert getattr(loaded, name) == []
            continue
        value = getattr(defaults, name)
        if value is None:
            continue
        assert str(getattr(loaded, name)) == str(value), name


def test_environment_overrides_and_typos(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NEWSQA_TOP_K", "7")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    monkeypatch.setenv("NEWSQA_TELEGRAM_ALLOWED", "1, 2,3")
    settings = load_settings()
    assert settings.top_k == 7 and settings.telegram_allowed == [1, 2, 3]
    assert settings.telegram_bot_token.get_secret_value() == "123:abc"
    assert "123:abc" not in repr(settings)
    (tmp_path / "typo.env").write_text("NEWSQA_TOPK=3\n")
    with pytest.raises(SettingsError, match="unknown setting"):
        load_settings(env_file=tmp_path / "typo.env")
    with pytest.raises(SettingsError, match="not found"):
        load_settings(env_file=tmp_path / "missing.env")
    with pytest.raises(SettingsError, match="top_k"):
        load_settings(top_k=0)


def test_every_prompt_loads_and_renders_with_its_placeholders() -> None:
    names = prompts.names()
    assert {"abstain", "empty_question", "too_long", "repl_welcome", "repl_help"} <= set(names)
    for name in names:
        text = prompts.load(name)
        assert text.strip(), name
        values = {field: f"<{field}>" for field in prompts.placeholders(name)}
        rendered = prompts.render(name, **values)
        assert all(f"<{field}>" in rendered for field in values)
    assert prompts.placeholders("too_long") == {"length", "limit"}
    with pytest.raises(KeyError):
        prompts.render("too_long", length=1)
