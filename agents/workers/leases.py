"""One executor per asset at a time, across machines: a lease row with heartbeat and expiry.

A worker takes ``(run, asset)`` before running a stage of its graph thread
(:func:`acquire`): the row is inserted, or taken over when its ``expires_at`` (the
database's clock) has passed; every take-over increments ``token``. The worker's
:class:`Heartbeat` thread pushes ``expires_at`` forward every third of
``SIGNWRITER_LEASE_TTL_S``; a lease it could not renew is marked lost. Everything that pays
or records a payment checks owner *and* token inside its own transaction, with the lease
row locked (:func:`check`): a worker that stalled past its expiry and woke up finds another
token and stops (:class:`~agents.errors.LeaseLost`) — fencing. So a task the Redis broker
hands out again (visibility timeout) while its first run is alive, or a second worker
given the same asset, finds the lease held and does nothing.

A worker killed mid-stage stops renewing; once its lease has expired, any worker's sweep
(:func:`sweep`, run by the heartbeat) queues the asset again, and the next stage picks the
graph up from its last PostgreSQL checkpoint (and a paid attempt from its intent:
:mod:`agents.workers.payments`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agents.errors import LeaseLost
from agents.settings import Settings
from agents.workers.db import now_sql, tx

log = logging.getLogger("signwriter.workers")
NOW = now_sql()
REPUBLISH_AFTER_S = 5.0
"""A next stage recorded but not handed to the broker this long ago (its worker died in
between) is handed over again by the sweep."""


@dataclass
class Lease:
    """A lease held: ``owner`` is unique to one task execution, ``token`` to one take-over."""

    run_id: str
    asset_id: str
    owner: str
    token: int
    lost: threading.Event = field(default_factory=threading.Event)

    def key(self) -> tuple[str, str]:
        return (self.run_id, self.asset_id)


def new_owner(worker_id: str) -> str:
    return f"{worker_id}/{uuid.uuid4().hex[:12]}"


def acquire(settings: Settings, run_id: str, asset_id: str, owner: str,
            stage: str) -> Lease | None:
    """Take the asset's lease, or ``None`` if another live executor holds it."""
    with tx(settings) as c:
        row = c.execute(
            f"INSERT INTO leases (run_id, asset_id, owner, token, stage, acquired_at,"
            f" heartbeat_at, expires_at) VALUES (%s, %s, %s, 1, %s, {NOW}, {NOW}, {NOW} + %s)"
            " ON CONFLICT (run_id, asset_id) DO UPDATE SET owner = excluded.owner,"
            " token = leases.token + 1, stage = excluded.stage,"
            " acquired_at = excluded.acquired_at, heartbeat_at = excluded.heartbeat_at,"
            f" expires_at = excluded.expires_at WHERE leases.expires_at < {NOW}"
            " RETURNING token", (run_id, asset_id, owner, stage, settings.lease_ttl_s)
        ).fetchone()
    return Lease(run_id, asset_id, owner, int(row["token"])) if row else None


def check(conn: Any, lease: Lease) -> None:
    """Inside a transaction: lock the lease row and raise :class:`LeaseLost` unless it is
    still this executor's and unexpired (the fencing check before any paid step)."""
    row = conn.execute(
        f"SELECT owner, token, expires_at > {NOW} AS live FROM leases"
        " WHERE run_id = %s AND asset_id = %s FOR UPDATE",
        (lease.run_id, lease.asset_id)).fetchone()
    if row is None or row["owner"] != lease.owner or row["token"] != lease.token or not row["live"]:
        lease.lost.set()
        raise LeaseLost(f"{lease.run_id}/{lease.asset_id}: this worker's lease (token "
                        f"{lease.token}) expired or was taken over"
                        + (f" (now token {row['token']})" if row else ""))


def release(conn: Any, lease: Lease) -> bool:
    """Give the lease back (the row stays, so the next token is larger). False if it was
    no longer ours."""
    n = conn.execute(
        "UPDATE leases SET owner = '', expires_at = 0 WHERE run_id = %s AND asset_id = %s"
        " AND owner = %s AND token = %s", (lease.run_id, lease.asset_id, lease.owner,
                                            lease.token)).rowcount
    return n == 1


def renew(settings: Settings, leases: list[Lease]) -> list[Lease]:
    """Push each lease's expiry forward; returns those that could not be (lost)."""
    if not leases:
        return []
    with tx(settings) as c:
        rows = c.execute(
            f"UPDATE leases SET heartbeat_at = {NOW}, expires_at = {NOW} + %s"
            " WHERE (run_id, asset_id, owner, token) IN (SELECT * FROM unnest("
            "%s::text[], %s::text[], %s::text[], %s::int[])) RETURNING run_id, asset_id, token",
            (settings.lease_ttl_s, [x.run_id for x in leases], [x.asset_id for x in leases],
             [x.owner for x in leases], [x.token for x in leases])).fetchall()
    kept = {(r["run_id"], r["asset_id"], r["token"]) for r in rows}
    return [x for x in leases if (x.run_id, x.asset_id, x.token) not in kept]


def sweep(settings: Settings) -> list[dict[str, Any]]:
    """Queued assets whose task was lost: taken by a worker whose lease then expired (it
    died), recorded for a next stage that never reached the broker, or waiting longer than
    ``SIGNWRITER_REQUEUE_AFTER_S``. Each is marked re-queued in the same transaction (one
    sweeping worker gets it) and returned for the caller to publish."""
    with tx(settings) as c:
        rows = c.execute(
            "SELECT i.job_id, i.run_id, i.asset_id, i.stage FROM cluster_items i"
            " LEFT JOIN leases l ON l.run_id = i.run_id AND l.asset_id = i.asset_id"
            " WHERE i.state = 'queued' AND (l.run_id IS NULL OR l.expires_at < "
            f"{NOW}) AND ((l.owner <> '' AND l.heartbeat_at >= i.enqueued_at)"
            f" OR (i.published = 0 AND i.enqueued_at < {NOW} - %s)"
            f" OR i.enqueued_at < {NOW} - %s"
            # taken from the broker by a worker that stopped beating before it started it
            " OR (i.received_by IS NOT NULL AND NOT EXISTS (SELECT 1 FROM workers w"
            f" WHERE w.id = i.received_by AND w.state = 'up' AND w.heartbeat_at > {NOW} - %s)"
            " AND (l.run_id IS NULL OR l.owner = '' OR l.heartbeat_at < i.received_at)))"
            " FOR UPDATE OF i SKIP LOCKED",
            (REPUBLISH_AFTER_S, settings.requeue_after_s, settings.lease_ttl_s)).fetchall()
        for r in rows:
            c.execute(f"UPDATE cluster_items SET enqueued_at = {NOW}, published = 1,"
                      " received_by = NULL WHERE job_id = %s AND run_id = %s AND asset_id = %s",
                      (r["job_id"], r["run_id"], r["asset_id"]))
            c.execute(f"UPDATE leases SET owner = '' WHERE run_id = %s AND asset_id = %s"
                      f" AND expires_at < {NOW}", (r["run_id"], r["asset_id"]))
    return [dict(r) for r in rows]


class Heartbeat:
    """A worker process's heartbeat thread: renews the leases its tasks hold, records the
    worker as alive (``workers`` table, for ``signwriter status``) and sweeps lost assets
    back onto the queue (``publish(item)`` for each)."""

    def __init__(self, settings: Settings, *, queues: list[str], concurrency: int,
                 publish: Callable[[dict[str, Any]], None]) -> None:
        self.settings = settings
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.queues = queues
        self.concurrency = concurrency
        self.publish = publish
        self._held: dict[tuple[str, str, str], Lease] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.interval = max(0.2, settings.lease_ttl_s / 3)

    def hold(self, lease: Lease) -> None:
        with self._lock:
            self._held[(lease.run_id, lease.asset_id, lease.owner)] = lease

    def drop(self, lease: Lease) -> None:
        with self._lock:
            self._held.pop((lease.run_id, lease.asset_id, lease.owner), None)

    def held(self) -> list[Lease]:
        with self._lock:
            return list(self._held.values())

    def start(self) -> "Heartbeat":
        with tx(self.settings) as c:
            c.execute(f"INSERT INTO workers (id, host, pid, queues, concurrency, started_at,"
                      f" heartbeat_at, state) VALUES (%s, %s, %s, %s, %s, {NOW}, {NOW}, 'up')",
                      (self.worker_id, socket.gethostname(), os.getpid(), ",".join(self.queues),
                       self.concurrency))
        self._thread = threading.Thread(target=self._loop, name="signwriter-heartbeat",
                                        daemon=True)
        self._thread.start()
        return self

    def beat(self) -> None:
        for lost in renew(self.settings, self.held()):
            lost.lost.set()
            log.warning("lease lost: %s/%s (token %s)", lost.run_id, lost.asset_id, lost.token)
        with tx(self.settings) as c:
            c.execute(f"UPDATE workers SET heartbeat_at = {NOW} WHERE id = %s",
                      (self.worker_id,))
        if self.settings.provider_max_in_flight:
            from agents.workers.limits import renew_all
            renew_all()  # the provider slots held here stay held
        for item in sweep(self.settings):
            log.warning("re-queueing %s/%s (its worker stopped)", item["run_id"],
                        item["asset_id"])
            self.publish(item)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.beat()
            except Exception:  # noqa: BLE001 - a database blip: the next beat tries again
                log.exception("heartbeat failed")

    def stop(self, state: str = "stopped") -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            with tx(self.settings) as c:
                c.execute(f"UPDATE workers SET state = %s, heartbeat_at = {NOW} WHERE id = %s",
                          (state, self.worker_id))
        except Exception:  # noqa: BLE001 - shutting down anyway
            log.exception("could not record the worker as stopped")
