"""Fixtures for the web app: one prepared run whose three assets wait for review, copied
fresh for every test (run folder, checkpoints and SQLite index together), and accounts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agents.accounts import add_user
from agents.index import Index
from agents.api import start_run
from agents.settings import Settings
from tests.agents.reviewing import BRIEF, review_seed

PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def prepared_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("prepared")
    brief = root / "brief.yaml"
    brief.write_text(BRIEF)
    settings = Settings(runs_dir=root / "runs", simulate_errors=0.5, max_attempts=1,
                        _env_file=None)
    result = start_run(brief, settings, seed=review_seed())
    assert {a["status"] for a in result.manifest["assets"]} == {"needs_review"}
    always = root / "always.yaml"  # a clean asset that waits for a person anyway
    always.write_text(BRIEF.replace("name: review-test", "name: always-test").replace(
        "formats: [card-small, social-square, poster-portrait]", "formats: [card-small]"))
    clean = start_run(always, settings.model_copy(update={"simulate_errors": 0.0,
                                                          "review_policy": "always"}), seed=1)
    assert clean.manifest["assets"][0]["status"] == "needs_review"
    index = Index.for_settings(settings)
    for name, role in (("vera", "viewer"), ("rex", "reviewer"), ("ada", "admin")):
        add_user(index, name, role, PASSWORD)
    return root / "runs"


@pytest.fixture
def web_settings(prepared_runs: Path, tmp_path: Path) -> Settings:
    runs = tmp_path / "runs"
    shutil.copytree(prepared_runs, runs)
    return Settings(runs_dir=runs, _env_file=None)


@pytest.fixture
def run_id(web_settings: Settings) -> str:
    """The run whose three assets failed QA and wait for review."""
    return next(p.name for p in Path(web_settings.runs_dir).iterdir()
                if p.is_dir() and "review-test" in p.name)


@pytest.fixture
def always_run_id(web_settings: Settings) -> str:
    """The run (review policy 'always') whose one asset passed QA and waits anyway."""
    return next(p.name for p in Path(web_settings.runs_dir).iterdir()
                if p.is_dir() and "always-test" in p.name)
