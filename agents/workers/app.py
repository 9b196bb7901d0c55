"""The Celery app, its one task, and ``signwriter worker``.

Two queues: ``signwriter.generate`` (waits on providers: a worker serving it runs a thread
pool) and ``signwriter.check`` (CPU-bound OCR: a worker serving only it runs one process
per core). The task is a thin call into :func:`agents.api.advance_asset` under the asset's
lease (:mod:`agents.workers.leases`); the next stage is queued when it returns.

Delivery: tasks are acknowledged after they ran (``acks_late``), so the Redis broker hands
out again a task whose worker died (after ``SIGNWRITER_BROKER_VISIBILITY_TIMEOUT_S``); a
copy that arrives while the first run is alive finds the lease held and does nothing. A
worker's heartbeat also sweeps back onto the queue the assets whose worker died, as soon as
their lease expires (``SIGNWRITER_LEASE_TTL_S``), without waiting for the broker.

SIGTERM is Celery's warm shutdown: the worker takes no new task, finishes the stages it is
running (each ends at a checkpoint), gives back its leases and records itself stopped.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from agents.errors import LeaseLost
from agents.settings import Settings, get_settings
from agents.workers import jobs, leases
from agents.workers.db import now_sql, tx
from agents.workers.payments import ClusterPayments

log = logging.getLogger("signwriter.workers")
NOW = now_sql()

_APPS: dict[str, Any] = {}
_APPS_LOCK = threading.Lock()
_heartbeat: leases.Heartbeat | None = None
_heartbeat_pid: int | None = None
_heartbeat_lock = threading.Lock()
_worker_opts: dict[str, Any] = {"queues": list(jobs.STAGES), "concurrency": 1}


def celery_app(settings: Settings) -> Any:
    """The Celery app for the settings' broker (one per process and broker URL)."""
    from celery import Celery
    from kombu import Exchange, Queue
    url = settings.broker_url
    if not url:
        raise ValueError("SIGNWRITER_BROKER_URL is not set")
    key = f"{url}#{settings.queue_prefix}"
    with _APPS_LOCK:
        app = _APPS.get(key)
        if app is None:
            app = Celery("signwriter", broker=url, set_as_current=False)
            app.conf.update(
                task_acks_late=True, task_reject_on_worker_lost=True,
                worker_prefetch_multiplier=1, task_ignore_result=True,
                task_default_queue=jobs.queue_name(settings, "generate"),
                task_queues=[Queue(name, Exchange(name, type="direct"), routing_key=name)
                             for name in (jobs.queue_name(settings, q) for q in jobs.STAGES)],
                broker_transport_options={
                    "visibility_timeout": settings.broker_visibility_timeout_s,
                    # tasks taken and not yet acknowledged, kept per queue prefix (kombu's
                    # default is one hash for the whole Redis): a worker of another
                    # deployment on this Redis, with its own visibility timeout, never
                    # hands ours out again
                    **{f"unacked{k}_key": f"{settings.queue_prefix}:unacked{k}"
                       for k in ("", "_index", "_mutex")}},
                broker_connection_retry_on_startup=True, worker_hijack_root_logger=False,
                worker_send_task_events=False, task_send_sent_event=False)
            app.task(name=jobs.TASK, bind=True)(_advance_task)
            _APPS[key] = app
        return app


def heartbeat(settings: Settings) -> leases.Heartbeat:
    """This process's heartbeat (started on first use; a forked pool child makes its own)."""
    global _heartbeat, _heartbeat_pid
    with _heartbeat_lock:
        if _heartbeat is None or _heartbeat_pid != os.getpid():
            _heartbeat = leases.Heartbeat(
                settings, queues=_worker_opts["queues"],
                concurrency=_worker_opts["concurrency"],
                publish=lambda item: jobs.publish(settings, item)).start()
            _heartbeat_pid = os.getpid()
        return _heartbeat


_LIMITS: dict[str, Any] = {}


def provider_limit(settings: Settings, backend: str) -> Any:
    """The account limits of ``backend`` shared by all workers, or ``None`` (unset)."""
    from agents.workers import limits
    if not limits.configured(settings):
        return None
    with _APPS_LOCK:
        if backend not in _LIMITS:
            _LIMITS[backend] = limits.ProviderLimit(settings, backend)
        return _LIMITS[backend]


def _advance_task(task: Any, run_id: str, asset_id: str, job_id: str | None,
                  stage: str) -> str:
    settings = get_settings()
    return advance(settings, run_id, asset_id, job_id, stage)


def advance(settings: Settings, run_id: str, asset_id: str, job_id: str | None,
            stage: str) -> str:
    """One stage of one asset under its lease; queues the next stage. Returns what
    happened: ``busy`` (another executor holds the asset), ``lost`` (the lease was taken
    over mid-stage), ``queued:<stage>``, ``done`` or ``stopped``."""
    from agents import api
    hb = heartbeat(settings)
    lease = leases.acquire(settings, run_id, asset_id, leases.new_owner(hb.worker_id), stage)
    if lease is None:
        log.info("%s/%s: held by another worker; this copy of the task does nothing",
                 run_id, asset_id)
        return "busy"
    hb.hold(lease)
    try:
        from agents.api import run_settings
        from agents.store import RunStore
        store = RunStore.open(settings.runs_dir, run_id)
        rs, _ = run_settings(store, settings)
        payments = ClusterPayments(settings, lease, job_id, rs.backend)
        error: Exception | None = None
        try:
            nxt = api.advance_asset(run_id, asset_id, settings, stage=stage,
                                    payments=payments, slots=provider_limit(settings,
                                                                            rs.backend))
        except LeaseLost as e:
            log.warning("%s", e)
            return "lost"
        except Exception as e:  # noqa: BLE001 - recorded on the item and the run
            log.exception("%s/%s stopped", run_id, asset_id)
            error, nxt = e, None
        with tx(settings) as c:
            leases.check(c, lease)
            if nxt is not None:
                c.execute(f"UPDATE cluster_items SET stage = %s, enqueued_at = {NOW},"
                          " published = 0, received_by = NULL WHERE run_id = %s AND asset_id = %s"
                          " AND state = 'queued'", (nxt, run_id, asset_id))
                queued = [dict(r) for r in c.execute(
                    "SELECT job_id, run_id, asset_id, stage FROM cluster_items"
                    " WHERE run_id = %s AND asset_id = %s AND state = 'queued'",
                    (run_id, asset_id))]
            else:
                status = store.asset_status(asset_id).get("status")
                outcome = f"stopped: {str(error)[:500]}" if error else str(status)
                c.execute(f"UPDATE cluster_items SET state = 'done', outcome = %s,"
                          f" finished_at = {NOW} WHERE run_id = %s AND asset_id = %s"
                          " AND state = 'queued'", (outcome, run_id, asset_id))
                c.execute(f"UPDATE cluster_jobs SET finished_at = {NOW} WHERE finished_at IS"
                          " NULL AND id IN (SELECT job_id FROM cluster_items WHERE run_id = %s"
                          " AND asset_id = %s) AND NOT EXISTS (SELECT 1 FROM cluster_items i"
                          " WHERE i.job_id = cluster_jobs.id AND i.state = 'queued')",
                          (run_id, asset_id))
                queued = []
            leases.release(c, lease)
        for item in queued[:1]:  # one task per asset, whichever jobs name it
            jobs.publish(settings, item)
        if nxt is not None:
            return f"queued:{nxt}"
        if jobs.run_queued(settings, run_id) == 0:
            err = jobs.run_error(settings, run_id)
            api.settle_run(run_id, settings, RuntimeError(err) if err else None)
        return "stopped" if error else "done"
    finally:
        hb.drop(lease)


def _on_task_received(request: Any = None, **_: Any) -> None:
    """The consumer took a task from the broker: say which worker holds it, so that if
    this worker dies before starting it the sweep queues it again at once."""
    try:
        run_id, asset_id = request.args[0], request.args[1]
        settings = get_settings()
        hb = heartbeat(settings)
        with tx(settings) as c:
            c.execute(f"UPDATE cluster_items SET received_by = %s, received_at = {NOW}"
                      " WHERE run_id = %s AND asset_id = %s AND state = 'queued'",
                      (hb.worker_id, run_id, asset_id))
    except Exception:  # noqa: BLE001 - a courtesy: expiry and the broker still recover it
        log.exception("could not record a received task")


def _on_worker_shutdown(**_: Any) -> None:
    global _heartbeat
    hb = _heartbeat
    if hb is not None and _heartbeat_pid == os.getpid():
        for lease in hb.held():  # a stage cut short: give it back at once
            try:
                with tx(hb.settings) as c:
                    leases.release(c, lease)
            except Exception:  # noqa: BLE001 - expiry frees it anyway
                log.exception("could not release %s/%s", lease.run_id, lease.asset_id)
        hb.stop()
        _heartbeat = None


def run_worker(settings: Settings, *, queues: list[str], concurrency: int,
               pool: str | None = None, loglevel: str = "INFO") -> None:
    """``signwriter worker``: serve ``queues`` (``generate``, ``check``) until SIGTERM.
    The pool: threads when the generate queue is served, else one process per slot."""
    from celery import signals
    bad = [q for q in queues if q not in jobs.STAGES]
    if bad:
        raise ValueError(f"unknown queue {', '.join(bad)} (queues: generate, check)")
    pool = pool or ("threads" if "generate" in queues else "prefork")
    _worker_opts.update(queues=queues, concurrency=concurrency)
    app = celery_app(settings)
    signals.worker_shutdown.connect(_on_worker_shutdown, weak=False)
    signals.worker_process_shutdown.connect(_on_worker_shutdown, weak=False)
    signals.worker_ready.connect(lambda **_: heartbeat(settings), weak=False)
    signals.task_received.connect(_on_task_received, weak=False)
    signals.worker_process_init.connect(lambda **_: heartbeat(settings), weak=False)
    app.worker_main(["worker", "-Q", ",".join(jobs.queue_name(settings, q) for q in queues),
                     "-c", str(concurrency), "-P", pool, "--loglevel", loglevel,
                     "--without-gossip", "--without-mingle", "--without-heartbeat",
                     "-n", f"signwriter-{os.getpid()}@%h"])
