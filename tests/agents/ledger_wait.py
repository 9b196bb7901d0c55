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


def done_lines(ledger: Path) -> list[dict]:
    """The generation entries (``kind`` done) of one ledger, in order; none when it does
    not exist yet (a line torn by a kill is skipped)."""
    if not ledger.exists():
        return []
    out = []
    for line in ledger.read_text().splitlines():
        try:
            e = json.loads(line)
        except json.JSONDecodeError:
            continue
        if e.get("kind", "done") == "done":
            out.append(e)
    return out


def done_entries(runs: Path) -> list[tuple[str, str, int, str]]:
    """(run, asset, attempt, sha256) of every generation in ``runs/*/ledger.jsonl`` (a line
    torn by a kill is skipped)."""
    return [(ledger.parent.name, e["asset_id"], e["attempt"], e["sha256"])
            for ledger in runs.glob("*/ledger.jsonl") for e in done_lines(ledger)]
