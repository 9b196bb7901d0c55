"""Leftovers of interrupted run creations (``.creating-*``, issue 11) are cleaned up at the
next run creation, but only when stale: older than the grace period and with their lock
free. A run another process is building at this moment is never touched. Real processes,
stopped (SIGSTOP) or killed (SIGKILL) in the middle of creating a run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from agents.store import STALE_CREATING_S, RunStore, clean_partial_runs
from tests.agents.test_run_integrity import FOUR, _cli, _env

ROOT = Path(__file__).resolve().parents[2]

HARNESS = """
import os, signal, sys
from agents import store
action, count = sys.argv[1], int(sys.argv[2])
n = [0]
orig = os.fsync
def hook(fd):
    if ".creating-" in os.readlink(f"/proc/self/fd/{fd}"):  # the run folder being built
        n[0] += 1
        if n[0] == count:
            os.kill(os.getpid(), getattr(signal, action))
    return orig(fd)
store.os.fsync = hook
from agents.cli import main
sys.argv = ["signwriter", *sys.argv[3:]]
main()
"""


def _leftovers(runs: Path) -> list[Path]:
    return sorted(d for d in runs.iterdir() if d.name.startswith(".creating-"))


def _age(d: Path, seconds: float) -> None:
    """Make ``d`` look ``seconds`` old (as if that much time had passed)."""
    t = time.time() - seconds
    os.utime(d, (t, t))


def _wait_stopped(pid: int, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state == "T":
            return
        time.sleep(0.05)
    raise AssertionError("the creating process never stopped")


def test_a_killed_creation_is_cleaned_up_at_the_next_run_once_stale(tmp_path: Path) -> None:
    brief = tmp_path / "four.yaml"
    brief.write_text(FOUR)
    runs = tmp_path / "runs"
    env = _env(runs)
    killed = subprocess.run([sys.executable, "-c", HARNESS, "SIGKILL", "3", "run", str(brief)],
                            env=env, capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    (left,) = _leftovers(runs)
    assert (left / ".lock").exists()  # the creator's lock, free now that it is dead
    # within the grace period it stays (it might be a creation that has just begun)
    assert clean_partial_runs(runs) == [] and left.exists()
    _age(left, STALE_CREATING_S + 5)
    again = _cli(["run", str(brief), "--json"], env)
    assert again.returncode == 0, again.stderr
    assert not left.exists() and _leftovers(runs) == []
    assert [s.run_id for s in RunStore.list(runs)] == [json.loads(again.stdout)["run_id"]]


def test_a_run_being_created_right_now_is_never_cleaned(tmp_path: Path) -> None:
    brief = tmp_path / "four.yaml"
    brief.write_text(FOUR)
    runs = tmp_path / "runs"
    env = _env(runs)
    # a creation paused in the middle (SIGSTOP after its third fsync): slow, but alive
    proc = subprocess.Popen([sys.executable, "-c", HARNESS, "SIGSTOP", "3", "run", str(brief),
                             "--json"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        _wait_stopped(proc.pid)
        (left,) = _leftovers(runs)
        _age(left, 3600)  # however old it looks, its lock is held
        assert clean_partial_runs(runs) == []
        other = _cli(["run", str(brief), "--json"], env)  # another run is created meanwhile
        assert other.returncode == 0, other.stderr
        assert left.exists()
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err  # the paused creation finished, whole
    first = json.loads(out)
    assert len(first["assets"]) == 4 and first["status"] == "succeeded"
    assert not left.exists() and _leftovers(runs) == []
    assert {s.run_id for s in RunStore.list(runs)} == {first["run_id"],
                                                      json.loads(other.stdout)["run_id"]}


def test_an_old_leftover_without_a_lock_file_is_cleaned(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    old = runs / ".creating-20250101-000000-x-abcd-q1w2e3"  # from before creations locked
    (old / "specs").mkdir(parents=True)
    (old / "specs" / "a.json").write_text("{}")
    young = runs / ".creating-20250101-000001-y-abcd-r4t5y6"
    young.mkdir()
    _age(old, STALE_CREATING_S + 1)
    assert clean_partial_runs(runs) == [old.name]
    assert not old.exists() and young.exists()
