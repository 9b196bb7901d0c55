"""Settings: one object, from the environment; the README table is generated from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.settings import Settings, markdown_table

ROOT = Path(__file__).resolve().parents[2]


def test_env_vars_configure_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNWRITER_BACKEND", "zai")
    monkeypatch.setenv("SIGNWRITER_ZAI_API_KEY", "sk-live-123")
    monkeypatch.setenv("SIGNWRITER_OPENAI_IMAGES_URLS", '["http://a:1", "http://b:2"]')
    s = Settings(_env_file=None)
    assert s.backend == "zai" and s.openai_images_urls == ["http://a:1", "http://b:2"]
    assert "sk-live-123" not in repr(s) and "sk-live-123" not in str(s.model_dump())


def test_readme_configuration_table_is_current() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert markdown_table() in readme, "run: python -m agents.settings --update-readme"


def test_readme_commands_exist() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme
    assert "\ndemo:" in makefile and "\ntest:" in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()
