"""Helpers for review tests: a brief whose every asset needs a person after attempt 1, and
whose next attempt (after an edit or a regenerate) comes out clean."""

from __future__ import annotations

import random

from agents.nodes import attempt_seed

BRIEF = """\
name: review-test
brand: {name: Acme, colors: ["#0b3d91", "#ffffff", "#fc3d21"]}
copy:
  headline: Launch Week
  price: Only $19.99
  cta: Join now
formats: [card-small, social-square, poster-portrait]
style: clean, modern
"""
ASSETS = ("card-small", "poster-portrait", "social-square")
RATE = 0.5


def _faulty(seed: int, asset: str, n: int) -> bool:
    """Whether the typeset backend injects a text error into attempt ``n`` (its documented
    rule: the fault draw depends on the run's seed and the attempt's seed)."""
    rng = random.Random(f"faults:{seed}:{attempt_seed(seed, asset, n)}:generate")
    return rng.random() < RATE


def review_seed() -> int:
    """A run seed whose first attempts all carry an error and whose second are clean."""
    return next(s for s in range(100_000)
                if all(_faulty(s, a, 1) and not _faulty(s, a, 2) for a in ASSETS))
