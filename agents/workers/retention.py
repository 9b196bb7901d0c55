"""Checkpoint retention for PostgreSQL checkpoints (``signwriter db prune``).

Every step of every asset's graph thread leaves a checkpoint; a finished run needs at most
the latest one of each thread (what review and ``get_state`` read). Runs last updated
before the cut-off keep only that (``keep_latest``), or, with ``delete``, nothing for
assets that are finished (an asset waiting for a person always keeps its thread, and a
run still running is never touched). Uses the checkpointer's own ``prune`` (one snapshot
per thread, safe beside running workers).
"""

from __future__ import annotations

import time
from typing import Any

from agents.index import Index
from agents.settings import Settings
from agents.status import AssetStatus
from agents.workers.db import checkpointer, require_postgres, tx

KEEP_WHILE = {AssetStatus.PENDING, AssetStatus.RUNNING}


def _count(settings: Settings) -> int:
    with tx(settings) as c:
        return int(c.execute("SELECT count(*) AS n FROM checkpoints").fetchone()["n"])


def prune_checkpoints(settings: Settings, *, older_than_s: float,
                      strategy: str = "keep_latest", dry_run: bool = False) -> dict[str, Any]:
    """Prune the checkpoints of runs not updated for ``older_than_s`` seconds."""
    require_postgres(settings)
    if strategy not in ("keep_latest", "delete"):
        raise ValueError(f"unknown strategy {strategy!r}")
    index = Index.for_settings(settings)
    cutoff = time.time() - older_than_s
    threads: list[str] = []
    runs = 0
    for r in index.runs(limit=1_000_000):
        if (r.get("updated") or r.get("created") or 0) >= cutoff:
            continue
        picked = []
        with tx(settings) as c:  # the run's threads (``run/asset`` or ``run#nonce/asset``)
            threads_of = {t["thread_id"].rsplit("/", 1)[-1]: t["thread_id"] for t in c.execute(
                "SELECT DISTINCT thread_id FROM checkpoints WHERE thread_id LIKE %s"
                " OR thread_id LIKE %s", (f"{r['run_id']}/%", f"{r['run_id']}#%"))
                if t["thread_id"].split("/", 1)[0].split("#", 1)[0] == r["run_id"]}
        for a in index.assets(r["run_id"]):
            status = AssetStatus(a["status"])
            if status in KEEP_WHILE:
                picked = []
                break  # a run still at work is left alone
            if strategy == "delete" and status is AssetStatus.NEEDS_REVIEW:
                continue
            if a["asset_id"] in threads_of:
                picked.append(threads_of[a["asset_id"]])
        if picked:
            runs += 1
            threads += picked
    before = _count(settings)
    if not dry_run and threads:
        checkpointer(settings).prune(threads, strategy=strategy)
    return {"runs": runs, "threads": len(threads), "strategy": strategy, "before": before,
            "after": before if dry_run else _count(settings)}
