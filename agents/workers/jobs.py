"""The producer's side: a job (one ``run`` or ``batch`` enqueued), its items (one per asset),
handing tasks to the broker, waiting for a job, and what ``signwriter status`` shows.

::

    job_id = enqueue(settings, "run", [(run_id, asset_id), ...], max_cost=2.0)
    for item in wait(settings, job_id, on_item=print): ...
    cluster_status(settings)     # queues, workers, leases, paid tasks in flight

An item is ``queued`` until its asset is finished, waits for a person, or was stopped by
an error (``outcome``); ``stage`` is the queue its next task goes to. The next stage is
recorded *before* its task is handed to the broker (``published`` 0, then 1), so a worker
that dies in between leaves a row the sweep hands over again
(:func:`agents.workers.leases.sweep`).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from agents.settings import Settings
from agents.workers.db import now_sql, tx

NOW = now_sql()
STAGES = ("generate", "check")


def queue_name(settings: Settings, stage: str) -> str:
    """Stage → its Celery queue (``<SIGNWRITER_QUEUE_PREFIX>.<stage>``)."""
    return f"{settings.queue_prefix}.{stage}"
TASK = "signwriter.advance"


def publish(settings: Settings, item: dict[str, Any]) -> None:
    """Hand one stage of an asset to the broker, then mark it handed over."""
    from agents.workers.app import celery_app
    stage = item["stage"]
    celery_app(settings).send_task(
        TASK, args=[item["run_id"], item["asset_id"], item["job_id"], stage],
        queue=queue_name(settings, stage))
    with tx(settings) as c:
        c.execute("UPDATE cluster_items SET published = 1 WHERE job_id = %s AND run_id = %s"
                  " AND asset_id = %s AND stage = %s",
                  (item["job_id"], item["run_id"], item["asset_id"], stage))


def enqueue(settings: Settings, kind: str, assets: list[tuple[str, str]], *,
            max_cost: float | None = None, spent: float = 0.0,
            max_attempts: int | None = None, attempts: int = 0,
            request: dict[str, Any] | None = None) -> str:
    """Record a job and its assets, then queue each asset's first stage. Returns the job
    id. ``spent`` / ``attempts``: what the job's runs paid before (a batch run again)."""
    job_id = f"job-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
    with tx(settings) as c:
        c.execute(f"INSERT INTO cluster_jobs (id, kind, created_at, max_cost, spent_usd,"
                  f" max_attempts, attempts, request) VALUES (%s, %s, {NOW}, %s, %s, %s, %s, %s)",
                  (job_id, kind, max_cost, spent, max_attempts, attempts,
                   json.dumps(request or {}, default=str)))
        for pos, (run_id, asset_id) in enumerate(assets):
            c.execute(f"INSERT INTO cluster_items (job_id, run_id, asset_id, position, state,"
                      f" stage, enqueued_at) VALUES (%s, %s, %s, %s, 'queued', 'generate',"
                      f" {NOW})", (job_id, run_id, asset_id, pos))
    for run_id, asset_id in assets:
        publish(settings, {"job_id": job_id, "run_id": run_id, "asset_id": asset_id,
                           "stage": "generate"})
    return job_id


def items(settings: Settings, job_id: str) -> list[dict[str, Any]]:
    with tx(settings) as c:
        return [dict(r) for r in c.execute(
            "SELECT * FROM cluster_items WHERE job_id = %s ORDER BY position", (job_id,))]


def job(settings: Settings, job_id: str) -> dict[str, Any] | None:
    with tx(settings) as c:
        r = c.execute("SELECT * FROM cluster_jobs WHERE id = %s", (job_id,)).fetchone()
    return dict(r) if r else None


def wait(settings: Settings, job_id: str, *, on_item: Callable[[dict[str, Any]], None] | None
         = None, poll_s: float = 0.5, timeout_s: float | None = None) -> list[dict[str, Any]]:
    """Wait until every item of the job is done (``on_item`` as each one ends); returns
    the items. ``timeout_s``: give up (``TimeoutError``) after that long."""
    seen: set[tuple[str, str]] = set()
    start = time.monotonic()
    while True:
        rows = items(settings, job_id)
        for r in rows:
            key = (r["run_id"], r["asset_id"])
            if r["state"] == "done" and key not in seen:
                seen.add(key)
                if on_item:
                    on_item(r)
        if all(r["state"] == "done" for r in rows):
            with tx(settings) as c:
                c.execute(f"UPDATE cluster_jobs SET finished_at = {NOW} WHERE id = %s"
                          " AND finished_at IS NULL", (job_id,))
            return rows
        if timeout_s is not None and time.monotonic() - start > timeout_s:
            raise TimeoutError(f"job {job_id}: {len(seen)} of {len(rows)} assets done after "
                               f"{timeout_s:.0f}s")
        time.sleep(poll_s)


def run_queued(settings: Settings, run_id: str) -> int:
    """How many assets of a run are still queued (in any job)."""
    with tx(settings) as c:
        return int(c.execute("SELECT count(*) AS n FROM cluster_items WHERE run_id = %s"
                             " AND state = 'queued'", (run_id,)).fetchone()["n"])


def run_error(settings: Settings, run_id: str) -> str | None:
    """The error that stopped one of the run's assets in its latest job, if any."""
    with tx(settings) as c:
        r = c.execute("SELECT outcome FROM cluster_items WHERE run_id = %s AND outcome"
                      " LIKE 'stopped:%%' ORDER BY finished_at DESC LIMIT 1",
                      (run_id,)).fetchone()
    return r["outcome"].removeprefix("stopped: ") if r else None


def queue_lengths(settings: Settings) -> dict[str, int | None]:
    """Tasks waiting in each Redis queue (``None``: the broker cannot be reached)."""
    import redis
    out: dict[str, int | None] = {}
    try:
        r = redis.Redis.from_url(settings.broker_url or "", socket_timeout=3)
        for stage in STAGES:
            out[queue_name(settings, stage)] = int(r.llen(queue_name(settings, stage)))
        r.close()
    except redis.RedisError:
        out = {queue_name(settings, stage): None for stage in STAGES}
    return out


def cluster_status(settings: Settings, *, alive_s: float | None = None) -> dict[str, Any]:
    """Queues, live workers, leases held and paid tasks in flight (for ``status``)."""
    alive_s = alive_s or max(10.0, settings.lease_ttl_s)
    with tx(settings) as c:
        workers = [dict(r) for r in c.execute(
            f"SELECT id, host, pid, queues, concurrency, started_at, heartbeat_at, state,"
            f" {NOW} - heartbeat_at AS age_s FROM workers WHERE state = 'up'"
            f" AND heartbeat_at > {NOW} - %s ORDER BY started_at", (alive_s,))]
        leases = [dict(r) for r in c.execute(
            f"SELECT run_id, asset_id, owner, token, stage, acquired_at, expires_at - {NOW}"
            f" AS expires_in_s FROM leases WHERE owner <> '' AND expires_at > {NOW}"
            " ORDER BY acquired_at")]
        paid = [dict(r) for r in c.execute(
            f"SELECT run_id, asset_id, attempt, backend, state, handle, price_usd,"
            f" {NOW} - created_at AS age_s, takeovers FROM paid_intents"
            " WHERE state <> 'settled' ORDER BY created_at")]
        jobs = [dict(r) for r in c.execute(
            "SELECT j.id, j.kind, j.created_at, j.max_cost, j.spent_usd, j.reserved_usd,"
            " count(*) FILTER (WHERE i.state = 'queued') AS queued,"
            " count(*) FILTER (WHERE i.state = 'done') AS done FROM cluster_jobs j"
            " JOIN cluster_items i ON i.job_id = j.id WHERE j.finished_at IS NULL"
            " GROUP BY j.id ORDER BY j.created_at")]
    for p in paid:
        p["handle"] = json.loads(p["handle"]) if p["handle"] else None
    return {"queues": queue_lengths(settings), "workers": workers, "leases": leases,
            "paid_in_flight": paid, "jobs": jobs}
