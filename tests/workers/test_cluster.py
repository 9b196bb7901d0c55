"""Many machines, for real: ``signwriter worker`` processes on the real Redis and
PostgreSQL share a batch through a local Z.ai server that counts submits. Workers are
killed with SIGKILL mid-attempt; the others finish every asset, and the provider sees
exactly one submit per paid attempt."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from agents.automation.batch import enqueue_batch
from agents.store import RunStore
from agents.workers import jobs
from tests.workers.cluster import cluster, wait_for


def _ledger_attempts(runs: Path) -> list[tuple[str, str, int]]:
    out = []
    for run in sorted(runs.glob("*/ledger.jsonl")):
        for line in run.read_text().splitlines():
            e = json.loads(line)
            if e["kind"] == "done":
                out.append((run.parent.name, e["asset_id"], e["attempt"]))
    return out


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_killed_workers_lose_nothing_and_pay_once(tmp_path: Path) -> None:
    """Two workers share 40 assets; a worker is killed -9 at each of three points of an
    attempt, each reached for certain (observed in PostgreSQL, Redis and the provider):
    a (before submit), c (after submit, before the result) and e (an OCR-only worker,
    during OCR). After each kill a fresh worker takes the dead one's place, as a
    supervisor would restart it (b alone finishes too, in twice the time on 2 cores)."""
    n = 40
    with cluster(tmp_path, SIGNWRITER_PROVIDER_MAX_IN_FLIGHT="6") as c:
        items = c.items(n)
        c.server.queue_polls = 10**6  # every task stays PROCESSING until we say
        hold = c.hold_provider_slots(6)  # the provider's account is full: nobody submits
        c.start_worker("a")
        c.start_worker("b")
        job_id, queued, known = enqueue_batch(items, [], c.settings)
        assert job_id and len(queued) == n and not known

        def intents(worker: str, state: str) -> list[dict]:
            return c.rows("SELECT run_id, asset_id, attempt, handle FROM paid_intents"
                          " WHERE owner LIKE %s AND state = %s", (c.owned_by(worker), state))

        # 1. before submit: each of a's three threads wrote its attempt's intent (budget
        # reserved) and waits for a provider slot
        before = wait_for("worker a's three attempts waiting to submit",
                          lambda: (lambda r: r if len(r) == 3 else [])(intents("a", "reserved")),
                          120, on_timeout=lambda: c.log("a"))
        assert c.server.calls("submit") == []
        c.kill9("a")
        c.start_worker("c")
        c.release_provider_slots(hold)

        # 2. after submit, before the result: each of c's three threads has its task
        # accepted (handle recorded) and polls it
        after = wait_for("worker c's three tasks accepted and polled",
                         lambda: (lambda r: r if len(r) == 3 else [])(intents("c", "submitted")),
                         120, on_timeout=lambda: c.log("b") + c.log("c"))
        assert all(h["handle"] for h in after)
        c.kill9("c")
        c.start_worker("d")  # as a supervisor restarts a worker: two generate again
        c.start_worker("e", concurrency=1, queues="check")  # OCR only: never submits
        c.server.queue_polls = 2  # the provider finishes its tasks

        # 3. during OCR: e holds an asset's lease for its check stage
        def checking() -> list[dict]:
            return c.rows("SELECT run_id, asset_id FROM leases WHERE stage = 'check'"
                          " AND owner LIKE %s AND expires_at > EXTRACT(EPOCH FROM"
                          " clock_timestamp())", (c.owned_by("e"),))
        checked = wait_for("worker e checking an image", checking, 120,
                           on_timeout=lambda: c.log("e"))
        c.kill9("e")

        rows = jobs.wait(c.settings, job_id, timeout_s=420)
        submits = c.server.calls("submit")
        intents_all = c.rows("SELECT * FROM paid_intents ORDER BY run_id, attempt")
        job = jobs.job(c.settings, job_id)
        survivors = c.log("b") + c.log("d")

    assert [r["state"] for r in rows] == ["done"] * n
    assert all(r["outcome"] in ("accepted", "needs_review") for r in rows), rows
    for r in rows:  # every asset finished in its run folder, image on disk
        a = RunStore(Path(c.settings.runs_dir) / r["run_id"]).manifest()["assets"][0]
        assert a["status"] in ("accepted", "needs_review")
        if a["status"] == "accepted":
            assert (Path(c.settings.runs_dir) / r["run_id"] / a["final_image"]).is_file()
    # exactly one submit per paid attempt: a resend would repeat an attempt's prompt
    paid = _ledger_attempts(Path(c.settings.runs_dir))
    prompts = [s.json["prompt"] for s in submits]
    assert len(submits) == len(intents_all) == len(paid) == len(set(paid)) >= n
    assert len(set(prompts)) == len(prompts)
    assert all(i["state"] == "settled" for i in intents_all)
    assert job["reserved_usd"] == pytest.approx(0)
    by_attempt = {(i["run_id"], i["asset_id"], i["attempt"]): i for i in intents_all}
    for h in before:  # taken over, then sent once by the worker that took it
        i = by_attempt[(h["run_id"], h["asset_id"], h["attempt"])]
        assert i["takeovers"] >= 1 and i["handle"] and f":{c.workers['a'].pid}:" not in i["owner"]
    for h in after:  # taken over, the same provider task polled
        i = by_attempt[(h["run_id"], h["asset_id"], h["attempt"])]
        assert i["takeovers"] >= 1 and i["handle"] == h["handle"]
        assert f":{c.workers['c'].pid}:" not in i["owner"]
    done = {(r["run_id"], r["asset_id"]) for r in rows}
    assert {(x["run_id"], x["asset_id"]) for x in checked} <= done
    assert "re-queueing" in survivors  # the sweep, not the broker (an hour away)


@pytest.mark.timeout(240)
def test_a_redelivered_task_does_not_run_twice(tmp_path: Path) -> None:
    with cluster(tmp_path, SIGNWRITER_BROKER_VISIBILITY_TIMEOUT_S="1") as c:
        items = c.items(1)
        c.server.queue_polls = 10**6
        c.start_worker("a", concurrency=2)
        job_id, queued, _ = enqueue_batch(items, [], c.settings)
        pid_a = c.workers["a"].pid
        wait_for("worker a to pay", lambda: c.rows(
            "SELECT 1 FROM paid_intents WHERE state = 'submitted' AND owner LIKE %s",
            (f"%:{pid_a}:%",)), 60, on_timeout=lambda: c.log("a"))
        time.sleep(1.5)  # past the visibility timeout: Redis hands the task out again
        c.start_worker("b", concurrency=2)  # restores unacknowledged tasks as it starts
        # the copy goes to whichever worker has a free slot; it finds the lease held
        wait_for("the broker to redeliver the task", lambda: "'busy'" in c.log("a") + c.log("b"),
                 60, poll_s=0.2, on_timeout=lambda: c.log("a")[-3000:] + c.log("b")[-3000:])
        c.server.queue_polls = 0
        rows = jobs.wait(c.settings, job_id, timeout_s=120)
        submits = c.server.calls("submit")
    assert rows[0]["outcome"] == "accepted"
    assert len(submits) == 1


@pytest.mark.timeout(240)
def test_the_budget_holds_across_workers(tmp_path: Path) -> None:
    from generation.zai import COST_PER_IMAGE_USD
    with cluster(tmp_path, SIGNWRITER_MAX_COST=str(COST_PER_IMAGE_USD * 3.5)) as c:
        items = c.items(6)
        c.server.queue_polls = 3
        c.start_worker("a", concurrency=3)
        c.start_worker("b", concurrency=3)
        job_id, queued, _ = enqueue_batch(items, [], c.settings)
        rows = jobs.wait(c.settings, job_id, timeout_s=180)
        job = jobs.job(c.settings, job_id)
        submits = c.server.calls("submit")
    outcomes = sorted(r["outcome"] for r in rows)
    assert outcomes == ["accepted"] * 3 + ["failed"] * 3, outcomes
    assert len(submits) == 3
    assert job["spent_usd"] == pytest.approx(3 * COST_PER_IMAGE_USD)
    assert job["reserved_usd"] == pytest.approx(0)
    for r in rows:
        a = RunStore(Path(c.settings.runs_dir) / r["run_id"]).manifest()["assets"][0]
        if a["status"] == "failed":
            assert "budget" in a["reason"] and "--max-cost" in a["reason"]


@pytest.mark.timeout(240)
def test_sigterm_finishes_the_stage_in_hand_then_exits(tmp_path: Path) -> None:
    import signal
    with cluster(tmp_path) as c:
        items = c.items(1)
        c.server.queue_polls = 10**6
        worker = c.start_worker("a", concurrency=2, queues="generate")
        job_id, queued, _ = enqueue_batch(items, [], c.settings)
        wait_for("the provider task", lambda: c.rows(
            "SELECT 1 FROM paid_intents WHERE state = 'submitted'"), 60,
            on_timeout=lambda: c.log("a"))
        status = jobs.cluster_status(c.settings)  # what `signwriter status` shows
        shown = _cli(c, "status")
        worker.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        assert worker.poll() is None  # still finishing its attempt
        c.server.queue_polls = 0
        assert worker.wait(timeout=60) == 0, c.log("a")
        item = jobs.items(c.settings, job_id)[0]
        lease = c.rows("SELECT owner FROM leases")[0]
        intent = c.rows("SELECT state FROM paid_intents")[0]
        c.start_worker("b", concurrency=1, queues="generate,check")  # takes the check stage
        rows = jobs.wait(c.settings, job_id, timeout_s=120)
    assert [q for q in status["queues"]] == [c.settings.queue_prefix + ".generate",
                                             c.settings.queue_prefix + ".check"]
    assert len(status["workers"]) == 1 and status["workers"][0]["queues"] == "generate"
    assert len(status["leases"]) == 1 and status["leases"][0]["stage"] == "generate"
    assert [p["handle"]["task_id"] for p in status["paid_in_flight"]] == ["task-1"]
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "workers (1 alive)" in shown.stdout and "leases (1 held)" in shown.stdout
    assert "paid tasks in flight (1)" in shown.stdout and "task-1" in shown.stdout
    assert item["stage"] == "check" and item["state"] == "queued"  # the stage it held ended
    assert lease["owner"] == "" and intent["state"] == "settled"   # and gave its lease back
    assert rows[0]["outcome"] == "accepted"
    assert len(c.server.calls("submit")) == 1


def _cli(c, *args: str, timeout: float = 180) -> "subprocess.CompletedProcess[str]":
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-m", "agents.cli", *args], env={
        **c.env, "COLUMNS": "200"}, capture_output=True, text=True, timeout=timeout)


@pytest.mark.timeout(300)
def test_run_enqueues_waits_and_the_review_queue_sees_workers_assets(tmp_path: Path) -> None:
    from agents import api
    from agents.brief import load_brief
    from agents.planner import make_planner
    from tests.agents.test_pipeline_remote import Model
    from tests.workers.cluster import BASE
    with cluster(tmp_path) as c:
        brief = tmp_path / "brief.yaml"
        brief.write_text(BASE.replace("[social-square]", "[512x512, 768x512]"))
        by_size = {(s.width, s.height): Model([s], wrong=0)  # the two formats' copy is the same
                   for s in make_planner(c.settings, "rules").plan(load_brief(brief))}
        c.server.painter = lambda prompt, w, h: by_size[(w, h)](prompt, w, h)
        upgraded = _cli(c, "db", "upgrade")
        c.start_worker("a", concurrency=2)
        done = _cli(c, "run", str(brief), "--seed", "1")
        queued = _cli(c, "run", str(brief), "--seed", "2", "--no-wait", "--review", "always")
        job_id = queued.stdout.strip().splitlines()[-1]
        rows = jobs.wait(c.settings, job_id, timeout_s=180)
        status = json.loads(_cli(c, "status", "--json").stdout)
        # this process (the review app's) sees what the worker made, and decides
        reviews = api.list_reviews(c.settings)
        decided = api.decide_review(reviews[0].run_id, reviews[0].asset_id, "approve",
                                    c.settings, reviewer="ana")
        # a new attempt asked for in this process is made by the worker (and paid once)
        regen = api.decide_review(reviews[1].run_id, reviews[1].asset_id, "regenerate",
                                  c.settings, reviewer="ana", note="brighter")
        second = c.rows("SELECT owner FROM paid_intents WHERE run_id = %s AND asset_id = %s"
                        " AND attempt = 2", (reviews[1].run_id, reviews[1].asset_id))
        listed = api.list_runs(c.settings)
        # checkpoint retention: the latest checkpoint of each thread is enough to review
        threads = "SELECT thread_id, count(*) AS n FROM checkpoints GROUP BY thread_id"
        before = {r["thread_id"]: r["n"] for r in c.rows(threads)}
        kept = _cli(c, "db", "prune", "--older-than-days", "0")
        after_keep = {r["thread_id"]: r["n"] for r in c.rows(threads)}
        deleted = _cli(c, "db", "prune", "--older-than-days", "0", "--delete")
        after_delete = {r["thread_id"]: r["n"] for r in c.rows(threads)}
        last = api.decide_review(reviews[1].run_id, reviews[1].asset_id, "approve",
                                 c.settings, reviewer="ana")
    assert len(before) == 4 and min(before.values()) > 1
    assert kept.returncode == 0 and "pruned 4 asset thread(s) of 2 run(s)" in kept.stdout
    assert after_keep == {t: 1 for t in before}
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert list(after_delete) == [t for t in before if t.endswith("/" + reviews[1].asset_id)
                                  and t.startswith(reviews[1].run_id + "#")]
    assert all(a["status"] == "accepted" for a in last.manifest["assets"])
    assert upgraded.returncode == 0 and "up to date" in upgraded.stdout, upgraded.stdout
    assert done.returncode == 0, done.stdout + done.stderr
    assert "succeeded" in done.stdout and done.stdout.count("accepted") >= 2
    assert "run folder:" in done.stdout
    assert queued.returncode == 0 and job_id.startswith("job-"), queued.stdout + queued.stderr
    assert [r["outcome"] for r in rows] == ["needs_review", "needs_review"]
    assert len(status["workers"]) == 1 and status["leases"] == []
    assert status["paid_in_flight"] == [] and status["jobs"] == []
    assert {r.run_id for r in reviews} == {rows[0]["run_id"]} and len(reviews) == 2
    a = next(x for x in decided.manifest["assets"] if x["asset_id"] == reviews[0].asset_id)
    assert a["status"] == "accepted" and a["review"]["reviewer"] == "ana"
    assert len(listed) == 2
    r = next(x for x in regen.manifest["assets"] if x["asset_id"] == reviews[1].asset_id)
    assert r["status"] == "needs_review" and len(r["attempts"]) == 2  # policy: always
    assert len(second) == 1 and f":{c.workers['a'].pid}:" in second[0]["owner"]
    assert len(c.server.calls("submit")) == 5


def test_a_broker_needs_postgresql(tmp_path: Path) -> None:
    from pydantic import ValidationError
    from agents.settings import Settings
    with pytest.raises(ValidationError, match="SIGNWRITER_BROKER_URL needs SIGNWRITER_DATABASE_URL"):
        Settings(_env_file=None, broker_url="redis://127.0.0.1:6379/0")
    with pytest.raises(ValidationError, match="must be a redis:// URL"):
        Settings(_env_file=None, broker_url="http://x", database_url="postgresql://x/y")
    s = Settings(_env_file=None, database_url="postgresql://x/y")
    assert not s.cluster  # PostgreSQL alone: the index there, runs still in-process


@pytest.mark.timeout(300)
def test_bench_scale_runs_separate_generate_and_check_workers(tmp_path: Path) -> None:
    from agents.benchmarks.scale import format_result, run_scale_bench
    with cluster(tmp_path) as c:
        r = run_scale_bench(c.settings, assets=6, workers=2, concurrency=2, check_workers=1,
                            check_concurrency=1, latency_s=0.5, folder=tmp_path / "bench")
        workers = c.rows("SELECT queues, state FROM workers ORDER BY queues")
    assert r.accepted == 6 and r.ideal_s == 1.0 and r.wall_s >= r.ideal_s
    assert r.generate_s >= 0.5 and [m.queue for m in r.memory] == ["generate", "generate",
                                                                     "check"]
    assert all(m.rss_end_mb > 0 for m in r.memory)
    assert format_result(r).splitlines()[-1].startswith("ratio=")
    # the workers were stopped with SIGTERM and recorded themselves stopped
    assert {w["queues"] for w in workers} == {"generate", "check"}
    assert all(w["state"] == "stopped" for w in workers), workers


@pytest.mark.timeout(240)
def test_the_providers_concurrency_limit_holds_across_workers(tmp_path: Path) -> None:
    with cluster(tmp_path, SIGNWRITER_PROVIDER_MAX_IN_FLIGHT="2") as c:
        items = c.items(6)
        c.server.queue_polls = 10**6
        c.start_worker("a", concurrency=3)
        c.start_worker("b", concurrency=3)
        job_id, _, _ = enqueue_batch(items, [], c.settings)
        wait_for("two submits", lambda: len(c.server.calls("submit")) >= 2, 60)
        time.sleep(4.0)  # six threads are free: without the limit all six would submit
        held = len(c.server.calls("submit"))
        c.server.queue_polls = 3
        most = 0
        end = time.monotonic() + 180
        while time.monotonic() < end:
            tasks = list(c.server.tasks.values())
            most = max(most, sum("url" not in t for t in tasks))
            if all(r["state"] == "done" for r in jobs.items(c.settings, job_id)):
                break
            time.sleep(0.02)
        rows = jobs.items(c.settings, job_id)
    assert held == 2
    assert most == 2
    assert [r["outcome"] for r in rows] == ["accepted"] * 6
    assert len(c.server.calls("submit")) == 6


@pytest.mark.timeout(240)
def test_the_providers_rate_limit_holds_across_workers(tmp_path: Path) -> None:
    with cluster(tmp_path, SIGNWRITER_PROVIDER_REQUESTS_PER_MIN="3") as c:
        items = c.items(6)
        c.start_worker("a", concurrency=3)
        c.start_worker("b", concurrency=3)
        enqueue_batch(items, [], c.settings)
        wait_for("three submits", lambda: len(c.server.calls("submit")) >= 3, 60)
        time.sleep(5.0)  # the others wait for the minute to pass
        submits = len(c.server.calls("submit"))
    assert submits == 3


def test_two_schedulers_against_one_database_fire_each_tick_once(tmp_path: Path) -> None:
    import threading
    from datetime import datetime, timedelta, timezone

    from agents.automation.schedule import Job, Scheduler
    from agents.settings import Settings
    from tests.databases import postgres_schema

    class Clock:
        def __init__(self) -> None:
            self.now = datetime(2026, 12, 1, 10, 0, 5, tzinfo=timezone.utc)

        def __call__(self) -> datetime:
            return self.now

    calls: list[tuple[str, str]] = []
    lock = threading.Lock()

    def runner(job: Job, tick: datetime, settings: Settings) -> dict:
        with lock:
            calls.append((job.name, tick.isoformat()))
        time.sleep(0.01)
        return {"summary": "ok"}

    jobs_ = [Job(name=n, cron="* * * * *", briefs=[Path("x.yaml")]) for n in ("a", "b")]
    clock = Clock()
    with postgres_schema() as url:
        settings = Settings(runs_dir=tmp_path / "runs", database_url=url, _env_file=None)
        schedulers = [Scheduler(jobs_, settings, clock=clock, runner=runner) for _ in range(2)]
        fired: list[list[tuple[str, str, str]]] = [[], []]
        for _minute in range(15):
            start = threading.Barrier(2)

            def go(i: int) -> None:
                start.wait()
                fired[i] += schedulers[i].run_pending()
            threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            clock.now += timedelta(minutes=1)
    assert len(calls) == 30 and len(set(calls)) == 30  # 2 jobs x 15 ticks, each once
    assert sorted(fired[0] + fired[1]) == sorted(
        (n, f"2026-12-01T10:{m:02d}", "done") for n in ("a", "b") for m in range(15))


@pytest.mark.timeout(300)
def test_a_worker_killed_before_it_submits_leaves_one_submit(tmp_path: Path) -> None:
    # the provider takes one request at a time: the other attempts have their intent
    # (and budget) recorded and wait for a slot, not yet sent — kill a worker there
    with cluster(tmp_path, SIGNWRITER_PROVIDER_MAX_IN_FLIGHT="1") as c:
        items = c.items(3)
        c.server.queue_polls = 10**6
        c.start_worker("a", concurrency=2)
        c.start_worker("b", concurrency=2)
        job_id, _, _ = enqueue_batch(items, [], c.settings)

        def waiting() -> list[dict]:
            rows = c.rows("SELECT owner, state FROM paid_intents")
            return rows if len(rows) == 3 and sum(r["state"] == "reserved" for r in rows) == 2 \
                else []
        rows = wait_for("two attempts waiting to submit", waiting, 90,
                        on_timeout=lambda: c.log("a") + c.log("b"))
        owner = next(r["owner"] for r in rows if r["state"] == "reserved")
        victim = next(n for n, p in c.workers.items() if f":{p.pid}:" in owner)
        pid = c.workers[victim].pid
        resent = sum(r["state"] == "reserved" and f":{pid}:" in r["owner"] for r in rows)
        assert len(c.server.calls("submit")) == 1
        c.kill9(victim)
        c.server.queue_polls = 2
        done = jobs.wait(c.settings, job_id, timeout_s=180)
        intents = c.rows("SELECT takeovers, handle FROM paid_intents")
        submits = c.server.calls("submit")
        job = jobs.job(c.settings, job_id)
    from generation.zai import COST_PER_IMAGE_USD
    # an intent without the provider's answer may have been sent: counted as possibly paid
    assert job["spent_usd"] == pytest.approx((3 + resent) * COST_PER_IMAGE_USD)
    assert job["reserved_usd"] == pytest.approx(0)
    maybe = [json.loads(line) for f in Path(c.settings.runs_dir).glob("*/ledger.jsonl")
             for line in f.read_text().splitlines()]
    assert sum(e["kind"] == "failed" and e["possibly_charged_usd"] > 0 for e in maybe) == resent
    assert [r["outcome"] for r in done] == ["accepted"] * 3
    assert len(submits) == len(intents) == 3
    assert sum(i["takeovers"] for i in intents) >= 1
    assert len({i["handle"] for i in intents}) == 3


def test_worker_commands_without_workers_configured_say_what_is_missing(tmp_path: Path
                                                                       ) -> None:
    import os
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNWRITER_")}
    env["SIGNWRITER_RUNS_DIR"] = str(tmp_path / "runs")
    brief = tmp_path / "b.yaml"
    from tests.workers.cluster import BASE
    brief.write_text(BASE)
    for args in (["worker"], ["status"], ["run", str(brief), "--no-wait"],
                 ["bench", "scale", "--assets", "1"]):
        p = subprocess.run([sys.executable, "-m", "agents.cli", *args], env=env,
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 2, (args, p.stdout, p.stderr)
        lines = (p.stdout + p.stderr).strip().splitlines()
        assert len(lines) == 1 and "SIGNWRITER_BROKER_URL" in lines[0], (args, lines)
    env["SIGNWRITER_BROKER_URL"] = "redis://127.0.0.1:6379/0"
    p = subprocess.run([sys.executable, "-m", "agents.cli", "status"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "SIGNWRITER_DATABASE_URL" in p.stdout + p.stderr
    assert len((p.stdout + p.stderr).strip().splitlines()) == 1


@pytest.mark.timeout(240)
def test_a_v1_api_job_is_made_by_the_workers(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from agents.automation.jobs import create_token
    from agents.web.app import create_app
    brief = {"name": "api", "brand": {"name": "Acme", "colors": ["#0b3d91", "#ffffff",
                                                                  "#fc3d21"]},
             "copy": {"headline": "Spring Sale", "price": "Only $19.99"},
             "formats": ["512x512"]}
    with cluster(tmp_path, SIGNWRITER_BACKEND="typeset") as c:
        c.start_worker("a", concurrency=2)
        token = create_token("ci", "creator", c.settings)
        auth = {"Authorization": f"Bearer {token}"}
        with TestClient(create_app(c.settings), base_url="http://testserver") as client:
            r = client.post("/v1/jobs", json={"brief": brief}, headers=auth)
            assert r.status_code == 202, r.text
            job = wait_for("the API job", lambda: (lambda j: j if j["status"] not in (
                "queued", "running") else None)(client.get(
                    f"/v1/jobs/{r.json()['id']}", headers=auth).json()), 180, poll_s=0.5)
            (asset,) = client.get(f"/v1/jobs/{job['id']}/assets", headers=auth).json()["items"]
            img = client.get(asset["image_url"], headers=auth)
        made_by = c.rows("SELECT owner FROM paid_intents")
    assert job["status"] == "completed" and job["counts"] == {"accepted": 1}
    assert img.status_code == 200 and img.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(made_by) == 1 and f":{c.workers['a'].pid}:" in made_by[0]["owner"]


@pytest.mark.timeout(240)
def test_a_scheduled_tick_is_made_by_the_workers(tmp_path: Path) -> None:
    from datetime import datetime, timezone

    from agents.automation.schedule import Job, Scheduler, history
    from tests.workers.cluster import BASE
    brief = tmp_path / "weekly.yaml"
    brief.write_text(BASE.replace("[social-square]", "[512x512]"))
    with cluster(tmp_path, SIGNWRITER_BACKEND="typeset") as c:
        c.start_worker("a", concurrency=2)
        job = Job(name="weekly", cron="0 9 * * MON", briefs=[brief], backend="typeset")
        now = datetime(2026, 11, 30, 9, 0, 30, tzinfo=timezone.utc)  # a Monday, 09:00
        fired = Scheduler([job], c.settings, clock=lambda: now).run_pending()
        again = Scheduler([job], c.settings, clock=lambda: now).run_pending()
        ticks = history(c.settings, "weekly")
        made_by = c.rows("SELECT owner FROM paid_intents")
    assert fired == [("weekly", "2026-11-30T09:00", "done")] and again == []
    assert len(ticks) == 1 and "accepted 1" in json.loads(ticks[0]["result"])["summary"]
    assert len(made_by) == 1 and f":{c.workers['a'].pid}:" in made_by[0]["owner"]


@pytest.mark.timeout(240)
def test_a_task_the_broker_lost_is_queued_again(tmp_path: Path) -> None:
    import redis
    with cluster(tmp_path, SIGNWRITER_REQUEUE_AFTER_S="2") as c:
        items = c.items(2)
        job_id, _, _ = enqueue_batch(items, [], c.settings)
        r = redis.Redis.from_url(c.env["SIGNWRITER_BROKER_URL"])
        lost = r.delete(f"{c.settings.queue_prefix}.generate")  # Redis lost its data
        r.close()
        c.start_worker("a", concurrency=2)
        rows = jobs.wait(c.settings, job_id, timeout_s=120)
    assert lost == 1
    assert [x["outcome"] for x in rows] == ["accepted", "accepted"]
    assert "re-queueing" in c.log("a")


@pytest.mark.timeout(240)
def test_a_task_a_dead_worker_took_but_never_started_is_queued_again_at_once(tmp_path: Path
                                                                             ) -> None:
    # Neither the broker (visibility timeout 3600 s) nor the sweep's catch-all
    # (SIGNWRITER_REQUEUE_AFTER_S, 900 s) would give the task back within the test: only
    # the record of which worker received it (migration 0005) can.
    import redis

    from agents.workers.app import celery_app
    from tests.workers.cluster import REDIS
    with cluster(tmp_path) as c:
        items = c.items(1)
        job_id, _, _ = enqueue_batch(items, [], c.settings)
        # the task, handed to the broker again with an ETA an hour away: a worker takes it
        # from the queue (Celery's task_received) and keeps it, not started, in its timer
        r = redis.Redis.from_url(REDIS)
        queue = jobs.queue_name(c.settings, "generate")
        assert r.delete(queue) == 1
        (item,) = jobs.items(c.settings, job_id)
        celery_app(c.settings).send_task(
            jobs.TASK, args=[item["run_id"], item["asset_id"], job_id, "generate"],
            queue=queue, countdown=3600)
        c.start_worker("a", concurrency=1)
        received = wait_for("worker a to take the task", lambda: c.rows(
            "SELECT received_by FROM cluster_items WHERE received_by IS NOT NULL"), 60,
            on_timeout=lambda: c.log("a"))
        left_in_queue = r.llen(queue)
        r.close()
        started = c.rows("SELECT 1 FROM leases") + c.rows("SELECT 1 FROM paid_intents")
        c.kill9("a")
        killed_at = time.monotonic()
        c.start_worker("b", concurrency=1)
        rows = jobs.wait(c.settings, job_id, timeout_s=120, poll_s=0.1)
        took_s = time.monotonic() - killed_at
    assert f":{c.workers['a'].pid}:" in received[0]["received_by"]
    assert left_in_queue == 0 and started == []  # taken from the broker, never started
    assert rows[0]["outcome"] == "accepted"
    assert "re-queueing" in c.log("b")
    assert took_s < 60, took_s  # the lease TTL (2 s) and worker start-up, not 900 s
    assert len(c.server.calls("submit")) == 1


@pytest.mark.timeout(240)
def test_a_worker_killed_while_the_providers_answer_is_on_the_wire_sends_again(
        tmp_path: Path) -> None:
    # The window left open (agents/workers/payments.py): the provider has acted on the
    # submit, its answer (the task id) has not reached the worker. The attempt is sent
    # again and counted as possibly charged; nothing is lost or left uncounted.
    from generation.zai import COST_PER_IMAGE_USD
    with cluster(tmp_path, SIGNWRITER_MAX_COST="1") as c:
        items = c.items(1)
        c.server.script("submit", "hold")
        c.start_worker("a", concurrency=1)
        job_id, _, _ = enqueue_batch(items, [], c.settings)
        assert c.server.holding.acquire(timeout=90), c.log("a")  # the task exists there
        intent = c.rows("SELECT state, handle FROM paid_intents")
        c.kill9("a")
        c.server.release_held()
        c.start_worker("b", concurrency=1)
        rows = jobs.wait(c.settings, job_id, timeout_s=120, poll_s=0.1)
        intents = c.rows("SELECT takeovers, handle, state FROM paid_intents")
        job = jobs.job(c.settings, job_id)
        submits = c.server.calls("submit")
        tasks = dict(c.server.tasks)
    assert intent == [{"state": "reserved", "handle": None}]
    assert rows[0]["outcome"] == "accepted"
    assert len(submits) == 2 and len(tasks) == 2  # sent twice: the first task is orphaned
    assert "url" not in tasks["task-1"]  # nobody polled it
    (i,) = intents
    assert i["takeovers"] == 1 and json.loads(i["handle"])["task_id"] == "task-2"
    entries = [json.loads(line) for f in Path(c.settings.runs_dir).glob("*/ledger.jsonl")
               for line in f.read_text().splitlines()]
    maybe = [e for e in entries if e["kind"] == "failed"]
    assert len(maybe) == 1 and maybe[0]["possibly_charged_usd"] == COST_PER_IMAGE_USD
    assert job["spent_usd"] == pytest.approx(2 * COST_PER_IMAGE_USD)  # the budget counts both
    assert job["reserved_usd"] == pytest.approx(0)


@pytest.mark.timeout(300)
def test_the_review_app_and_the_api_in_one_process_see_the_workers_assets(tmp_path: Path
                                                                          ) -> None:
    from starlette.testclient import TestClient

    from agents.accounts import add_user
    from agents.automation.jobs import create_token
    from agents.index import Index
    from agents.web.app import create_app
    from tests.web.conftest import PASSWORD
    from tests.web.test_app import Forms
    brief = {"name": "seen", "brand": {"name": "Acme", "colors": ["#0b3d91", "#ffffff",
                                                                   "#fc3d21"]},
             "copy": {"headline": "Spring Sale", "price": "Only $19.99"},
             "formats": ["512x512"]}
    with cluster(tmp_path, SIGNWRITER_BACKEND="typeset", SIGNWRITER_REVIEW_POLICY="always") as c:
        c.start_worker("a", concurrency=2)
        add_user(Index.for_settings(c.settings), "rex", "reviewer", PASSWORD)
        auth = {"Authorization": f"Bearer {create_token('ci', 'creator', c.settings)}"}
        with TestClient(create_app(c.settings), base_url="http://testserver") as web:
            posted = web.post("/v1/jobs", json={"brief": brief}, headers=auth)
            assert posted.status_code == 202, posted.text
            url = f"/v1/jobs/{posted.json()['id']}"
            waiting = wait_for("the job to wait for review", lambda: (
                lambda j: j if j["status"] == "needs_review" else None)(
                    web.get(url, headers=auth).json()), 180, poll_s=0.3,
                on_timeout=lambda: c.log("a"))
            (asset,) = web.get(f"{url}/assets", headers=auth).json()["items"]
            # the review app, same process: the queue, the asset page, its image
            login = Forms(web.get("/login").text).form("/login")["inputs"]["csrf_token"]
            web.post("/login", data={"username": "rex", "password": PASSWORD,
                                     "csrf_token": login})
            queue = web.get("/", headers={"Accept": "application/json"}).json()
            page = web.get(f"/reviews/{asset['run_id']}/{asset['asset_id']}")
            forms = Forms(page.text)
            shown = [a["src"] for t, a in forms.tags if t == "img" and "/files/" in a["src"]]
            image = web.get(shown[0])
            form = forms.form(f"/reviews/{asset['run_id']}/{asset['asset_id']}/decision")
            decided = web.post(form["action"], data={
                "decision": "approve", "csrf_token": form["inputs"]["csrf_token"],
                "round": form["inputs"]["round"]}, follow_redirects=False)
            done = wait_for("the approval to show in the API", lambda: (
                lambda j: j if j["status"] == "completed" else None)(
                    web.get(url, headers=auth).json()), 60, poll_s=0.3)
            final = web.get(f"/v1/assets/{asset['id']}", headers=auth).json()
            final_image = web.get(final["image_url"], headers=auth)
        made_by = c.rows("SELECT owner FROM paid_intents")
    assert waiting["counts"] == {"needs_review": 1} and asset["status"] == "needs_review"
    assert [(i["run_id"], i["asset_id"]) for i in queue["items"]] == [
        (asset["run_id"], asset["asset_id"])]
    assert page.status_code == 200 and "Attempt 1" in page.text
    assert image.status_code == 200 and image.headers["content-type"].startswith("image/")
    assert decided.status_code == 303, decided.text
    assert done["counts"] == {"accepted": 1} and final["status"] == "accepted"
    assert final_image.status_code == 200 and final_image.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(made_by) == 1 and f":{c.workers['a'].pid}:" in made_by[0]["owner"]


@pytest.mark.timeout(240)
def test_deployments_sharing_one_redis_never_hand_out_each_others_tasks(tmp_path: Path
                                                                        ) -> None:
    # A worker starting up hands out again every task taken but not acknowledged for
    # longer than its visibility timeout; it must only look at its own deployment's.
    import redis

    from tests.workers.cluster import REDIS
    (tmp_path / "y").mkdir()
    (tmp_path / "x").mkdir()
    with cluster(tmp_path / "y") as y, \
            cluster(tmp_path / "x", SIGNWRITER_BROKER_VISIBILITY_TIMEOUT_S="1") as x:
        items = y.items(1)
        y.server.queue_polls = 10**6
        y.start_worker("a", concurrency=2)
        job_id, _, _ = enqueue_batch(items, [], y.settings)
        wait_for("y's worker to pay", lambda: y.rows(
            "SELECT 1 FROM paid_intents WHERE state = 'submitted'"), 60,
            on_timeout=lambda: y.log("a"))
        time.sleep(1.5)  # y's task is older than x's visibility timeout
        x.start_worker("a", concurrency=2)
        wait_for("x's worker to start", lambda: x.rows("SELECT 1 FROM workers"), 60,
                 on_timeout=lambda: x.log("a"))
        time.sleep(2.0)  # it restores what it thinks is lost as it starts polling
        r = redis.Redis.from_url(REDIS)
        handed_out_again = r.llen(jobs.queue_name(y.settings, "generate"))
        r.close()
        y.server.queue_polls = 0
        rows = jobs.wait(y.settings, job_id, timeout_s=120)
    assert handed_out_again == 0 and "'busy'" not in y.log("a")
    assert rows[0]["outcome"] == "accepted"
    assert len(y.server.calls("submit")) == 1
