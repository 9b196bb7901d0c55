"""Reading the ledgers of runs made by another process: waiting for a point in one, and
listing every paid generation."""

from __future__ import annotations

import json
import time
from pathlib import Path


def wait_for_ledger(runs: Path, marker: str, timeout_s: float) -> Path | None:
    """The first ``runs/*/ledger.jsonl`` holding ``marker`` (e.g. ``'"submitted"'``), or
    None if none does within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for f in runs.glob("*/ledger.jsonl") if runs.exists() else []:
            if marker in f.read_text():
                return f
        time.sleep(0.02)
    return None


def done_entries(runs: Path) -> list[tuple[str, str, int, str]]:
    """(run, asset, attempt, sha256) of every generation in ``runs/*/ledger.jsonl`` (a line
    torn by a kill is skipped)."""
    out = []
    for ledger in runs.glob("*/ledger.jsonl"):
        for line in ledger.read_text().splitlines():
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                continue
            if e.get("kind", "done") == "done":
                out.append((ledger.parent.name, e["asset_id"], e["attempt"], e["sha256"]))
    return out
