"""``signwriter bench batch``: what a batch adds on top of the backend.

300 assets (CSV rows filling a base brief, one format each) go through
:func:`agents.automation.batch.run_batch` — one run per asset: planning, run folder, graph,
OCR check, manifest — against the fixed-latency fake backend of ``bench pipeline``
(:class:`~agents.benchmarks.pipeline.LatencyBackend`). The ideal wall time is
``ceil(assets / concurrency) × latency``. Memory is sampled (resident set) when half the
assets are done and at the end: flat in the number of assets means the second is about the
first.
"""

from __future__ import annotations

import io
import math
import resource
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image
from pydantic import BaseModel

from agents import api
from agents.automation.batch import collect_csv, run_batch
from agents.benchmarks.pipeline import CTAS, HEADLINES, PRICES, LatencyBackend, host
from agents.nodes import expected_texts
from agents.prompting import layout_for
from agents.settings import Settings
from agents.spec import VisualSpec
from generation.base import GenerationRequest
from qa.check import check_image

BASE = """\
name: bench
brand: {name: Bench, colors: ["#12355b", "#ffffff", "#d72638"]}
copy: {headline: Headline, price: Price, cta: Shop}
formats: [SIZE]
style: clean, flat
"""


class BatchBenchResult(BaseModel):
    assets: int
    latency_s: float
    concurrency: int
    size: str
    wall_s: float
    ideal_s: float
    overhead_ratio: float
    accepted: int
    max_in_flight: int
    rss_half_mb: float
    rss_end_mb: float
    peak_rss_mb: float
    warmup_s: float
    cpus: int = 0
    cpu: str = ""


def write_inputs(root: Path, assets: int, size: int, name: str = "bench") -> tuple[Path, Path]:
    """The benchmark's base brief (one ``size``-square format, named ``name``) and a CSV of
    ``assets`` rows, written into ``root``; returns their paths. The name is part of every
    asset's idempotency key: a run of its own needs a name of its own where the index is
    shared (``bench scale`` on one PostgreSQL), or it would meet the runs of the last one."""
    (root / "base.yaml").write_text(BASE.replace("SIZE", f"{size}x{size}")
                                    .replace("name: bench\n", f"name: {name}\n", 1))
    rows = ["headline,price,cta"] + [
        f"{HEADLINES[i % len(HEADLINES)]} {i + 1},{PRICES[i % len(PRICES)]},"
        f"{CTAS[i % len(CTAS)]}" for i in range(assets)]
    (root / "rows.csv").write_text("\n".join(rows) + "\n")
    return root / "base.yaml", root / "rows.csv"


def _rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def _warm_up_checks(settings: Settings, drawn: list[tuple[VisualSpec, bytes]]) -> None:
    """Check the first images as the pipeline does, one per OCR instance at once, so what a
    checking process loads once (every OCR instance, the look-alike reference glyphs) is
    loaded before the clock starts, as in a service that has checked before."""
    reader, recheck = api.ocr_reader(settings), api.ocr_recheck_reader(settings)
    instances = getattr(reader, "instances", 1)

    def check(entry: tuple[VisualSpec, bytes]) -> None:
        spec, data = entry
        check_image(spec.asset_id, expected_texts(spec), reader=reader, recheck=recheck,
                    pixels=np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))

    with ThreadPoolExecutor(max_workers=instances) as pool:
        list(pool.map(check, drawn[:instances]))


def run_batch_bench(assets: int = 300, latency_s: float = 2.0, concurrency: int = 16,
                    size: int = 512, folder: Path | None = None) -> BatchBenchResult:
    tmp = tempfile.TemporaryDirectory(prefix="signwriter-bench-batch-") if folder is None else None
    root = Path(tmp.name) if tmp else Path(folder)  # type: ignore[union-attr]
    try:
        settings = Settings(runs_dir=root / "runs", concurrency=concurrency, max_attempts=1,
                            planner="rules", _env_file=None)
        base, rows = write_inputs(root, assets, size)
        t0 = time.perf_counter()
        items, bad = collect_csv(base, rows, settings)
        backend = LatencyBackend(latency_s)
        fitter = api.make_backend(settings)
        drawn: list[tuple[VisualSpec, bytes]] = []
        for it in items:  # the remote side draws
            for spec in api.plan_brief(it.brief, settings):
                spec = api.fit_to_backend(spec, fitter)
                request = GenerationRequest(prompt="", width=spec.width, height=spec.height,
                                            layout=layout_for(spec))
                backend.prepare(request)
                drawn.append((spec, backend._images[backend._key(request)].data))
        _warm_up_checks(settings, drawn)
        warmup = time.perf_counter() - t0
        half: list[float] = []
        lock = threading.Lock()

        def on_item(r, done: int, total: int) -> None:  # noqa: ANN001
            if done == total // 2:
                with lock:
                    half.append(_rss_mb())

        t0 = time.perf_counter()
        result = run_batch(items, bad, settings, concurrency=concurrency, backend=backend,
                           on_item=on_item)
        wall = time.perf_counter() - t0
        ideal = round(math.ceil(assets / concurrency) * latency_s, 6)
        cpus, cpu = host()
        return BatchBenchResult(
            assets=assets, latency_s=latency_s, concurrency=concurrency, size=f"{size}x{size}",
            wall_s=round(wall, 3), ideal_s=ideal, overhead_ratio=round(wall / ideal, 3),
            accepted=result.count("accepted"), max_in_flight=backend.max_in_flight,
            rss_half_mb=round(half[0] if half else 0.0, 1), rss_end_mb=round(_rss_mb(), 1),
            peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            warmup_s=round(warmup, 2), cpus=cpus, cpu=cpu)
    finally:
        if tmp:
            tmp.cleanup()


def format_result(r: BatchBenchResult) -> str:
    return "\n".join([
        f"host: {r.cpus} CPU{'s' if r.cpus != 1 else ''}" + (f", {r.cpu}" if r.cpu else ""),
        f"assets={r.assets} size={r.size} latency={r.latency_s}s concurrency={r.concurrency} "
        "(one run per asset)",
        f"wall={r.wall_s:.2f}s ideal={r.ideal_s:.2f}s (ceil({r.assets}/{r.concurrency}) x "
        f"{r.latency_s}s) accepted={r.accepted}/{r.assets} max_in_flight={r.max_in_flight}",
        f"rss at half={r.rss_half_mb:.0f}MB at end={r.rss_end_mb:.0f}MB peak={r.peak_rss_mb:.0f}MB "
        f"warmup(not timed)={r.warmup_s:.1f}s",
        f"overhead_ratio={r.overhead_ratio:.3f}",
    ])
