"""A run killed mid-way (SIGKILL, like a crash or a lost machine) and resumed: it finishes,
and no attempt that had finished before the kill is generated again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.agents.ledger_wait import done_lines

BRIEF = """\
name: resume-test
brand: {name: Acme, colors: ["#0b3d91", "#ffffff", "#fc3d21"]}
copy:
  headline: Launch Week
  price: Only $19.99
  cta: Join now
formats: [card-small, social-square]
style: clean, modern
"""


def _cli(*args: str, cwd: Path, log: Path) -> subprocess.Popen:
    with open(log, "wb") as f:
        return subprocess.Popen([sys.executable, "-m", "agents.cli", *args], cwd=cwd,
                            stdout=f, stderr=subprocess.STDOUT,
                            env={**os.environ, "COLUMNS": "200"},
                            start_new_session=True)


@pytest.mark.slow
def test_killed_run_resumes_without_repeating_finished_attempts(tmp_path: Path) -> None:
    brief = tmp_path / "brief.yaml"
    brief.write_text(BRIEF)
    runs = tmp_path / "runs"
    proc = _cli("run", str(brief), "--simulate-errors", "1", "--max-attempts", "3",
                "--seed", "11", "--concurrency", "2", "--out", str(runs), cwd=Path.cwd(), log=tmp_path / "run.log")
    deadline = time.monotonic() + 120
    ledger = None
    while time.monotonic() < deadline:
        found = list(runs.glob("*/ledger.jsonl")) if runs.exists() else []
        if found and len(done_lines(found[0])) >= 2:
            ledger = found[0]
            break
        if proc.poll() is not None:
            pytest.fail("the run finished before it could be killed:\n"
                        + (tmp_path / "run.log").read_text())
        time.sleep(0.02)
    assert ledger is not None, "no generation was recorded within 120 s"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    before = {(e["asset_id"], e["attempt"]): e["sha256"] for e in done_lines(ledger)}
    run_id = ledger.parent.name
    manifest = json.loads((ledger.parent / "manifest.json").read_text())
    assert manifest["status"] == "running", "killed mid-run: not finished, not stopped cleanly"

    resumed = subprocess.run([sys.executable, "-m", "agents.cli", "resume", run_id, "--out",
                              str(runs)], capture_output=True, text=True, timeout=300,
                             env={**os.environ, "COLUMNS": "200"})
    assert resumed.returncode in (0, 1, 3), resumed.stdout + resumed.stderr

    done = done_lines(ledger)
    counts = Counter((e["asset_id"], e["attempt"]) for e in done)
    assert all(c == 1 for c in counts.values()), f"an attempt was generated twice: {counts}"
    after = {(e["asset_id"], e["attempt"]): e["sha256"] for e in done}
    assert all(after[k] == v for k, v in before.items())
    manifest = json.loads((ledger.parent / "manifest.json").read_text())
    assert {a["status"] for a in manifest["assets"]} <= {"accepted", "needs_review"}
    for asset in manifest["assets"]:
        ns = [a["n"] for a in asset["attempts"]]
        assert ns == list(range(1, len(ns) + 1))
        for a in asset["attempts"]:
            assert after[(asset["asset_id"], a["n"])] == a["sha256"]
            assert a["qa"]["passed"] is False or a["injected"] == []
