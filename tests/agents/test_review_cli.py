"""The review flow end to end through the CLI, as separate processes on one run: the list
at 80 columns, a mistyped attempt (exit 2, still reviewable), a double decision (exit 1,
who and when), and a kill -9 in the middle of a decision followed by resume (decided once).
The run index here is the real PostgreSQL (SQLite is the default the other tests use)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.index import Index
from agents.settings import Settings
from tests.agents.reviewing import BRIEF, review_seed
from tests.databases import postgres_schema


@pytest.fixture
def env() -> Iterator[dict[str, str]]:
    with postgres_schema() as url:
        yield {**os.environ, "COLUMNS": "80", "SIGNWRITER_DATABASE_URL": url}


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agents.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def _ledger_done(run_dir: Path, asset: str, n: int) -> int:
    path = run_dir / "ledger.jsonl"
    if not path.exists():
        return 0
    count = 0
    for line in path.read_text().splitlines():
        try:
            e = json.loads(line)
        except json.JSONDecodeError:
            continue
        count += (e.get("kind") == "done" and e.get("asset_id") == asset and e.get("attempt") == n)
    return count


@pytest.mark.slow
@pytest.mark.timeout(900)  # several processes, OCR included, on a busy 2-core host
def test_review_flow_through_the_cli(tmp_path: Path, env: dict[str, str]) -> None:
    brief = tmp_path / "brief.yaml"
    brief.write_text(BRIEF)
    runs = tmp_path / "runs"
    out = ["--out", str(runs)]
    r = _cli(env, "run", str(brief), "--simulate-errors", "0.5", "--max-attempts", "1",
             "--seed", str(review_seed()), *out)
    assert r.returncode == 3, r.stdout + r.stderr
    run_id = next(p.name for p in runs.iterdir() if p.is_dir())
    run_dir = runs / run_id
    index = Index.for_settings(Settings(runs_dir=runs, database_url=env[
        "SIGNWRITER_DATABASE_URL"], _env_file=None))

    # the list: every id typable at 80 columns, with the attempt's overlay
    listed = _cli(env, "review", "list", *out)
    assert listed.returncode == 0
    lines = listed.stdout.splitlines()
    for asset in ("card-small", "poster-portrait", "social-square"):
        assert f"{run_id} {asset}" in lines
        assert len(f"{run_id} {asset}") <= 80
    overlays = [ln.split("overlay: ", 1)[1] for ln in lines if "overlay: " in ln]
    assert len(overlays) == 3 and all(Path(p).is_file() and p.endswith("overlay.jpg")
                                      for p in overlays)

    # a mistyped attempt: exit 2, nothing stored, the asset stays reviewable
    bad = _cli(env, "review", "approve", run_id, "social-square", "--attempt", "9", *out)
    assert bad.returncode == 2 and "has no attempt 9" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert index.decisions(run_id) == []
    ok = _cli(env, "review", "approve", run_id, "social-square", "--reviewer", "ana", *out)
    assert ok.returncode == 0, ok.stderr
    assert "approved_with_findings" in ok.stdout

    # the same decision again (a double click, a second reviewer): told who and when
    again = _cli(env, "review", "approve", run_id, "social-square", "--reviewer", "bo", *out)
    assert again.returncode == 2
    assert "already decided: approve by ana at" in again.stderr
    assert len(index.decisions(run_id, "social-square")) == 1
    manifest = json.loads((run_dir / "manifest.json").read_text())
    square = next(a for a in manifest["assets"] if a["asset_id"] == "social-square")
    assert square["status"] == "approved_with_findings" and square["findings"]
    assert index.asset(run_id, "social-square")["status"] == "approved_with_findings"

    # a rejection needs a reason
    assert _cli(env, "review", "reject", run_id, "poster-portrait", *out).returncode == 2
    assert _cli(env, "review", "reject", run_id, "poster-portrait", "--note", "off brand",
                *out).returncode == 0

    # kill -9 while an edit is being applied (the new attempt generated, not yet checked)
    proc = subprocess.Popen([sys.executable, "-m", "agents.cli", "review", "edit", run_id,
                             "card-small", "--region", "headline", "--text", "Launch Day",
                             "--reviewer", "cy", *out], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while _ledger_done(run_dir, "card-small", 2) == 0:
        assert proc.poll() is None, "the decision finished before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    stored = index.decisions(run_id, "card-small")
    assert len(stored) == 1 and stored[0]["applied"] is None  # died mid-decision

    resumed = _cli(env, "resume", run_id, *out)
    assert resumed.returncode == 1, resumed.stdout + resumed.stderr  # one was rejected: failed
    stored = index.decisions(run_id, "card-small")
    assert len(stored) == 1 and stored[0]["applied"] and stored[0]["outcome"] == "accepted"
    assert _ledger_done(run_dir, "card-small", 2) == 1  # generated once, not again
    manifest = json.loads((run_dir / "manifest.json").read_text())
    card = next(a for a in manifest["assets"] if a["asset_id"] == "card-small")
    assert card["status"] == "accepted" and len(card["attempts"]) == 2
    assert card["review"]["text"] == "Launch Day"
    assert index.asset(run_id, "card-small")["status"] == "accepted"
    assert index.run(run_id)["status"] == "failed"  # one asset rejected

    history = _cli(env, "review", "history", run_id, *out)
    assert history.returncode == 0
    assert "ana (cli): approve attempt 1" in history.stdout
    assert "bo" not in history.stdout
    assert "off brand" in history.stdout and "'Launch Day'" in history.stdout
