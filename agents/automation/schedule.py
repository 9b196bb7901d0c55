"""Schedules: named jobs in a ``jobs.yaml``, each a cron expression in an IANA time zone
(croniter), fired exactly once per tick across restarts.

::

    jobs:
      weekly-offers:
        cron: "0 9 * * MON"            # croniter syntax
        timezone: Europe/Berlin         # IANA name; default UTC
        brief: base.yaml                # with csv: each row fills it …
        csv: rows.csv
        # briefs: [briefs/, extra.yaml] # … or brief files and folders
        backend: typeset                # and max_attempts, max_cost, max_attempts_total,
        max_cost: 5.0                   # concurrency, simulate_errors, seed
        review: always                  # review policy: failures (default) | always | never
        grace: 3600                     # seconds a missed tick may still run late
        destination: {folder: out/weekly}   # or {s3: "s3://bucket/prefix", endpoint_url: …}
        webhook: {url: "https://…", secret: "whsec_…"}   # else SIGNWRITER_WEBHOOK_URL/SECRET

Paths are relative to the jobs file's folder.

**Exactly once.** A tick is claimed by inserting ``(job, tick)`` into ``schedule_ticks``
(the primary key; the run index's table) before the job runs; a second scheduler, or the same one restarted, finds
the row and does not fire it again. A tick whose scheduler died while running it (its row
still says ``running`` and its owner process is gone) is *continued*: the batch is
idempotent (:mod:`agents.automation.batch`), so what the dead run finished is skipped and
what it cut short is resumed.

**Missed ticks.** After downtime only the latest tick that was due is run, and only if it
is at most ``grace`` seconds late (default one hour); older missed ticks are not run.

**Daylight saving.** The key is the tick's wall-clock time in the job's zone, so a time that
happens twice when the clocks go back (02:30 on the last Sunday of October in Berlin) fires
once, at its first occurrence; a time skipped when the clocks go forward fires once at the
first minute after the gap (croniter: 02:30 → 03:00).
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agents.automation.db import tx
from agents.errors import ScheduleError
from agents.settings import Settings


class Destination(BaseModel):
    """Where a job's approved assets are copied (:mod:`agents.automation.destinations`)."""

    model_config = ConfigDict(extra="forbid")

    folder: Path | None = None
    s3: str | None = Field(None, pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$",
                           description="s3://bucket/prefix")
    endpoint_url: str | None = Field(None, description="An S3-compatible server (MinIO, "
                                     "Ceph, moto); default AWS.")
    region: str | None = None

    @model_validator(mode="after")
    def _one(self) -> "Destination":
        if (self.folder is None) == (self.s3 is None):
            raise ValueError("a destination is either {folder: PATH} or {s3: s3://bucket/prefix}")
        return self


class WebhookTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://")
    secret: str = Field(pattern=r"^whsec_[A-Za-z0-9+/=]+$")


class Job(BaseModel):
    """One named job of a jobs file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    cron: str
    timezone: str = "UTC"
    briefs: list[Path] = Field(default_factory=list)
    brief: Path | None = None
    csv: Path | None = None
    backend: str | None = None
    max_attempts: int | None = Field(None, ge=1, le=20)
    max_cost: float | None = Field(None, ge=0)
    max_attempts_total: int | None = Field(None, ge=1)
    concurrency: int | None = Field(None, ge=1, le=64)
    simulate_errors: float | None = Field(None, ge=0, le=1)
    review: Literal["failures", "always", "never"] | None = Field(
        None, description="Review policy: failures (default), always, never.")
    seed: int = 0
    grace: float = Field(3600.0, ge=0, description="Seconds a missed tick may run late.")
    destination: Destination | None = None
    webhook: WebhookTarget | None = None

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        if not croniter.is_valid(v):
            raise ValueError(f"{v!r} is not a cron expression (e.g. '0 9 * * MON')")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{v!r} is not an IANA time zone (e.g. Europe/Berlin)") from None
        return v

    @model_validator(mode="after")
    def _inputs(self) -> "Job":
        if bool(self.briefs) == (self.csv is not None):
            raise ValueError("give 'briefs' (files and folders) or 'brief' + 'csv'")
        if (self.csv is None) != (self.brief is None):
            raise ValueError("'csv' and 'brief' go together")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def latest_tick(self, now: datetime) -> datetime:
        """The latest scheduled time at or before ``now`` (aware, in the job's zone)."""
        local = now.astimezone(self.zone)
        return croniter(self.cron, local + timedelta(seconds=1)).get_prev(datetime)

    def next_ticks(self, now: datetime, n: int = 3) -> list[datetime]:
        it = croniter(self.cron, now.astimezone(self.zone))
        return [it.get_next(datetime) for _ in range(n)]


def tick_key(tick: datetime) -> str:
    """A tick's wall-clock time, no offset: the same key for both 02:30s of a fall-back."""
    return tick.replace(tzinfo=None).isoformat(timespec="minutes")


def load_jobs(path: Path) -> list[Job]:
    """Read a jobs file; paths in it become relative to its folder. Errors name the job and
    the field (:class:`ScheduleError`)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScheduleError(f"{path}: no such jobs file") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise ScheduleError(f"{path}: cannot read it: {str(e).splitlines()[0][:200]}") from None
    if not isinstance(data, dict) or not isinstance(data.get("jobs"), dict) or not data["jobs"]:
        raise ScheduleError(f"{path}: a jobs file is a mapping 'jobs:' of named jobs")
    base = Path(path).parent
    jobs = []
    for name, spec in data["jobs"].items():
        if not isinstance(spec, dict):
            raise ScheduleError(f"{path}: job {str(name)[:64]!r} is not a mapping")
        try:
            job = Job(name=str(name), **spec)
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or '(job)'}: "
                                 f"{err['msg'].removeprefix('Value error, ')}"
                                 for err in e.errors())
            raise ScheduleError(f"{path}: job {str(name)[:64]!r}: {problems}") from None
        update: dict[str, Any] = {"briefs": [base / p for p in job.briefs]}
        if job.brief:
            update |= {"brief": base / job.brief, "csv": base / job.csv}  # type: ignore[operator]
        if job.destination and job.destination.folder is not None:
            update["destination"] = job.destination.model_copy(
                update={"folder": base / job.destination.folder})
        jobs.append(job.model_copy(update=update))
    return jobs


# --- running a job ---------------------------------------------------------------------------
def job_settings(job: Job, settings: Settings) -> Settings:
    update = {k: getattr(job, k) for k in ("backend", "max_attempts", "max_cost", "concurrency",
                                           "simulate_errors") if getattr(job, k) is not None}
    if job.review is not None:
        update["review_policy"] = job.review
    return settings.model_copy(update=update)


def run_job(job: Job, tick: datetime, settings: Settings) -> dict[str, Any]:
    """One tick of a job: the batch (idempotent), its report, the destination, the
    ``job.completed`` webhook. Returns what the tick row records."""
    from agents.automation.batch import collect_csv, collect_paths, run_batch, write_report
    s = job_settings(job, settings)
    if job.csv is not None and job.brief is not None:
        items, bad = collect_csv(job.brief, job.csv, s, seed=job.seed)
    else:
        items, bad = collect_paths(job.briefs, s, seed=job.seed)
    result = run_batch(items, bad, s, max_attempts_total=job.max_attempts_total)
    folder = write_report(result, s)
    out: dict[str, Any] = {"batch_id": result.batch_id, "summary": result.summary_line(),
                           "exit_code": result.exit_code, "report": str(folder / "report.html")}
    if job.destination is not None:
        from agents.automation.destinations import deliver, remember_pending
        out["delivered"] = len(deliver(result, job.destination, s))
        remember_pending(result, job.destination, s)  # delivered once a person approves
    out[BATCH] = result  # the tick's row and its webhook events are written together
    return out


BATCH = "_batch"
"""Where :func:`run_job`'s answer carries the batch result (not stored in the tick row)."""


# --- the scheduler ---------------------------------------------------------------------------
Clock = Callable[[], datetime]
Runner = Callable[[Job, datetime, Settings], dict[str, Any]]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _pid_alive(owner: str) -> bool:
    """Whether the scheduler that owns a tick still runs (same host: its pid exists)."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's: not ours to take over
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Scheduler:
    """Fires the jobs' ticks. ``clock``, ``runner`` and ``alive`` are injected in tests."""

    def __init__(self, jobs: list[Job], settings: Settings, *, clock: Clock = utc_now,
                 runner: Runner = run_job, alive: Callable[[str], bool] = _pid_alive,
                 owner: str | None = None) -> None:
        self.jobs = jobs
        self.settings = settings
        self.clock = clock
        self.runner = runner
        self.alive = alive
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def _claim(self, job: Job, tick: datetime, now: datetime) -> bool:
        """Insert the tick's row (or take over one whose owner died); True if it is ours.
        Both are one atomic statement, so two schedulers never both win."""
        key = tick_key(tick)
        with tx(self.settings) as t:
            if t.execute("INSERT INTO schedule_ticks (job, tick, scheduled_at, status, owner, "
                         "started_at) VALUES (?, ?, ?, 'running', ?, ?) ON CONFLICT (job, tick) "
                         "DO NOTHING", (job.name, key, tick.astimezone(timezone.utc).isoformat(),
                                        self.owner, now.isoformat())) == 1:
                return True
            row = t.one("SELECT status, owner FROM schedule_ticks WHERE job = ? AND tick = ?",
                        (job.name, key))
        if (row is None or row["status"] != "running" or row["owner"] == self.owner
                or self.alive(row["owner"])):
            return False
        with tx(self.settings) as t:
            return t.execute("UPDATE schedule_ticks SET owner = ? WHERE job = ? AND tick = ? "
                             "AND owner = ? AND status = 'running'",
                             (self.owner, job.name, key, row["owner"])) == 1

    def _finish(self, job: Job, tick: datetime, status: str, result: dict[str, Any]) -> None:
        """The tick's row says done (or failed) — and, in the same transaction, the webhook
        events of its batch go to the outbox."""
        from agents.automation.webhooks import asset_events, job_completed, target_from
        batch = result.pop(BATCH, None)
        target = target_from(self.settings, job.webhook)
        with tx(self.settings) as t:
            if batch is not None and target is not None:
                asset_events(t, batch, target)
                job_completed(t, batch, target, job=job.name, tick=tick_key(tick))
            t.execute("UPDATE schedule_ticks SET status = ?, finished_at = ?, result = ? "
                      "WHERE job = ? AND tick = ? AND owner = ?",
                      (status, self.clock().isoformat(), json.dumps(result, default=str),
                       job.name, tick_key(tick), self.owner))

    def due(self, now: datetime) -> list[tuple[Job, datetime]]:
        """Each job's latest tick at or before ``now``, if it is within the job's grace."""
        out = []
        for job in self.jobs:
            tick = job.latest_tick(now)
            if (now - tick).total_seconds() <= job.grace:
                out.append((job, tick))
        return out

    def unfinished(self) -> list[tuple[Job, datetime]]:
        """Ticks left ``running`` by a scheduler that died (to continue them)."""
        by_name = {j.name: j for j in self.jobs}
        with tx(self.settings) as t:
            rows = t.all("SELECT job, scheduled_at, owner FROM schedule_ticks WHERE "
                         "status = 'running' AND owner <> ?", (self.owner,))
        out = []
        for r in rows:
            job = by_name.get(r["job"])
            if job is not None and not self.alive(r["owner"]):
                out.append((job, datetime.fromisoformat(r["scheduled_at"]).astimezone(job.zone)))
        return out

    def run_pending(self) -> list[tuple[str, str, str]]:
        """Fire what is due now (and continue ticks a dead scheduler left); returns
        ``(job, tick, status)`` for each tick run."""
        now = self.clock()
        fired = []
        seen: set[tuple[str, str]] = set()
        for job, tick in self.unfinished() + self.due(now):
            if (job.name, tick_key(tick)) in seen or not self._claim(job, tick, now):
                continue
            seen.add((job.name, tick_key(tick)))
            try:
                result = self.runner(job, tick, self.settings)
            except Exception as e:  # noqa: BLE001 - recorded on the tick; others go on
                self._finish(job, tick, "failed", {"error": str(e)[:500]})
                fired.append((job.name, tick_key(tick), "failed"))
                continue
            self._finish(job, tick, "done", result)
            fired.append((job.name, tick_key(tick), "done"))
        return fired

    def seconds_to_next(self) -> float:
        now = self.clock()
        nxt = min(j.next_ticks(now, 1)[0] for j in self.jobs)
        return max(0.0, (nxt - now).total_seconds())

    def run_forever(self, *, sleep: Callable[[float], None] = time.sleep,
                    on_fired: Callable[[tuple[str, str, str]], None] | None = None,
                    max_sleep: float = 60.0) -> None:
        from agents.automation.webhooks import deliver_pending
        while True:
            for f in self.run_pending():
                if on_fired:
                    on_fired(f)
            deliver_pending(self.settings)  # new events, and retries that are due
            sleep(min(max_sleep, self.seconds_to_next() + 0.5))


def history(settings: Settings, job: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """The latest ticks (newest first), of one job or all."""
    q = "SELECT * FROM schedule_ticks" + (" WHERE job = ?" if job else "") + \
        " ORDER BY scheduled_at DESC LIMIT ?"
    with tx(settings) as t:
        return t.all(q, (job, limit) if job else (limit,))
