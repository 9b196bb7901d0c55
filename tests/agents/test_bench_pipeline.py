"""`signwriter bench pipeline` runs the real graph and prints its figures."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from agents.benchmarks.pipeline import run_pipeline_bench
from agents.cli import app


def test_bench_respects_concurrency_and_accepts_every_asset() -> None:
    r = run_pipeline_bench(assets=6, latency_s=0.3, concurrency=2, size=512)
    assert r.accepted == 6
    assert r.max_in_flight == 2, "generations in flight are bounded by --concurrency"
    assert r.ideal_s == pytest.approx(0.9) and r.wall_s >= r.ideal_s
    assert r.overhead_ratio == pytest.approx(r.wall_s / r.ideal_s, abs=0.002)


def test_bench_cli_prints_overhead_ratio_last() -> None:
    out = CliRunner().invoke(app, ["bench", "pipeline", "--assets", "2", "--latency", "0.1",
                                   "--concurrency", "2", "--size", "512"])
    assert out.exit_code == 0, out.output
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("overhead_ratio=") and float(last.split("=")[1]) >= 1.0


def test_bench_repeat_reports_each_run_and_the_median_last() -> None:
    out = CliRunner().invoke(app, ["bench", "pipeline", "--assets", "2", "--latency", "0.1",
                                   "--concurrency", "2", "--repeat", "3"])
    assert out.exit_code == 0, out.output
    lines = out.stdout.strip().splitlines()
    runs = [float(ln.rsplit("=", 1)[1]) for ln in lines if ln.startswith("run ")]
    assert len(runs) == 3
    assert lines[-1] == f"overhead_ratio={sorted(runs)[1]:.3f}"
    assert any(ln.startswith("host: ") and "CPU" in ln for ln in lines)
