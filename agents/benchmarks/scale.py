"""``signwriter bench scale``: what running on workers adds on top of the backend.

``assets`` CSV rows (one 512×512 format each, like ``bench batch``) are planned here and
queued as one job for ``workers`` real ``signwriter worker`` processes (``concurrency``
threads each, both queues) on the configured Redis and PostgreSQL, against the built-in
renderer answering after a fixed ``latency`` (``SIGNWRITER_TYPESET_LATENCY_S``: drawing
included, like a remote API). With ``workers × concurrency`` generations in flight the ideal
wall time is ``ceil(assets / slots) × latency``.

Reported: wall time from the first enqueue to the last asset done (planning the runs
included) and without planning, the ratio to the ideal, the overhead per asset
(``(wall − ideal) × slots / assets``: slot-seconds each asset costs beyond the latency), and
each worker's resident memory at half-way, at the end and its peak (flat in the number of
assets means the end is about the half-way figure). The runs go to a temporary folder and
to their own queues (``SIGNWRITER_QUEUE_PREFIX``); their rows stay in the database.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from pydantic import BaseModel

from agents.automation.batch import collect_csv, enqueue_batch
from agents.benchmarks.batch import write_inputs
from agents.benchmarks.pipeline import host
from agents.settings import Settings


class WorkerMemory(BaseModel):
    pid: int
    queue: str
    rss_half_mb: float
    rss_end_mb: float
    peak_mb: float


class ScaleBenchResult(BaseModel):
    assets: int
    workers: int
    concurrency: int
    check_workers: int
    check_concurrency: int
    latency_s: float
    size: str
    wall_s: float
    plan_s: float
    run_s: float
    ideal_s: float
    ratio: float
    ratio_after_planning: float
    generate_s: float
    generate_ratio: float
    overhead_per_asset_s: float
    accepted: int
    memory: list[WorkerMemory]
    cpus: int = 0
    cpu: str = ""
    load_avg: float = 0.0


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (a prefork pool), MiB."""
    total = 0.0
    pids = [pid]
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(k) for k in kids]
    except OSError:
        pass
    for p in pids:
        try:
            pages = int(Path(f"/proc/{p}/statm").read_text().split()[1])
        except (OSError, ValueError, IndexError):
            continue
        total += pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    return total


def _peak_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a process plus its children's, MiB."""
    pids = [pid]
    try:
        pids += [int(k) for k in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pass
    total = 0.0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            continue
    return total


def run_scale_bench(settings: Settings, *, assets: int = 500, workers: int = 4,
                    concurrency: int = 8, check_workers: int = 1,
                    check_concurrency: int | None = None, latency_s: float = 1.0,
                    size: int = 512, folder: Path | None = None,
                    start_timeout_s: float = 120.0) -> ScaleBenchResult:
    """Start the workers (``workers`` on the generate queue with ``concurrency`` threads
    each, ``check_workers`` on the check queue with ``check_concurrency`` processes each,
    default one per core), queue the batch, wait, stop the workers (SIGTERM)."""
    check_concurrency = check_concurrency or host()[0]
    from agents.workers import jobs
    from agents.workers.db import tx, upgrade
    if not settings.cluster:
        raise ValueError("bench scale needs workers: set SIGNWRITER_BROKER_URL and a "
                         "PostgreSQL SIGNWRITER_DATABASE_URL")
    tmp = tempfile.TemporaryDirectory(prefix="signwriter-bench-scale-") if folder is None else None
    root = Path(tmp.name) if tmp else Path(folder)  # type: ignore[union-attr]
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    s = settings.model_copy(update={"runs_dir": root / "runs", "queue_prefix": prefix,
                                    "backend": "typeset", "planner": "rules",
                                    "max_attempts": 1, "max_cost": None})
    env = {**os.environ, "SIGNWRITER_DATABASE_URL": s.database_url or "",
           "SIGNWRITER_BROKER_URL": s.broker_url or "",
           "SIGNWRITER_RUNS_DIR": str(s.runs_dir), "SIGNWRITER_QUEUE_PREFIX":
           prefix, "SIGNWRITER_BACKEND": "typeset", "SIGNWRITER_TYPESET_LATENCY_S":
           str(latency_s), "SIGNWRITER_MAX_ATTEMPTS": "1", "SIGNWRITER_PLANNER": "rules",
           # one OCR instance per worker process unless set: the workers share the cores
           "SIGNWRITER_OCR_WORKERS": os.environ.get("SIGNWRITER_OCR_WORKERS", "1")}
    upgrade(s)
    procs: list[subprocess.Popen] = []
    try:
        root.mkdir(parents=True, exist_ok=True)
        plan = ([("generate", concurrency)] * workers
                + [("check", check_concurrency)] * check_workers)
        for i, (queue, slots) in enumerate(plan):
            with open(root / f"worker-{i}-{queue}.log", "wb") as log:
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "agents.cli", "worker", "--queues", queue,
                     "-c", str(slots), "--loglevel", "WARNING"], env=env, stdout=log,
                    stderr=subprocess.STDOUT, start_new_session=True))
        pids = {p.pid for p in procs}
        end = time.monotonic() + start_timeout_s
        while time.monotonic() < end:
            with tx(s) as c:
                alive = {r["pid"] for r in c.execute(
                    "SELECT pid FROM workers WHERE state = 'up'").fetchall()} & pids
            if len(alive) == len(procs):
                break
            if any(p.poll() is not None for p in procs):
                raise RuntimeError(f"a worker exited; see {root}/worker-*.log")
            time.sleep(0.5)
        else:
            raise RuntimeError(f"the workers did not start within {start_timeout_s:.0f}s")
        base, rows = write_inputs(root, assets, size, name=prefix)
        t0 = time.perf_counter()
        items, bad = collect_csv(base, rows, s)
        job_id, queued, _ = enqueue_batch(items, bad, s)
        t_planned = time.perf_counter()
        half: dict[int, float] = {}

        def on_item(row: dict, done: list[int] = [0]) -> None:  # noqa: B006
            done[0] += 1
            if done[0] == assets // 2:
                half.update({p.pid: _tree_rss_mb(p.pid) for p in procs})

        rows_done = jobs.wait(s, job_id, on_item=on_item, poll_s=0.2) if job_id else []
        wall = time.perf_counter() - t0
        run_s = time.perf_counter() - t_planned
        with tx(s) as c:  # the generations alone: first paid submit to last image
            g = c.execute("SELECT max(settled_at) - min(created_at) AS s FROM paid_intents"
                          " WHERE job_id = %s", (job_id,)).fetchone()
        generate_s = float(g["s"] or 0.0)
        memory = [WorkerMemory(pid=p.pid, queue=q, rss_half_mb=round(half.get(p.pid, 0.0), 1),
                               rss_end_mb=round(_tree_rss_mb(p.pid), 1),
                               peak_mb=round(_peak_mb(p.pid), 1))
                  for p, (q, _) in zip(procs, plan)]
        slots = workers * concurrency
        ideal = math.ceil(assets / slots) * latency_s
        cpus, cpu = host()
        return ScaleBenchResult(
            assets=assets, workers=workers, concurrency=concurrency,
            check_workers=check_workers, check_concurrency=check_concurrency, latency_s=latency_s,
            size=f"{size}x{size}", wall_s=round(wall, 3), plan_s=round(t_planned - t0, 3),
            run_s=round(run_s, 3), ideal_s=ideal, ratio=round(wall / ideal, 3),
            ratio_after_planning=round(run_s / ideal, 3), generate_s=round(generate_s, 3),
            generate_ratio=round(generate_s / ideal, 3),
            overhead_per_asset_s=round((wall - ideal) * slots / assets, 3),
            accepted=sum(r["outcome"] == "accepted" for r in rows_done), memory=memory,
            cpus=cpus, cpu=cpu, load_avg=round(os.getloadavg()[0], 1))
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)
        if tmp:
            tmp.cleanup()


def format_result(r: ScaleBenchResult) -> str:
    mem = ", ".join(f"{m.queue} {m.rss_half_mb:.0f}→{m.rss_end_mb:.0f} (peak {m.peak_mb:.0f})"
                    for m in r.memory)
    return "\n".join([
        f"host: {r.cpus} CPU{'s' if r.cpus != 1 else ''}" + (f", {r.cpu}" if r.cpu else "")
        + f", load average {r.load_avg}",
        f"assets={r.assets} size={r.size} generate workers={r.workers} x {r.concurrency} "
        f"threads, check workers={r.check_workers} x {r.check_concurrency} processes, "
        f"latency={r.latency_s}s (typeset, fixed latency)",
        f"wall={r.wall_s:.2f}s (planning {r.plan_s:.2f}s, then {r.run_s:.2f}s) ideal="
        f"{r.ideal_s:.2f}s (ceil({r.assets}/{r.workers * r.concurrency}) x {r.latency_s}s) "
        f"accepted={r.accepted}/{r.assets}",
        f"per-asset overhead={r.overhead_per_asset_s:.3f} slot-s; the generations alone "
        f"(first submit to last image) {r.generate_s:.2f}s = {r.generate_ratio:.3f} x ideal",
        f"worker RSS MiB at half→end: {mem}",
        f"ratio={r.ratio:.3f} (after planning {r.ratio_after_planning:.3f})",
    ])
