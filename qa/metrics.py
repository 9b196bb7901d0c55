"""Metrics as CVTG-2K defines them, plus the ``score`` that ranks attempts (best-of-N).

* **word accuracy** — the fraction of expected words that were read correctly, over all
  regions (a word counts once per occurrence; for CJK every character is a word).
* **NED** — 1 − normalised edit distance between expected and read text, averaged over
  regions (1 = every region read exactly).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from rapidfuzz.distance import Levenshtein

from qa.models import Finding, Strictness
from qa.normalize import normalize, words

UNEXPECTED_PENALTY = 0.05
"""Subtracted from ``score`` per piece of unexpected text."""

FAIL_WEIGHT = 0.5
"""A failing region counts this fraction of its similarity in ``score``."""


def word_hits(expected: str, read: str, strictness: Strictness | None = None) -> tuple[int, int]:
    """(expected words read correctly, expected words) for one region."""
    want = words(expected, strictness)
    got = Counter(words(read, strictness))
    hits = 0
    for w in want:
        if got[w] > 0:
            got[w] -= 1
            hits += 1
    return hits, len(want)


def word_accuracy(pairs: Sequence[tuple[str, str, Strictness | None]]) -> float:
    """CVTG-2K word accuracy over ``(expected, read, strictness)`` pairs (1.0 when empty)."""
    hits = total = 0
    for expected, read, strictness in pairs:
        h, t = word_hits(expected, read, strictness)
        hits += h
        total += t
    return hits / total if total else 1.0


def ned(pairs: Sequence[tuple[str, str, Strictness | None]]) -> float:
    """CVTG-2K NED similarity: mean over regions of 1 − edit distance / longer length."""
    if not pairs:
        return 1.0
    vals = []
    for expected, read, strictness in pairs:
        a, b = normalize(expected, strictness), normalize(read, strictness)
        vals.append(Levenshtein.normalized_similarity(a, b))
    return sum(vals) / len(vals)


def score(regions: Sequence[Finding], unexpected: Sequence[Finding]) -> float:
    """0..1, higher is better: mean region similarity with failing regions weighted by
    :data:`FAIL_WEIGHT`, minus :data:`UNEXPECTED_PENALTY` per unexpected text. A passing
    image scores 1.0; every failing image scores below 1."""
    if regions:
        parts = [1.0 if f.kind == "ok" else FAIL_WEIGHT * f.similarity / 100.0 for f in regions]
        base = sum(parts) / len(parts)
    else:
        base = 1.0
    return max(0.0, min(1.0, base - UNEXPECTED_PENALTY * len(unexpected)))
