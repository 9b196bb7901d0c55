"""``signwriter bench qa``: how often OCR QA catches a wrong image, and how often it rejects
a right one — with 95 % confidence intervals, time per image and peak memory.

Two sources of labelled images:

* :func:`run_qa_bench` — the synthetic set of :mod:`agents.benchmarks.dataset` (``n`` items
  from ``seed``, half of them with one injected GLM-Image-style error), written under
  ``out/dataset`` (reused when it is already there for the same ``seed`` and ``n``) and
  checked with boxes (so location is judged too);
* :func:`score_folder` — a user's own labelled images, checked without boxes (location is
  not judged; every expected string must be read somewhere, and nothing else may be).

The manifest of a folder is ``labels.csv`` or ``labels.jsonl`` (the first found, in that
order), one row per image:

``labels.csv`` — a header row, then::

    file,expected,correct,error_kind,language
    poster1.png,Summer Sale|Up to 50% off|$19.99,true,,en
    poster2.jpg,夏季大促|¥99,false,wrong_cjk,zh

``labels.jsonl`` — one JSON object per line::

    {"file": "poster1.png", "expected": ["Summer Sale", "$19.99"], "correct": true}

* ``file`` — the image path, relative to the folder;
* ``expected`` — the strings that must appear: a JSON list, or ``|``-separated (CSV);
* ``correct`` — ``true``/``false`` (also ``1``/``0``, ``yes``/``no``): is the image right?
* ``error_kind`` (optional) — a label for the error in a wrong image; catch rates are also
  given per kind (``unlabelled`` when absent);
* ``language`` (optional) — ``en``, ``zh``, ``mixed`` …; inferred from the expected text's
  script when absent;
* ``id`` (optional) — names the image in the report (default: its row number).

Other columns (provenance, notes) are ignored, so a set's own manifest can be the labels
file: ``bench/real/rebuild.py`` writes ``labels.jsonl`` in this format.

``--half tune`` / ``--half held-out`` scores one of two fixed halves of a folder, so that a
policy can be tuned on one half and measured on the other (:func:`half_of`): an image is
*held out* when the SHA-256 of its ``id`` (its row number when it has none), read as a
big-endian integer, is odd, and in the *tune* half when it is even. The rule depends on the
id alone, so the halves never change when rows are added, removed or reordered.

A wrong image counts as *caught* when QA fails it; a right image failed by QA is a *false
reject*. Rates carry Wilson score intervals (95 %). Seconds per image are measured around
each :func:`qa.check.check_image` call after the OCR models are loaded (the load is reported
on its own); peak memory is the largest resident set of this process and its workers.
"""

from __future__ import annotations

from collections.abc import Callable

import csv
import hashlib
import json
import math
import os
import resource
import statistics
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np
from pydantic import BaseModel, Field, ValidationError

from agents.benchmarks.dataset import BenchItem, load_dataset, make_dataset
from agents.benchmarks.lookalikes import make_lookalike_set
from agents.errors import SignwriterError
from qa.check import check_image
from qa.errors import QAError
from qa.models import ExpectedText, QAReport, Strictness
from qa.normalize import has_cjk
from qa.ocr import get_engine, resolve_recheck_runtime, resolve_runtime

Z95 = 1.959963984540054
MANIFESTS = ("labels.csv", "labels.jsonl")


class ManifestError(SignwriterError):
    """A folder's ``labels.csv``/``labels.jsonl`` is missing or malformed (names the row)."""


class Rate(BaseModel):
    """``hits`` out of ``total`` with its 95 % Wilson interval (all 0 when total is 0)."""

    hits: int
    total: int
    rate: float
    low: float
    high: float


class ItemResult(BaseModel):
    """One image's verdict."""

    id: str
    file: str
    correct: bool
    error_kind: str | None = None
    language: str
    passed: bool | None = Field(description="QA's verdict; None when QA could not run.")
    review: bool = Field(default=False, description="Not passed, but sent to a person: every "
                         "expected text verified, other text read apart from it (checks "
                         "without boxes only; see qa.check.incidental).")
    seconds: float = 0.0
    cpu_seconds: float = Field(default=0.0, description="CPU time of the check (all threads).")
    located: bool | None = Field(default=None, description="For a caught error with a known "
                                 "region: did QA flag that region (or the stray text)?")
    failing: list[str] = Field(default_factory=list, description="region:kind of each problem.")
    error: str | None = None


class QABenchResult(BaseModel):
    """Everything ``signwriter bench qa`` prints."""

    source: str
    n: int
    catch: Rate
    catch_by_kind: dict[str, Rate]
    catch_by_language: dict[str, Rate]
    located: Rate
    catch_outright: Rate | None = Field(default=None, description="Wrong images failed "
                                        "outright (not sent to review).")
    false_reject: Rate = Field(description="Right images failed outright (an image sent "
                               "to review is not a reject: see review_right).")
    review_right: Rate | None = Field(default=None, description="Right images sent to review.")
    review_wrong: Rate | None = Field(default=None, description="Wrong images sent to review.")
    false_reject_by_language: dict[str, Rate]
    errors: int = Field(description="Images QA could not check (counted as neither).")
    median_s: float
    p90_s: float
    mean_s: float
    median_cpu_s: float = Field(description="Median CPU seconds per image (all threads): "
                                "less sensitive than wall time to other load on the machine.")
    load_s: float = Field(description="One-off OCR model load, not in the per-image times.")
    wall_s: float
    peak_rss_mb: float
    workers: int
    ocr_runtime: str = Field(default="", description="What ran the OCR models.")
    load_avg: float = Field(default=0.0, description="The machine's 1-minute load average "
                            "when the run ended (above the core count, times are inflated).")
    items: list[ItemResult] = Field(default_factory=list)


def wilson(hits: int, total: int, z: float = Z95) -> Rate:
    """The Wilson score interval for ``hits``/``total``."""
    if total <= 0:
        return Rate(hits=0, total=0, rate=0.0, low=0.0, high=0.0)
    p = hits / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return Rate(hits=hits, total=total, rate=p, low=max(0.0, centre - half),
                high=min(1.0, centre + half))


# -- running ------------------------------------------------------------------------------------

_Job = tuple[str, str, list[dict], bool, str | None, str | None, str, bool]
# (id, image path, expected dumps, correct, error_kind, error_region, language, locate)


Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``, for progress bars."""


SETS = ("synthetic", "hard", "lookalike", "lookalike-hard", "lookalike-legal")
"""The generated sets: ``synthetic`` (:mod:`~agents.benchmarks.dataset`), ``hard`` (the
same with faces and backgrounds QA was not tuned on, text drifting ±3 % of the width from
its box and rotation up to ±4°), ``lookalike`` (:mod:`~agents.benchmarks.lookalikes`) and
``lookalike-hard`` (the same pairs in unseen faces, rotated, blurred, noisy, JPEG) and
``lookalike-legal`` (that, with the letters for ``0`` and ``1`` in 12–18 px fine print)."""


def run_qa_bench(n: int, seed: int, out: Path, *, workers: int = 1, runtime: str = "auto",
                 recheck: str = "auto", progress: Progress | None = None,
                 set_name: str = "synthetic") -> QABenchResult:
    """Check the ``n``-item generated set ``set_name`` (:data:`SETS`) for ``seed`` (made
    under ``out/dataset``), write ``out/results.json`` and return the result."""
    if set_name not in SETS:
        raise ManifestError(f"unknown set {set_name!r}; choose one of {', '.join(SETS)}")
    out = Path(out)
    folder = out / "dataset"
    items = _cached(folder, n, seed, set_name)
    if items is None:
        if set_name.startswith("lookalike"):
            items = make_lookalike_set(n, seed, folder, progress=progress,
                                       hard=set_name == "lookalike-hard",
                                       legal=set_name == "lookalike-legal")
        else:
            items = make_dataset(n, seed, folder, progress=progress, hard=set_name == "hard")
        (folder / "dataset.json").write_text(json.dumps(_meta(n, seed, set_name)))
    jobs: list[_Job] = [
        (it.id, str(folder / it.file), [e.model_dump() for e in it.expected_texts()],
         it.correct, it.error_kind, it.error_region, it.language, True) for it in items]
    result = _run(jobs, f"{set_name} set seed={seed} n={n}", workers, runtime=runtime,
                  recheck=recheck, progress=progress)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(result.model_dump_json(indent=2), encoding="utf-8")
    return result


HALVES = ("all", "tune", "held-out")
"""Which images of a folder :func:`score_folder` checks (see :func:`half_of`)."""


def half_of(item_id: str) -> str:
    """``"held-out"`` or ``"tune"``: the fixed half of a folder an image with this id is in
    (odd SHA-256 of the id: held out)."""
    digest = hashlib.sha256(item_id.encode("utf-8")).digest()
    return "held-out" if digest[-1] & 1 else "tune"


def score_folder(folder: Path, *, workers: int = 1, runtime: str = "auto",
                 recheck: str = "auto", progress: Progress | None = None,
                 strictness: Strictness | None = None, half: str = "all") -> QABenchResult:
    """Score a user's labelled images (see the module docstring for the manifest).
    ``strictness`` (default: case and punctuation judged) applies to every expected text;
    ``half`` (:data:`HALVES`) picks the tuning or the held-out half; the result's
    ``source`` says what was not judged and which half was scored."""
    if half not in HALVES:
        raise ManifestError(f"unknown half {half!r}; choose one of {', '.join(HALVES)}")
    folder = Path(folder)
    rows = read_manifest(folder)
    strict = strictness or Strictness(case=True)
    jobs: list[_Job] = []
    for i, row in enumerate(rows):
        if half != "all" and half_of(row.get("id") or f"{i + 1}") != half:
            continue
        expected = [ExpectedText(id=f"text-{k + 1}", text=t, language=_lang_of(t),
                                 strictness=strict).model_dump()
                    for k, t in enumerate(row["expected"])]
        jobs.append((row.get("id") or f"{i + 1}", str(folder / row["file"]), expected,
                     row["correct"], row["error_kind"], None, row["language"], False))
    lenient = [name for name, judged in (("case", strict.case),
                                         ("punctuation", strict.punctuation)) if not judged]
    source = (f"folder {folder}" + (f", {half} half" if half != "all" else "")
              + (f" ({' and '.join(lenient)} not judged)" if lenient else ""))
    if not jobs:
        raise ManifestError(f"{folder}: no images in the {half} half")
    return _run(jobs, source, workers, runtime=runtime, recheck=recheck, progress=progress)


def _meta(n: int, seed: int, set_name: str) -> dict:
    return {"n": n, "seed": seed} if set_name == "synthetic" else {
        "n": n, "seed": seed, "set": set_name}


def _cached(folder: Path, n: int, seed: int, set_name: str = "synthetic"
            ) -> list[BenchItem] | None:
    meta = folder / "dataset.json"
    try:
        if json.loads(meta.read_text()) != _meta(n, seed, set_name):
            return None
        items = load_dataset(folder)
    except (OSError, ValueError, ValidationError):
        return None
    if len(items) != n or not all((folder / it.file).is_file() for it in items):
        return None
    return items


_RUNTIME = "auto"
_RECHECK = "auto"
"""The OCR runtimes this process checks with: the judge's, and the one that judges again an
image the first does not pass (set per run, and in each worker process)."""


def _use_runtime(runtime: str, recheck: str = "auto") -> None:
    global _RUNTIME, _RECHECK
    _RUNTIME, _RECHECK = resolve_runtime(runtime), resolve_recheck_runtime(recheck, runtime)


def _reader():
    return get_engine("rapidocr", runtime=_RUNTIME, instances=1)


def _recheck():
    return get_engine("rapidocr", runtime=_RECHECK, instances=1)


def _run(jobs: list[_Job], source: str, workers: int, *, runtime: str = "auto",
         recheck: str = "auto", progress: Progress | None = None) -> QABenchResult:
    started = time.perf_counter()
    workers = max(1, int(workers))
    results: list[ItemResult] = []
    _use_runtime(runtime, recheck)
    if workers == 1 or len(jobs) <= 1:
        load_s = _warm_up()
        for job in jobs:
            results.append(_check_one(job))
            if progress:
                progress("checking", len(results), len(jobs))
    else:
        ctx = get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                 initializer=_use_runtime, initargs=(_RUNTIME, _RECHECK)) as pool:
            load_s = max(pool.map(_warm_up_worker, range(workers)))
            for result in pool.map(_check_one, jobs, chunksize=1):
                results.append(result)
                if progress:
                    progress("checking", len(results), len(jobs))
    wall = time.perf_counter() - started
    return summarise(results, source=source, workers=workers, load_s=load_s, wall_s=wall,
                     ocr_runtime=_RUNTIME if _RECHECK == _RUNTIME else
                     f"{_RUNTIME}, failures judged again on {_RECHECK}")


def _warm_up() -> float:
    t0 = time.perf_counter()
    probe = np.full((48, 160, 3), 255, np.uint8)
    cv2.putText(probe, "OK 42", (8, 36), cv2.FONT_HERSHEY_SIMPLEX, 1.1, (0, 0, 0), 2)
    _reader().read(probe)
    return round(time.perf_counter() - t0, 3)


def _warm_up_worker(_: int) -> float:
    time.sleep(0.2)  # let every worker take one warm-up call
    return _warm_up()


def _check_one(job: _Job) -> ItemResult:
    item_id, path, expected_dumps, correct, kind, region, language, locate = job
    expected = [ExpectedText.model_validate(e) for e in expected_dumps]
    base = dict(id=item_id, file=path, correct=correct, error_kind=kind, language=language)
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        report = check_image(path, expected, locate=locate, reader=_reader(), recheck=_recheck())
    except QAError as exc:
        return ItemResult(**base, passed=None, error=f"{type(exc).__name__}: {exc}")
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return ItemResult(**base, passed=report.passed, review=report.review,
                      seconds=round(seconds, 4),
                      cpu_seconds=round(cpu, 4),
                      located=_located(report, kind, region) if not correct else None,
                      failing=_failing(report))


def _failing(report: QAReport) -> list[str]:
    out = [f"{f.region_id}:{f.kind}" + (f" read={f.read!r}" if f.read else "")
           for f in report.regions if f.kind != "ok"]
    out += [f"unexpected read={f.read!r}" for f in report.unexpected]
    return out


def _located(report: QAReport, kind: str | None, region: str | None) -> bool | None:
    if report.passed:
        return False
    if kind == "extra_text":
        return bool(report.unexpected)
    if region is None:
        return None
    return any(f.region_id == region and f.kind != "ok" for f in report.regions)


def summarise(results: list[ItemResult], *, source: str, workers: int = 1, load_s: float = 0.0,
              wall_s: float = 0.0, ocr_runtime: str = "") -> QABenchResult:
    """Rates, intervals, times and memory from per-image results."""
    ran = [r for r in results if r.passed is not None]
    wrong = [r for r in ran if not r.correct]
    right = [r for r in ran if r.correct]

    def caught(rs: Iterable[ItemResult]) -> Rate:
        rs = list(rs)
        return wilson(sum(1 for r in rs if not r.passed), len(rs))

    def rejected(rs: Iterable[ItemResult]) -> Rate:  # failed outright, not sent to review
        rs = list(rs)
        return wilson(sum(1 for r in rs if not r.passed and not r.review), len(rs))

    kinds = sorted({r.error_kind or "unlabelled" for r in wrong})
    langs = sorted({r.language for r in ran})
    locatable = [r for r in wrong if r.located is not None]
    secs = sorted(r.seconds for r in ran)
    return QABenchResult(
        source=source, n=len(results),
        catch=caught(wrong),
        catch_by_kind={k: caught(r for r in wrong if (r.error_kind or "unlabelled") == k)
                       for k in kinds},
        catch_by_language={lang: caught(r for r in wrong if r.language == lang)
                           for lang in langs if any(r.language == lang for r in wrong)},
        located=wilson(sum(1 for r in locatable if r.located), len(locatable)),
        catch_outright=rejected(wrong),
        false_reject=rejected(right),
        review_right=wilson(sum(1 for r in right if r.review), len(right)),
        review_wrong=wilson(sum(1 for r in wrong if r.review), len(wrong)),
        false_reject_by_language={lang: rejected(r for r in right if r.language == lang)
                                  for lang in langs if any(r.language == lang for r in right)},
        errors=len(results) - len(ran),
        median_s=round(statistics.median(secs), 3) if secs else 0.0,
        p90_s=round(_quantile(secs, 0.9), 3) if secs else 0.0,
        mean_s=round(statistics.fmean(secs), 3) if secs else 0.0,
        median_cpu_s=round(statistics.median(r.cpu_seconds for r in ran), 3) if ran else 0.0,
        load_s=load_s, wall_s=round(wall_s, 2), peak_rss_mb=round(peak_rss_mb(), 1),
        workers=workers, ocr_runtime=ocr_runtime, load_avg=round(os.getloadavg()[0], 2),
        items=results,
    )


def _quantile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated quantile of already sorted values."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = q * (len(sorted_values) - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def peak_rss_mb() -> float:
    """The peak resident set size of this process and its (finished) workers, in MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024.0  # ru_maxrss is in KiB on Linux


# -- the manifest ----------------------------------------------------------------------------------

_TRUE = {"true", "1", "yes", "y", "ok", "correct"}
_FALSE = {"false", "0", "no", "n", "wrong", "incorrect"}


def read_manifest(folder: Path) -> list[dict]:
    """The rows of ``folder``'s manifest as dicts with ``file``, ``expected`` (list),
    ``correct``, ``error_kind`` and ``language``; raises :class:`ManifestError`."""
    folder = Path(folder)
    path = next((folder / m for m in MANIFESTS if (folder / m).is_file()), None)
    if path is None:
        raise ManifestError(f"{folder}: no labels.csv or labels.jsonl (see `signwriter bench qa "
                            f"--help` for the format)")
    raw: list[tuple[str, dict]] = []
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            missing = {"file", "expected", "correct"} - set(reader.fieldnames or [])
            if missing:
                raise ManifestError(f"{path}: header lacks column(s) {', '.join(sorted(missing))}")
            for k, row in enumerate(reader, start=2):
                raw.append((f"{path.name} line {k}", dict(row)))
    else:
        for k, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ManifestError(f"{path.name} line {k}: not JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise ManifestError(f"{path.name} line {k}: expected a JSON object")
            raw.append((f"{path.name} line {k}", obj))
    rows = [_row(where, obj, folder) for where, obj in raw]
    if not rows:
        raise ManifestError(f"{path}: no images listed")
    return rows


def _row(where: str, obj: dict, folder: Path) -> dict:
    file = str(obj.get("file") or "").strip()
    if not file:
        raise ManifestError(f"{where}: 'file' is empty")
    if not (folder / file).is_file():
        raise ManifestError(f"{where}: image {file!r} not found in {folder}")
    exp = obj.get("expected")
    if isinstance(exp, str):
        texts = [t.strip() for t in exp.split("|")]
    elif isinstance(exp, list) and all(isinstance(t, str) for t in exp):
        texts = [t.strip() for t in exp]
    else:
        raise ManifestError(f"{where}: 'expected' must be a list of strings or '|'-separated")
    texts = [t for t in texts if t]
    if not texts:
        raise ManifestError(f"{where}: 'expected' lists no text")
    flag = obj.get("correct")
    if isinstance(flag, bool):
        correct = flag
    elif str(flag).strip().lower() in _TRUE:
        correct = True
    elif str(flag).strip().lower() in _FALSE:
        correct = False
    else:
        raise ManifestError(f"{where}: 'correct' must be true or false, not {flag!r}")
    kind = str(obj.get("error_kind") or "").strip() or None
    language = str(obj.get("language") or "").strip() or _lang_of(" ".join(texts), mixed=True)
    row = {"file": file, "expected": texts, "correct": correct,
           "error_kind": None if correct else (kind or "unlabelled"), "language": language}
    if str(obj.get("id") or "").strip():
        row["id"] = str(obj["id"]).strip()
    return row


def _lang_of(text: str, *, mixed: bool = False) -> str:
    cjk = has_cjk(text)
    latin = any(c.isascii() and c.isalpha() for c in text)
    if cjk and latin and mixed:
        return "mixed"
    return "zh" if cjk else "en"


# -- printing --------------------------------------------------------------------------------------

def _pct(r: Rate) -> str:
    if r.total == 0:
        return "    –   (no items)"
    return (f"{100 * r.rate:5.1f} %  [{100 * r.low:5.1f} – {100 * r.high:5.1f}]  "
            f"{r.hits}/{r.total}")


def format_result(r: QABenchResult) -> str:
    """The human-readable report ``signwriter bench qa`` prints."""
    lines = [f"QA benchmark — {r.source}: {r.n} images, {r.workers} worker(s), "
             f"OCR on {r.ocr_runtime or 'unknown'}, 95 % Wilson intervals", ""]
    lines.append(f"catch rate (wrong images failed)  {_pct(r.catch)}")
    for k, rate in r.catch_by_kind.items():
        lines.append(f"  kind {k:<22} {_pct(rate)}")
    for k, rate in r.catch_by_language.items():
        lines.append(f"  language {k:<18} {_pct(rate)}")
    if r.located.total:
        lines.append(f"  error located (right region)   {_pct(r.located)}")
    if r.catch_outright is not None and r.review_wrong is not None and r.review_wrong.hits:
        lines.append(f"  failed outright (not review)   {_pct(r.catch_outright)}")
        lines.append(f"  sent to review                 {_pct(r.review_wrong)}")
    lines.append(f"false-reject rate (right failed)  {_pct(r.false_reject)}")
    if r.review_right is not None and r.review_right.hits:
        lines.append(f"  right sent to review           {_pct(r.review_right)}")
    for k, rate in r.false_reject_by_language.items():
        lines.append(f"  language {k:<18} {_pct(rate)}")
    if r.errors:
        lines.append(f"images QA could not check: {r.errors}")
    lines += ["", f"seconds per image  median {r.median_s:.2f}   p90 {r.p90_s:.2f}   "
              f"mean {r.mean_s:.2f}   (model load {r.load_s:.2f} s, wall {r.wall_s:.1f} s)",
              f"CPU s per image    median {r.median_cpu_s:.2f} (all threads; wall time above "
              f"also counts waiting for other load)",
              f"peak memory        {r.peak_rss_mb:.0f} MiB (max RSS of this process and workers)",
              f"cores              {os.cpu_count()} (load average {r.load_avg:.1f} at the end)"]
    misses = [i for i in r.items if i.passed and not i.correct]
    rejects = [i for i in r.items if i.passed is False and i.correct and not i.review]
    reviews = [i for i in r.items if i.review]
    if misses:
        lines += ["", "missed errors:"] + [f"  {i.id} {i.error_kind} ({i.language}) {i.file}"
                                           for i in misses[:20]]
    if rejects:
        lines += ["", "false rejects:"] + [f"  {i.id} ({i.language}) {'; '.join(i.failing)[:160]}"
                                           for i in rejects[:20]]
    if reviews:
        lines += ["", "sent to review:"] + [
            f"  {i.id} ({'right' if i.correct else 'wrong'}, {i.language}) "
            f"{'; '.join(i.failing)[:140]}" for i in reviews[:20]]
    return "\n".join(lines)
