"""A crash after the provider accepted (and will bill) a task never pays twice: the task
handle is in the ledger before the image exists, and the resumed run polls that task."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.agents.test_pipeline_remote import BRIEF, KEY, Model, _specs
from agents.settings import Settings
from tests.agents.ledger_wait import wait_for_ledger
from tests.servers.zai_server import ZaiServer


@pytest.mark.slow
def test_crash_between_submit_and_result_polls_the_same_task(tmp_path: Path) -> None:
    brief = tmp_path / "brief.yaml"
    brief.write_text(BRIEF)
    runs = tmp_path / "runs"
    with ZaiServer(queue_polls=10_000) as server:  # the task stays PROCESSING until we say
        env = {**os.environ, "SIGNWRITER_BACKEND": "zai", "SIGNWRITER_ZAI_API_KEY": KEY,
               "SIGNWRITER_ZAI_BASE_URL": server.base_url, "SIGNWRITER_POLL_INTERVAL_S": "0.05",
               "SIGNWRITER_RETRY_BACKOFF_S": "0.01", "SIGNWRITER_RUNS_DIR": str(runs),
               "COLUMNS": "200"}
        server.painter = Model(_specs(brief, Settings(_env_file=None)))
        log = open(tmp_path / "run.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "agents.cli", "run", str(brief),
                                 "--seed", "3"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        ledger = wait_for_ledger(runs, '"submitted"', 60)
        assert ledger is not None, (tmp_path / "run.log").read_text()
        time.sleep(0.2)  # it is polling now
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        log.close()
        assert len(server.calls("submit")) == 1
        server.queue_polls = 0  # the provider finishes the task
        resumed = subprocess.run([sys.executable, "-m", "agents.cli", "resume",
                                  ledger.parent.name], env=env, capture_output=True, text=True,
                                 timeout=120)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        submits = len(server.calls("submit"))
    entries = [json.loads(line) for line in ledger.read_text().splitlines()]
    first = [e for e in entries if e["attempt"] == 1]
    assert [e["kind"] for e in first] == ["submitted", "done"]
    handle = first[0]["handle"]
    assert handle["task_id"] == "task-1"
    # attempt 1 was paid once; attempt 2 (the model's first image was misspelt) once more
    assert submits == 2
    assert KEY not in ledger.read_text()
