"""Shared fixtures: settings isolated from the developer's env, a runs folder per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agents.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "briefs"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No SIGNWRITER_* variable or .env from the developer's shell leaks into a test."""
    for k in list(os.environ):
        if k.startswith("SIGNWRITER_"):
            monkeypatch.delenv(k)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(runs_dir=tmp_path / "runs", _env_file=None)


@pytest.fixture
def examples() -> Path:
    return EXAMPLES
