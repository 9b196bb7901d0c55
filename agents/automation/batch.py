"""Batches: brief files, folders of briefs, or CSV rows that fill a base brief — one run per
asset, each under an idempotency key, several at once, within one budget.

::

    items, bad = collect_paths([Path("briefs/")], settings)        # or
    items, bad = collect_csv(Path("base.yaml"), Path("rows.csv"), settings)
    result = run_batch(items, bad, settings, concurrency=8, max_attempts_total=500)
    result.exit_code, result.summary_line()       # 0 / 1 / 2 / 3; "generated N, skipped M, …"
    write_report(result, settings)                # report.html (thumbnails) + report.json

**Idempotency.** Each asset (one brief × one format) has a key: the SHA-256 of the brief's
content narrowed to that format, the bytes of its logo and font files, the seed and the
settings that change the output (:data:`OUTPUT_SETTINGS`). The key names the asset's run
(``<brief>-<format>-<key[:16]>``), so the runs folder itself is the record: a run that ended
accepted, needs_review or rejected is *skipped*; a run cut short (a kill, a crash) is
*resumed* from its checkpoints (the ledger keeps a finished attempt from being paid twice);
a run that failed is tried again in a new run (``…-retry1``, ``…-retry2``).

**Rows.** A CSV's header names copy items of the base brief, plus optional ``formats``
(preset names or ``WIDTHxHEIGHT``, separated by ``;``, ``,``, ``|`` or spaces), ``language``
and ``name``. Rows are numbered as a spreadsheet shows them (the header is row 1). A bad row
(a missing or empty value, an unknown format, copy that cannot fit) is reported with its
number and skipped; the others go on. A column that names no copy item stops the batch
before anything runs (a typo would silently drop copy).

**Exit codes** (:attr:`BatchResult.exit_code`): 2 when any input was bad (after the rest
ran), else 1 when any asset failed, was rejected or was not run (budget), else 3 when some
wait for review, else 0.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, SecretStr

from agents import api
from agents.brief import NAME_PATTERN, Brief, brief_from_data, load_brief, read_brief_data
from agents.errors import (BatchInputError, BriefError, BudgetExceeded, PathNotAllowed,
                           PlannerError, RunStopped, SpecError)
from agents.settings import Settings
from agents.state import Budget
from agents.status import AssetStatus
from agents.store import RunStore, read_json

OUTPUT_SETTINGS = ("backend", "planner", "max_attempts", "simulate_errors", "prompt_enhance",
                   "review_policy")
"""Settings that change what an asset comes out as: part of its idempotency key (with the
backend's own options, less keys, endpoints and transport knobs: :func:`_backend_options`)."""

_TRANSPORT = re.compile(r"key|secret|token|url|timeout|retries|backoff|poll|concurrency")

BRIEF_SUFFIXES = (".yaml", ".yml", ".json")
SPECIAL_COLUMNS = ("formats", "language", "name")
FORMAT_SPLIT = re.compile(r"[;,|\s]+")
EXTRA = "\x00extra"
"""Where csv puts the values of a row longer than the header."""

Outcome = Literal["accepted", "needs_review", "rejected", "failed", "invalid", "not_run"]
Action = Literal["generated", "resumed", "skipped", "none"]


class BadInput(BaseModel):
    """A brief file or CSV row that was reported and skipped."""

    source: str
    row: int | None = None
    format: str | None = None
    message: str

    def line(self) -> str:
        where = self.source + (f" row {self.row}" if self.row is not None else "")
        return f"{where}{' ' + self.format if self.format else ''}: {self.message}"


@dataclass
class BatchItem:
    """One asset to make: a brief narrowed to one format, and its idempotency key."""

    key: str
    source: str
    row: int | None
    format: str
    brief: Brief
    folder: Path

    @property
    def base_run_id(self) -> str:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", self.brief.name)[:40]
        return f"{name}-{self.format[:40]}-{self.key[:16]}"

    @property
    def seed(self) -> int:
        return int(self.key[:8], 16) & 0x7FFFFFFF


class ItemResult(BaseModel):
    """What became of one asset in this batch."""

    key: str
    source: str
    row: int | None
    format: str
    run_id: str | None
    outcome: Outcome
    action: Action
    cost_usd: float = 0.0
    attempts: int = 0
    image: str | None = None
    """Absolute path of the final image, or of the best attempt for review."""
    reason: str | None = None


@dataclass
class BatchResult:
    batch_id: str
    items: list[ItemResult]
    bad: list[BadInput]
    wall_s: float = 0.0
    report_dir: Path | None = None

    def count(self, *outcomes: str) -> int:
        return sum(i.outcome in outcomes for i in self.items)

    @property
    def generated(self) -> int:
        return sum(i.action in ("generated", "resumed") for i in self.items)

    @property
    def skipped(self) -> int:
        return sum(i.action == "skipped" for i in self.items)

    @property
    def failed(self) -> int:
        return self.count("failed", "rejected", "not_run")

    @property
    def cost_usd(self) -> float:
        return round(sum(i.cost_usd for i in self.items), 6)

    @property
    def exit_code(self) -> int:
        if self.bad or self.count("invalid"):
            return 2
        if self.failed:
            return 1
        if self.count("needs_review"):
            return 3
        return 0

    def summary_line(self) -> str:
        """The contract's last line."""
        return (f"generated {self.generated}, skipped {self.skipped}, accepted "
                f"{self.count('accepted')}, review {self.count('needs_review')}, failed "
                f"{self.failed}")

    def as_dict(self) -> dict[str, Any]:
        return {"batch_id": self.batch_id, "wall_s": round(self.wall_s, 3),
                "generated": self.generated, "skipped": self.skipped,
                "accepted": self.count("accepted"), "needs_review": self.count("needs_review"),
                "failed": self.failed, "invalid": self.count("invalid") + len(self.bad),
                "cost_usd": self.cost_usd, "exit_code": self.exit_code,
                "bad_input": [b.model_dump() for b in self.bad],
                "items": [i.model_dump() for i in self.items]}


# --- inputs ----------------------------------------------------------------------------------
def _file_sha(value: Any) -> str | None:
    if value is None:
        return None
    p = Path(str(value))
    try:
        return hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
    except OSError:
        return None


def _backend_options(settings: Settings) -> dict[str, Any]:
    """The backend's own options that can change an image (a model, steps, a fault rate)."""
    from generation.registry import backend_info
    spec = backend_info(settings.backend)  # an unknown backend: InvalidRequest, exit 2
    return {k: v for k, v in settings.backend_options(spec).items()
            if not _TRANSPORT.search(k) and not isinstance(v, SecretStr)}


def asset_key(brief: Brief, fmt_name: str, settings: Settings, seed: int = 0) -> str:
    """The idempotency key of one asset: brief content (narrowed to the format), the files it
    names, the seed and the settings that change the output."""
    narrowed = brief.model_copy(update={"formats": [f for f in brief.formats
                                                    if f.name == fmt_name]})
    material = {
        "brief": narrowed.model_dump(mode="json", by_alias=True),
        "files": [_file_sha(brief.brand.logo), _file_sha(brief.brand.fonts.headline),
                  _file_sha(brief.brand.fonts.body)],
        "settings": {k: getattr(settings, k) for k in OUTPUT_SETTINGS},
        "backend_options": _backend_options(settings),
        "llm_model": settings.llm_model if settings.llm_configured and settings.planner != "rules"
        else None,
        "seed": seed,
    }
    raw = json.dumps(material, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _items_of(brief: Brief, source: str, row: int | None, folder: Path, settings: Settings,
              seed: int) -> list[BatchItem]:
    out = []
    for fmt in brief.formats:
        narrowed = brief.model_copy(update={"formats": [fmt]})
        out.append(BatchItem(asset_key(brief, fmt.name, settings, seed), source, row, fmt.name,
                             narrowed, folder))
    return out


def _brief_problem(e: BriefError) -> str:
    return "; ".join(f"{loc}: {msg}" for loc, msg in e.problems)


def collect_paths(paths: list[Path], settings: Settings, *, seed: int = 0
                  ) -> tuple[list[BatchItem], list[BadInput]]:
    """Brief files and folders of briefs (``*.yaml``, ``*.yml``, ``*.json``, not recursive).
    A path that does not exist is a :class:`BatchInputError`; a bad brief a :class:`BadInput`."""
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in BRIEF_SUFFIXES
                           and f.is_file())
            if not found:
                raise BatchInputError(f"{p}: no brief files (*.yaml, *.yml, *.json) in this "
                                      "folder")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise BatchInputError(f"{p}: no such file or folder")
    items: list[BatchItem] = []
    bad: list[BadInput] = []
    for f in files:
        try:
            brief = load_brief(f, settings)
        except BriefError as e:
            bad.append(BadInput(source=str(f), message=_brief_problem(e)))
            continue
        items += _items_of(brief, str(f), None, f.parent, settings, seed)
    return _dedupe(items), bad


def collect_csv(base: Path, rows: Path, settings: Settings, *, seed: int = 0
                ) -> tuple[list[BatchItem], list[BadInput]]:
    """Each CSV row fills the base brief (see the module doc). Returns the assets of the good
    rows and the bad rows; a header that cannot be used is a :class:`BatchInputError`."""
    try:
        data = read_brief_data(base, settings)
    except BriefError as e:
        raise BatchInputError(f"{base}: invalid base brief: {_brief_problem(e)}") from None
    try:
        text = rows.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise BatchInputError(f"{rows}: no such file") from None
    except UnicodeDecodeError:
        raise BatchInputError(f"{rows}: not UTF-8 text: save the CSV as UTF-8") from None
    except OSError as e:
        raise BatchInputError(f"{rows}: {e.strerror}") from None
    return collect_rows(data, text, settings, base_name=str(base), source=str(rows),
                        folder=base.parent, seed=seed)


def collect_brief(data: Any, settings: Settings, *, source: str, folder: Path, seed: int = 0
                  ) -> tuple[list[BatchItem], list[BadInput]]:
    """One brief given as data (a brief posted to the HTTP API): its assets, or one bad
    input naming the problem."""
    try:
        brief = brief_from_data(data, source, folder, settings)
    except BriefError as e:
        return [], [BadInput(source=source, message=_brief_problem(e))]
    return _items_of(brief, source, None, folder, settings, seed), []


def collect_rows(data: Any, text: str, settings: Settings, *, base_name: str, source: str,
                 folder: Path, seed: int = 0) -> tuple[list[BatchItem], list[BadInput]]:
    """CSV text whose rows fill a base brief given as data (:func:`collect_csv`)."""
    base = base_name
    if not isinstance(data, dict):
        raise BatchInputError(f"{base}: a base brief is a mapping of fields")
    try:
        brief_from_data(data, base, folder, settings)
    except BriefError as e:
        raise BatchInputError(f"{base}: invalid base brief: {_brief_problem(e)}") from None
    base_copy = data.get("copy") if isinstance(data.get("copy"), dict) else {}
    rows = source
    reader = csv.DictReader(io.StringIO(text, newline=""), restkey=EXTRA)
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        raise BatchInputError(f"{rows}: empty CSV (the first row names the columns)")
    unknown = [h for h in header if h not in base_copy and h not in SPECIAL_COLUMNS]
    if unknown:
        raise BatchInputError(
            f"{rows}: column {', '.join(repr(u) for u in unknown)} names no copy item of "
            f"{base} (its copy items: {', '.join(base_copy) or 'none'}; other columns: "
            f"{', '.join(SPECIAL_COLUMNS)})")
    items: list[BatchItem] = []
    bad: list[BadInput] = []
    for raw in reader:
        n = reader.line_num  # the physical line the row ended on: what a spreadsheet shows
        row = {(k or "").strip(): v for k, v in raw.items()}
        if row.get(EXTRA):
            bad.append(BadInput(source=source, row=n, message=f"{len(row[EXTRA])} more "
                                "values than the header has columns"))
            continue
        missing = [h for h in header if row.get(h) is None]
        if missing:
            bad.append(BadInput(source=source, row=n, message=f"missing column "
                                f"{', '.join(repr(m) for m in missing)}"))
            continue
        empty = [h for h in header if h in base_copy and not row[h].strip()]
        if empty:
            bad.append(BadInput(source=source, row=n, message=f"{', '.join(repr(e) for e in empty)}"
                                " is empty"))
            continue
        filled = json.loads(json.dumps(data))  # a deep copy of plain data
        copy = filled.setdefault("copy", {})
        for h in header:
            if h in base_copy:
                old = copy.get(h)
                copy[h] = ({**old, "text": row[h]} if isinstance(old, dict) else row[h])
        if row.get("formats", "").strip():
            filled["formats"] = [f for f in FORMAT_SPLIT.split(row["formats"].strip()) if f]
        if row.get("language", "").strip():
            filled["language"] = row["language"].strip()
        if row.get("name", "").strip():
            filled["name"] = row["name"].strip()
            if not re.match(NAME_PATTERN, filled["name"]):
                bad.append(BadInput(source=source, row=n, message=f"name {filled['name'][:40]!r}"
                                    " may use letters, digits, _ . - only"))
                continue
        try:
            brief = brief_from_data(filled, f"{source} row {n}", folder, settings)
        except BriefError as e:
            bad.append(BadInput(source=source, row=n, message=_brief_problem(e)))
            continue
        items += _items_of(brief, source, n, folder, settings, seed)
    return _dedupe(items), bad


def _dedupe(items: list[BatchItem]) -> list[BatchItem]:
    """The same asset asked for twice (two identical rows) is made once."""
    seen: set[str] = set()
    out = []
    for it in items:
        if it.key not in seen:
            seen.add(it.key)
            out.append(it)
    return out


def batch_id(items: list[BatchItem]) -> str:
    """The same set of assets gives the same id (and the same report folder)."""
    return hashlib.sha256("\n".join(sorted(i.key for i in items)).encode()).hexdigest()[:16]


# --- budget ----------------------------------------------------------------------------------
class BatchBudget(Budget):
    """One spending limit and one cap on paid attempts for every run of a batch; what the
    batch's runs paid before (an interrupted batch run again) counts."""

    def __init__(self, limit: float | None, spent: float = 0.0,
                 max_attempts: int | None = None, attempts: int = 0) -> None:
        super().__init__(limit, spent)
        self.max_attempts = max_attempts
        self.attempts = attempts

    def reserve(self, amount: float, what: str) -> None:
        with self._lock:
            if self.max_attempts is not None and self.attempts >= self.max_attempts:
                raise BudgetExceeded(f"{what}: the batch used its {self.max_attempts} attempts "
                                     "(--max-attempts-total)")
            if self.limit is not None and amount > 0 and (
                    self.spent + self._reserved + amount > self.limit + 1e-9):
                raise BudgetExceeded(
                    f"{what} would cost ${amount:.4f}; the batch spent ${self.spent:.4f} of "
                    f"its ${self.limit:.4f} budget (--max-cost)")
            self.attempts += 1
            self._reserved += amount

    @property
    def exhausted(self) -> bool:
        with self._lock:
            return ((self.max_attempts is not None and self.attempts >= self.max_attempts)
                    or (self.limit is not None and self.spent + self._reserved >= self.limit))


# --- running ---------------------------------------------------------------------------------
_OUTCOME: dict[AssetStatus, Outcome] = {
    AssetStatus.ACCEPTED: "accepted", AssetStatus.APPROVED_WITH_FINDINGS: "accepted",
    AssetStatus.NEEDS_REVIEW: "needs_review", AssetStatus.REJECTED: "rejected"}
"""An asset's status as a batch outcome (a person's approval despite findings is accepted);
these are never made again."""


def _latest_run(runs_dir: Path, item: BatchItem) -> tuple[str, int]:
    """The newest run made for this asset (``base``, ``base-retry1``…) and its retry number;
    the run id to create first when there is none yet."""
    base = item.base_run_id
    k = 0
    while (runs_dir / f"{base}-retry{k + 1}").exists():
        k += 1
    return (f"{base}-retry{k}" if k else base), k


def _usable(root: Path) -> bool:
    """A run folder whose creation finished (run.json and its spec are on disk)."""
    return (root / "run.json").exists() and any((root / "specs").glob("*.json"))


def _paid_before(runs_dir: Path, items: list[BatchItem]) -> tuple[float, int]:
    """What the batch's existing runs spent and how many paid attempts they made."""
    spent, attempts = 0.0, 0
    for it in items:
        base = it.base_run_id
        for root in [runs_dir / base, *sorted(runs_dir.glob(f"{base}-retry*"))]:
            if (root / "run.json").exists():
                store = RunStore(root)
                spent += store.spent_usd()
                attempts += sum(e.get("kind", "done") in ("done", "failed")
                                and not e.get("recovered")  # a lost image fetched again
                                for e in store.ledger())
    return spent, attempts


def _result_of(item: BatchItem, store: RunStore, action: Action) -> ItemResult:
    m = store.manifest()
    a = m["assets"][0] if m["assets"] else None
    if a is None:
        return ItemResult(key=item.key, source=item.source, row=item.row, format=item.format,
                          run_id=store.run_id, outcome="failed", action=action,
                          reason="the run has no asset")
    status = AssetStatus(a["status"])
    outcome: Outcome = _OUTCOME.get(status, "failed")
    image = None
    if a.get("final_image"):
        image = str(store.abs(a["final_image"]))
    elif a["attempts"]:
        best = (store.asset_status(a["asset_id"]).get("best_attempt") or
                a["attempts"][-1]["n"])
        pick = next((t for t in a["attempts"] if t["n"] == best), a["attempts"][-1])
        image = str(store.abs(pick["image"]))
    reason = a.get("reason")
    if status in (AssetStatus.PENDING, AssetStatus.RUNNING):
        reason = reason or "the run stopped before this asset finished"
    return ItemResult(key=item.key, source=item.source, row=item.row, format=item.format,
                      run_id=store.run_id, outcome=outcome, action=action,
                      cost_usd=a.get("cost_usd", 0.0), attempts=len(a["attempts"]),
                      image=image, reason=reason)


def run_item(item: BatchItem, settings: Settings, *, budget: BatchBudget,
             slots: threading.BoundedSemaphore, backend: Any = None) -> ItemResult:
    """Make (or skip, or continue) one asset through the library API."""
    prepared = prepare_item(item, settings, budget_exhausted=budget.exhausted)
    if isinstance(prepared, ItemResult):
        return prepared
    run_id, action = prepared
    root = Path(settings.runs_dir) / run_id
    try:
        api.execute(run_id, settings, backend=backend, budget=budget, slots=slots)
    except RunStopped as e:  # a refused key, an empty balance: recorded, the batch goes on
        result = _result_of(item, RunStore(root), action)
        return result.model_copy(update={"outcome": "failed", "reason": str(e)[:500]})
    return _result_of(item, RunStore(root), action)


def prepare_item(item: BatchItem, settings: Settings, *, budget_exhausted: bool = False
                 ) -> ItemResult | tuple[str, Action]:
    """What to do with one asset: its result when there is nothing to run (skipped,
    invalid, no budget left), else the run to execute (created when new) and whether it
    is ``generated`` or ``resumed``."""
    runs_dir = Path(settings.runs_dir)
    run_id, k = _latest_run(runs_dir, item)
    root = runs_dir / run_id
    action: Action = "generated"
    if _usable(root):
        store = RunStore(root)
        status = AssetStatus(store.manifest()["assets"][0]["status"])
        if status in _OUTCOME:
            return _result_of(item, store, "skipped")
        if status is AssetStatus.FAILED:  # tried again, in a new run
            run_id = f"{item.base_run_id}-retry{k + 1}"
            root = runs_dir / run_id
        else:
            action = "resumed"
    if action == "generated":
        if budget_exhausted:
            return ItemResult(key=item.key, source=item.source, row=item.row,
                              format=item.format, run_id=None, outcome="not_run",
                              action="none", reason="the batch budget was used up")
        if root.exists():  # a creation cut short: nothing was generated in it yet
            shutil.rmtree(root)
        try:
            api.create_run_from_brief(item.brief, settings, run_id=run_id, seed=item.seed)
        except (SpecError, PlannerError, BriefError, PathNotAllowed) as e:
            if root.exists():
                shutil.rmtree(root, ignore_errors=True)
            return ItemResult(key=item.key, source=item.source, row=item.row,
                              format=item.format, run_id=None, outcome="invalid",
                              action="none", reason=str(e).splitlines()[0][:500])
    return run_id, action


OnItem = Callable[[ItemResult, int, int], None]


def run_batch(items: list[BatchItem], bad: list[BadInput], settings: Settings, *,
              concurrency: int | None = None, max_attempts_total: int | None = None,
              on_item: OnItem | None = None, backend: Any = None) -> BatchResult:
    """Every item through the library API, ``concurrency`` generations in flight (twice as
    many assets worked on, so OCR overlaps with waiting), within ``settings.max_cost`` and
    ``max_attempts_total`` for the whole batch. ``on_item(result, done, total)`` is called as
    each asset ends. Results come back in the items' order.

    With workers configured (``settings.cluster``: a broker and PostgreSQL) the assets are
    queued for them instead (:func:`run_batch_cluster`), for every door: the CLI, the /v1
    API's jobs and the scheduler."""
    if settings.cluster and backend is None:
        return run_batch_cluster(items, bad, settings, max_attempts_total=max_attempts_total,
                                 on_item=on_item)
    t0 = time.perf_counter()
    concurrency = concurrency or settings.concurrency
    runs_dir = Path(settings.runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    spent, attempts = _paid_before(runs_dir, items)
    budget = BatchBudget(settings.max_cost, spent, max_attempts_total, attempts)
    slots = threading.BoundedSemaphore(concurrency)
    results: list[ItemResult | None] = [None] * len(items)
    done = 0
    lock = threading.Lock()

    def work(i: int) -> None:
        nonlocal done
        r = run_item(items[i], settings, budget=budget, slots=slots, backend=backend)
        with lock:
            results[i] = r
            done += 1
            if on_item:
                on_item(r, done, len(items))

    with ThreadPoolExecutor(max_workers=max(1, min(len(items), 2 * concurrency)),
                            thread_name_prefix="batch") as pool:
        for f in [pool.submit(work, i) for i in range(len(items))]:
            f.result()
    return BatchResult(batch_id(items), [r for r in results if r is not None], bad,
                       wall_s=time.perf_counter() - t0)


def enqueue_batch(items: list[BatchItem], bad: list[BadInput], settings: Settings, *,
                  max_attempts_total: int | None = None
                  ) -> tuple[str | None, dict[int, tuple[str, Action]], dict[int, ItemResult]]:
    """Many machines (:mod:`agents.workers`): create every asset's run here (skipping,
    resuming or retrying as :func:`run_item` does), then queue them all as one job whose
    budget (``settings.max_cost``, ``max_attempts_total``, counting what the batch's runs
    paid before) every worker shares. Returns the job id (``None``: nothing to run), the
    queued items (index → run, action) and the results already known."""
    from agents.workers import jobs
    runs_dir = Path(settings.runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    spent, attempts = _paid_before(runs_dir, items)
    queued: dict[int, tuple[str, Action]] = {}
    known: dict[int, ItemResult] = {}
    for i, item in enumerate(items):
        prepared = prepare_item(item, settings)
        if isinstance(prepared, ItemResult):
            known[i] = prepared
        else:
            queued[i] = prepared
    assets = [(run_id, RunStore(runs_dir / run_id).asset_ids()[0])
              for run_id, _ in queued.values()]
    job_id = jobs.enqueue(settings, "batch", assets, max_cost=settings.max_cost, spent=spent,
                          max_attempts=max_attempts_total, attempts=attempts,
                          request={"items": len(items), "bad": len(bad)}) if assets else None
    return job_id, queued, known


def run_batch_cluster(items: list[BatchItem], bad: list[BadInput], settings: Settings, *,
                      max_attempts_total: int | None = None, on_item: OnItem | None = None,
                      timeout_s: float | None = None) -> BatchResult:
    """:func:`run_batch` on workers: :func:`enqueue_batch`, then wait for the job; the
    same :class:`BatchResult` (results in the items' order)."""
    from agents.workers import jobs
    t0 = time.perf_counter()
    job_id, queued, known = enqueue_batch(items, bad, settings,
                                          max_attempts_total=max_attempts_total)
    results: dict[int, ItemResult] = dict(known)
    done = 0
    for r in known.values():
        done += 1
        if on_item:
            on_item(r, done, len(items))
    by_run = {run_id: (i, action) for i, (run_id, action) in queued.items()}
    runs_dir = Path(settings.runs_dir)

    def finished(row: dict[str, Any]) -> None:
        nonlocal done
        i, action = by_run[row["run_id"]]
        r = _result_of(items[i], RunStore(runs_dir / row["run_id"]), action)
        if (row.get("outcome") or "").startswith("stopped:"):
            r = r.model_copy(update={"outcome": "failed", "reason": row["outcome"][:500]})
        results[i] = r
        done += 1
        if on_item:
            on_item(r, done, len(items))

    if job_id is not None:
        jobs.wait(settings, job_id, on_item=finished, timeout_s=timeout_s)
    return BatchResult(batch_id(items), [results[i] for i in sorted(results)], bad,
                       wall_s=time.perf_counter() - t0)


# --- report ----------------------------------------------------------------------------------
def write_report(result: BatchResult, settings: Settings, folder: Path | None = None,
                 *, thumb_px: int = 256) -> Path:
    """``report.html`` (a thumbnail grid with status and cost) and ``report.json`` in
    ``folder`` (default ``<runs>/_batches/<batch id>``); returns the folder."""
    import jinja2
    from PIL import Image

    folder = folder or Path(settings.runs_dir) / "_batches" / result.batch_id
    thumbs = folder / "thumbs"
    thumbs.mkdir(parents=True, exist_ok=True)
    cards = []
    for it in result.items:
        thumb = None
        if it.image and Path(it.image).is_file():
            name = f"{it.key[:16]}.jpg"
            if not (thumbs / name).exists():
                with Image.open(it.image) as im:
                    im = im.convert("RGB")
                    im.thumbnail((thumb_px, thumb_px))
                    im.save(thumbs / name, "JPEG", quality=80)
            thumb = f"thumbs/{name}"
        cards.append({**it.model_dump(), "thumb": thumb})
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                             autoescape=True)
    html = env.get_template("batch_report.html").render(
        summary=result.as_dict(), line=result.summary_line(), cards=cards,
        bad=[b.line() for b in result.bad])
    (folder / "report.html").write_text(html, encoding="utf-8")
    (folder / "report.json").write_text(json.dumps(result.as_dict(), indent=2,
                                                   ensure_ascii=False) + "\n", encoding="utf-8")
    result.report_dir = folder
    return folder


def read_report(folder: Path) -> dict[str, Any]:
    return read_json(folder / "report.json")
