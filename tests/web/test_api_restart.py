"""An API job survives its server (issue 13): a real ``signwriter serve`` (uvicorn) process
is killed with SIGKILL while a job's paid generation is in flight, and a new server picks
the job up by itself, polls the task already paid for instead of submitting it again, and
finishes the job with each webhook event sent once — on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from agents.automation.jobs import create_token, get_job
from agents.settings import Settings
from tests.agents.ledger_wait import wait_for_ledger
from tests.agents.test_pipeline_remote import BRIEF, KEY, Model, _specs
from tests.automation.test_webhooks import SECRET
from tests.databases import database_url
from tests.servers.webhook_receiver import WebhookReceiver
from tests.servers.zai_server import ZaiServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgres"])
def db_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    with database_url(request.param, tmp_path) as url:
        yield Settings(runs_dir=tmp_path / "runs", database_url=url, _env_file=None)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    port = _port()
    with open(log, "ab") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen([sys.executable, "-m", "agents.cli", "serve", "--port",
                                 str(port)], env=env, cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("the server did not start: " + log.read_text())


@pytest.mark.slow
def test_a_job_cut_short_by_a_killed_server_is_finished_by_the_next_once(
        tmp_path: Path, db_settings: Settings) -> None:
    runs = Path(db_settings.runs_dir)
    token = create_token("ci", "creator", db_settings)
    brief = tmp_path / "brief.yaml"
    brief.write_text(BRIEF)
    log = tmp_path / "serve.log"
    with ZaiServer(queue_polls=10_000) as zai, WebhookReceiver(SECRET) as rx:
        zai.painter = Model(_specs(brief, Settings(_env_file=None)), wrong=0)
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("SIGNWRITER_")},
               "PYTHONPATH": str(ROOT), "SIGNWRITER_RUNS_DIR": str(runs),
               "SIGNWRITER_BACKEND": "zai", "SIGNWRITER_ZAI_API_KEY": KEY,
               "SIGNWRITER_ZAI_BASE_URL": zai.base_url, "SIGNWRITER_POLL_INTERVAL_S": "0.05",
               "SIGNWRITER_WEBHOOK_URL": rx.url, "SIGNWRITER_WEBHOOK_SECRET": SECRET,
               "SIGNWRITER_API_RATE_LIMIT": "100000"}
        if db_settings.database_url:
            env["SIGNWRITER_DATABASE_URL"] = db_settings.database_url
        auth = {"Authorization": f"Bearer {token}"}

        server, base = _serve(env, log)
        try:
            r = httpx.post(f"{base}/v1/jobs", json={"brief": yaml.safe_load(BRIEF)},
                           headers=auth, timeout=30)
            assert r.status_code == 202, r.text
            job_id = r.json()["id"]
            # the provider accepted (and will bill) the task; the server dies mid-job
            assert wait_for_ledger(runs, '"submitted"', 120) is not None, log.read_text()
        finally:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
        assert get_job(job_id, db_settings)["state"] == "running"
        assert len(zai.calls("submit")) == 1

        zai.queue_polls = 0  # the provider finishes the task
        server, base = _serve(env, log)
        try:
            deadline = time.monotonic() + 180
            while True:
                view = httpx.get(f"{base}/v1/jobs/{job_id}", headers=auth, timeout=30).json()
                if view["status"] not in ("queued", "running"):
                    break
                assert time.monotonic() < deadline, f"the job was never resumed: {view}"
                time.sleep(0.2)
            assert view["status"] == "completed", view
            assert view["counts"] == {"accepted": 1}
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        submits = len(zai.calls("submit"))
        deliveries = list(rx.deliveries)
    assert submits == 1  # the task paid for before the kill was polled, not paid again
    (ledger,) = runs.glob("*/ledger.jsonl")
    kinds = [line for line in ledger.read_text().splitlines() if line.strip()]
    assert len(kinds) == 2 and '"submitted"' in kinds[0] and '"done"' in kinds[1]
    assert Counter(d.event["type"] for d in deliveries) == {"asset.accepted": 1,
                                                            "job.completed": 1}
    assert all(d.verified for d in deliveries)
