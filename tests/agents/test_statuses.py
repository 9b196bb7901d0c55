"""Run and asset statuses as a user sees them: the same word in run.json, manifest.json and
the CLI, and the exit code that word stands for (real CLI, real renderer, real OCR, a real
Z.ai-speaking server on 127.0.0.1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agents.cli import app
from agents.status import EXIT_CODES, AssetStatus, RunStatus, run_status
from tests.servers.zai_server import ZaiServer

runner = CliRunner()
KEY = "sk-test-STATUS-1a2b3c"

BRIEF = """\
name: statuses
brand: {name: Northwind, colors: ["#12355b", "#ffffff", "#d72638"]}
copy:
  headline: Autumn Deals
  price: Only $29.99
formats: [social-square, poster-portrait, poster-landscape]
"""


def _brief(tmp_path: Path, formats: str | None = None) -> Path:
    path = tmp_path / "brief.yaml"
    text = BRIEF if formats is None else BRIEF.replace(
        "[social-square, poster-portrait, poster-landscape]", formats)
    path.write_text(text)
    return path


def _files(runs: Path) -> tuple[dict, dict]:
    run_dir = next(p for p in runs.iterdir() if p.is_dir())  # runs/ also holds index.sqlite
    return (json.loads((run_dir / "run.json").read_text()),
            json.loads((run_dir / "manifest.json").read_text()))


@pytest.fixture
def zai(monkeypatch: pytest.MonkeyPatch):
    with ZaiServer() as server:
        monkeypatch.setenv("SIGNWRITER_ZAI_API_KEY", KEY)
        monkeypatch.setenv("SIGNWRITER_ZAI_BASE_URL", server.base_url)
        monkeypatch.setenv("SIGNWRITER_POLL_INTERVAL_S", "0.01")
        monkeypatch.setenv("SIGNWRITER_RETRY_BACKOFF_S", "0.01")
        yield server


def test_a_run_whose_every_asset_failed_is_failed_everywhere(tmp_path: Path, zai: ZaiServer
                                                             ) -> None:
    zai.script("submit", "filter", "filter", "filter")
    runs = tmp_path / "runs"
    r = runner.invoke(app, ["run", str(_brief(tmp_path)), "--backend", "zai", "--out", str(runs)])
    assert r.exit_code == 1, r.output
    assert "— failed" in r.stdout and "completed" not in r.stdout
    meta, manifest = _files(runs)
    assert meta["status"] == manifest["status"] == "failed"
    assert {a["status"] for a in manifest["assets"]} == {"failed"}


def test_a_stopped_run_exits_4_and_says_how_to_resume(tmp_path: Path, zai: ZaiServer) -> None:
    zai.script("submit", "429-balance", "429-balance", "429-balance")
    runs = tmp_path / "runs"
    r = runner.invoke(app, ["run", str(_brief(tmp_path, "[social-square]")), "--backend", "zai",
                            "--out", str(runs)])
    assert r.exit_code == 4, r.output
    meta, manifest = _files(runs)
    assert meta["status"] == manifest["status"] == "stopped"
    assert f"signwriter resume {meta['run_id']}" in " ".join(r.output.split())
    assert KEY not in r.output


def test_a_partially_reviewed_run_still_needs_review_in_both_files(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    brief = _brief(tmp_path, "[social-square, card-small]")
    r = runner.invoke(app, ["run", str(brief), "--simulate-errors", "1", "--max-attempts", "1",
                            "--seed", "5", "--out", str(runs)])
    assert r.exit_code == 3, r.output
    meta, manifest = _files(runs)
    assert meta["status"] == manifest["status"] == "needs_review"
    run_id = meta["run_id"]
    first, second = (a["asset_id"] for a in manifest["assets"])

    r = runner.invoke(app, ["review", "approve", run_id, first, "--out", str(runs)])
    assert r.exit_code == 0, r.output
    meta, manifest = _files(runs)
    assert meta["status"] == manifest["status"] == "needs_review"
    # every attempt carried an error: approving one says so
    assert [a["status"] for a in manifest["assets"]] == ["approved_with_findings", "needs_review"]
    listed = runner.invoke(app, ["runs", "--out", str(runs)], env={"COLUMNS": "200"})
    assert "needs_review" in listed.stdout and "1 approved_with_findings" in listed.stdout

    r = runner.invoke(app, ["review", "reject", run_id, second, "--note", "typo",
                            "--out", str(runs)])
    assert r.exit_code == 0, r.output
    meta, manifest = _files(runs)
    assert meta["status"] == manifest["status"] == "failed"
    assert "(run: failed)" in r.stdout


def test_a_clean_run_succeeds_with_exit_0(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    r = runner.invoke(app, ["run", str(_brief(tmp_path, "[card-small]")), "--seed", "2",
                            "--out", str(runs)])
    assert r.exit_code == 0, r.output
    meta, manifest = _files(runs)
    assert meta["status"] == manifest["status"] == "succeeded"
    assert "— succeeded" in r.stdout


def test_exit_codes_follow_the_run_status() -> None:
    A = AssetStatus
    assert run_status([A.ACCEPTED, A.ACCEPTED]) is RunStatus.SUCCEEDED
    assert run_status([A.FAILED, A.FAILED, A.FAILED]) is RunStatus.FAILED
    assert run_status([A.ACCEPTED, A.REJECTED]) is RunStatus.FAILED
    assert run_status([A.ACCEPTED, A.NEEDS_REVIEW, A.FAILED]) is RunStatus.NEEDS_REVIEW
    assert run_status([A.ACCEPTED, A.RUNNING]) is RunStatus.RUNNING
    assert run_status([A.PENDING], RunStatus.STOPPED) is RunStatus.STOPPED
    assert run_status([A.ACCEPTED], RunStatus.STOPPED) is RunStatus.SUCCEEDED
    assert {s: s.exit_code for s in RunStatus} == {
        RunStatus.SUCCEEDED: 0, RunStatus.FAILED: 1, RunStatus.NEEDS_REVIEW: 3,
        RunStatus.STOPPED: 4, RunStatus.RUNNING: 4}
    assert set(EXIT_CODES) == set(RunStatus)


def test_resuming_an_unknown_run_names_the_runs_there(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runner.invoke(app, ["run", str(_brief(tmp_path, "[card-small]")), "--seed", "2",
                        "--out", str(runs)])
    run_id = next(p for p in runs.iterdir() if p.is_dir()).name
    r = runner.invoke(app, ["resume", "nope-123", "--out", str(runs)])
    assert r.exit_code == 2
    text = " ".join(r.output.split())
    assert "no run 'nope-123'" in text and run_id in text and "run.json" not in text


def test_errors_are_one_clean_line(tmp_path: Path) -> None:
    r = runner.invoke(app, ["run", str(_brief(tmp_path)), "--backend", "nope",
                            "--out", str(tmp_path / "runs")])
    assert r.exit_code == 2
    assert "error: [registry] unknown backend 'nope'" in r.output
    assert "error:  " not in r.output


def test_run_options_show_their_defaults() -> None:
    r = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "300"})
    text = " ".join(r.output.split())
    for shown in ("typeset, or $SIGNWRITER_BACKEND", "3, or $SIGNWRITER_MAX_ATTEMPTS",
                  "4, or $SIGNWRITER_CONCURRENCY", "runs, or $SIGNWRITER_RUNS_DIR",
                  "$SIGNWRITER_MAX_COST, else none", "from the clock"):
        assert shown in text, shown
