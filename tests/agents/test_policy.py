"""The QA agent's policy: accept, repair, regenerate or review — and why."""

from __future__ import annotations

from agents.policy import best_attempt, decide


def _attempt(n: int, passed: bool, score: float, regions=(), unexpected=(), **kw) -> dict:
    return {"n": n, "image": f"images/{n}.png", **kw,
            "qa": {"passed": passed, "score": score, "regions": list(regions),
                   "unexpected": list(unexpected)}}


MISSPELT = {"region_id": "headline", "kind": "misspelt", "expected": "Summer Sale",
            "read": "Summr Sale"}
OK = {"region_id": "cta", "kind": "ok", "expected": "Shop now", "read": "Shop now"}


def test_accepts_a_pass() -> None:
    d = decide([_attempt(1, True, 1.0, [OK])], max_attempts=3, can_edit=False)
    assert d.action == "accept" and d.best == 1


def test_repairs_a_single_misspelling_when_the_backend_can_edit() -> None:
    d = decide([_attempt(1, False, 0.8, [MISSPELT, OK])], max_attempts=3, can_edit=True)
    assert d.action == "repair"
    assert d.regions == [{"region_id": "headline", "wrong": "Summr Sale", "right": "Summer Sale"}]
    assert "Summr Sale" in d.why


def test_regenerates_when_the_backend_cannot_edit() -> None:
    d = decide([_attempt(1, False, 0.8, [MISSPELT, OK])], max_attempts=3, can_edit=False)
    assert d.action == "regenerate" and d.reinforce == ["Summer Sale"]
    assert "cannot edit" in d.why


def test_missing_region_or_extra_text_regenerates() -> None:
    missing = {"region_id": "cta", "kind": "missing", "expected": "Shop now", "read": None}
    d = decide([_attempt(1, False, 0.5, [missing])], max_attempts=3, can_edit=True)
    assert d.action == "regenerate" and "not a local misspelling" in d.why
    d = decide([_attempt(1, False, 0.9, [OK], [{"kind": "unexpected", "read": "FREE"}])],
               max_attempts=3, can_edit=True)
    assert d.action == "regenerate" and "FREE" in d.why


def test_a_failed_repair_of_the_same_region_regenerates() -> None:
    attempts = [_attempt(1, False, 0.8, [MISSPELT]),
                _attempt(2, False, 0.8, [MISSPELT], action="repair", repaired=["headline"])]
    d = decide(attempts, max_attempts=3, can_edit=True)
    assert d.action == "regenerate" and "repair of the same region failed" in d.why


def test_review_after_max_attempts_picks_the_best_not_the_last() -> None:
    attempts = [_attempt(1, False, 0.9, [MISSPELT]), _attempt(2, False, 0.4, [MISSPELT]),
                _attempt(3, False, 0.6, [MISSPELT])]
    d = decide(attempts, max_attempts=3, can_edit=True)
    assert d.action == "review" and d.best == 1
    assert best_attempt(attempts)["n"] == 1


def test_illegible_text_regenerates_and_says_why() -> None:
    illegible = {"region_id": "legal", "kind": "illegible", "expected": "Terms apply.",
                 "read": "T..."}
    d = decide([_attempt(1, False, 0.7, [illegible, OK])], max_attempts=3, can_edit=True)
    assert d.action == "regenerate"
    assert "illegible" in d.why and "cannot make unreadable text verifiable" in d.why
    d = decide([_attempt(1, False, 0.7, [illegible])], max_attempts=1, can_edit=True)
    assert d.action == "review" and "illegible" in d.why
