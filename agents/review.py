"""Human review: what a person is asked (the interrupt payload), what they may answer, and
how an answer is checked and stored once.

The graph's ``request_review`` node records a :class:`ReviewRequest` (side effects happen
there, once); the ``review`` node only calls ``interrupt(request)`` and applies the answer,
so LangGraph re-running it from its top on resume repeats nothing. A person's answer is a
:class:`ReviewAnswer` in the HITL vocabulary (approve / edit / reject, plus regenerate and
repair), validated by :func:`validate_answer` *before* the graph resumes: a mistyped
attempt is refused and the asset stays reviewable. A decision is stored once per
(run, asset, interrupt id) in the run index; a second one is told who decided and when.

Review policy (per brief ``review:``, per run ``--review``, or ``SIGNWRITER_REVIEW_POLICY``):

- ``failures`` (default): a person sees what QA could not accept after the last attempt;
- ``always``: every asset waits for a person, QA-passed ones included;
- ``never``: QA's word is final (an asset QA cannot accept fails).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agents.errors import AlreadyDecided, Conflict, InvalidDecision, ReviewError, SpecError
from agents.fitting import fit_region
from agents.spec import VisualSpec
from agents.status import Decision

if TYPE_CHECKING:
    from agents.index import Index
    from agents.store import RunStore

ReviewPolicy = Literal["failures", "always", "never"]
DecisionKind = Literal["approve", "reject", "edit", "regenerate", "repair"]
"""The values of :class:`agents.status.Decision` (a Literal, for the pydantic models)."""
assert set(get_args(DecisionKind)) == {d.value for d in Decision}
MAX_NOTE = 2000


class Finding(BaseModel):
    """One region's QA result (or text nobody asked for)."""

    region_id: str | None = None
    kind: str
    expected: str | None = None
    read: str | None = None


class AttemptChoice(BaseModel):
    """An attempt the reviewer may approve."""

    n: int
    image: str
    overlay: str | None = None
    prompt: str | None = None
    action: str | None = None
    passed: bool = False
    score: float = 0.0
    findings: list[Finding] = Field(default_factory=list)
    why_not: str | None = Field(None, description="Why QA did not accept it.")


class EditableRegion(BaseModel):
    id: str
    role: str
    text: str


class ReviewRequest(BaseModel):
    """The interrupt payload: everything a person needs to decide."""

    run_id: str
    asset_id: str
    round: int = Field(description="Attempts made when the asset was handed over.")
    reason: str = Field(description="What is wrong with the attempt the reviewer would approve.")
    best_attempt: int | None
    attempts: list[AttemptChoice]
    findings: list[Finding] = Field(description="The best attempt's failing findings.")
    regions: list[EditableRegion]
    allowed: list[DecisionKind]
    can_repair: bool
    policy: ReviewPolicy = "failures"
    requested: float = Field(default_factory=time.time)


class ReviewAnswer(BaseModel):
    """A person's decision (one per request)."""

    model_config = ConfigDict(extra="forbid")

    decision: DecisionKind
    attempt: int | None = Field(None, description="approve: which attempt (default the best); "
                                "repair: which attempt to repair.")
    note: str | None = Field(None, max_length=MAX_NOTE,
                             description="reject: the reason; regenerate: added to the prompt.")
    region: str | None = Field(None, description="edit / repair: the region id.")
    text: str | None = Field(None, max_length=500, description="edit: the region's new text.")
    reviewer: str | None = None

    @field_validator("note", "region", "text", "reviewer", mode="before")
    @classmethod
    def _blank_is_none(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = v.strip()
            return v or None
        return v


def failing(findings: list[dict[str, Any]]) -> list[Finding]:
    return [Finding.model_validate({k: f.get(k) for k in ("region_id", "kind", "expected",
                                                          "read")})
            for f in findings if f.get("kind") != "ok"]


def describe(f: Finding) -> str:
    if f.kind == "misspelt":
        return f"'{f.region_id}' reads '{f.read}' instead of '{f.expected}'"
    if f.kind == "unexpected":
        return f"unexpected text '{f.read}'"
    if f.kind == "missing":
        return f"'{f.region_id}' is missing ('{f.expected}' was not found)"
    if f.kind == "illegible":
        return f"'{f.region_id}' is illegible"
    if f.kind == "misplaced":
        return f"'{f.region_id}' is misplaced ('{f.expected}' reads outside its area)"
    return f"'{f.region_id}' is {f.kind}"


def attempt_choice(a: dict[str, Any]) -> AttemptChoice:
    qa = a.get("qa") or {}
    found = failing(qa.get("regions", []) + qa.get("unexpected", []))
    return AttemptChoice(n=a["n"], image=a["image"], overlay=qa.get("overlay"),
                         prompt=a.get("prompt"), action=a.get("action"),
                         passed=bool(qa.get("passed")), score=float(qa.get("score", 0.0)),
                         findings=found,
                         why_not=("; ".join(describe(f) for f in found) or None)
                         if not qa.get("passed") else None)


def build_request(*, run_id: str, asset_id: str, attempts: list[dict[str, Any]],
                  best: int | None, regions: list[EditableRegion], can_repair: bool,
                  policy: ReviewPolicy, why: str) -> ReviewRequest:
    """The request for the attempts so far; its reason describes the *best* attempt (the
    one the reviewer is asked to approve), not the last one."""
    choices = [attempt_choice(a) for a in attempts if a.get("qa")]
    by_n = {c.n: c for c in choices}
    shown = by_n.get(best) if best is not None else None
    if shown is None:
        reason = why or "no attempt could be checked"
    elif shown.passed:
        reason = (f"attempt {shown.n} passed QA (every region reads exactly); the review "
                  f"policy is '{policy}'")
    else:
        reason = (f"attempt {shown.n} of {len(attempts)} is the best (score "
                  f"{shown.score:.2f}): {shown.why_not or 'QA failed'}")
    allowed: list[DecisionKind] = ["approve", "reject", "edit", "regenerate"]
    if can_repair:
        allowed.append("repair")
    return ReviewRequest(run_id=run_id, asset_id=asset_id, round=len(attempts), reason=reason,
                         best_attempt=best, attempts=choices,
                         findings=shown.findings if shown else [], regions=regions,
                         allowed=allowed, can_repair=can_repair, policy=policy)


def parse_answer(raw: dict[str, Any]) -> ReviewAnswer:
    """A :class:`ReviewAnswer` from untrusted input, or :class:`InvalidDecision`."""
    try:
        return ReviewAnswer.model_validate(raw)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'answer'}: {err['msg']}"
                             for err in e.errors())
        raise InvalidDecision(f"invalid decision: {problems}") from None


def validate_answer(request: ReviewRequest, answer: ReviewAnswer,
                    fits: Callable[[str, str], None] | None = None) -> ReviewAnswer:
    """Check an answer against the request it answers; returns it completed (approve's
    default attempt filled in). ``fits(region_id, text)`` raises when edited text cannot
    be set in its box. Raises :class:`InvalidDecision` naming the problem."""
    where = f"{request.run_id}/{request.asset_id}"
    numbers = [a.n for a in request.attempts]
    if answer.decision not in request.allowed:
        why = " (the backend cannot edit images)" if answer.decision == "repair" else ""
        raise InvalidDecision(f"{where}: '{answer.decision}' is not possible here{why}; "
                              f"choose one of {', '.join(request.allowed)}")
    if answer.attempt is not None and answer.attempt not in numbers:
        raise InvalidDecision(f"{where} has no attempt {answer.attempt} "
                              f"(attempts: {', '.join(map(str, numbers)) or 'none'})")
    regions = {r.id: r for r in request.regions}
    d = answer.decision
    if d == "approve":
        n = answer.attempt if answer.attempt is not None else request.best_attempt
        if n is None:
            raise InvalidDecision(f"{where}: no attempt was checked, nothing to approve")
        return answer.model_copy(update={"attempt": n})
    if d == "reject" and not answer.note:
        raise InvalidDecision(f"{where}: a rejection needs a reason (--note / the note field)")
    if d in ("edit", "repair"):
        if not answer.region:
            raise InvalidDecision(f"{where}: {d} needs a region "
                                  f"(one of {', '.join(regions) or 'none'})")
        if answer.region not in regions:
            raise InvalidDecision(f"{where} has no text region '{answer.region}' "
                                  f"(regions: {', '.join(regions)})")
    if d == "edit":
        if not answer.text:
            raise InvalidDecision(f"{where}: edit needs the region's new text")
        if answer.text == regions[answer.region].text:  # type: ignore[index]
            raise InvalidDecision(f"{where}: '{answer.region}' already reads "
                                  f"'{answer.text}'; use regenerate to try again")
        if fits is not None:
            fits(answer.region, answer.text)
    if d == "repair":
        n = answer.attempt if answer.attempt is not None else request.best_attempt
        if n is None:
            raise InvalidDecision(f"{where}: no attempt to repair")
        return answer.model_copy(update={"attempt": n})
    return answer


def claim(*, interrupts: Any, index: Index, store: RunStore, asset_id: str,
          raw: dict[str, Any], reviewer: str, via: str, round_: int | None = None,
          fits: Callable[[str, str], None] | None = None
          ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validate a person's answer against the asset's open interrupt and store it once.

    Returns (the decision row, the answer to resume the graph with). Raises
    :class:`InvalidDecision` (a bad answer: nothing stored, the asset stays reviewable),
    :class:`AlreadyDecided` (someone was first: who and when), or :class:`ReviewError`
    (the asset is not waiting). ``round_`` is the hand-over the reviewer saw (the web
    form carries it): when the asset has moved on since, their decision is refused
    instead of applied to a question they did not see."""
    run_id = store.run_id
    earlier = [d for d in index.decisions(run_id, asset_id)
               if round_ is not None and d.get("round") == round_]
    if not interrupts:
        done = earlier or index.decisions(run_id, asset_id)
        status = store.asset_status(asset_id).get("status")
        if done and status != "needs_review":
            raise AlreadyDecided(run_id, asset_id, done[-1])
        raise ReviewError(f"{run_id}/{asset_id} is not waiting for review (status: {status})")
    intr = interrupts[0]
    request = ReviewRequest.model_validate({k: v for k, v in intr.value.items()
                                            if k != "problem"})
    if round_ is not None and round_ != request.round:
        if earlier:
            raise AlreadyDecided(run_id, asset_id, earlier[-1])
        raise ReviewError(f"{run_id}/{asset_id} has a newer review than the one decided on; "
                          f"reload it")
    existing = index.decision_for(run_id, asset_id, intr.id)
    if existing:
        raise AlreadyDecided(run_id, asset_id, existing)
    answer = validate_answer(request, parse_answer({**raw, "reviewer": reviewer}), fits=fits)
    body = answer.model_dump(mode="json")
    try:
        row = index.claim_decision(run_id=run_id, asset_id=asset_id, interrupt_id=intr.id,
                                   round_=request.round, answer=body, reviewer=reviewer,
                                   via=via)
    except Conflict:
        raise AlreadyDecided(run_id, asset_id,
                             index.decision_for(run_id, asset_id, intr.id) or {}) from None
    return row, body


def answer_of(row: dict[str, Any]) -> dict[str, Any]:
    """The resume value of a stored decision (to finish it after a crash)."""
    return {k: row.get(k) for k in ("decision", "attempt", "note", "region", "text")} | {
        "reviewer": row.get("reviewer")}


def edited_spec(spec: VisualSpec, region_id: str, text: str) -> VisualSpec:
    """``spec`` with one region's text replaced (a reviewer's edit)."""
    regions = [r.model_copy(update={"text": text}) if r.id == region_id else r
               for r in spec.regions]
    return spec.model_copy(update={"regions": regions})


def fits_check(spec: VisualSpec) -> Callable[[str, str], None]:
    """``fits(region, text)``: raises :class:`InvalidDecision` when the new text cannot be
    set legibly in the region's box (checked before the graph resumes)."""
    def fits(region_id: str, text: str) -> None:
        edited = edited_spec(spec, region_id, text)
        region = next(r for r in edited.regions if r.id == region_id)
        try:
            VisualSpec.model_validate(edited.model_dump())
            fit_region(edited, region)
        except (SpecError, ValueError) as e:
            raise InvalidDecision(f"{spec.asset_id}: the new text of '{region_id}' does not "
                                  f"work: {e}") from None
    return fits
