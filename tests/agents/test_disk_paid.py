"""A disk that fills up while a paid image is being drawn loses nothing and pays nothing
twice (issue 11): room for the answer is held before the call (``.reserve-*``), so the
paid image is written however full the disk got; the run then stops, before paying, at the
next attempt it has no room for, and a resume pays that attempt once. (Should an image
still be lost, by a kill between its ledger line and its bytes, the ledger line, written
first, makes a resume fetch it from its task or refuse to pay for it again.)

Real small tmpfs mounts, a real local Z.ai server counting every paid call, the real CLI
in a subprocess. The server fills the disk while it "draws" the first image."""

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


def _filled_during_the_first_call(tmp_path: Path, tmpfs: Callable[..., Path],
                                  server: ZaiServer, mode: str) -> tuple[Path, Path, dict]:
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
    return disk, run_dir, env


def _paid_once_and_kept(run_dir: Path) -> list[dict]:
    """Every paid attempt is in the ledger once, with its price and its image on disk."""
    entries = _ledger(run_dir)
    done = [e["attempt"] for e in entries if e["kind"] == "done"]
    assert len(done) == len(set(done)), entries
    for e in entries:
        if e["kind"] == "done":
            assert e["cost_usd"] > 0 and (run_dir / e["image"]).is_file(), e
    return entries


@pytest.mark.slow
@pytest.mark.parametrize("mode,paid_calls", [("sync", "sync"), ("async", "submit")])
def test_a_disk_filled_during_a_paid_call_loses_nothing_and_pays_nothing_twice(
        tmp_path: Path, tmpfs, mode: str, paid_calls: str) -> None:
    with ZaiServer() as server:
        disk, run_dir, env = _filled_during_the_first_call(tmp_path, tmpfs, server, mode)
        # attempt 1 (its image misspelt the headline) was paid for and kept, in the room
        # held for it; attempt 2 found no room and was not sent
        assert len(server.calls(paid_calls)) == 1
        entries = _paid_once_and_kept(run_dir)
        assert [e["attempt"] for e in entries if e["kind"] == "done"] == [1]
        assert not list(run_dir.glob(".reserve-*"))  # no room left held
        (disk / "filler").unlink()  # the space comes back
        res = _run(["resume", run_dir.name, "--json"], env)
        paid = len(server.calls(paid_calls))
    assert res.returncode == 0, res.stdout + res.stderr
    m = json.loads(res.stdout)
    assert m["status"] == "succeeded"
    assert paid == 2  # attempt 2 once; attempt 1 never again
    entries = _paid_once_and_kept(run_dir)
    assert [e["attempt"] for e in entries if e["kind"] == "done"] == [1, 2]
    (asset,) = m["assets"]
    assert [a["n"] for a in asset["attempts"]] == [1, 2]
    assert m["cost_usd"] == pytest.approx(sum(a["cost_usd"] for a in asset["attempts"]))
    assert KEY not in (run_dir / "ledger.jsonl").read_text()


@pytest.mark.slow
def test_a_disk_too_full_for_the_answer_stops_the_run_before_paying(tmp_path: Path,
                                                                    tmpfs) -> None:
    brief = tmp_path / "brief.yaml"
    brief.write_text(BRIEF)
    disk = tmpfs("8m")
    with ZaiServer() as server:
        server.painter = Model(_specs(brief, Settings(_env_file=None)))
        env = _env(disk, server, "sync")
        st = os.statvfs(disk)  # room for the run's own files, not for a 1024² answer
        with open(disk / "filler", "wb") as f:
            f.write(b"\0" * (st.f_bavail * st.f_frsize - 2 * 1024 * 1024))
        r = _run(["run", str(brief), "--seed", "3"], env)
        assert r.returncode == 4, r.stdout + r.stderr
        assert "the disk is full" in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert server.calls("sync") == []  # nothing was paid for
        (run_dir,) = [d for d in disk.iterdir() if d.name.startswith("2")]
        (disk / "filler").unlink()
        res = _run(["resume", run_dir.name, "--json"], env)
        assert res.returncode == 0, res.stdout + res.stderr
        assert len(server.calls("sync")) == 2  # attempts 1 and 2, each once
        _paid_once_and_kept(run_dir)
