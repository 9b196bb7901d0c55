"""Waiting for a run started in another process to reach a point in its ledger."""

from __future__ import annotations

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
