"""Nothing lost, nothing paid twice: runs appear complete or not at all, one process owns a
run at a time, and review decisions are recorded before their files — each tried with real
processes killed with SIGKILL and real concurrent commands."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from agents.errors import RunBusy, RunIncomplete
from agents.api import resume_run, start_run
from agents.settings import Settings
from agents.store import RunLock, RunStore, read_json, write_json
from tests.agents.test_pipeline_remote import BRIEF, KEY, Model, _specs
from tests.agents.ledger_wait import wait_for_ledger
from tests.servers.zai_server import ZaiServer

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable

FOUR = """\
name: four
copy: {headline: Summer Sale, price: From $49.99}
formats: [social-square, card-small, poster-portrait, banner-wide]
"""

REVIEW = """\
name: rev
copy: {headline: Summer Sale, price: From $49.99}
formats: [card-small]
"""


def _env(runs: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNWRITER_")}
    return {**env, "PYTHONPATH": str(ROOT), "SIGNWRITER_RUNS_DIR": str(runs), "COLUMNS": "200",
            **extra}


def _cli(args: list[str], env: dict[str, str], timeout: float = 180
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", "agents.cli", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


KILLER = """
import os, signal, sys
from agents import store
target, count = sys.argv[1], int(sys.argv[2])
n = [0]
def hook(*a, **k):
    what = os.readlink(f"/proc/self/fd/{a[0]}") if target == "fsync" else str(a[0])
    if ".creating-" in what:  # only the run folder being built counts
        n[0] += 1
        if n[0] >= count:
            os.kill(os.getpid(), signal.SIGKILL)
    return orig(*a, **k)
if target == "fsync":
    orig = os.fsync; store.os.fsync = hook
elif target == "rename":
    orig = os.rename; store.os.rename = hook
from agents.cli import main
sys.argv = ["signwriter", *sys.argv[3:]]
main()
"""


# --- atomic run creation ------------------------------------------------------------------
@pytest.mark.parametrize("target,count", [("fsync", 1), ("fsync", 4), ("fsync", 8),
                                          ("rename", 1)])
def test_kill_during_run_creation_leaves_no_run_that_resumes_as_completed(
        tmp_path: Path, target: str, count: int) -> None:
    brief = tmp_path / "four.yaml"
    brief.write_text(FOUR)
    runs = tmp_path / "runs"
    env = _env(runs)
    p = subprocess.run([PY, "-c", KILLER, target, str(count), "run", str(brief)], env=env,
                       capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert p.returncode == -signal.SIGKILL, p.stdout + p.stderr
    # (fsyncs 1-6: the brief, 4 specs and run.json; 7-8 folders; rename puts it in place)
    assert RunStore.list(runs) == []  # nothing half-made looks like a run
    listed = _cli(["runs"], env)
    assert listed.returncode == 0 and "four" not in listed.stdout
    leftovers = [d.name for d in runs.iterdir() if d.name.startswith(".creating-")]
    assert leftovers, "the killed creation was in its hidden temporary folder"
    rid = leftovers[0].removeprefix(".creating-").rsplit("-", 1)[0]
    resumed = _cli(["resume", rid], env)
    assert resumed.returncode == 2 and f"no run '{rid}'" in resumed.stderr
    if target == "rename":  # starting again works, and completes every asset
        again = _cli(["run", str(brief), "--json"], env)
        assert again.returncode in (0, 1, 3), again.stderr
        assert len(json.loads(again.stdout)["assets"]) == 4


def test_a_run_missing_specs_is_refused_not_completed(tmp_path: Path) -> None:
    brief = tmp_path / "four.yaml"
    brief.write_text(FOUR)
    s = Settings(runs_dir=tmp_path / "runs", _env_file=None)
    result = start_run(brief, s, seed=1)
    store = RunStore(result.run_dir)
    # a folder made by an older signwriter that crashed half-way: 1 spec of 4, no list
    meta = read_json(store.root / "run.json")
    del meta["assets"]
    write_json(store.root / "run.json", meta)
    for sid in ("card-small", "poster-portrait", "banner-wide"):
        store.spec_path(sid).unlink()
    with pytest.raises(RunIncomplete, match="no spec for card-small, poster-portrait, "
                                            "banner-wide"):
        resume_run(store.run_id, s)
    # the current layout names its assets in run.json
    meta["assets"] = ["social-square", "card-small"]
    write_json(store.root / "run.json", meta)
    env = _env(tmp_path / "runs")
    r = _cli(["resume", store.run_id], env)
    assert r.returncode == 2 and "no valid spec for card-small" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_format_name_too_long_for_a_file_is_a_clear_error(tmp_path: Path) -> None:
    brief = tmp_path / "b.yaml"
    brief.write_text("copy: {headline: Hi}\nformats: [{name: " + "x" * 300
                     + ", width: 1024, height: 1024}]\n")
    r = _cli(["run", str(brief)], _env(tmp_path / "runs"))
    assert r.returncode == 2 and "formats[0].name" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "runs").exists() or RunStore.list(tmp_path / "runs") == []


# --- one owner per run ----------------------------------------------------------------------
def _in_thread(fn):  # noqa: ANN001, ANN202
    """Run ``fn`` in another thread (a lock this thread holds, it may take again)."""
    out: dict[str, object] = {}

    def body() -> None:
        try:
            out["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed back to the test
            out["error"] = e
    t = threading.Thread(target=body)
    t.start()
    t.join(60)
    return out


def test_the_lock_names_its_owner_and_can_be_waited_for(tmp_path: Path) -> None:
    (tmp_path / "r1").mkdir()
    held = RunLock(tmp_path, "r1", "signwriter resume").acquire()
    got = _in_thread(lambda: RunLock(tmp_path, "r1").acquire())
    assert isinstance(got.get("error"), RunBusy)
    msg = str(got["error"])
    assert f"pid {os.getpid()}" in msg and "signwriter resume" in msg and "--wait" in msg
    RunLock(tmp_path, "r1").acquire().release()  # the holding thread may take it again
    threading.Timer(0.3, held.release).start()
    told: list[object] = []

    def waiter() -> float:
        t0 = time.monotonic()
        RunLock(tmp_path, "r1").acquire(wait=30.0, on_wait=told.append).release()
        return time.monotonic() - t0
    got = _in_thread(waiter)
    assert "error" not in got and got["value"] >= 0.25
    assert told and told[0]["pid"] == os.getpid()
    with RunLock(tmp_path, "r1").acquire():
        got = _in_thread(lambda: RunLock(tmp_path, "r1").acquire(wait=0.2))
        assert isinstance(got.get("error"), RunBusy)  # waited 0.2 s, then told


def test_a_killed_owner_frees_the_lock(tmp_path: Path) -> None:
    (tmp_path / "r1").mkdir()
    code = ("import sys, time; from agents.store import RunLock; "
            f"lock = RunLock({str(tmp_path)!r}, 'r1', 'holder').acquire(); "
            "print('held', flush=True); "
            "time.sleep(60)")
    p = subprocess.Popen([PY, "-c", code], env=_env(tmp_path), stdout=subprocess.PIPE,
                         text=True, cwd=ROOT)
    try:
        assert p.stdout.readline().strip() == "held"
        with pytest.raises(RunBusy, match=f"pid {p.pid}"):
            RunLock(tmp_path, "r1").acquire()
    finally:
        p.kill()
        p.wait(timeout=10)
        p.stdout.close()
    RunLock(tmp_path, "r1").acquire().release()


def _killed_zai_run(tmp_path: Path, server: ZaiServer) -> tuple[Path, dict[str, str]]:
    """A zai run killed while its first task is accepted and still processing."""
    brief = tmp_path / "brief.yaml"
    brief.write_text(BRIEF)
    runs = tmp_path / "runs"
    env = _env(runs, SIGNWRITER_BACKEND="zai", SIGNWRITER_ZAI_API_KEY=KEY,
               SIGNWRITER_ZAI_BASE_URL=server.base_url, SIGNWRITER_POLL_INTERVAL_S="0.05",
               SIGNWRITER_RETRY_BACKOFF_S="0.01")
    server.painter = Model(_specs(brief, Settings(_env_file=None)))
    proc = subprocess.Popen([PY, "-m", "agents.cli", "run", str(brief), "--seed", "3"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, cwd=ROOT)
    ledger = wait_for_ledger(runs, '"submitted"', 90)
    assert ledger is not None
    time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    return ledger, env


def _wait_for(pred, timeout: float = 90) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("wait", [False, True])
def test_two_concurrent_resumes_never_generate_an_attempt_twice(tmp_path: Path,
                                                                wait: bool) -> None:
    with ZaiServer(queue_polls=10_000) as server:  # task 1 stays PROCESSING until we say
        ledger, env = _killed_zai_run(tmp_path, server)
        assert len(server.calls("submit")) == 1
        run_id = ledger.parent.name
        args = ["resume", run_id] + (["--wait"] if wait else [])
        logs = [open(tmp_path / f"resume{i}.log", "w+") for i in range(2)]
        procs = [subprocess.Popen([PY, "-m", "agents.cli", *args], env=env, stdout=log,
                                  stderr=subprocess.STDOUT, text=True, cwd=ROOT)
                 for log in logs]

        def text(i: int) -> str:
            logs[i].flush()
            return (tmp_path / f"resume{i}.log").read_text()

        try:
            if wait:  # one polls task 1; the other waits, told by whom
                _wait_for(lambda: any("waiting for pid" in text(i) for i in range(2)))
            else:  # one polls task 1; the other is told who holds the run and exits 2
                _wait_for(lambda: any(p.poll() is not None for p in procs))
            server.queue_polls = 0  # the provider finishes the task
            codes = [p.wait(timeout=180) for p in procs]
            submits = len(server.calls("submit"))
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            outputs = [text(i) for i in range(2)]
            for log in logs:
                log.close()
    if wait:
        assert codes == [0, 0], outputs
    else:
        assert sorted(codes) == [0, 2], outputs
        busy = outputs[codes.index(2)]
        assert "is in use by pid" in busy and "--wait" in busy and "Traceback" not in busy
    # attempt 1 polled (never submitted again), attempt 2 submitted once: 2 in all
    assert submits == 2, outputs
    entries = [json.loads(line) for line in ledger.read_text().splitlines()]
    done = [(e["attempt"]) for e in entries if e["kind"] == "done"]
    assert sorted(done) == [1, 2]


# --- atomic decisions -------------------------------------------------------------------------
def _review_run(tmp_path: Path) -> tuple[str, dict[str, str]]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    brief = tmp_path / "rev.yaml"
    brief.write_text(REVIEW)
    runs = tmp_path / "runs"
    s = Settings(runs_dir=runs, simulate_errors=1.0, max_attempts=1, _env_file=None)
    result = start_run(brief, s, seed=7)
    assert result.manifest["assets"][0]["status"] == "needs_review"
    return result.run_id, _env(runs)


DECISION_KILLER = """
import os, signal, sys
from agents.store import RunStore
where = sys.argv[1]
if where == "status":       # the decision is stored and the final image copied; killed
    orig = RunStore.set_asset_status  # before status.json says so
    def hook(self, aid, **f):
        if f.get("status") in ("accepted", "approved_with_findings", "rejected"):
            os.kill(os.getpid(), signal.SIGKILL)
        return orig(self, aid, **f)
    RunStore.set_asset_status = hook
else:                         # killed before the final image is copied
    def hook(self, *a):
        os.kill(os.getpid(), signal.SIGKILL)
    RunStore.copy_final = hook
from agents.cli import main
sys.argv = ["signwriter", *sys.argv[2:]]
main()
"""


@pytest.mark.parametrize("where", ["status", "final"])
def test_a_killed_decision_is_completed_by_the_next_command_never_contradicted(
        tmp_path: Path, where: str) -> None:
    run_id, env = _review_run(tmp_path)
    runs = Path(env["SIGNWRITER_RUNS_DIR"])
    p = subprocess.run([PY, "-c", DECISION_KILLER, where, "review", "approve", run_id,
                        "card-small", "--reviewer", "ana"], env=env, capture_output=True,
                       text=True, timeout=180, cwd=ROOT)
    assert p.returncode == -signal.SIGKILL, p.stderr
    store = RunStore(runs / run_id)
    assert store.asset_status("card-small")["status"] == "needs_review"  # killed in between
    # the next command completes the decision instead of contradicting it
    rejected = _cli(["review", "reject", run_id, "card-small", "--note", "off brand"], env)
    assert rejected.returncode == 2, rejected.stdout + rejected.stderr
    assert "already decided: approve by ana" in rejected.stderr, rejected.stderr
    assert "Traceback" not in rejected.stderr
    st = store.asset_status("card-small")
    assert st["status"] in ("accepted", "approved_with_findings")
    assert st["review"]["reviewer"] == "ana"
    assert (store.root / st["final_image"]).is_file()
    listed = _cli(["review", "list", "--json"], env)
    assert json.loads(listed.stdout) == []
    manifest = read_json(store.root / "manifest.json")
    assert manifest["assets"][0]["status"] == st["status"]


def test_a_killed_decision_is_finished_once_by_finish_decisions(tmp_path: Path) -> None:
    from agents.api import finish_decisions
    run_id, env = _review_run(tmp_path)
    runs = Path(env["SIGNWRITER_RUNS_DIR"])
    subprocess.run([PY, "-c", DECISION_KILLER, "status", "review", "reject", run_id,
                    "card-small", "--note", "off brand"], env=env, capture_output=True,
                   timeout=180, cwd=ROOT)
    assert RunStore(runs / run_id).asset_status("card-small")["status"] == "needs_review"
    settings = Settings(runs_dir=runs, _env_file=None)
    assert finish_decisions(settings) == [f"{run_id}/card-small"]
    assert finish_decisions(settings) == []
    st = RunStore(runs / run_id).asset_status("card-small")
    assert st["status"] == "rejected" and not st.get("final_image")
    assert not list((runs / run_id / "assets" / "card-small").glob("final.*"))
    listed = _cli(["review", "list", "--json"], env)
    assert listed.returncode == 0 and json.loads(listed.stdout) == [], listed.stdout


@pytest.mark.slow
def test_concurrent_approve_and_reject_one_wins_the_other_is_told(tmp_path: Path) -> None:
    for trial in range(3):
        run_id, env = _review_run(tmp_path / f"t{trial}")
        runs = Path(env["SIGNWRITER_RUNS_DIR"])
        procs = [subprocess.Popen([PY, "-m", "agents.cli", "review", *d, run_id, "card-small"],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, cwd=ROOT)
                 for d in (["approve"], ["reject", "--note", "off brand"])]
        outs = [p.communicate(timeout=180) for p in procs]
        codes = [p.returncode for p in procs]
        assert sorted(codes) == [0, 2], (codes, outs)
        loser = outs[codes.index(2)][1]
        assert ("is in use by pid" in loser or "already decided" in loser), loser
        assert "Traceback" not in loser
        winner = ("approve", "reject")[codes.index(0)]
        st = RunStore(runs / run_id).asset_status("card-small")
        finals = list((runs / run_id / "assets" / "card-small").glob("final.*"))
        if winner == "approve":
            assert st["status"] in ("accepted", "approved_with_findings") and len(finals) == 1
        else:
            assert st["status"] == "rejected" and finals == [] and not st.get("final_image")
