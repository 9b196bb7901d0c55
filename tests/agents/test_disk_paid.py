"""A disk that fills up between the provider's answer and the image bytes reaching the disk
never makes a resume pay again (issue 11): the ledger line, the fact of payment, is
written before the image, so a resumed run fetches the lost image from its recorded task,
or, where the provider gives no task to fetch it from, refuses to generate it again.

Real small tmpfs mounts, a real local Z.ai server counting every paid call, the real CLI
in a subprocess. The server fills the disk while it "draws" the first image, so the run's
next write after that answer is the one that meets ENOSPC."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from agents.settings import Settings
from tests.agents.test_disk import _cli, tmpfs  # noqa: F401  (the fixture)
from tests.agents.test_pipeline_remote import BRIEF, KEY, Model, _specs
from tests.servers.zai_server import ZaiServer

ROOT = Path(__file__).resolve().parents[2]
ROOM_LEFT = 12 * 1024
"""What the server leaves free: a ledger line fits, a 1024² PNG does not."""


class FillingPainter:
    """Draws like :class:`Model`, and fills ``disk`` (leaving :data:`ROOM_LEFT`) while it
    draws the first image, as if another program had taken the space at that moment."""

    def __init__(self, model: Model, disk: Path) -> None:
        self.model = model
        self.disk = disk
        self.filled = False

    def __call__(self, prompt: str, width: int, height: int) -> bytes:
        data = self.model(prompt, width, height)
        if not self.filled:
            self.filled = True
            st = os.statvfs(self.disk)
            free = st.f_bavail * st.f_frsize
            assert len(data) > ROOM_LEFT * 2, len(data)  # the image cannot fit afterwards
            with open(self.disk / "filler", "wb") as f:
                f.write(b"\0" * max(0, free - ROOM_LEFT))
        return data


def _env(runs: Path, server: ZaiServer, mode: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNWRITER_")}
    return {**env, "PYTHONPATH": str(ROOT), "COLUMNS": "200", "SIGNWRITER_BACKEND": "zai",
            "SIGNWRITER_ZAI_API_KEY": KEY, "SIGNWRITER_ZAI_BASE_URL": server.base_url,
            "SIGNWRITER_ZAI_MODE": mode, "SIGNWRITER_POLL_INTERVAL_S": "0.02",
            "SIGNWRITER_RETRY_BACKOFF_S": "0.01", "SIGNWRITER_RUNS_DIR": str(runs)}


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agents.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def _ledger(run_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "ledger.jsonl").read_text().splitlines()
            if x.strip()]


def _stopped_on_a_full_disk(tmp_path: Path, tmpfs: Callable[..., Path], server: ZaiServer,
                            mode: str) -> tuple[Path, dict[str, str]]:
    brief = tmp_path / "brief.yaml"
    brief.write_text(BRIEF)
    disk = tmpfs("8m")
    server.painter = FillingPainter(Model(_specs(brief, Settings(_env_file=None))), disk)
    env = _env(disk, server, mode)
    r = _run(["run", str(brief), "--seed", "3"], env)
    assert r.returncode == 4, r.stdout + r.stderr  # stopped, resumable
    assert "the disk is full" in r.stderr and "signwriter resume" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    (run_dir,) = [d for d in disk.iterdir() if d.name.startswith("2")]
    assert not list((run_dir / "images").iterdir())  # the image never reached the disk
    (disk / "filler").unlink()  # the space comes back
    return run_dir, env


def _paid_line_kept(run_dir: Path) -> None:
    """Attempt 1's payment is in the ledger once, with its price."""
    first = [e for e in _ledger(run_dir) if e["attempt"] == 1 and e["kind"] == "done"]
    assert len(first) == 1 and first[0]["cost_usd"] > 0, _ledger(run_dir)


@pytest.mark.slow
def test_sync_image_lost_to_a_full_disk_is_never_paid_for_again(tmp_path: Path,
                                                                  tmpfs) -> None:
    with ZaiServer() as server:
        run_dir, env = _stopped_on_a_full_disk(tmp_path, tmpfs, server, "sync")
        assert len(server.calls("sync")) == 1
        res = _run(["resume", run_dir.name, "--json"], env)
        paid = len(server.calls("sync"))
    # Z.ai's sync call leaves no task to fetch the image from: generating it again would
    # pay a second time for attempt 1, so the asset fails and says why
    assert paid == 1, "the resumed run paid again for the attempt whose image was lost"
    _paid_line_kept(run_dir)
    assert res.returncode == 1, res.stdout + res.stderr
    (asset,) = json.loads(res.stdout)["assets"]
    assert asset["status"] == "failed"
    assert "paid for" in asset["reason"] and "not to pay twice" in asset["reason"]
    assert json.loads(res.stdout)["cost_usd"] > 0  # what was paid is still counted
    assert KEY not in (run_dir / "ledger.jsonl").read_text()


@pytest.mark.slow
def test_async_image_lost_to_a_full_disk_is_fetched_again_from_its_task(tmp_path: Path,
                                                                        tmpfs) -> None:
    with ZaiServer() as server:
        run_dir, env = _stopped_on_a_full_disk(tmp_path, tmpfs, server, "async")
        assert len(server.calls("submit")) == 1
        res = _run(["resume", run_dir.name, "--json"], env)
        submits = len(server.calls("submit"))
    assert res.returncode == 0, res.stdout + res.stderr
    m = json.loads(res.stdout)
    assert m["status"] == "succeeded"
    # attempt 1 (its first image misspelt the headline) polled again, not submitted again;
    # attempt 2 submitted once
    assert submits == 2
    _paid_line_kept(run_dir)
    entries = _ledger(run_dir)
    assert [e["kind"] for e in entries if e["attempt"] == 1] == ["submitted", "done"]
    for e in entries:
        if e["kind"] == "done":
            assert (run_dir / e["image"]).is_file()
    (asset,) = m["assets"]
    assert [a["n"] for a in asset["attempts"]] == [1, 2]
    assert asset["attempts"][0]["cost_usd"] > 0  # attempt 1's price is still its cost
    assert m["cost_usd"] == pytest.approx(sum(a["cost_usd"] for a in asset["attempts"]))
