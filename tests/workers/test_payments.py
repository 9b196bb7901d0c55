"""Pay once across machines, in one process against the real PostgreSQL: the provider has
accepted a paid task and the database drops the worker's connection at that moment."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

import psycopg
import pytest

from agents.settings import Settings
from agents.workers import leases
from agents.workers.db import close_pools, tx, upgrade
from agents.workers.payments import ClusterPayments
from tests.databases import POSTGRES, postgres_schema

PRICE = 0.015


def test_a_handle_the_database_could_not_take_is_polled_after_a_takeover_not_paid_again(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = f"sw-payments-{uuid.uuid4().hex[:8]}"  # this test's connections, to drop them
    with postgres_schema() as url:
        settings = Settings(_env_file=None, runs_dir=tmp_path / "runs", lease_ttl_s=60,
                            database_url=f"{url}&application_name={app}")
        upgrade(settings)
        try:
            first = leases.acquire(settings, "run-1", "a", "w1/x", "generate")
            assert first is not None
            pay = ClusterPayments(settings, first, "job-1", "zai")
            assert pay.begin("a", 1, PRICE, "attempt 1 of a") is None  # to be sent
            assert pay.begin("a", 2, PRICE, "attempt 2 of a") is None
            handle = {"backend": "zai", "task_id": "task-7"}
            with psycopg.connect(POSTGRES, autocommit=True) as admin:
                dropped = admin.execute(
                    "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity"
                    " WHERE application_name = %s", (app,)).fetchone()[0]
            with caplog.at_level(logging.ERROR, "signwriter.workers"):
                pay.accepted("a", 1, handle)  # the provider accepted: never raises
            lost = _intents(settings)
            # the worker dies; the next one reads the handle from the run folder's ledger
            # (``known``), where nodes.generate wrote it before trying PostgreSQL
            with tx(settings) as c:
                leases.release(c, first)
            second = leases.acquire(settings, "run-1", "a", "w2/y", "generate")
            assert second is not None
            again = ClusterPayments(settings, second, "job-1", "zai")
            polled = again.begin("a", 1, PRICE, "attempt 1 of a", known=handle)
            polled_resending = again.resending
            # attempt 2 had no answer recorded anywhere: it is sent again, counted
            resent = again.begin("a", 2, PRICE, "attempt 2 of a")
            resent_resending = again.resending
            after = _intents(settings)
        finally:
            close_pools()
    assert dropped >= 1
    assert "could not record the provider's task" in caplog.text
    assert lost[1]["handle"] is None  # the database did not take it
    assert polled == handle and not polled_resending
    assert json.loads(after[1]["handle"]) == handle and after[1]["takeovers"] == 1
    assert after[1]["price_usd"] == pytest.approx(PRICE)  # nothing reserved twice
    assert resent is None and resent_resending
    assert after[2]["handle"] is None and after[2]["price_usd"] == pytest.approx(2 * PRICE)


def _intents(settings: Settings) -> dict[int, dict]:
    with tx(settings) as c:
        return {r["attempt"]: dict(r) for r in c.execute(
            "SELECT attempt, handle, takeovers, price_usd FROM paid_intents")}
