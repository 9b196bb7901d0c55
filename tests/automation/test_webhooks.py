"""Webhooks out: Standard Webhooks signatures verified by a real receiver on 127.0.0.1 with
the same library; retries on the spec's schedule through a 500 and a timeout; one id per
event (a replayed batch sends nothing new); a 410 disables the endpoint. Every test runs on
both index databases (the outbox lives there): SQLite and the real PostgreSQL."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agents.automation.webhooks import (RETRY_SCHEDULE, deliver_pending, endpoints, event_id,
                                        outbox, record_event)
from agents.settings import Settings
from tests.databases import database_url
from tests.servers.webhook_receiver import WebhookReceiver

SECRET = "whsec_" + base64.b64encode(b"signwriter-test-webhook-secret!!").decode()

BRIEF = """\
name: hooks
brand: {name: Acme, colors: ["#0b3d91", "#ffffff", "#fc3d21"]}
copy: {headline: Spring Sale, price: Only $19.99}
formats: [512x512]
"""


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    """The index database: None (SQLite under the runs folder) or a PostgreSQL URL."""
    with database_url(request.param, tmp_path) as url:
        yield url


def _batch(tmp: Path, url: str, db_url: str | None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agents.cli", "batch", str(tmp / "b.yaml"),
                           "--out", str(tmp / "runs")], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "SIGNWRITER_WEBHOOK_URL": url,
                                            "SIGNWRITER_WEBHOOK_SECRET": SECRET,
                                            "SIGNWRITER_DATABASE_URL": db_url or ""})


def test_each_event_is_delivered_once_through_a_500_and_a_timeout(tmp_path: Path,
                                                                  db_url: str | None) -> None:
    (tmp_path / "b.yaml").write_text(BRIEF)
    settings = Settings(runs_dir=tmp_path / "runs", webhook_url="unused", database_url=db_url,
                        _env_file=None)
    with WebhookReceiver(SECRET, script=[500, 500, "timeout", "timeout"], hold_s=1.5) as rx:
        first = _batch(tmp_path, rx.url, db_url)  # records the events, tries them once: 500s
        assert first.returncode == 0, first.stdout + first.stderr
        assert "webhooks: 0 delivered, 2 to retry" in first.stdout
        events = outbox(settings)
        assert sorted(e["type"] for e in events) == ["asset.accepted", "job.completed"]
        assert all(e["status"] == "pending" and e["attempts"] == 1 for e in events)

        offset = 0.0
        with httpx.Client(timeout=0.5) as client:
            def clock() -> float:
                return time.time() + offset
            # not due yet: the first retry waits RETRY_SCHEDULE[0] seconds
            assert deliver_pending(settings, client=client, clock=clock)["retry"] == 0
            offset = RETRY_SCHEDULE[0] + 1
            assert deliver_pending(settings, client=client, clock=clock)["retry"] == 2  # timeouts
            offset += RETRY_SCHEDULE[1] + 1
            assert deliver_pending(settings, client=client, clock=clock)["delivered"] == 2
            offset += 100_000
            assert sum(deliver_pending(settings, client=client, clock=clock).values()) == 0

        ids = [e["id"] for e in outbox(settings)]
        assert Counter(rx.accepted_ids()) == Counter(ids)  # each event once
        tries = Counter(d.msg_id for d in rx.deliveries)
        assert set(tries.values()) == {3}                   # same webhook-id on every retry
        assert all(d.verified for d in rx.deliveries)
        assert [d.answered for d in rx.deliveries if d.msg_id == ids[0]] == [500, "timeout", 200]
        assert {e["status"] for e in outbox(settings)} == {"delivered"}
        accepted = next(d.event for d in rx.deliveries if d.event["type"] == "asset.accepted")
        assert set(accepted["data"]) >= {"run_id", "asset_id", "status", "batch_id"}
        assert "image" in accepted["data"] and "data:" not in str(accepted)  # thin: a path

        # the same batch again (a replay): the same events, the same ids: nothing new is sent
        again = _batch(tmp_path, rx.url, db_url)
        assert again.returncode == 0
        assert [e["id"] for e in outbox(settings)] == ids
        assert len(rx.deliveries) == 6


def test_a_410_disables_the_endpoint(tmp_path: Path, db_url: str | None) -> None:
    with WebhookReceiver(SECRET, script=[410]) as rx:
        settings = Settings(runs_dir=tmp_path / "runs", webhook_url=rx.url,
                            webhook_secret=SECRET, database_url=db_url, _env_file=None)
        a = record_event(settings, "asset.approved", "run-1/square", {"run_id": "run-1"})
        b = record_event(settings, "asset.rejected", "run-2/square", {"run_id": "run-2"})
        assert a == event_id("asset.approved", "run-1/square", rx.url)
        assert record_event(settings, "asset.approved", "run-1/square", {}) == a  # same id
        counts = deliver_pending(settings)
        assert counts["disabled"] >= 1 and counts["delivered"] == 0
        assert len(rx.deliveries) == 1                      # the second was never sent
        assert {e["id"]: e["status"] for e in outbox(settings)} == {a: "disabled",
                                                                    b: "disabled"}
        (ep,) = endpoints(settings)
        assert ep["disabled_at"] is not None and "410" in ep["reason"]
        record_event(settings, "asset.approved", "run-3/square", {"run_id": "run-3"})
        deliver_pending(settings, clock=lambda: time.time() + 10**6)
        assert len(rx.deliveries) == 1


def test_no_receiver_configured_records_nothing(tmp_path: Path, db_url: str | None) -> None:
    settings = Settings(runs_dir=tmp_path / "runs", database_url=db_url, _env_file=None)
    assert record_event(settings, "asset.approved", "r/a", {}) is None
    assert outbox(settings) == []


def test_a_review_decision_records_asset_approved_once(tmp_path: Path,
                                                       db_url: str | None) -> None:
    from agents.api import decide_review, decisions, start_run
    (tmp_path / "b.yaml").write_text(BRIEF)
    with WebhookReceiver(SECRET) as rx:
        settings = Settings(runs_dir=tmp_path / "runs", simulate_errors=1.0, max_attempts=1,
                            webhook_url=rx.url, webhook_secret=SECRET, database_url=db_url,
                            _env_file=None)
        run = start_run(tmp_path / "b.yaml", settings, seed=3)
        (asset,) = run.manifest["assets"]
        assert asset["status"] == "needs_review"
        # the run announced its end (asset.needs_review, job.completed) and sent it
        assert sorted(e["type"] for e in outbox(settings)) == ["asset.needs_review",
                                                               "job.completed"]
        assert len(rx.deliveries) == 2
        decide_review(run.run_id, asset["asset_id"], "approve", settings, reviewer="ana")
        (event,) = [e for e in outbox(settings) if e["status"] == "pending"]
        assert event["type"] == "asset.approved"
        (decision,) = decisions(settings, run.run_id)
        assert event["id"] == event_id(
            "asset.approved", f"{run.run_id}/{asset['asset_id']}/{decision['interrupt_id']}",
            rx.url)
        assert deliver_pending(settings)["delivered"] == 1
        d = rx.deliveries[-1]
        assert d.verified and d.event["data"]["reviewer"] == "ana"
        assert d.event["data"]["status"] == "approved_with_findings"  # the typo is known


TWO = """\
name: plain
brand: {name: Acme, colors: ["#0b3d91", "#ffffff", "#fc3d21"]}
copy: {headline: Spring Sale, price: Only $19.99}
formats: [512x512, 640x640]
"""


def test_a_plain_run_sends_its_events_through_the_outbox(tmp_path: Path,
                                                         db_url: str | None) -> None:
    (tmp_path / "two.yaml").write_text(TWO)
    runs = tmp_path / "runs"
    env = {**os.environ, "SIGNWRITER_DATABASE_URL": db_url or "", "SIGNWRITER_RUNS_DIR":
           str(runs), "SIGNWRITER_WEBHOOK_SECRET": SECRET}
    with WebhookReceiver(SECRET) as rx:
        env["SIGNWRITER_WEBHOOK_URL"] = rx.url
        # every attempt misspelt, one attempt each: both assets wait for review
        run = subprocess.run([sys.executable, "-m", "agents.cli", "run", str(tmp_path /
                              "two.yaml"), "--simulate-errors", "1", "--max-attempts", "1",
                              "--seed", "2", "--json"], capture_output=True, text=True,
                             timeout=600, env=env)
        assert run.returncode == 3, run.stderr
        manifest = json.loads(run.stdout)
        got = [(d.event["type"], d.event["data"].get("asset_id")) for d in rx.deliveries]
        assert sorted(got) == [("asset.needs_review", "512x512"),
                               ("asset.needs_review", "640x640"), ("job.completed", None)]
        assert all(d.verified for d in rx.deliveries)
        done = next(d.event for d in rx.deliveries if d.event["type"] == "job.completed")
        assert done["data"]["run_id"] == manifest["run_id"]
        assert done["data"]["status"] == "needs_review"
        assert done["data"]["assets"] == {"needs_review": 2}
        # resumed with nothing left to do: the same events, nothing new is sent
        again = subprocess.run([sys.executable, "-m", "agents.cli", "resume",
                                manifest["run_id"]], capture_output=True, text=True,
                               timeout=600, env=env)
        assert again.returncode == 3, again.stderr
        assert len(rx.deliveries) == 3
        # a person approves one: asset.approved, through the same outbox
        approve = subprocess.run([sys.executable, "-m", "agents.cli", "review", "approve",
                                  manifest["run_id"], "512x512"], capture_output=True,
                                 text=True, timeout=600, env=env)
        assert approve.returncode == 0, approve.stderr
        assert [d.event["type"] for d in rx.deliveries][3:] == ["asset.approved"]
    settings = Settings(runs_dir=runs, database_url=db_url, _env_file=None)
    assert {e["status"] for e in outbox(settings)} == {"delivered"}
    assert Counter(rx.accepted_ids()) == Counter(e["id"] for e in outbox(settings))
