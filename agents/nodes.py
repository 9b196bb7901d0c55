"""The graph's nodes: start, generate, check, decide, request_review, review.

Each node reads paths from state, does one thing, writes its artifacts to the run folder
and returns paths/hashes/summaries. Paid generations are written to disk and recorded in
the ledger before anything else can fail; a re-run of a node after a crash finds them
there and never pays twice.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any, Literal

from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt

from agents.errors import BudgetExceeded, SignwriterError
from agents.llm_client import ChatClient
from agents.policy import best_attempt, decide as policy_decide
from agents.prompt_enhancer import enhance
from agents.prompting import compile_edit_prompt, compile_prompt, layout_for, plain, render
from agents.review import (EditableRegion, ReviewRequest, attempt_choice, build_request,
                           edited_spec, fits_check, parse_answer, validate_answer)
from agents.spec import VisualSpec
from agents.state import AssetState, Context
from agents.status import AssetStatus, Decision
from agents.store import atomic_write, read_json, write_json
from generation.base import EditRequest, GenerationRequest, estimate_cost
from generation.errors import AuthError, BackendError, NeedsKey, QuotaExceeded
from generation.compose import compose_report, pictures_record, references_for
from generation.output import SUFFIX as OUTPUT_SUFFIX
from generation.output import encode as encode_output
from qa.check import check_image, load_image
from qa.models import ExpectedText
from qa.report import render_overlay, write_report

STOP_RUN = (QuotaExceeded, AuthError, NeedsKey)
"""Backend errors that no retry or other asset can fix: they stop the run (resumable)."""


def load_spec(ctx: Context, state: AssetState) -> VisualSpec:
    return VisualSpec.model_validate(read_json(ctx.store.abs(state["spec_path"])))


def expected_texts(spec: VisualSpec) -> list[ExpectedText]:
    return [ExpectedText(id=r.id, text=r.text or "", box=r.box.as_tuple(), language=r.language,
                         role=r.role, strictness=r.strictness) for r in spec.text_regions]


def attempt_seed(base: int, asset_id: str, n: int) -> int:
    h = hashlib.sha256(f"{base}:{asset_id}:{n}".encode()).digest()
    return int.from_bytes(h[:4], "big") & 0x7FFFFFFF


# --- start ---------------------------------------------------------------------------------
def start(state: AssetState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Take up this asset's spec: planned (and fitted to the backend) before the graph
    runs, by :func:`agents.api.create_run`, so nothing is paid for a brief that fails."""
    ctx = runtime.context
    path = ctx.store.spec_path(state["asset_id"])
    spec = VisualSpec.model_validate(read_json(path))
    ctx.store.set_asset_status(spec.asset_id, status=AssetStatus.RUNNING)
    return {"spec_path": ctx.store.rel(path),
            "spec_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "status": AssetStatus.RUNNING,
            "next": {"action": "generate", "why": "first attempt"}}


# --- generate ----------------------------------------------------------------------------
def generate(state: AssetState, runtime: Runtime[Context]) -> Command[Literal["check", "__end__"]]:
    """Make attempt n: a new image, or a repair (image-to-image edit) of the best one."""
    ctx = runtime.context
    store = ctx.store
    spec = load_spec(ctx, state)
    aid = spec.asset_id
    attempts = state.get("attempts", [])
    n = len(attempts) + 1
    nxt = state.get("next") or {"action": "generate"}
    action = nxt.get("action", "generate")
    seed = attempt_seed(ctx.seed, aid, n)
    adir = store.attempt_dir(aid, n)
    adir.mkdir(parents=True, exist_ok=True)
    layout = layout_for(spec)
    attempt_id = f"{store.run_id}/{aid}/{n}"
    # the brief's pictures go to the model as reference images where the backend takes
    # them; the rest are composited after generation (generation.compose)
    refs = references_for(layout, ctx.backend.capabilities)

    request: GenerationRequest | EditRequest
    repaired: list[str] = []
    if action == "repair":
        by_n = {a["n"]: a for a in attempts}
        source = by_n.get(nxt.get("source")) or best_attempt(attempts) or attempts[-1]
        regions = {r.id: r for r in spec.regions}
        fixes = nxt.get("regions", [])
        repaired = [f["region_id"] for f in fixes]
        prompt = "\n".join(compile_edit_prompt(spec, f["region_id"], f.get("wrong"), f["right"])
                           for f in fixes)
        boxes = [regions[r].box for r in repaired]
        x0 = min(b.x for b in boxes)
        y0 = min(b.y for b in boxes)
        x1 = max(b.x + b.w for b in boxes)
        y1 = max(b.y + b.h for b in boxes)
        request = EditRequest(prompt=prompt, image_path=str(store.abs(source["image"])),
                              width=spec.width, height=spec.height, seed=seed,
                              region=(x0, y0, x1 - x0, y1 - y0), layout=layout,
                              attempt_id=attempt_id)
    else:
        prompt = compile_prompt(spec, reinforce=nxt.get("reinforce", []), attempt=n,
                                references=refs)
        if ctx.settings.prompt_enhance and not ctx.backend.capabilities.follows_layout:
            prompt = _enhanced(ctx, prompt, adir)
        if nxt.get("note"):  # a reviewer's words, without quotes (those become glyphs)
            prompt += "\n" + render("review_note.j2", note=plain(nxt["note"]))
        request = GenerationRequest(prompt=prompt, width=spec.width, height=spec.height,
                                    seed=seed, layout=layout, references=refs,
                                    attempt_id=attempt_id)
    (adir / "prompt.txt").write_text(prompt + "\n", encoding="utf-8")

    done = store.find_generation(aid, n)
    payments = ctx.payments  # workers: intents and the job's budget in PostgreSQL
    lost = None  # paid for, recorded, but the image never reached the disk
    if done is not None and not store.has_image(done["image"], done["sha256"]):
        lost, done = done, None
    if done is None:
        submitted = store.find_generation(aid, n, kind="submitted")
        if submitted is not None:
            request.resume = submitted.get("handle")
        if lost is not None and request.resume is None and _paid(lost):
            return _fail(ctx, aid, f"attempt {n} was paid for (${_paid(lost):.4f}) but its "
                         "image was lost before it was saved (the disk filled up or the "
                         f"process was killed), and {lost.get('backend') or 'the backend'} "
                         "gives no task to fetch it from again; it was not generated again, "
                         "so as not to pay twice")
        # fetching a lost image from its recorded task costs nothing more
        price = 0.0 if lost is not None else estimate_cost(ctx.backend, spec.width, spec.height)
        # room for the answer, held before paying: a disk that fills during the call can
        # then no longer lose a paid image (a full disk now stops the run here, unpaid)
        space = (store.reserve_space(f"{aid}-{n}", _answer_bytes(spec.width, spec.height))
                 if price > 0 or lost is not None else None)
        ctx.emit("generating", aid, n, action=action)
        try:
            if payments is not None:  # an accepted task of this attempt is polled, not paid
                held = payments.begin(aid, n, price, f"attempt {n} of {aid}",
                                      known=request.resume)
                if held is not None:
                    request.resume = held
                elif payments.resending and price:  # maybe sent (and billed) by a dead worker
                    store.record_generation({
                        "kind": "failed", "asset_id": aid, "attempt": n,
                        "backend": ctx.backend.name, "cost_usd": 0.0,
                        "possibly_charged_usd": price, "error": "a worker died after this "
                        "attempt's intent, before the provider's answer was recorded; sent "
                        "again"})
            else:
                ctx.budget.reserve(price, f"attempt {n} of {aid}")
        except BaseException as e:
            if space is not None:
                space.release()
            if isinstance(e, BudgetExceeded):
                return _fail(ctx, aid, f"budget: {e}")
            raise

        def settle(actual: float) -> None:
            if payments is not None:
                payments.finish(aid, n, actual, price)
            else:
                ctx.budget.settle(price, actual)

        def on_submit(handle: dict[str, Any]) -> None:
            # the provider accepted a paid task: its handle is written first to the run
            # folder's ledger (fsynced, into the room held above; no network), then, for
            # the other workers, to the attempt's intent in PostgreSQL (which never raises:
            # a worker that takes the attempt over finds the handle in the ledger)
            store.record_generation({"kind": "submitted", "asset_id": aid, "attempt": n,
                                     "backend": ctx.backend.name, "handle": handle})
            if payments is not None:
                payments.accepted(aid, n, handle)
        try:
            with ctx.slots:
                ctx.submitted.release()
                if action == "repair":
                    result = ctx.backend.edit(request, on_submit=on_submit)
                else:
                    result = ctx.backend.generate(request, on_submit=on_submit)
        except BackendError as e:
            if space is not None:
                space.release()  # room for the failure's own ledger line
            if e.possibly_charged_usd:  # sent, unanswered, sent again: counted as paid
                store.record_generation({"kind": "failed", "asset_id": aid, "attempt": n,
                                         "backend": ctx.backend.name, "cost_usd": 0.0,
                                         "possibly_charged_usd": e.possibly_charged_usd,
                                         "error": str(e)})
            settle(e.possibly_charged_usd)
            if isinstance(e, STOP_RUN):
                raise
            return _fail(ctx, aid, str(e))
        finally:
            if space is not None:
                space.release()  # the answer's ledger line and bytes go into this room
        image_rel, sha = store.image_path(result.data, result.media_type)
        done = {"kind": "done", "asset_id": aid, "attempt": n, "action": action,
                "backend": result.backend, "model": result.model, "image": image_rel,
                "sha256": sha, "seed": result.seed, "cost_usd": result.cost_usd,
                "elapsed_s": round(result.elapsed_s, 3), "metadata": result.metadata}
        if result.possibly_charged_usd:
            done["possibly_charged_usd"] = result.possibly_charged_usd
        recovered = lost is not None and _paid(lost) > 0  # fetched again from its task
        if recovered:
            done.update(cost_usd=0.0, possibly_charged_usd=0.0, recovered=True)
        if lost is None or (lost["image"], lost["sha256"]) != (image_rel, sha):
            # the fact of payment first: a full disk or a kill while the bytes are written
            # below leaves a line whose image is missing, fetched again (never re-paid) on
            # resume, instead of a paid image nobody knows about
            store.record_generation(done)
        store.save_image(result.data, result.media_type)
        settle(0.0 if recovered else result.cost_usd + result.possibly_charged_usd)
        if recovered:  # the attempt still cost what was paid for it the first time
            done = {**done, "cost_usd": lost.get("cost_usd", 0.0),  # type: ignore[union-attr]
                    "possibly_charged_usd": lost.get("possibly_charged_usd", 0.0)}  # type: ignore[union-attr]
    elif payments is not None:  # paid and recorded, then the worker died: settle it once
        payments.finish(aid, n, done.get("cost_usd", 0.0) + done.get("possibly_charged_usd", 0.0),
                        estimate_cost(ctx.backend, spec.width, spec.height))
    image_rel, image_sha = done["image"], done["sha256"]
    # the overlay policy: signwriter sets these texts itself onto the paid picture (and
    # the brief's product photos and logo into the areas the prompt kept free)
    composed = compose_report(store.abs(image_rel).read_bytes(), layout,
                              ctx.backend.capabilities, attempt=attempt_id, referenced=refs)
    pictures = pictures_record(layout, ctx.backend.capabilities, ctx.backend.name, refs)
    overlaid = composed.overlaid if composed else []
    if composed:
        image_rel, image_sha = store.save_image(composed.data, "image/png")
    attempt = {"n": n, "action": action, "why": nxt.get("why", ""), "image": image_rel,
               "sha256": image_sha, "generated_image": done["image"], "seed": done["seed"],
               "prompt": store.rel(adir / "prompt.txt"),
               "backend": done["backend"], "cost_usd": done.get("cost_usd", 0.0),
               "possibly_charged_usd": done.get("possibly_charged_usd", 0.0),
               "elapsed_s": done.get("elapsed_s", 0.0),
               "injected": (done.get("metadata") or {}).get("injected", [])}
    if repaired:
        attempt["repaired"] = repaired
    if overlaid:
        attempt["overlaid"] = overlaid
    if composed and composed.legibility:
        attempt["legibility"] = composed.legibility
    if pictures:
        attempt["pictures"] = pictures
    write_json(adir / "attempt.json", attempt)
    ctx.emit("generated", aid, n, action=action, cost_usd=attempt["cost_usd"])
    return Command(goto="check", update={"current": attempt})


def _answer_bytes(width: int, height: int) -> int:
    """Disk an answer may need: the image (at most RGBA, uncompressed) and its ledger line."""
    return width * height * 4 + (1 << 20)


def _paid(entry: dict[str, Any]) -> float:
    """What a ledger line says was (or may have been) paid for it."""
    return float(entry.get("cost_usd") or 0.0) + float(entry.get("possibly_charged_usd") or 0.0)


def _enhanced(ctx: Context, prompt: str, adir: Any) -> str:
    """The planner LLM's rewrite of ``prompt`` when it keeps every quoted text verbatim
    (:mod:`agents.prompt_enhancer`); the compiled prompt is kept beside it. Idempotent
    on resume: a rewrite already on disk is reused, never asked for again."""
    done = adir / "prompt-enhanced.txt"
    if done.exists():
        return done.read_text(encoding="utf-8").rstrip("\n")
    (adir / "prompt-compiled.txt").write_text(prompt + "\n", encoding="utf-8")
    with ChatClient.from_settings(ctx.settings) as client:
        result = enhance(prompt, client, max_repairs=ctx.settings.llm_max_repairs)
    write_json(adir / "prompt-enhancer.json", {"enhanced": result.enhanced,
                                               "problems": result.problems,
                                               "error": result.error})
    if result.enhanced:
        done.write_text(result.prompt + "\n", encoding="utf-8")
    return result.prompt


def _deliver(ctx: Context, state: AssetState, aid: str, image_rel: str) -> str:
    """The accepted image as the final file, in the spec's output type and quality (QA
    judged the lossless image; a JPEG or WebP is encoded from it)."""
    output = load_spec(ctx, state).output
    if output.file_type == "png":
        return ctx.store.copy_final(aid, image_rel)
    data = encode_output(ctx.store.abs(image_rel).read_bytes(), output.file_type,
                         output.quality)
    dst = ctx.store.asset_dir(aid) / f"final{OUTPUT_SUFFIX[output.file_type]}"
    atomic_write(dst, data)
    return ctx.store.rel(dst)


def _fail(ctx: Context, aid: str, error: str) -> Command[Literal["__end__"]]:
    ctx.store.set_asset_status(aid, status=AssetStatus.FAILED, reason=error)
    ctx.emit("done", aid, status=AssetStatus.FAILED, reason=error)
    return Command(goto=END, update={"status": AssetStatus.FAILED, "error": error})


# --- check -------------------------------------------------------------------------------
def check(state: AssetState, runtime: Runtime[Context]) -> dict[str, Any]:
    """OCR the attempt's image against the spec; write qa.json and overlay.jpg."""
    ctx = runtime.context
    store = ctx.store
    spec = load_spec(ctx, state)
    attempt = dict(state["current"] or {})
    n = attempt["n"]
    adir = store.attempt_dir(spec.asset_id, n)
    image = store.abs(attempt["image"])
    pixels = load_image(image)  # decoded once, for the check and the overlay
    report = check_image(image, expected_texts(spec), reader=ctx.reader, recheck=ctx.recheck,
                         pixels=pixels,
                         second_opinion=ctx.settings.ocr_second_opinion, vision=ctx.vision)
    write_report(report, adir / "qa.json")
    render_overlay(image, report, adir / "overlay.jpg", pixels=pixels)
    attempt["qa"] = {
        "passed": report.passed, "score": round(report.score, 4),
        "word_accuracy": round(report.word_accuracy, 4), "ned": round(report.ned, 4),
        "regions": [f.model_dump(include={"region_id", "kind", "expected", "read", "similarity"})
                    for f in report.regions],
        "unexpected": [f.model_dump(include={"kind", "read", "read_box"})
                       for f in report.unexpected],
        "report": store.rel(adir / "qa.json"), "overlay": store.rel(adir / "overlay.jpg"),
        "elapsed_s": round(report.elapsed_s, 3),
    }
    write_json(adir / "attempt.json", attempt)
    ctx.emit("checked", spec.asset_id, n, passed=report.passed, score=report.score)
    return {"attempts": [attempt], "current": None}


# --- decide ------------------------------------------------------------------------------
def decide(state: AssetState, runtime: Runtime[Context]
           ) -> Command[Literal["generate", "request_review", "__end__"]]:
    """The QA agent: accept, repair, regenerate, or hand over to a human (per the run's
    review policy: ``always`` hands over passes too, ``never`` fails what QA cannot accept)."""
    ctx = runtime.context
    aid = state["asset_id"]
    attempts = state["attempts"]
    policy = ctx.settings.review_policy or "failures"
    d = policy_decide(attempts, max_attempts=ctx.settings.max_attempts,
                      can_edit=bool(ctx.backend.capabilities.edit))
    if d.action == "accept" and policy == "always":
        d = d.model_copy(update={"action": "review", "why": f"{d.why}; the review policy is "
                                                           f"'always'"})
    # record the decision on the attempt it was made about
    last = attempts[-1]
    adir = ctx.store.attempt_dir(aid, last["n"])
    record = read_json(adir / "attempt.json")
    record["decision"] = {"action": d.action, "why": d.why}
    write_json(adir / "attempt.json", record)
    ctx.emit("decided", aid, last["n"], action=d.action, why=d.why)
    if d.action == "accept":
        final = _deliver(ctx, state, aid, last["image"])
        ctx.store.set_asset_status(aid, status=AssetStatus.ACCEPTED, final_image=final,
                                   accepted_attempt=last["n"], reason=d.why)
        ctx.emit("done", aid, status=AssetStatus.ACCEPTED)
        return Command(goto=END, update={"status": AssetStatus.ACCEPTED, "final_image": final})
    if d.action == "review":
        if policy == "never":
            return _fail(ctx, aid, f"{d.why} (review policy 'never': QA's word is final)")
        return Command(goto="request_review", update={
            "next": {"action": "review", "why": d.why, "best": d.best}})
    return Command(goto="generate", update={"next": {
        "action": d.action, "why": d.why, "reinforce": d.reinforce, "regions": d.regions}})


# --- review ------------------------------------------------------------------------------
def _review_request(state: AssetState, ctx: Context) -> ReviewRequest:
    spec = load_spec(ctx, state)
    attempts = state["attempts"]
    best = best_attempt(attempts)
    return build_request(
        run_id=ctx.store.run_id, asset_id=state["asset_id"], attempts=attempts,
        best=best["n"] if best else None,
        regions=[EditableRegion(id=r.id, role=r.role, text=r.text or "")
                 for r in spec.text_regions],
        can_repair=bool(ctx.backend.capabilities.edit),
        policy=ctx.settings.review_policy or "failures",
        why=(state.get("next") or {}).get("why", ""))


def request_review(state: AssetState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Hand the asset to a person: record the request and say so, once per hand-over (a
    replay after a crash finds the request recorded and repeats nothing)."""
    ctx = runtime.context
    aid = state["asset_id"]
    current = ctx.store.asset_status(aid)
    recorded = current.get("review_request") or {}
    if current.get("status") == AssetStatus.NEEDS_REVIEW and recorded.get("round") == len(
            state["attempts"]):
        return {"status": AssetStatus.NEEDS_REVIEW, "review_request": recorded}
    request = _review_request(state, ctx).model_dump(mode="json")
    ctx.store.set_asset_status(aid, status=AssetStatus.NEEDS_REVIEW, best_attempt=request["best_attempt"],
                               reason=request["reason"], review_request=request,
                               findings=request["findings"])
    ctx.emit("done", aid, status=AssetStatus.NEEDS_REVIEW, reason=request["reason"])
    return {"status": AssetStatus.NEEDS_REVIEW, "review_request": request}


def review(state: AssetState, runtime: Runtime[Context]
           ) -> Command[Literal["generate", "__end__"]]:
    """Pause for a person (durably, via the checkpointer) and apply their decision.

    Nothing happens before ``interrupt()`` (LangGraph re-runs this node from its top on
    resume). Answers are validated before the graph resumes (the library API); one that is
    still invalid here is asked again instead of failing the asset for good."""
    ctx = runtime.context
    aid = state["asset_id"]
    request = ReviewRequest.model_validate(state.get("review_request")
                                           or _review_request(state, ctx).model_dump())
    spec = load_spec(ctx, state)
    payload = request.model_dump(mode="json")
    while True:
        raw = interrupt(payload)
        try:
            answer = validate_answer(request, parse_answer(raw), fits=fits_check(spec))
            break
        except SignwriterError as e:
            payload = {**request.model_dump(mode="json"), "problem": str(e)}
    by_n = {a["n"]: a for a in state["attempts"]}
    who = answer.reviewer or "someone"
    info = {"decision": answer.decision, "reviewer": answer.reviewer, "note": answer.note,
            "attempt": answer.attempt, "region": answer.region, "text": answer.text,
            "round": request.round, "at": time.time()}
    if answer.decision == Decision.APPROVE:
        chosen = by_n[answer.attempt]
        findings = [f.model_dump() for f in attempt_choice(chosen).findings]
        status = AssetStatus.APPROVED_WITH_FINDINGS if findings else AssetStatus.ACCEPTED
        final = _deliver(ctx, state, aid, chosen["image"])
        reason = f"approved by {who} (attempt {answer.attempt})" + (
            f" with known findings: {attempt_choice(chosen).why_not}" if findings else "")
        ctx.store.set_asset_status(aid, status=status, final_image=final, review=info,
                                   accepted_attempt=answer.attempt, findings=findings,
                                   reason=reason)
        ctx.emit("done", aid, status=status)
        return Command(goto=END, update={"status": status, "final_image": final, "review": info})
    if answer.decision == Decision.REJECT:
        ctx.store.set_asset_status(aid, status=AssetStatus.REJECTED, review=info,
                                   reason=f"rejected by {who}: {answer.note}")
        ctx.emit("done", aid, status=AssetStatus.REJECTED)
        return Command(goto=END, update={"status": AssetStatus.REJECTED, "review": info})
    update: dict[str, Any] = {"status": AssetStatus.RUNNING, "review": info}
    if answer.decision == Decision.EDIT:
        edited = edited_spec(spec, answer.region or "", answer.text or "")
        path = ctx.store.spec_path(aid)
        keep = ctx.store.asset_dir(aid) / f"spec-before-round-{request.round}.json"
        if not keep.exists():
            write_json(keep, spec.model_dump(mode="json"), durable=True)
        write_json(path, edited.model_dump(mode="json"), durable=True)
        update["spec_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
        why = f"{who} changed '{answer.region}' to '{answer.text}'"
        update["next"] = {"action": "generate", "why": why, "reinforce": [answer.text]}
    elif answer.decision == Decision.REGENERATE:
        why = f"{who} asked for a new image" + (f": {answer.note}" if answer.note else "")
        update["next"] = {"action": "generate", "why": why, "note": answer.note}
    else:  # repair
        source = attempt_choice(by_n[answer.attempt])
        read = next((f.read for f in source.findings if f.region_id == answer.region), None)
        right = next(r.text for r in request.regions if r.id == answer.region)
        why = f"{who} asked to repair '{answer.region}' of attempt {answer.attempt}"
        update["next"] = {"action": "repair", "why": why, "source": answer.attempt,
                          "regions": [{"region_id": answer.region, "wrong": read,
                                       "right": right}]}
    ctx.store.set_asset_status(aid, status=AssetStatus.RUNNING, review=info, reason=why)
    ctx.emit("reviewed", aid, decision=answer.decision, why=why)
    return Command(goto="generate", update=update)
