"""Jobs posted to the HTTP API, and API tokens: the library the ``/v1`` routes and the
``tokens`` command call.

::

    token = create_token("ci", "creator", settings)    # shown once; only its SHA-256 is kept
    tok = check_token(token, settings)                  # {id, name, role} or None
    job, created = submit_job(request, settings, token_id=tok["id"], idempotency_key="k1")
    run_job_now(job["id"], settings)                    # the batch (a background task)
    view = job_view(job_id, settings)                   # status, counts, cost, assets

A job is a batch (:mod:`agents.automation.batch`): one brief, or a base brief and CSV text;
its assets are runs with idempotency keys, so a job submitted twice (or retried) never
generates an asset twice. Its ``status`` is computed from its assets each time it is read:
``queued``/``running`` while the batch works, then ``completed`` (every asset accepted),
``needs_review`` (some wait for a person; it becomes ``completed`` once they are approved)
or ``failed``.

**Restarts.** One process at a time works on a job: it holds the job's lock
(``<runs>/_jobs/<id>/.lock``, an OS file lock that dies with its process) while the batch
runs. A server that starts picks up every job still ``queued`` or ``running`` from before
it started whose lock is free (:func:`resume_jobs`): its batch runs again, which skips the
assets already finished and continues the runs cut short from their checkpoints and ledger,
so nothing is generated, paid for or announced (webhook ids come from the events) twice.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import uuid
from pathlib import Path
from typing import Any, Literal

from filelock import FileLock, Timeout
from pydantic import BaseModel, ConfigDict, Field

from agents.automation.db import tx
from agents.errors import BatchInputError, RunNotFound
from agents.settings import Settings
from agents.status import AssetStatus
from agents.store import RunStore

ROLES = ("viewer", "creator", "reviewer", "admin")
PERMISSIONS: dict[str, set[str]] = {
    "viewer": {"read"}, "creator": {"read", "create"}, "reviewer": {"read", "decide"},
    "admin": {"read", "create", "decide"}}
"""What each token role may do: read (GET), create (POST /v1/jobs), decide (reviews)."""


# --- tokens ----------------------------------------------------------------------------------
def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(name: str, role: str, settings: Settings) -> str:
    """A new token for ``name`` (returned once; only its hash is stored)."""
    if role not in ROLES:
        raise BatchInputError(f"unknown role {role!r}: use {', '.join(ROLES)}")
    token = "sw_" + secrets.token_urlsafe(32)
    with tx(settings) as t:
        if t.one("SELECT 1 AS x FROM api_tokens WHERE name = ?", (name,)):
            raise BatchInputError(f"a token named {name!r} exists; revoke it first or choose "
                                  "another name")
        t.execute("INSERT INTO api_tokens (id, name, role, hash, created_at) VALUES "
                  "(?, ?, ?, ?, ?)", (uuid.uuid4().hex, name, role, _hash(token), time.time()))
    return token


def check_token(token: str, settings: Settings) -> dict[str, Any] | None:
    """The token's ``{id, name, role}``, or None (unknown or revoked)."""
    with tx(settings) as t:
        return t.one("SELECT id, name, role FROM api_tokens WHERE hash = ? AND "
                     "revoked_at IS NULL", (_hash(token),))


def list_tokens(settings: Settings) -> list[dict[str, Any]]:
    with tx(settings) as t:
        return t.all("SELECT name, role, created_at, revoked_at FROM api_tokens ORDER BY "
                     "created_at")


def revoke_token(name: str, settings: Settings) -> bool:
    with tx(settings) as t:
        return t.execute("UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND "
                         "revoked_at IS NULL", (time.time(), name)) > 0


# --- jobs ------------------------------------------------------------------------------------
class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://", max_length=2000)
    secret: str = Field(pattern=r"^whsec_[A-Za-z0-9+/=]+$", max_length=200)


class JobRequest(BaseModel):
    """``POST /v1/jobs``: a brief (as JSON), or a base brief and CSV text whose rows fill it."""

    model_config = ConfigDict(extra="forbid")

    brief: dict[str, Any] = Field(description="A brief, as in a brief file.")
    csv: str | None = Field(None, max_length=2_000_000, description="CSV text: each row fills "
                            "the brief (columns named after its copy items, plus formats, "
                            "language, name).")
    webhook: WebhookIn | None = Field(None, description="Receiver of this job's events "
                                      "(else SIGNWRITER_WEBHOOK_URL/SECRET).")


def submit_job(request: JobRequest, settings: Settings, *, token_id: str,
               idempotency_key: str | None = None) -> tuple[dict[str, Any], bool]:
    """Record a job (queued); the same ``idempotency_key`` from the same token returns the
    job it made first. Returns (job row, whether it is new)."""
    body = request.model_dump(mode="json")
    job_id = "job_" + uuid.uuid4().hex[:20]
    with tx(settings) as t:
        new = t.execute("INSERT INTO api_jobs (id, token_id, idempotency_key, created_at, "
                        "state, request) VALUES (?, ?, ?, ?, 'queued', ?) ON CONFLICT "
                        "(token_id, idempotency_key) DO NOTHING",
                        (job_id, token_id, idempotency_key, time.time(), json.dumps(body))) == 1
        if new:
            row = t.one("SELECT * FROM api_jobs WHERE id = ?", (job_id,))
        else:  # the same key from the same token: the job it made first
            row = t.one("SELECT * FROM api_jobs WHERE token_id = ? AND idempotency_key = ?",
                        (token_id, idempotency_key))
    assert row is not None
    return row, new


def _update(settings: Settings, job_id: str, **fields: Any) -> None:
    cols = ", ".join(f"{k} = ?" for k in fields)  # the names are this module's own
    with tx(settings) as t:
        t.execute(f"UPDATE api_jobs SET {cols} WHERE id = ?", (*fields.values(), job_id))


def run_job_now(job_id: str, settings: Settings) -> bool:
    """Run a queued (or interrupted) job's batch, holding the job's lock: the API's
    background task, and :func:`resume_jobs` after a restart. Errors are kept on the job.
    False when there was nothing to do: another process or thread holds the job, or it
    already ended."""
    folder = Path(settings.runs_dir) / "_jobs" / job_id  # the brief's folder: no files in it
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(folder / ".lock", timeout=0, thread_local=False, preserve_lock_file=True)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return False
    try:
        job = get_job(job_id, settings)
        if job["state"] not in ("queued", "running"):
            return False
        _run_job(job, folder, settings)
        return True
    finally:
        lock.release(force=True)


def resume_jobs(settings: Settings, *, created_before: float | None = None) -> list[str]:
    """Run again, one after another, every job left ``queued`` or ``running`` (a server
    stopped or killed while it worked) that no live process holds: what a starting server
    calls. ``created_before`` leaves out jobs posted since (the new server's own). Returns
    the ids it ran."""
    with tx(settings) as t:
        rows = t.all("SELECT id, created_at FROM api_jobs WHERE state IN ('queued', "
                     "'running') ORDER BY created_at, id")
    return [r["id"] for r in rows
            if (created_before is None or r["created_at"] < created_before)
            and run_job_now(r["id"], settings)]


def _run_job(job: dict[str, Any], folder: Path, settings: Settings) -> None:
    from agents.automation.batch import collect_brief, collect_rows, run_batch
    from agents.automation.webhooks import deliver_pending, record_batch_events
    job_id = job["id"]
    req = JobRequest.model_validate(json.loads(job["request"]))
    _update(settings, job_id, state="running")
    try:
        if req.csv is not None:
            items, bad = collect_rows(req.brief, req.csv, settings, base_name="brief",
                                      source="csv", folder=folder)
        else:
            items, bad = collect_brief(req.brief, settings, source="brief", folder=folder)
        _update(settings, job_id, items=json.dumps([
            {"run_id": None, "format": i.format, "row": i.row, "key": i.key} for i in items]),
            bad=json.dumps([b.model_dump() for b in bad]))
        result = run_batch(items, bad, settings)
        _update(settings, job_id, state="finished", items=json.dumps([
            {"run_id": r.run_id, "format": r.format, "row": r.row, "key": r.key,
             "outcome": r.outcome, "reason": r.reason} for r in result.items]))
        if record_batch_events(result, settings, req.webhook):
            deliver_pending(settings)
    except Exception as e:  # noqa: BLE001 - kept on the job; GET /v1/jobs/{id} shows it
        _update(settings, job_id, state="error", error=str(e).splitlines()[0][:500])


def get_job(job_id: str, settings: Settings) -> dict[str, Any]:
    with tx(settings) as t:
        row = t.one("SELECT * FROM api_jobs WHERE id = ?", (job_id,))
    if row is None:
        raise RunNotFound(f"no job {job_id[:60]!r}")
    return row


def list_jobs(settings: Settings, *, limit: int, offset: int) -> list[dict[str, Any]]:
    with tx(settings) as t:
        return t.all("SELECT * FROM api_jobs ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
                     (limit, offset))


class AssetView(BaseModel):
    id: str
    run_id: str
    asset_id: str
    format: str
    row: int | None = None
    status: str
    attempts: int
    cost_usd: float
    reason: str | None = None
    image_url: str | None = None


def asset_view(run_id: str, settings: Settings, row: int | None = None) -> AssetView:
    """One asset (one batch run) as the API shows it: its id is its run id."""
    store = RunStore.open(Path(settings.runs_dir), run_id)
    m = store.manifest()
    if not m["assets"]:
        raise RunNotFound(f"run {run_id} has no asset")
    a = m["assets"][0]
    image = a.get("final_image")
    return AssetView(id=run_id, run_id=run_id, asset_id=a["asset_id"], format=a["asset_id"],
                     row=row, status=str(a["status"]), attempts=len(a["attempts"]),
                     cost_usd=a.get("cost_usd", 0.0), reason=a.get("reason"),
                     image_url=f"/v1/assets/{run_id}/image" if image else None)


def asset_image(run_id: str, settings: Settings) -> Path | None:
    """The final image of an asset, or None."""
    store = RunStore.open(Path(settings.runs_dir), run_id)
    m = store.manifest()
    rel = m["assets"][0].get("final_image") if m["assets"] else None
    return store.abs(rel) if rel else None


JobStatus = Literal["queued", "running", "completed", "needs_review", "failed"]


class JobView(BaseModel):
    id: str
    status: JobStatus
    created_at: float
    counts: dict[str, int]
    cost_usd: float
    bad_input: list[dict[str, Any]] = []
    error: str | None = None


def job_assets(job: dict[str, Any], settings: Settings) -> list[AssetView]:
    out = []
    for it in json.loads(job.get("items") or "[]"):
        if it.get("run_id"):
            try:
                out.append(asset_view(it["run_id"], settings, it.get("row")))
            except RunNotFound:
                continue
    return out


def job_view(job_id: str, settings: Settings) -> JobView:
    """A job's status, computed from its assets now (approvals after it ran count)."""
    job = get_job(job_id, settings)
    assets = job_assets(job, settings)
    counts: dict[str, int] = {}
    for a in assets:
        counts[a.status] = counts.get(a.status, 0) + 1
    bad = json.loads(job.get("bad") or "[]")
    items = json.loads(job.get("items") or "[]")
    invalid = sum(1 for it in items if it.get("outcome") in ("invalid", "not_run"))
    status: JobStatus
    if job["state"] in ("queued", "running"):
        status = job["state"]
    elif job["state"] == "error" or bad or invalid or any(
            s in (AssetStatus.FAILED, AssetStatus.REJECTED, AssetStatus.PENDING,
                  AssetStatus.RUNNING) for s in counts) or not assets:
        status = "failed"
    elif AssetStatus.NEEDS_REVIEW in counts:
        status = "needs_review"
    else:
        status = "completed"
    return JobView(id=job["id"], status=status, created_at=job["created_at"], counts=counts,
                   cost_usd=round(sum(a.cost_usd for a in assets), 6), bad_input=bad,
                   error=job.get("error"))
