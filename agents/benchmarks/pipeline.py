"""``signwriter bench pipeline``: how much the pipeline adds on top of the backend.

64 assets go through the real graph (plan is done up front; generate → OCR check →
decide, with checkpoints, ledger, reports and overlays) against a fake remote backend
with a fixed latency and no local CPU cost — like a GLM-Image API. With ``concurrency``
generations in flight the ideal wall time is ``ceil(assets / concurrency) × latency``;
``overhead_ratio`` is the measured wall time over that ideal, QA included.
"""

from __future__ import annotations

import io
import json
import math
import os
import resource
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image
from pydantic import BaseModel

from agents.brief import parse_brief
from agents.planner import make_planner
from agents.prompting import layout_for
from agents.api import execute, ocr_reader, write_run
from agents.settings import Settings
from agents.spec import VisualSpec
from agents.status import AssetStatus
from generation.base import (
    Capabilities, EditRequest, GeneratedImage, GenerationRequest, OnSubmit, SizeLimits,
)
from generation.typeset import TypesetBackend


class LatencyBackend:
    """A stand-in for a remote GLM-Image API: answers after ``latency_s``, spending no
    local CPU while it waits (each distinct layout is drawn once, up front, by
    :meth:`prepare`, the way a remote server would draw it on its own machine)."""

    name = "latency"
    capabilities = Capabilities(edit=False, follows_layout=True, paid=False,
                                limits=SizeLimits(min_side=64, max_side=4096, multiple=1,
                                                  max_pixels=4096 * 4096))

    def __init__(self, latency_s: float) -> None:
        self.latency_s = latency_s
        self._images: dict[str, GeneratedImage] = {}
        self._lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0

    @staticmethod
    def _key(request: GenerationRequest) -> str:
        layout = request.layout.model_dump_json() if request.layout else ""
        return f"{request.width}x{request.height}:{layout}"

    def prepare(self, request: GenerationRequest) -> None:
        key = self._key(request)
        if key not in self._images:
            self._images[key] = TypesetBackend().generate(request)

    def generate(self, request: GenerationRequest, *,
                 on_submit: OnSubmit | None = None) -> GeneratedImage:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(self.latency_s)
            image = self._images.get(self._key(request))
            if image is None:  # not prepared: draw it (costs CPU, unlike a remote API)
                image = TypesetBackend().generate(request)
            return image.model_copy(update={"seed": request.seed, "backend": self.name,
                                            "elapsed_s": self.latency_s})
        finally:
            with self._lock:
                self.in_flight -= 1

    def edit(self, request: EditRequest, *, on_submit: OnSubmit | None = None
             ) -> GeneratedImage:
        raise NotImplementedError


class PipelineBenchResult(BaseModel):
    assets: int
    latency_s: float
    concurrency: int
    size: str
    regions: int
    wall_s: float
    ideal_s: float
    overhead_ratio: float
    accepted: int
    max_in_flight: int
    qa_median_s: float
    peak_rss_mb: float
    warmup_s: float
    ocr_runtime: str = ""
    cpus: int = 0
    cpu: str = ""


class RepeatedBenchResult(BaseModel):
    """The same benchmark run several times in one process: the figures vary by a few
    hundredths from run to run on a shared machine, so one run alone says little."""

    runs: list[PipelineBenchResult]
    overhead_ratio_median: float
    overhead_ratio_min: float
    overhead_ratio_max: float


def host() -> tuple[int, str]:
    """The CPUs this process may run on, and the processor's model name (Linux), so that
    figures from different machines are not compared unawares."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:  # pragma: no cover - not Linux
        pass
    return cpus, model


HEADLINES = ["Spring Sale", "Summer Deals", "Autumn Offers", "Winter Warmers", "New Arrivals",
             "Weekend Special", "Flash Sale", "Members Only"]
PRICES = ["Only $19.99", "From $24.50", "Save 30%", "Just $9.95", "Only $49.00", "From $5.99"]
CTAS = ["Shop now", "Order today", "Book now", "Learn more"]


def _specs(settings: Settings, n: int, size: int) -> list[VisualSpec]:
    """``n`` assets with different copy (so every image and every OCR read is its own)."""
    planner = make_planner(settings, "rules")
    specs = []
    for i in range(n):
        brief = parse_brief({
            "name": "bench", "brand": {"name": "Bench", "colors": ["#12355b", "#ffffff",
                                                                   "#d72638"]},
            "copy": {"headline": f"{HEADLINES[i % len(HEADLINES)]} {i + 1}",
                     "price": PRICES[i % len(PRICES)], "cta": CTAS[i % len(CTAS)]},
            "formats": [{"name": f"asset-{i:03d}", "width": size, "height": size}],
            "style": "clean, flat"}, "bench")
        specs.extend(planner.plan(brief))
    return specs


def run_pipeline_bench(assets: int = 64, latency_s: float = 2.0, concurrency: int = 16,
                       size: int = 512, runs_dir: Path | None = None,
                       ocr_runtime: str = "auto") -> PipelineBenchResult:
    tmp = tempfile.TemporaryDirectory(prefix="signwriter-bench-") if runs_dir is None else None
    root = Path(tmp.name) if tmp else Path(runs_dir)  # type: ignore[union-attr]
    try:
        settings = Settings(runs_dir=root, concurrency=concurrency, max_attempts=1,
                            ocr_runtime=ocr_runtime, _env_file=None)
        specs = _specs(settings, assets, size)
        backend = LatencyBackend(latency_s)
        t0 = time.perf_counter()
        for spec in specs:  # the remote side draws; and the OCR models load once
            backend.prepare(GenerationRequest(prompt="", width=spec.width, height=spec.height,
                                              layout=layout_for(spec)))
        first = next(iter(backend._images.values()))
        reader = ocr_reader(settings)
        reader.read(np.asarray(Image.open(io.BytesIO(first.data)).convert("RGB")))
        warmup = time.perf_counter() - t0
        store = write_run(specs, settings, name="bench", seed=1)
        t0 = time.perf_counter()
        result = execute(store.run_id, settings, backend=backend)
        wall = time.perf_counter() - t0
        qa_times = sorted(a["attempts"][0]["qa"]["elapsed_s"]
                          for a in result.manifest["assets"] if a["attempts"])
        ideal = round(math.ceil(assets / concurrency) * latency_s, 6)
        cpus, cpu = host()
        return PipelineBenchResult(
            assets=assets, latency_s=latency_s, concurrency=concurrency, size=f"{size}x{size}",
            regions=len(specs[0].text_regions), wall_s=round(wall, 3), ideal_s=ideal,
            overhead_ratio=round(wall / ideal, 3),
            accepted=sum(a["status"] == AssetStatus.ACCEPTED for a in result.manifest["assets"]),
            max_in_flight=backend.max_in_flight,
            qa_median_s=qa_times[len(qa_times) // 2] if qa_times else 0.0,
            peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            warmup_s=round(warmup, 2), ocr_runtime=getattr(reader, "runtime", reader.name),
            cpus=cpus, cpu=cpu)
    finally:
        if tmp:
            tmp.cleanup()


def run_repeated(repeat: int, **kwargs) -> RepeatedBenchResult:
    """:func:`run_pipeline_bench` ``repeat`` times (models load once, in the first run's
    untimed warm-up), each in its own run folder."""
    runs = [run_pipeline_bench(**kwargs) for _ in range(max(1, repeat))]
    ratios = [r.overhead_ratio for r in runs]
    return RepeatedBenchResult(runs=runs, overhead_ratio_median=round(statistics.median(ratios), 3),
                               overhead_ratio_min=min(ratios), overhead_ratio_max=max(ratios))


def format_repeated(rr: RepeatedBenchResult) -> str:
    """Each run on a line, then the run with the median ratio in full, then the spread;
    the last line is ``overhead_ratio=<median>``."""
    if len(rr.runs) == 1:
        return format_result(rr.runs[0])
    lines = [f"run {i}/{len(rr.runs)}: wall={r.wall_s:.2f}s overhead_ratio={r.overhead_ratio:.3f}"
             for i, r in enumerate(rr.runs, 1)]
    median_run = sorted(rr.runs, key=lambda r: r.overhead_ratio)[(len(rr.runs) - 1) // 2]
    lines += ["", "median run:", *format_result(median_run).splitlines()[:-1],
              f"over {len(rr.runs)} runs: min={rr.overhead_ratio_min:.3f} "
              f"max={rr.overhead_ratio_max:.3f}",
              f"overhead_ratio={rr.overhead_ratio_median:.3f}"]
    return "\n".join(lines)


def format_result(r: PipelineBenchResult) -> str:
    lines = [
        f"host: {r.cpus} CPU{'s' if r.cpus != 1 else ''}" + (f", {r.cpu}" if r.cpu else ""),
        f"assets={r.assets} size={r.size} text_regions={r.regions} latency={r.latency_s}s "
        f"concurrency={r.concurrency}",
        f"wall={r.wall_s:.2f}s ideal={r.ideal_s:.2f}s (ceil({r.assets}/{r.concurrency}) x "
        f"{r.latency_s}s) accepted={r.accepted}/{r.assets} max_in_flight={r.max_in_flight}",
        f"qa_median={r.qa_median_s:.3f}s ocr={r.ocr_runtime} peak_rss={r.peak_rss_mb:.0f}MB "
        f"warmup(not timed)={r.warmup_s:.1f}s",
        f"overhead_ratio={r.overhead_ratio:.3f}",
    ]
    return "\n".join(lines)


def as_json(r: PipelineBenchResult | RepeatedBenchResult) -> str:
    return json.dumps(r.model_dump())
