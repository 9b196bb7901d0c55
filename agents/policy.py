"""The QA agent's policy: given the attempts so far, what to do next, and why.

A pure function of recorded facts (QA summaries, attempt count, backend capabilities), so
it is easy to test and its choice is written into every attempt record.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Action = Literal["accept", "repair", "regenerate", "review"]

REPAIRABLE = {"misspelt"}
MAX_REPAIR_REGIONS = 2


class Decision(BaseModel):
    action: Action
    why: str
    reinforce: list[str] = Field(default_factory=list, description="Texts to spell out again.")
    regions: list[dict[str, Any]] = Field(default_factory=list,
                                          description="Failing regions to repair.")
    best: int | None = Field(None, description="Attempt number of the best attempt so far.")


def best_attempt(attempts: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The best attempt (highest QA score; a pass beats any fail; earlier wins ties)."""
    checked = [a for a in attempts if a.get("qa")]
    if not checked:
        return None
    return max(checked, key=lambda a: (a["qa"]["passed"], a["qa"]["score"], -a["n"]))


def _describe(f: dict[str, Any]) -> str:
    kind, exp, read = f.get("kind"), f.get("expected"), f.get("read")
    if kind == "misspelt":
        return f"'{f.get('region_id')}' reads '{read}' instead of '{exp}'"
    if kind == "unexpected":
        return f"unexpected text '{read}'"
    if kind == "illegible":
        return (f"'{f.get('region_id')}' is illegible (nothing reads reliably, so it cannot "
                f"be verified)")
    if kind == "misplaced":
        return f"'{f.get('region_id')}' is misplaced ('{exp}' reads outside its area)"
    return f"'{f.get('region_id')}' is {kind}"


def decide(attempts: list[dict[str, Any]], *, max_attempts: int, can_edit: bool) -> Decision:
    """Accept, repair a region, regenerate, or hand the asset to a human."""
    last = attempts[-1]
    qa = last["qa"]
    best = best_attempt(attempts)
    best_n = best["n"] if best else None
    if qa["passed"]:
        return Decision(action="accept", why=f"attempt {last['n']}: every region reads exactly",
                        best=last["n"])
    failing = [r for r in qa["regions"] if r["kind"] != "ok"]
    unexpected = qa.get("unexpected", [])
    problems = "; ".join(_describe(f) for f in failing + unexpected) or "QA failed"
    if len(attempts) >= max_attempts:
        best_problems = "; ".join(
            _describe(f) for f in [r for r in best["qa"]["regions"] if r["kind"] != "ok"]
            + best["qa"].get("unexpected", [])) if best else problems
        return Decision(action="review", best=best_n,
                        why=f"{len(attempts)} attempts used (max {max_attempts}); the best, "
                            f"attempt {best_n}: {best_problems or 'QA failed'}")
    reinforce = [r["expected"] for r in failing if r.get("expected")]
    repaired_same = (last.get("action") == "repair"
                     and {r["region_id"] for r in failing} & set(last.get("repaired", [])))
    if (can_edit and failing and not unexpected and len(failing) <= MAX_REPAIR_REGIONS
            and all(r["kind"] in REPAIRABLE for r in failing) and not repaired_same):
        return Decision(action="repair", reinforce=reinforce, best=best_n,
                        regions=[{"region_id": r["region_id"], "wrong": r.get("read"),
                                  "right": r["expected"]} for r in failing],
                        why=f"{problems}; the rest is right and the backend can edit, so fix "
                            f"{'that region' if len(failing) == 1 else 'those regions'} only")
    if repaired_same:
        reason = "a repair of the same region failed"
    elif not can_edit:
        reason = "the backend cannot edit"
    elif any(r["kind"] == "illegible" for r in failing):
        reason = "an edit cannot make unreadable text verifiable"
    elif unexpected or any(r["kind"] not in REPAIRABLE for r in failing):
        reason = "not a local misspelling"
    else:
        reason = "too many regions to repair"
    return Decision(action="regenerate", reinforce=reinforce, best=best_n,
                    why=f"{problems}; {reason}: new seed with the failing text reinforced")
