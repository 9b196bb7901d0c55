"""The one library API: every door (the CLI, the web app, the HTTP API, workers) calls this.

::

    run = create_run("brief.yaml", settings)       # plan every format, write the run folder
    result = execute(run.run_id, settings)          # generate, check, decide every asset
    result = start_run("brief.yaml", settings)     # both at once
    result = resume_run(run_id, settings)           # continue after a crash or a stop
    list_runs(settings); list_reviews(settings); read_manifest(run_id, settings)
    decide_review(run_id, asset_id, Decision.APPROVE, settings, reviewer="ana")
    claim = claim_review(...); apply_review(claim, settings)   # the web app: two steps
    decisions(settings, run_id)                                 # the audit

Queries (runs, the review queue, the audit) read the run index (:mod:`agents.index`),
which the API keeps up to date as assets finish or wait for a person; nothing scans the
run folders to answer them.

Planning happens *before* the graph: every format of the brief is planned and size-checked
first (so a brief error or copy that cannot fit is reported before anything is paid for),
the specs are written to the run folder, then one checkpointed graph thread per asset
(start → generate → check → decide → review) runs, several at once.

Statuses are :mod:`agents.status` enums; ``result.status`` is the run's, and
``result.status.exit_code`` what a command line should exit with.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command
from pydantic import BaseModel, SecretStr

from agents.brief import Brief, load_brief
from agents.errors import (PlannerError, ReviewError, RunBusy, RunIncomplete, RunNotFound,
                           RunStopped, SignwriterError, SpecError)
from agents.graph import compiled_graph
from agents.index import Index
from agents.paths import looks_like_path
from agents.planner import make_planner
from agents.review import answer_of, fits_check
from agents.review import claim as review_claim
from agents.settings import Settings
from agents.spec import VisualSpec
from agents.state import Budget, Context, Event
from agents.status import AssetStatus, Decision, RunStatus
from agents.store import (RunStore, disk_full, dump_json, ensure_writable, locked, new_run_id,
                          read_json, storage_error, write_json)
from generation.base import Backend
from generation.redact import redact as _redact_text
from generation.redact import redacting
from generation.registry import backend_info, create_backend
from qa.ocr import OCREngine, get_engine, resolve_recheck_runtime
from qa.vision import VisionReader

RUN_SETTINGS = ("backend", "planner", "max_attempts", "max_cost", "simulate_errors",
                "concurrency", "review_policy")
"""Settings a run records in run.json, so resume and review use what the run started with."""

OnEvent = Callable[[Event], None]
OnWait = Callable[[dict[str, Any] | None], None]
"""Told who holds a run (pid, host, command, since) before waiting for it."""


@dataclass
class RunResult:
    """A run folder and its manifest (``manifest.json``'s content) as the API left it."""

    run_id: str
    run_dir: Path
    manifest: dict[str, Any]

    @property
    def status(self) -> RunStatus:
        return RunStatus(self.manifest["status"])

    @property
    def ok(self) -> bool:
        return self.status is RunStatus.SUCCEEDED


class RunSummary(BaseModel):
    """One line of :func:`list_runs`."""

    run_id: str
    name: str | None = None
    review_policy: str | None = None
    status: RunStatus
    backend: str | None
    created: float | None
    assets: dict[AssetStatus, int]
    cost_usd: float


class ReviewItem(BaseModel):
    """An asset waiting for a person (:func:`list_reviews`), from the run index."""

    run_id: str
    asset_id: str
    reason: str | None
    best_attempt: int | None
    image: str | None = None          # the best attempt's image (path)
    overlay: str | None = None        # its QA overlay (path)
    image_rel: str | None = None      # the same, relative to the run folder
    overlay_rel: str | None = None
    format: str | None = None
    width: int | None = None
    height: int | None = None
    language: str | None = None
    passed: bool | None = None        # QA's verdict on the best attempt
    score: float | None = None
    attempt_count: int = 0
    updated: float | None = None      # when it started waiting
    run_name: str | None = None
    brief: str | None = None
    policy: str | None = None         # the run's review policy


def fit_to_backend(spec: VisualSpec, backend: Backend) -> VisualSpec:
    """Snap the spec's canvas to the backend's limits (boxes are fractions, so the layout
    rescales), or refuse with a clear message — never a provider 400 at run time."""
    lim = backend.capabilities.limits
    problem = lim.problem(spec.width, spec.height)
    if problem is None:
        return spec
    w, h = lim.snap(spec.width, spec.height)
    if lim.problem(w, h) is not None:
        raise SpecError(f"{spec.asset_id}: {spec.width}x{spec.height} cannot be made valid for "
                        f"backend {backend.name} ({problem})")
    ratio_before, ratio_after = spec.width / spec.height, w / h
    if abs(ratio_after / ratio_before - 1) > 0.12:
        raise SpecError(f"{spec.asset_id}: {spec.width}x{spec.height} would be distorted to "
                        f"{w}x{h} for backend {backend.name}; choose a format within its limits "
                        f"({lim.describe()})")
    from agents.fitting import fit_spec
    return fit_spec(spec.model_copy(update={"width": w, "height": h}))


def ocr_reader(settings: Settings) -> OCREngine:
    """The judge OCR engine the settings name (process-wide, models loaded lazily)."""
    return get_engine(settings.ocr_engine, runtime=settings.ocr_runtime,
                      instances=settings.ocr_workers)


def ocr_recheck_reader(settings: Settings) -> OCREngine | None:
    """The engine that judges again, from scratch, an image the judge's first read did not
    pass: for rapidocr, OpenVINO held to f32 unless set otherwise (the first read may run at
    bf16). The same engine as :func:`ocr_reader` (or ``None``) means no second judgement."""
    if settings.ocr_engine != "rapidocr":
        return None
    return get_engine("rapidocr", runtime=resolve_recheck_runtime(settings.ocr_recheck_runtime,
                                                              settings.ocr_runtime),
                      instances=settings.ocr_workers)


def vision_reader(settings: Settings) -> VisionReader | None:
    """The optional blind vision reader for regions local OCR cannot read."""
    if not settings.vision_base_url:
        return None
    secrets = [*settings.secrets(), settings.vision_api_key]
    return VisionReader(settings.vision_base_url, settings.vision_model,
                        api_key=settings.vision_api_key, timeout_s=settings.llm_timeout_s,
                        protocol=settings.vision_protocol,
                        redact=functools.partial(_redact_text, secrets=secrets))


def make_backend(settings: Settings, seed: int = 0) -> Backend:
    """The backend ``settings.backend`` names, configured from the settings (its own
    options from ``SIGNWRITER_<BACKEND>_*``: :meth:`Settings.backend_options`); every
    configured key is cut from what it returns (:mod:`generation.redact`)."""
    spec = backend_info(settings.backend)
    options = settings.backend_options(spec, seed=seed)
    secrets = settings.secrets() + [v for v in options.values() if isinstance(v, SecretStr)]
    return redacting(create_backend(spec.name, **options), secrets)


def plan_brief(brief: Brief, settings: Settings) -> list[VisualSpec]:
    """Plan every format of a brief (no image is made). A planner may only name the files
    the brief gave (already confined to the brief's folder: :mod:`agents.paths`)."""
    specs = make_planner(settings).plan(brief)
    pictures = ([brief.images.background.file] if brief.images.background else []) + [
        p.file for p in brief.images.products]
    given = {str(p) for p in (brief.brand.logo, brief.brand.fonts.headline,
                              brief.brand.fonts.body, *pictures) if p is not None}
    for spec in specs:
        named = [("logo", spec.logo)] + [(f"regions.{r.id}.typography.font", r.typography.font)
                                         for r in spec.regions]
        named += [(f"regions.{r.id}.image", r.image.file) for r in spec.regions if r.image]
        if spec.background_image is not None:
            named.append(("background_image", spec.background_image.file))
        for field, value in named:
            if value and (field in ("logo", "background_image") or field.endswith(".image")
                          or looks_like_path(value)) and str(value) not in given:
                raise PlannerError(f"{spec.asset_id}: the plan names a file the brief did not "
                                   f"give ({field}: {str(value)[:80]!r}); refused")
    return specs


@contextmanager
def _saver(store: RunStore, settings: Settings) -> Iterator[Any]:
    """The run's checkpointer: where run.json says its checkpoints are — SQLite in the run
    folder (one machine), or PostgreSQL (a run made for workers)."""
    try:
        where = read_json(store.root / "run.json").get("checkpoints")
    except (OSError, ValueError):
        where = None
    if where == "postgresql":
        from agents.workers.db import checkpointer
        yield checkpointer(settings)
        return
    with _sqlite_saver(store) as saver:
        yield saver


@contextmanager
def _sqlite_saver(store: RunStore) -> Iterator[SqliteSaver]:
    conn = sqlite3.connect(store.checkpoint_db, check_same_thread=False)
    # WAL (the saver's own setting) with NORMAL sync: a commit survives the process being
    # killed, only a power cut can lose the last few — and a lost checkpoint just replays
    # its step, which the fsynced ledger keeps from paying twice. FULL would fsync every
    # checkpoint, under the one connection lock all asset threads share.
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    try:
        saver = SqliteSaver(conn)
        saver.setup()
        yield saver
    finally:
        conn.close()


def thread_id(store: RunStore, asset_id: str) -> str:
    """An asset's graph thread: ``<run>/<asset>``, or for a run whose checkpoints are in
    PostgreSQL ``<run>#<nonce>/<asset>`` (the nonce is made with the run folder, so a run
    made again under the same id — a batch's idempotent run ids — never continues the
    checkpoints of a folder that was removed)."""
    try:
        nonce = read_json(store.root / "run.json").get("thread_nonce")
    except (OSError, ValueError):
        nonce = None
    return f"{store.run_id}#{nonce}/{asset_id}" if nonce else f"{store.run_id}/{asset_id}"


def _thread(store: RunStore, asset_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id(store, asset_id)}}


def create_run(brief_path: str | Path, settings: Settings, *, run_id: str | None = None,
               seed: int | None = None, on_event: OnEvent | None = None) -> RunResult:
    """Plan a brief and write its run folder (specs, run.json); nothing is generated yet.

    Every format is planned and fitted to the backend's sizes first, so a bad brief, copy
    that cannot fit or a size the backend refuses is an error before anything is paid for.
    Emits one ``planned`` event per asset. The runs folder is checked first: a read-only
    or full disk is refused before anything is planned or paid for.
    """
    brief = load_brief(brief_path, settings)
    return create_run_from_brief(brief, settings, run_id=run_id, seed=seed, on_event=on_event,
                                 brief_path=Path(brief_path))


def create_run_from_brief(brief: Brief, settings: Settings, *, run_id: str | None = None,
                          seed: int | None = None, on_event: OnEvent | None = None,
                          brief_path: Path | None = None) -> RunResult:
    """:func:`create_run` for a brief already read and validated (a CSV row filled into a
    base brief, a brief posted to the HTTP API). Without ``brief_path`` the brief is written
    to the run folder as ``brief.json``."""
    ensure_writable(settings.runs_dir)
    seed = int(time.time()) & 0x7FFFFFFF if seed is None else seed
    settings = settings.model_copy(update={  # --review, else the brief's, else failures
        "review_policy": settings.review_policy or brief.review or "failures"})
    backend = make_backend(settings, seed)
    specs = [fit_to_backend(s, backend) for s in plan_brief(brief, settings)]
    store = write_run(specs, settings, name=brief.name, brief_path=brief_path,
                      run_id=run_id, seed=seed,
                      brief_data=None if brief_path else brief.model_dump(mode="json",
                                                                          by_alias=True))
    for spec in specs:
        if on_event:
            on_event(Event("planned", spec.asset_id, detail={
                "width": spec.width, "height": spec.height, "regions": len(spec.regions)}))
    return RunResult(store.run_id, store.root, store.manifest())


def write_run(specs: list[VisualSpec], settings: Settings, *, name: str, seed: int,
              brief_path: Path | None = None, run_id: str | None = None,
              brief_data: dict[str, Any] | None = None) -> RunStore:
    """Create the run folder with its brief, specs and run.json, all at once (nothing is
    generated yet): the folder appears complete, or not at all (:meth:`RunStore.create`);
    run.json lists the assets, so a resume can tell a complete run from a damaged one."""
    run_id = run_id or new_run_id(name)
    files: dict[str, bytes] = {}
    if brief_path is not None:
        files[f"brief{brief_path.suffix.lower() or '.yaml'}"] = brief_path.read_bytes()
    elif brief_data is not None:
        files["brief.json"] = dump_json(brief_data)
    for spec in specs:  # what a resumed run works from: on disk for good
        files[f"specs/{spec.asset_id}.json"] = dump_json(spec.model_dump(mode="json"))
    files["run.json"] = dump_json({
        "run_id": run_id, "name": name, "brief": str(brief_path) if brief_path else None,
        "created": time.time(), "seed": seed, "status": RunStatus.RUNNING,
        "assets": [spec.asset_id for spec in specs],
        **({"checkpoints": "postgresql", "thread_nonce": os.urandom(6).hex()}
           if settings.cluster else {}),
        **{k: getattr(settings, k) for k in RUN_SETTINGS}})
    store = RunStore.create(settings.runs_dir, run_id, files)
    try:
        store.write_manifest()
    except OSError as e:
        raise storage_error(e, f"run {run_id}", f"resume it with `signwriter resume {run_id}` "
                                                "once there is space") from e
    Index.for_settings(settings).sync_run(store)
    return store


def start_run(brief_path: str | Path, settings: Settings, *, on_event: OnEvent | None = None,
              run_id: str | None = None, seed: int | None = None) -> RunResult:
    """:func:`create_run` then :func:`execute`: every asset to accepted, needs_review or
    failed."""
    created = create_run(brief_path, settings, run_id=run_id, seed=seed, on_event=on_event)
    return _announced(created.run_id, settings,
                      lambda: execute(created.run_id, settings, on_event=on_event))


def _announced(run_id: str, settings: Settings, work: Callable[[], RunResult]) -> RunResult:
    """``work()`` (a plain run), then its events to the webhook outbox when a receiver is
    configured, and one delivery pass (retries: ``signwriter schedule run``, the next
    run or batch). A run that stops early announces the assets it finished."""
    try:
        result = work()
    except RunStopped:
        _announce(run_id, settings)
        raise
    _announce(run_id, settings, result.manifest)
    return result


def _announce(run_id: str, settings: Settings,
              manifest: dict[str, Any] | None = None) -> None:
    from agents.automation.webhooks import deliver_pending, record_run_events, target_from
    if target_from(settings) is None:
        return
    if manifest is None:
        manifest = RunStore.open(settings.runs_dir, run_id).manifest(RunStatus.STOPPED)
    if record_run_events(manifest, settings):
        deliver_pending(settings)


def run_settings(store: RunStore, settings: Settings) -> tuple[Settings, int]:
    """The settings a run started with (keys and endpoints still come from the env)."""
    meta = read_json(store.root / "run.json")
    update = {k: meta[k] for k in RUN_SETTINGS if k in meta}
    return settings.model_copy(update=update), int(meta.get("seed", 0))


def check_run_complete(store: RunStore) -> None:
    """Refuse (:class:`RunIncomplete`) a run folder that lacks specs its run.json or, for
    older runs, its brief asks for; a partial run is never reported as completed."""
    meta = store.check_complete()
    if "assets" in meta:
        return
    briefs = sorted(store.root.glob("brief.*"))
    have = set(store.asset_ids())
    if briefs:
        try:
            brief = load_brief(briefs[0])
        except SignwriterError:
            brief = None  # the brief copy cannot be read again (limits changed)
        missing = [f.name for f in brief.formats if f.name not in have] if brief else []
        if missing:
            raise RunIncomplete(f"run {store.run_id} is incomplete: no spec for "
                                f"{', '.join(missing)} (its brief asks for "
                                f"{len(brief.formats)} formats); it cannot be resumed: start "
                                "it again with `signwriter run`")
    if not have:
        raise RunIncomplete(f"run {store.run_id} has no specs; start it again with "
                            "`signwriter run`")


def resume_run(run_id: str, settings: Settings, *, on_event: OnEvent | None = None,
               wait: bool | float = False, on_wait: OnWait | None = None) -> RunResult:
    """Continue a run: unfinished assets go on where they stopped; nothing finished reruns.
    Another process holding the run: :class:`~agents.errors.RunBusy` at once, or wait
    (``wait`` True, or at most that many seconds)."""
    return _announced(run_id, settings, lambda: execute(run_id, settings, on_event=on_event,
                                                         wait=wait, on_wait=on_wait))


def execute(run_id: str, settings: Settings, *, on_event: OnEvent | None = None,
            backend: Backend | None = None, budget: Budget | None = None,
            slots: threading.BoundedSemaphore | None = None, wait: bool | float = False,
            on_wait: OnWait | None = None) -> RunResult:
    """Run (or continue) every asset of a run, with the settings it was created with.

    ``settings.concurrency`` bounds the generations in flight; twice as many assets are
    worked on at once, so OCR of finished images overlaps with waiting on the backend.
    An error that stops the run (a refused key, an exhausted balance, an interrupt)
    leaves it ``stopped`` and is raised as :class:`~agents.errors.RunStopped` (typed
    errors) after every asset in flight has finished its step. ``backend`` replaces the
    one the settings name (benchmarks, tests). ``budget`` and ``slots`` replace the run's
    own, to share one spending limit and one bound on generations in flight between several
    runs (a batch: :mod:`agents.automation.batch`).

    Holds the run's lock throughout (:class:`~agents.store.RunLock`): a second process is
    told who has it, or waits with ``wait``. A run folder missing specs is refused
    (:class:`~agents.errors.RunIncomplete`); a full disk stops the run cleanly, keeping
    everything paid for.
    """
    store = RunStore.open(settings.runs_dir, run_id)
    with locked(settings.runs_dir, store.run_id, "signwriter run/resume", wait, on_wait):
        check_run_complete(store)
        ensure_writable(store.root)
        return _execute(store, settings, on_event=on_event, backend=backend, budget=budget,
                        slots=slots)


def _execute(store: RunStore, settings: Settings, *, on_event: OnEvent | None,
             backend: Backend | None, budget: Budget | None,
             slots: threading.BoundedSemaphore | None) -> RunResult:
    settings, seed = run_settings(store, settings)
    backend = backend or make_backend(settings, seed)
    budget = budget or Budget(settings.max_cost, spent=store.spent_usd())
    index = Index.for_settings(settings)
    ctx = Context(settings=settings, store=store, backend=backend, budget=budget,
                  on_event=_indexed(index, store, on_event), seed=seed,
                  vision=vision_reader(settings),
                  reader=ocr_reader(settings), recheck=ocr_recheck_reader(settings),
                  slots=slots or threading.BoundedSemaphore(settings.concurrency))
    _set_process_status(store, RunStatus.RUNNING, None)
    error: BaseException | None = None
    try:
        with _saver(store, settings) as saver:
            graph = compiled_graph(saver)

            def run_asset(asset_id: str) -> None:
                config = _thread(store, asset_id)
                snap = graph.get_state(config)
                if not snap.values:
                    graph.invoke({"run_id": store.run_id, "asset_id": asset_id,
                                  "attempts": []}, config, context=ctx, durability="sync")
                elif (snap.next or snap.tasks) and not snap.interrupts:
                    # stopped mid-way: continue from the last checkpoint; a step whose node
                    # had finished before the crash is not run again (its writes were saved)
                    graph.invoke(None, config, context=ctx, durability="sync")
                elif snap.interrupts:
                    # a decision stored but not applied (the deciding process died)
                    stored = index.decision_for(store.run_id, asset_id, snap.interrupts[0].id)
                    if stored and stored.get("applied") is None:
                        graph.invoke(Command(resume=answer_of(stored)), config, context=ctx,
                                     durability="sync")
                # else: finished, or waiting for a human

            assets = store.asset_ids()
            workers = max(1, min(len(assets), 2 * settings.concurrency))
            with ThreadPoolExecutor(max_workers=workers) as pool:
                # the first `concurrency` assets reach the backend before the rest start
                # (they would only compete with them for the CPU; their turn is later)
                first, rest = assets[:settings.concurrency], assets[settings.concurrency:]
                futures = [pool.submit(run_asset, a) for a in first]
                started = 0
                while started < len(first):
                    if ctx.submitted.acquire(timeout=0.05):
                        started += 1
                    elif started + sum(f.done() for f in futures) >= len(first):
                        break  # some finished (or failed, or wait for review) without one
                futures += [pool.submit(run_asset, a) for a in rest]
                for f in futures:
                    try:
                        f.result()
                    except BaseException as e:  # noqa: BLE001 - re-raised below, after all
                        error = error or e
            _settle_decisions(index, store, graph)
    except BaseException as e:  # noqa: BLE001 - recorded as stopped, then re-raised
        error = error or e
    finally:
        try:
            manifest = _set_process_status(
                store, RunStatus.STOPPED if error else RunStatus.RUNNING, error)
            index.sync_run(store)
        except OSError as e:  # the disk filled up: what is paid for is in the ledger
            error = error or e
            manifest = {}
    if error is not None:
        if isinstance(error, OSError) or disk_full(error):  # stopped cleanly, resumable
            raise RunStopped(store.run_id, storage_error(
                error, "cannot write the run folder", "everything already generated is kept "
                "(images/, ledger.jsonl); free some space")) from error
        if isinstance(error, Exception):
            raise RunStopped(store.run_id, error) from error
        raise error
    return RunResult(store.run_id, store.root, manifest)


def _set_process_status(store: RunStore, process: RunStatus,
                        error: BaseException | None) -> dict[str, Any]:
    """Record whether the runner is working on the run (or stopped early), and write the
    manifest; run.json and manifest.json then carry the same derived status."""
    meta_path = store.root / "run.json"
    meta = read_json(meta_path)
    meta["process"] = process
    meta["error"] = str(error) if error else None
    manifest = store.manifest(process=process)
    meta["status"] = manifest["status"]
    write_json(meta_path, meta)
    store.write_manifest(manifest)
    return manifest


# --- workers (many machines) ----------------------------------------------------------------
Stage = str
"""``"generate"`` or ``"check"``: which worker queue a stage of an asset's graph runs on."""


def next_stage(snap: Any) -> Stage | None:
    """Where an asset's graph thread goes next: ``generate`` (a new thread, or a paid
    attempt to make), ``check`` (OCR, the QA decision, the hand-over to a person), or
    ``None`` (finished, or waiting for a person)."""
    from agents.graph import GENERATE_NODES
    if not snap.values:
        return "generate"
    if snap.interrupts:
        return None
    if snap.next:
        return "generate" if snap.next[0] in GENERATE_NODES else "check"
    return None


def advance_asset(run_id: str, asset_id: str, settings: Settings, *, stage: Stage,
                  payments: Any = None, slots: Any = None,
                  on_event: OnEvent | None = None) -> Stage | None:
    """Run one stage of an asset's graph thread (a worker's task): from its last checkpoint
    up to where the other stage's work begins. Returns the stage to queue next, or ``None``
    when the asset is finished or waits for a person. A thread whose next step belongs to
    the other stage is not touched (the answer says where it goes).

    ``payments`` (:class:`~agents.workers.payments.ClusterPayments`) keeps paid attempts
    once across workers and holds the job's budget; ``slots`` bounds the provider calls
    (:class:`~agents.workers.limits.ProviderLimit`: the account's limits across workers);
    the caller holds the asset's lease.
    Errors that stop a run on one machine (a refused key, an empty balance) are raised."""
    store = RunStore.open(settings.runs_dir, run_id)
    settings, seed = run_settings(store, settings)
    index = Index.for_settings(settings)
    ctx = Context(settings=settings, store=store, backend=make_backend(settings, seed),
                  budget=Budget(None) if payments is not None else Budget(
                      settings.max_cost, spent=store.spent_usd()),
                  on_event=_indexed(index, store, on_event), seed=seed,
                  vision=vision_reader(settings), payments=payments,
                  **({"slots": slots} if slots is not None else {}),
                  reader=ocr_reader(settings) if stage == "check" else None,
                  recheck=ocr_recheck_reader(settings) if stage == "check" else None)
    from agents.graph import GENERATE_NODES
    other = ("check",) if stage == "generate" else GENERATE_NODES
    with _saver(store, settings) as saver:
        graph = compiled_graph(saver, interrupt_before=other)
        config = _thread(store, asset_id)
        snap = graph.get_state(config)
        stored = None
        if snap.interrupts:  # a decision stored but not applied (its process died)
            stored = index.decision_for(run_id, asset_id, snap.interrupts[0].id)
            if not stored or stored.get("applied") is not None:
                return None
        elif next_stage(snap) != stage:
            return next_stage(snap)
        if not snap.values:
            graph.invoke({"run_id": run_id, "asset_id": asset_id, "attempts": []}, config,
                         context=ctx, durability="sync")
        elif stored is not None:
            graph.invoke(Command(resume=answer_of(stored)), config, context=ctx,
                         durability="sync")
        else:
            graph.invoke(None, config, context=ctx, durability="sync")
        _settle_decisions(index, store, graph)
        return next_stage(graph.get_state(config))


def settle_run(run_id: str, settings: Settings, error: BaseException | None = None
               ) -> RunResult:
    """Write a run's manifest and index row after workers moved its assets (``error``:
    one stopped it, resumable). What ``execute`` does at its end on one machine."""
    store = RunStore.open(settings.runs_dir, run_id)
    manifest = _set_process_status(store, RunStatus.STOPPED if error else RunStatus.RUNNING,
                                   error)
    Index.for_settings(settings).sync_run(store)
    return RunResult(store.run_id, store.root, manifest)


# --- review --------------------------------------------------------------------------------
def _indexed(index: Index, store: RunStore, on_event: OnEvent | None) -> OnEvent:
    """Progress events, with the run index updated when an asset finishes or waits."""
    def emit(ev: Event) -> None:
        if ev.kind in ("done", "reviewed"):
            index.sync_asset(store, ev.asset_id)
        if on_event:
            on_event(ev)
    return emit


def _settle_decisions(index: Index, store: RunStore, graph: Any) -> None:
    """Mark applied the stored decisions whose interrupt the graph has moved past."""
    for d in index.unapplied_decisions(store.run_id):
        snap = graph.get_state(_thread(store, d["asset_id"]))
        if not any(i.id == d["interrupt_id"] for i in snap.interrupts):
            index.mark_applied(d["id"], store.asset_status(d["asset_id"]).get("status", ""))


def list_reviews(settings: Settings, *, run_id: str | None = None, fmt: str | None = None,
                 language: str | None = None, verdict: str | None = None,
                 sort: str = "oldest") -> list[ReviewItem]:
    """Every asset waiting for a person, across runs, from the run index. ``verdict``:
    passed | failed (QA's); ``sort``: oldest | newest | score | run."""
    root = Path(settings.runs_dir)
    out = []
    for q in Index.for_settings(settings).queue(run_id=run_id, fmt=fmt, language=language,
                                                verdict=verdict, sort=sort):
        run_dir = root / q["run_id"]
        out.append(ReviewItem(
            run_id=q["run_id"], asset_id=q["asset_id"], reason=q.get("reason"),
            best_attempt=q.get("best_attempt"),
            image=str(run_dir / q["image"]) if q.get("image") else None,
            overlay=str(run_dir / q["overlay"]) if q.get("overlay") else None,
            image_rel=q.get("image"), overlay_rel=q.get("overlay"), format=q.get("format"),
            width=q.get("width"), height=q.get("height"), language=q.get("language"),
            passed=q.get("passed"), score=q.get("score"),
            attempt_count=q.get("attempt_count") or 0, updated=q.get("updated"),
            run_name=q.get("run_name"), brief=q.get("brief"), policy=q.get("policy")))
    return out


@dataclass
class Claim:
    """A decision validated and stored, not yet applied to the graph."""

    run_id: str
    asset_id: str
    row: dict[str, Any]
    answer: dict[str, Any]


def claim_review(run_id: str, asset_id: str, decision: Decision | str, settings: Settings, *,
                 reviewer: str, via: str = "cli", note: str | None = None,
                 attempt: int | None = None, region: str | None = None,
                 text: str | None = None, round_: int | None = None) -> Claim:
    """Validate a decision against the asset's open review and store it once, under (run,
    asset, interrupt id); :func:`apply_review` then resumes the graph. Raises
    :class:`~agents.errors.InvalidDecision` (nothing stored, the asset stays reviewable)
    or :class:`~agents.errors.AlreadyDecided` (who decided first, and when)."""
    store = RunStore.open(settings.runs_dir, run_id)
    if asset_id not in store.asset_ids():
        raise ReviewError(f"run {run_id} has no asset '{asset_id}' "
                          f"(assets: {', '.join(store.asset_ids())})")
    index = Index.for_settings(settings)
    raw = {"decision": str(decision), "attempt": attempt, "note": note, "region": region,
           "text": text}
    spec = VisualSpec.model_validate(read_json(store.spec_path(asset_id)))
    with _saver(store, settings) as saver:
        snap = compiled_graph(saver).get_state(_thread(store, asset_id))
        row, answer = review_claim(interrupts=snap.interrupts, index=index, store=store,
                                   asset_id=asset_id, raw=raw, reviewer=reviewer, via=via,
                                   round_=round_, fits=fits_check(spec))
    return Claim(run_id, asset_id, row, answer)


def apply_review(claim: Claim, settings: Settings, *, wait: bool | float = 30.0,
                 on_wait: OnWait | None = None) -> RunResult:
    """Resume the asset's graph with a claimed decision, once (an interrupt already
    answered is not answered again; a step cut short by a crash is finished). Holds the
    run's lock: a run another process works on is waited for (``wait`` seconds), then
    :class:`~agents.errors.RunBusy`; the claim stays stored and the next command applies
    it."""
    store = RunStore.open(settings.runs_dir, claim.run_id)
    with locked(settings.runs_dir, store.run_id, "signwriter review", wait, on_wait):
        return _apply_review(store, claim, settings)


def _complete_stored_decision(store: RunStore, asset_id: str, settings: Settings) -> None:
    """Apply a decision that was stored but whose process died before applying it (the
    same as a resume would), so the next command finds it done, never contradicted."""
    index = Index.for_settings(settings)
    with _saver(store, settings) as saver:
        snap = compiled_graph(saver).get_state(_thread(store, asset_id))
    if snap.interrupts:
        stored = index.decision_for(store.run_id, asset_id, snap.interrupts[0].id)
        if stored and stored.get("applied") is None:
            _apply_review(store, Claim(store.run_id, asset_id, stored, answer_of(stored)),
                          settings)
    elif snap.next or snap.tasks:
        for d in index.unapplied_decisions(store.run_id):
            if d["asset_id"] == asset_id:
                _apply_review(store, Claim(store.run_id, asset_id, d, answer_of(d)), settings)
                break


def _on_workers(store: RunStore, settings: Settings) -> bool:
    """A run made for workers (its checkpoints in PostgreSQL), with workers configured."""
    try:
        where = read_json(store.root / "run.json").get("checkpoints")
    except (OSError, ValueError):
        return False
    return where == "postgresql" and settings.cluster


def _apply_on_workers(store: RunStore, claim: Claim, settings: Settings) -> RunResult:
    """Workers apply a stored decision (the graph resumes there: a new attempt is paid for
    and checked on the worker queues, under the run's budget); wait for them."""
    from agents.workers import jobs
    rs, _ = run_settings(store, settings)
    job_id = jobs.enqueue(settings, "review", [(store.run_id, claim.asset_id)],
                          max_cost=rs.max_cost, spent=store.spent_usd(),
                          request={"decision": claim.row.get("decision"),
                                   "reviewer": claim.row.get("reviewer")})
    jobs.wait(settings, job_id)
    manifest = store.manifest()
    _decision_event(settings, store, claim, manifest)
    return RunResult(store.run_id, store.root, manifest)


def _apply_review(store: RunStore, claim: Claim, settings: Settings) -> RunResult:
    if _on_workers(store, settings):
        return _apply_on_workers(store, claim, settings)
    settings, seed = run_settings(store, settings)
    index = Index.for_settings(settings)
    ctx = Context(settings=settings, store=store, backend=make_backend(settings, seed),
                  budget=Budget(settings.max_cost, store.spent_usd()), seed=seed,
                  on_event=_indexed(index, store, None), reader=ocr_reader(settings),
                  recheck=ocr_recheck_reader(settings), vision=vision_reader(settings))
    with _saver(store, settings) as saver:
        graph = compiled_graph(saver)
        config = _thread(store, claim.asset_id)
        snap = graph.get_state(config)
        if any(i.id == claim.row["interrupt_id"] for i in snap.interrupts):
            graph.invoke(Command(resume=claim.answer), config, context=ctx, durability="sync")
        elif snap.next or snap.tasks:  # answered, then the process died: finish the step
            graph.invoke(None, config, context=ctx, durability="sync")
        index.mark_applied(claim.row["id"], store.asset_status(claim.asset_id).get("status", ""))
    process = RunStatus(read_json(store.root / "run.json").get("process", RunStatus.RUNNING))
    manifest = _set_process_status(store, process, None)
    index.sync_run(store)
    _decision_event(settings, store, claim, manifest)
    _deliver_approved(store, claim, manifest)
    return RunResult(store.run_id, store.root, manifest)


def _deliver_approved(store: RunStore, claim: Claim, manifest: dict[str, Any]) -> None:
    """An approved asset goes to the destinations its scheduled job noted in the run
    folder at once, not at the job's next tick (:mod:`agents.automation.destinations`)."""
    a = next((x for x in manifest["assets"] if x["asset_id"] == claim.asset_id), {})
    if str(claim.row.get("decision")) != "approve" or not a.get("final_image"):
        return
    from agents.automation.destinations import deliver_approved
    deliver_approved(store, claim.asset_id, store.abs(a["final_image"]))


def _decision_event(settings: Settings, store: RunStore, claim: Claim,
                    manifest: dict[str, Any]) -> None:
    """``asset.approved`` / ``asset.rejected`` to the webhook outbox (when a receiver is
    configured), once the decision is applied; its id is derived from (run, asset,
    interrupt), so applying it again records nothing new (:mod:`agents.automation.webhooks`)."""
    kind = {"approve": "asset.approved", "reject": "asset.rejected"}.get(
        str(claim.row.get("decision")))
    if kind is None:  # edit / regenerate / repair: the asset goes round again
        return
    from agents.automation.webhooks import record_event
    a = next((x for x in manifest["assets"] if x["asset_id"] == claim.asset_id), {})
    record_event(settings, kind, f"{store.run_id}/{claim.asset_id}/{claim.row['interrupt_id']}", {
        "run_id": store.run_id, "asset_id": claim.asset_id, "status": a.get("status"),
        "reviewer": claim.row.get("reviewer"), "image": str(store.abs(a["final_image"]))
        if a.get("final_image") else None})


def decide_review(run_id: str, asset_id: str, decision: Decision | str, settings: Settings, *,
                  reviewer: str | None = None, note: str | None = None,
                  attempt: int | None = None, region: str | None = None,
                  text: str | None = None, via: str = "cli", wait: bool | float = False,
                  on_wait: OnWait | None = None) -> RunResult:
    """Decide an asset waiting for review (approve | reject | edit | regenerate | repair)
    and resume its graph: :func:`claim_review` then :func:`apply_review`, holding the run's
    lock (another process on the run: :class:`~agents.errors.RunBusy`, or wait with
    ``wait``). A decision an earlier command stored but could not finish is completed
    first, so this one is then told it came second, never applied over it."""
    store = RunStore.open(settings.runs_dir, run_id)
    with locked(settings.runs_dir, store.run_id, f"signwriter review {decision}", wait,
                on_wait):
        if asset_id in store.asset_ids():
            _complete_stored_decision(store, asset_id, settings)
        claim = claim_review(run_id, asset_id, decision, settings, reviewer=reviewer or "cli",
                             via=via, note=note, attempt=attempt, region=region, text=text)
        return apply_review(claim, settings)


def finish_decisions(settings: Settings, *, older_than_s: float = 0.0) -> list[str]:
    """Apply every decision that was stored but whose process died before applying it
    (``signwriter serve`` does this as it starts, for decisions made at least
    ``older_than_s`` ago). Returns ``run/asset`` of each one finished."""
    done = []
    cutoff = time.time() - older_than_s
    for d in Index.for_settings(settings).unapplied_decisions():
        if d["created"] > cutoff:
            continue
        apply_review(Claim(d["run_id"], d["asset_id"], d, answer_of(d)), settings)
        done.append(f"{d['run_id']}/{d['asset_id']}")
    return done


def decisions(settings: Settings, run_id: str | None = None,
              asset_id: str | None = None) -> list[dict[str, Any]]:
    """The audit: every decision (who, when, which attempt, what, why), oldest first."""
    return Index.for_settings(settings).decisions(run_id, asset_id)


# --- reading -------------------------------------------------------------------------------
def list_runs(settings: Settings) -> list[RunSummary]:
    """Every run in the run index, oldest first."""
    index = Index.for_settings(settings)
    out: list[RunSummary] = []
    for r in reversed(index.runs()):
        counts: dict[AssetStatus, int] = {}
        for a in index.assets(r["run_id"]):
            counts[AssetStatus(a["status"])] = counts.get(AssetStatus(a["status"]), 0) + 1
        out.append(RunSummary(run_id=r["run_id"], name=r["name"],
                              review_policy=r["review_policy"], status=r["status"],
                              backend=r["backend"],
                              created=r["created"], assets=counts, cost_usd=r["cost_usd"] or 0))
    return out


def review_counts(settings: Settings) -> dict[str, Any]:
    """How many assets wait: total, QA passed/failed, per format and per language."""
    return Index.for_settings(settings).queue_counts()


def get_run(run_id: str, settings: Settings) -> dict[str, Any]:
    """A run and its assets, from the run index (:class:`RunNotFound` if unknown)."""
    index = Index.for_settings(settings)
    run = index.run(run_id)
    if run is None:
        raise RunNotFound(f"no run '{run_id}' in the run index")
    return {"run": run, "assets": index.assets(run_id)}


def get_asset(run_id: str, asset_id: str, settings: Settings) -> dict[str, Any]:
    """Everything a reviewer sees of an asset: its row, every attempt (score, findings,
    why it was not accepted), the open review request, the audit, the spec and the
    prompt of the attempt shown. Raises :class:`RunNotFound` / :class:`ReviewError`."""
    index = Index.for_settings(settings)
    asset = index.asset(run_id, asset_id)
    if asset is None:
        if index.run(run_id) is None:
            raise RunNotFound(f"no run '{run_id}' in the run index")
        raise ReviewError(f"run {run_id} has no asset '{asset_id}'")
    attempts = index.attempts(run_id, asset_id)
    shown_n = asset.get("accepted_attempt") or asset.get("best_attempt") or (
        attempts[-1]["n"] if attempts else None)
    shown = next((a for a in attempts if a["n"] == shown_n), None)
    root = Path(settings.runs_dir) / run_id
    decided = index.decisions(run_id, asset_id)
    return {"asset": asset, "attempts": attempts, "shown": shown, "run": index.run(run_id),
            "pending": next((d for d in decided if d.get("applied") is None), None),
            "review": index.open_review(run_id, asset_id)
            if asset["status"] == AssetStatus.NEEDS_REVIEW else None,
            "decisions": decided,
            "spec": _text(root / "specs" / f"{asset_id}.json"),
            "prompt": _text(root / shown["prompt"]) if shown and shown.get("prompt") else ""}


def approved_images(run_id: str, settings: Settings) -> list[tuple[str, Path]]:
    """(asset id, final image) of every accepted or approved asset of a run."""
    root = Path(settings.runs_dir) / run_id
    return [(a["asset_id"], root / a["final_image"])
            for a in get_run(run_id, settings)["assets"]
            if AssetStatus(a["status"]).approved and a.get("final_image")]


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def read_manifest(run_id: str, settings: Settings) -> dict[str, Any]:
    """A run's manifest, as of now (rebuilt from its files)."""
    return RunStore.open(settings.runs_dir, run_id).manifest()
