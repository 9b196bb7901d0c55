"""Schedules: each tick fires once across restarts (between ticks and during one), missed
ticks follow the grace policy, daylight-saving transitions in Europe/Berlin and
America/New_York — with an injected clock and the real SQLite tick table."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.automation.schedule import Job, Scheduler, history, job_settings, load_jobs
from agents.errors import ScheduleError
from agents.settings import Settings
from tests.agents.ledger_wait import done_entries
from tests.databases import database_url

UTC = timezone.utc


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


class Recorder:
    """A job runner that records each tick it was asked to run."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, job: Job, tick: datetime, settings: Settings) -> dict:
        self.calls.append((job.name, tick.isoformat()))
        return {"summary": "ok"}


class Killed(BaseException):
    """Stands for the process dying in the middle of a tick."""


@pytest.fixture(params=["sqlite", "postgres"])
def db_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """The run index on SQLite, and on the real PostgreSQL at 127.0.0.1 (a fresh schema)."""
    with database_url(request.param, tmp_path) as url:
        yield Settings(runs_dir=tmp_path / "runs", database_url=url, _env_file=None)


def _job(**kw) -> Job:
    return Job(**{"name": "every-minute", "cron": "* * * * *", "briefs": [Path("x.yaml")],
                  **kw})


def test_every_minute_each_tick_fires_once_across_restarts(db_settings: Settings) -> None:
    settings = db_settings
    clock = Clock(datetime(2026, 12, 1, 10, 0, 30, tzinfo=UTC))
    runner = Recorder()
    job = _job()

    def scheduler() -> Scheduler:  # a restart: a new scheduler (new owner), same database
        return Scheduler([job], settings, clock=clock, runner=runner)

    a = scheduler()
    assert a.run_pending() == [("every-minute", "2026-12-01T10:00", "done")]
    assert a.run_pending() == []                    # the same minute again: nothing
    clock.advance(seconds=20)
    assert scheduler().run_pending() == []          # restarted within the minute: nothing
    clock.advance(seconds=20)                        # 10:01:10
    b = scheduler()
    assert b.run_pending() == [("every-minute", "2026-12-01T10:01", "done")]
    assert a.run_pending() == []                    # the old one, still running: nothing
    clock.advance(seconds=55)                        # 10:02:05, restart between ticks
    assert scheduler().run_pending() == [("every-minute", "2026-12-01T10:02", "done")]
    assert [t for _, t in runner.calls] == ["2026-12-01T10:00:00+00:00",
                                            "2026-12-01T10:01:00+00:00",
                                            "2026-12-01T10:02:00+00:00"]
    rows = history(settings, "every-minute")
    assert [r["tick"] for r in rows] == ["2026-12-01T10:02", "2026-12-01T10:01",
                                         "2026-12-01T10:00"]
    assert {r["status"] for r in rows} == {"done"}


def test_a_tick_cut_short_is_continued_once_by_the_next_scheduler(db_settings: Settings
                                                                   ) -> None:
    settings = db_settings
    clock = Clock(datetime(2026, 12, 1, 10, 0, 5, tzinfo=UTC))
    dead: set[str] = set()
    calls: list[str] = []

    def dies(job: Job, tick: datetime, s: Settings) -> dict:
        calls.append(tick.isoformat())
        raise Killed

    first = Scheduler([_job()], settings, clock=clock, runner=dies,
                      alive=lambda owner: owner not in dead)
    with pytest.raises(Killed):
        first.run_pending()
    assert history(settings)[0]["status"] == "running"

    runner = Recorder()
    # while the first scheduler's process lives, nobody else touches its tick
    other = Scheduler([_job()], settings, clock=clock, runner=runner,
                      alive=lambda owner: owner not in dead)
    assert other.run_pending() == [] and runner.calls == []
    dead.add(first.owner)                            # now it is gone: continue its tick
    assert other.run_pending() == [("every-minute", "2026-12-01T10:00", "done")]
    assert Scheduler([_job()], settings, clock=clock, runner=runner,
                     alive=lambda owner: owner not in dead).run_pending() == []
    assert runner.calls == [("every-minute", "2026-12-01T10:00:00+00:00")]
    (row,) = history(settings)
    assert row["status"] == "done" and row["owner"] == other.owner


def test_missed_ticks_run_the_latest_once_within_the_grace(settings: Settings) -> None:
    clock = Clock(datetime(2026, 12, 1, 10, 0, 1, tzinfo=UTC))
    runner = Recorder()
    job = _job(grace=120)
    Scheduler([job], settings, clock=clock, runner=runner).run_pending()
    clock.advance(minutes=5, seconds=29)             # down from 10:00 to 10:05:30
    assert Scheduler([job], settings, clock=clock, runner=runner).run_pending() == [
        ("every-minute", "2026-12-01T10:05", "done")]  # not 10:01 … 10:04
    late = _job(name="strict", grace=10)
    assert Scheduler([late], settings, clock=clock, runner=runner).run_pending() == []
    assert len(runner.calls) == 2


def _sweep(job: Job, settings: Settings, start: datetime, hours: int, step_min: int = 5
           ) -> list[tuple[str, str]]:
    """Run a scheduler every ``step_min`` minutes (restarting it each time) for ``hours``;
    returns (tick key, UTC instant) of every tick fired."""
    clock = Clock(start)
    runner = Recorder()
    fired = []
    for _ in range(hours * 60 // step_min):
        for name, tick, status in Scheduler([job], settings, clock=clock,
                                            runner=runner).run_pending():
            assert status == "done"
            fired.append(tick)
        clock.advance(minutes=step_min)
    instants = [datetime.fromisoformat(t).astimezone(UTC).isoformat() for _, t in runner.calls]
    return list(zip(fired, instants))


def test_dst_europe_berlin(settings: Settings) -> None:
    daily = _job(name="berlin", cron="30 2 * * *", timezone="Europe/Berlin")
    # spring forward, 29 March 2026: 02:00 → 03:00, so 02:30 does not exist: once, at 03:00
    assert _sweep(daily, settings, datetime(2026, 3, 28, 22, 0, tzinfo=UTC), 8) == [
        ("2026-03-29T03:00", "2026-03-29T01:00:00+00:00")]
    # fall back, 25 October 2026: 03:00 → 02:00, so 02:30 happens twice: once, the first
    assert _sweep(daily, settings, datetime(2026, 10, 24, 22, 0, tzinfo=UTC), 8) == [
        ("2026-10-25T02:30", "2026-10-25T00:30:00+00:00")]


def test_dst_america_new_york(settings: Settings) -> None:
    hourly = _job(name="ny", cron="0 * * * *", timezone="America/New_York")
    # fall back, 1 November 2026: 01:00–02:00 happens twice; each wall-clock hour fires once
    fired = _sweep(hourly, settings, datetime(2026, 11, 1, 4, 5, tzinfo=UTC), 6)  # 00:05 EDT
    assert fired == [("2026-11-01T00:00", "2026-11-01T04:00:00+00:00"),
                     ("2026-11-01T01:00", "2026-11-01T05:00:00+00:00"),  # EDT; not again EST
                     ("2026-11-01T02:00", "2026-11-01T07:00:00+00:00"),
                     ("2026-11-01T03:00", "2026-11-01T08:00:00+00:00"),
                     ("2026-11-01T04:00", "2026-11-01T09:00:00+00:00"),
                     ("2026-11-01T05:00", "2026-11-01T10:00:00+00:00")]
    # spring forward, 8 March 2026: 02:00 → 03:00; a daily 02:30 runs once, at 03:00 EDT
    daily = _job(name="ny-daily", cron="30 2 * * *", timezone="America/New_York")
    assert _sweep(daily, settings, datetime(2026, 3, 8, 4, 0, tzinfo=UTC), 6) == [
        ("2026-03-08T03:00", "2026-03-08T07:00:00+00:00")]


def test_jobs_file_errors_name_the_job_and_field(tmp_path: Path) -> None:
    f = tmp_path / "jobs.yaml"
    f.write_text("jobs:\n  weekly:\n    cron: '61 * * * *'\n    briefs: [b.yaml]\n")
    with pytest.raises(ScheduleError, match=r"job 'weekly': cron: .*not a cron expression"):
        load_jobs(f)
    f.write_text("jobs:\n  weekly:\n    cron: '0 9 * * MON'\n    timezone: Europe/Berlinn\n"
                 "    briefs: [b.yaml]\n")
    with pytest.raises(ScheduleError, match="not an IANA time zone"):
        load_jobs(f)
    f.write_text("jobs:\n  weekly:\n    cron: '0 9 * * MON'\n    csv: rows.csv\n")
    with pytest.raises(ScheduleError, match="'csv' and 'brief' go together"):
        load_jobs(f)
    f.write_text("jobs:\n  weekly:\n    cron: '0 9 * * MON'\n    brief: b.yaml\n    csv: r.csv\n"
                 "    destination: {folder: out}\n    review: always\n    backend: typeset\n")
    (job,) = load_jobs(f)
    assert job.csv == tmp_path / "r.csv" and job.destination.folder == tmp_path / "out"
    s = job_settings(job, Settings(runs_dir=tmp_path, _env_file=None))
    assert s.review_policy == "always" and s.backend == "typeset"
    proc = subprocess.run([sys.executable, "-m", "agents.cli", "schedule", "list",
                           str(tmp_path / "nope.yaml")], capture_output=True, text=True)
    assert proc.returncode == 2 and "no such jobs file" in proc.stderr


BRIEF = """\
name: weekly
brand: {name: Acme, colors: ["#0b3d91", "#ffffff", "#fc3d21"]}
copy: {headline: "Offer %d", price: "Only $%d.99"}
formats: [512x512, 640x512]
"""


@pytest.mark.slow
def test_a_scheduler_killed_during_a_real_tick_is_continued_once(tmp_path: Path) -> None:
    """A yearly job always due (a long grace): `schedule run --once` is killed with SIGKILL
    mid-batch; the next one continues that tick; no generation happens twice, one tick row."""
    briefs = tmp_path / "briefs"
    briefs.mkdir()
    for i in range(4):
        (briefs / f"b{i}.yaml").write_text(BRIEF % (i, i + 10))
    (tmp_path / "jobs.yaml").write_text(
        "jobs:\n  yearly:\n    cron: '0 0 1 1 *'\n    timezone: Europe/Berlin\n"
        "    grace: 40000000\n    briefs: [briefs/]\n    simulate_errors: 0.3\n"
        "    concurrency: 2\n    destination: {folder: delivered}\n")
    runs = tmp_path / "runs"
    cmd = [sys.executable, "-m", "agents.cli", "schedule", "run", str(tmp_path / "jobs.yaml"),
           "--once", "--out", str(runs)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)

    def done() -> list[tuple[str, str, int]]:
        return [(run, asset, n) for run, asset, n, _ in done_entries(runs)]

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(done()) < 3:
        assert proc.poll() is None, "the tick finished before it could be killed"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    s = Settings(runs_dir=runs, _env_file=None)
    (row,) = history(s)
    assert row["status"] == "running"

    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "yearly tick 20" in again.stdout and ": done" in again.stdout
    (row,) = history(s)
    assert row["status"] == "done"
    result = json.loads(row["result"])
    assert result["summary"].startswith("generated ") and result["exit_code"] in (0, 3)
    entries = done()
    assert len(entries) == len(set(entries)), "an attempt was generated twice"
    assert len(list(runs.glob("*/run.json"))) == 8
    accepted = int(result["summary"].split("accepted ")[1].split(",")[0])
    assert len(list((tmp_path / "delivered").glob("*.png"))) == accepted

    third = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert third.returncode == 0 and "tick" not in third.stdout  # fired once, not again
    assert len(done()) == len(entries)
