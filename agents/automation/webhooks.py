"""Webhooks out, following the Standard Webhooks specification through its Python library
(``standardwebhooks``): ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature``
(``v1,`` + HMAC-SHA256 with a ``whsec_`` secret).

Events (thin payloads: ids, statuses, paths — never images)::

    job.completed       a scheduled job's tick, a batch or a plain run (``signwriter run`` /
                        ``resume``) finished: counts, status
    asset.accepted      QA accepted an asset
    asset.needs_review  an asset waits for a person
    asset.failed        an asset failed (or could not be paid for)
    asset.approved      a person approved it
    asset.rejected      a person rejected it

**Outbox.** An event is a row of ``webhook_outbox`` (:mod:`agents.automation.db`). When the
state change it reports is in the same database (a tick finishing) the row is written in
that transaction; for states kept in run folders the row is written once the state is on
disk, under an id derived from the event (type + subject + receiver) with ``ON CONFLICT DO
NOTHING`` — so replaying it (a batch run again, a node replayed after a crash) records
nothing new, and a receiver never sees one event under two ids.

**Sender.** :func:`deliver_pending` posts what is due; a 2xx marks it delivered; anything
else (an error status, a timeout, a refused connection) schedules the next try after the
spec's backoff (:data:`RETRY_SCHEDULE`: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h), then gives
up (``failed``); a ``410 Gone`` disables the endpoint, and its pending events with it.

Receivers: ``SIGNWRITER_WEBHOOK_URL`` and ``SIGNWRITER_WEBHOOK_SECRET``, or a job's own
``webhook: {url, secret}``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import httpx
from standardwebhooks import Webhook

from agents.automation.db import tx
from agents.settings import Settings

EVENT_TYPES = ("job.completed", "asset.accepted", "asset.needs_review", "asset.failed",
               "asset.approved", "asset.rejected")

RETRY_SCHEDULE: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
"""Seconds before each retry after a failed delivery (the Standard Webhooks schedule)."""

TIMEOUT = httpx.Timeout(15.0, connect=5.0)
"""A receiver must answer within this; a slow answer counts as a failed delivery."""

_OUTCOME_EVENT = {"accepted": "asset.accepted", "needs_review": "asset.needs_review",
                  "failed": "asset.failed", "not_run": "asset.failed",
                  "rejected": "asset.rejected"}


def target_from(settings: Settings, target: Any = None) -> tuple[str, str] | None:
    """The receiver: a job's own ``{url, secret}``, else the settings' (or none)."""
    if target is not None:
        return target.url, target.secret
    if settings.webhook_url and settings.webhook_secret:
        return settings.webhook_url, settings.webhook_secret.get_secret_value()
    return None


def event_id(type_: str, subject: str, url: str) -> str:
    """The ``webhook-id``: the same event for the same receiver always has the same id."""
    digest = hashlib.sha256(f"{type_}\n{subject}\n{url}".encode()).hexdigest()[:32]
    return f"msg_{digest}"


def record(t: Any, type_: str, subject: str, data: dict[str, Any],
           target: tuple[str, str], *, now: float | None = None) -> str:
    """Put one event in the outbox (inside the caller's transaction); a second record of
    the same event is ignored. Returns its id."""
    if type_ not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {type_!r}")
    url, secret = target
    now = time.time() if now is None else now
    msg_id = event_id(type_, subject, url)
    payload = json.dumps({"type": type_, "timestamp": datetime.fromtimestamp(
        now, timezone.utc).isoformat(timespec="seconds"), "data": data},
        ensure_ascii=False, separators=(",", ":"), default=str)
    t.execute("INSERT INTO webhook_endpoints (url, secret) VALUES (?, ?) ON CONFLICT (url) "
              "DO UPDATE SET secret = excluded.secret", (url, secret))
    t.execute("INSERT INTO webhook_outbox (id, type, url, payload, created_at, next_at, status) "
              "VALUES (?, ?, ?, ?, ?, ?, 'pending') ON CONFLICT (id) DO NOTHING",
              (msg_id, type_, url, payload, now, now))
    return msg_id


def record_event(settings: Settings, type_: str, subject: str, data: dict[str, Any],
                 target: Any = None) -> str | None:
    """:func:`record` in a transaction of its own; nothing when no receiver is configured."""
    t = target_from(settings, target)
    if t is None:
        return None
    with tx(settings) as conn:
        return record(conn, type_, subject, data, t)


def asset_events(conn: Any, result: Any, target: tuple[str, str]) -> list[str]:
    """One event per asset of a batch: its final outcome (in the caller's transaction)."""
    ids = []
    for it in result.items:
        kind = _OUTCOME_EVENT.get(it.outcome)
        if kind is None or it.run_id is None:
            continue
        ids.append(record(conn, kind, f"{it.run_id}/{it.format}", {
            "run_id": it.run_id, "asset_id": it.format, "status": it.outcome,
            "batch_id": result.batch_id, "image": it.image}, target))
    return ids


def job_completed(conn: Any, result: Any, target: tuple[str, str], *,
                  job: str | None = None, tick: str | None = None) -> str:
    """The ``job.completed`` event of a batch or of a job's tick (caller's transaction)."""
    subject = f"{job}/{tick}" if job else f"batch/{result.batch_id}"
    return record(conn, "job.completed", subject, {
        "job": job, "tick": tick, "batch_id": result.batch_id, "status": job_status(result),
        "generated": result.generated, "skipped": result.skipped,
        "accepted": result.count("accepted"), "needs_review": result.count("needs_review"),
        "failed": result.failed, "cost_usd": result.cost_usd}, target)


def record_batch_events(result: Any, settings: Settings, target: Any = None) -> list[str]:
    """A batch run from the command line: its assets' events and ``job.completed``."""
    t = target_from(settings, target)
    if t is None:
        return []
    with tx(settings) as conn:
        return asset_events(conn, result, t) + [job_completed(conn, result, t)]


_ASSET_EVENT = {"accepted": "asset.accepted", "needs_review": "asset.needs_review",
                "failed": "asset.failed"}
"""A plain run's asset statuses that are announced when the run ends (approvals and
rejections are announced by the decision itself)."""


def record_run_events(manifest: dict[str, Any], settings: Settings,
                      target: Any = None) -> list[str]:
    """A plain run (``signwriter run`` / ``resume``, :func:`agents.api.start_run`) that
    ended: one event per asset in a final state, then ``job.completed`` — unless the run
    stopped early (``stopped``/``running``: resumed later, it announces then). Ids come
    from the run, asset, status and attempt count, so resuming a finished run records
    nothing new, while an asset sent round again by a reviewer is announced again."""
    t = target_from(settings, target)
    if t is None:
        return []
    run_id, status = manifest["run_id"], str(manifest["status"])
    ids: list[str] = []
    counts: dict[str, int] = {}
    with tx(settings) as conn:
        for a in manifest["assets"]:
            st = str(a["status"])
            counts[st] = counts.get(st, 0) + 1
            kind = _ASSET_EVENT.get(st)
            if kind is None:
                continue
            n = len(a.get("attempts") or [])
            ids.append(record(conn, kind, f"{run_id}/{a['asset_id']}/{n}", {
                "run_id": run_id, "asset_id": a["asset_id"], "status": st, "attempts": n,
                "reason": a.get("reason"), "image": a.get("final_image")}, t))
        if status not in ("stopped", "running"):
            attempts = sum(len(a.get("attempts") or []) for a in manifest["assets"])
            ids.append(record(conn, "job.completed", f"run/{run_id}/{status}/{attempts}", {
                "job": None, "run_id": run_id, "status": status, "assets": counts,
                "cost_usd": manifest.get("cost_usd", 0.0)}, t))
    return ids


def job_status(result: Any) -> str:
    """``completed``, ``needs_review`` or ``failed``, from a batch's exit code."""
    return {0: "completed", 3: "needs_review"}.get(result.exit_code, "failed")


# --- sending ---------------------------------------------------------------------------------
def sign(secret: str, msg_id: str, payload: str, at: float) -> dict[str, str]:
    """The three Standard Webhooks headers for one delivery."""
    ts = datetime.fromtimestamp(int(at), timezone.utc)
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(at)),
            "webhook-signature": Webhook(secret).sign(msg_id, ts, payload),
            "content-type": "application/json"}


def deliver_pending(settings: Settings, *, client: httpx.Client | None = None,
                    clock: Callable[[], float] = time.time,
                    schedule: tuple[float, ...] = RETRY_SCHEDULE, limit: int = 100
                    ) -> dict[str, int]:
    """Post every event that is due, once each; returns counts by what happened. No
    transaction is held while a receiver is waited on."""
    counts = {"delivered": 0, "retry": 0, "failed": 0, "disabled": 0}
    with tx(settings) as t:
        rows = t.all("SELECT o.id, o.url, o.payload, o.attempts, e.secret FROM webhook_outbox o "
                     "JOIN webhook_endpoints e ON e.url = o.url WHERE o.status = 'pending' AND "
                     "o.next_at <= ? ORDER BY o.created_at LIMIT ?", (clock(), limit))
    if not rows:
        return counts
    own = client is None
    client = client or httpx.Client(timeout=TIMEOUT, follow_redirects=False)
    try:
        for r in rows:
            counts[_deliver_one(settings, client, r, clock, schedule)] += 1
    finally:
        if own:
            client.close()
    return counts


def _deliver_one(settings: Settings, client: httpx.Client, r: dict[str, Any],
                 clock: Callable[[], float], schedule: tuple[float, ...]) -> str:
    with tx(settings) as t:  # a 410 from an earlier event of this pass disabled it
        now = t.one("SELECT o.status, e.disabled_at FROM webhook_outbox o JOIN "
                    "webhook_endpoints e ON e.url = o.url WHERE o.id = ?", (r["id"],))
    if now is None or now["status"] != "pending" or now["disabled_at"] is not None:
        if now is not None and now["status"] == "pending":
            _set(settings, r["id"], status="disabled", last_error="endpoint disabled")
        return "disabled"
    at = clock()  # when it is due again is counted from here; the signature is stamped now
    error: str | None = None
    status_code = None
    try:
        resp = client.post(r["url"], content=r["payload"].encode("utf-8"),
                           headers=sign(r["secret"], r["id"], r["payload"], time.time()))
        status_code = resp.status_code
    except httpx.HTTPError as e:
        error = f"{type(e).__name__}: {str(e)[:200]}"
    if status_code is not None and 200 <= status_code < 300:
        _set(settings, r["id"], status="delivered", delivered_at=at,
             attempts=r["attempts"] + 1, last_error=None)
        return "delivered"
    if status_code == 410:
        with tx(settings) as t:
            t.execute("UPDATE webhook_endpoints SET disabled_at = ?, reason = ? WHERE url = ?",
                      (at, "answered 410 Gone", r["url"]))
            t.execute("UPDATE webhook_outbox SET status = 'disabled', last_error = 'endpoint "
                      "answered 410 Gone' WHERE url = ? AND status = 'pending'", (r["url"],))
        return "disabled"
    n = r["attempts"] + 1
    error = error or f"HTTP {status_code}"
    if n > len(schedule):
        _set(settings, r["id"], status="failed", attempts=n, last_error=error)
        return "failed"
    _set(settings, r["id"], attempts=n, next_at=at + schedule[n - 1], last_error=error)
    return "retry"


def _set(settings: Settings, msg_id: str, **fields: Any) -> None:
    cols = ", ".join(f"{k} = ?" for k in fields)  # the names are this module's own
    with tx(settings) as t:
        t.execute(f"UPDATE webhook_outbox SET {cols} WHERE id = ?", (*fields.values(), msg_id))


def outbox(settings: Settings) -> list[dict[str, Any]]:
    """Every event in the outbox, oldest first (secrets are not in it)."""
    with tx(settings) as t:
        return t.all("SELECT * FROM webhook_outbox ORDER BY created_at")


def endpoints(settings: Settings) -> list[dict[str, Any]]:
    """Receivers and whether each is disabled (secrets left out)."""
    with tx(settings) as t:
        return t.all("SELECT url, disabled_at, reason FROM webhook_endpoints ORDER BY url")
