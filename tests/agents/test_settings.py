"""Settings: one object, from the environment; the README table is generated from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.settings import Settings, markdown_table
from generation.errors import InvalidRequest
from generation.registry import backend_info

ROOT = Path(__file__).resolve().parents[2]


def test_env_vars_configure_settings_and_each_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNWRITER_BACKEND", "zai")
    monkeypatch.setenv("SIGNWRITER_MAX_RETRIES", "7")
    monkeypatch.setenv("SIGNWRITER_ZAI_API_KEY", "sk-live-123")
    monkeypatch.setenv("SIGNWRITER_ZAI_TIMEOUT_S", "9")
    monkeypatch.setenv("SIGNWRITER_OPENAI_IMAGES_URLS", '["http://a:1", "http://b:2"]')
    s = Settings(_env_file=None)
    assert s.backend == "zai" and "sk-live-123" not in repr(s)
    zai = s.backend_options(backend_info("zai"))
    assert zai["api_key"].get_secret_value() == "sk-live-123" and "sk-live-123" not in str(zai)
    assert zai["timeout_s"] == 9.0, "a backend's own setting wins over the run-wide one"
    assert zai["max_retries"] == 7, "run-wide knobs reach every backend that takes them"
    pool = s.backend_options(backend_info("openai-images"))
    assert pool["urls"] == ["http://a:1", "http://b:2"] and "poll_interval_s" not in pool
    typeset = Settings(_env_file=None, simulate_errors=0.5).backend_options(
        backend_info("typeset"), seed=11)
    assert typeset == {"fault_rate": 0.5, "fault_seed": 11}


def test_a_bad_backend_setting_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNWRITER_ZAI_TIMEOUT_S", "soon")
    with pytest.raises(InvalidRequest, match="SIGNWRITER_ZAI_TIMEOUT_S"):
        Settings(_env_file=None).backend_options(backend_info("zai"))
    monkeypatch.setenv("SIGNWRITER_VLLM_OMNI_URLS", "http://a:1")
    with pytest.raises(InvalidRequest, match="not valid JSON"):
        Settings(_env_file=None).backend_options(backend_info("vllm-omni"))


def test_unused_service_settings_are_gone() -> None:
    # database_url is the run index's (agents/index.py); the broker is the workers'
    # (agents/workers: SIGNWRITER_BROKER_URL); the old unused redis_url is gone
    assert "redis_url" not in Settings.model_fields
    assert "broker_url" in Settings.model_fields
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "SIGNWRITER_REDIS_URL" not in readme and "SIGNWRITER_BROKER_URL" in readme


def test_readme_configuration_table_is_current() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert markdown_table() in readme, "run: python -m agents.settings --update-readme"


def test_readme_backends_table_is_generated_from_the_specs() -> None:
    from generation.registry import markdown_table as backends_table
    from agents.settings import BACKENDS_END, BACKENDS_START
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = readme.split(BACKENDS_START, 1)[1].split(BACKENDS_END, 1)[0].strip()
    assert shown == backends_table(), "run: python -m agents.settings --update-readme"
    # one row per built-in backend, each saying what it does with the brief's pictures
    rows = shown.splitlines()[2:]
    assert [r.split(" | ")[0] for r in rows] == [
        "| `typeset` (default)", "| `zai`", "| `fal`", "| `runware`", "| `openai-images`",
        "| `vllm-omni`", "| `diffusers`"]
    assert "| no (composited) |" in rows[1] and "| up to 4 |" in rows[2]


def test_cli_prints_the_backends_table_as_markdown() -> None:
    from typer.testing import CliRunner

    from agents.cli import app
    from generation.registry import markdown_table as backends_table
    result = CliRunner().invoke(app, ["backends", "--markdown"])
    assert result.exit_code == 0 and result.stdout.strip() == backends_table()


def test_readme_commands_exist() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme
    assert "\ndemo:" in makefile and "\ntest:" in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()
