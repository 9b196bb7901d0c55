"""The command line as a user drives it: real files, real renderer, real OCR."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agents.cli import app
from agents.spec import Box, Region, Typography, VisualSpec
from generation.base import Fault, GenerationRequest
from generation.faults import FAULT_KINDS
from generation.typeset import TypesetBackend
from agents.prompting import layout_for

runner = CliRunner()


def _spec() -> VisualSpec:
    return VisualSpec(
        asset_id="card", format="card-small", width=768, height=768, language="en",
        regions=[
            Region(id="headline", role="headline", box=Box(x=0.08, y=0.06, w=0.84, h=0.2),
                   text="Summer Sale", typography=Typography(weight="bold", color="#1d3557")),
            Region(id="body", role="body", box=Box(x=0.08, y=0.3, w=0.84, h=0.14),
                   text="Fresh sandals for everyone"),
            Region(id="price", role="price", box=Box(x=0.08, y=0.5, w=0.84, h=0.14),
                   text="Only $19.99", typography=Typography(weight="bold", color="#1d3557")),
            Region(id="cta", role="cta", box=Box(x=0.25, y=0.76, w=0.5, h=0.1),
                   text="Shop now", typography=Typography(weight="bold", color="#f1faee")),
        ])


def _zh_spec() -> VisualSpec:
    return VisualSpec(
        asset_id="zh", format="card-small", width=768, height=768, language="zh",
        regions=[
            Region(id="headline", role="headline", box=Box(x=0.08, y=0.08, w=0.84, h=0.2),
                   text="夏季大促销", language="zh",
                   typography=Typography(weight="bold", color="#1d3557")),
            Region(id="body", role="body", box=Box(x=0.08, y=0.4, w=0.84, h=0.14),
                   text="全场商品五折起", language="zh"),
        ])


def _render(spec: VisualSpec, path: Path, faults: list[Fault] = ()) -> list[dict]:
    result = TypesetBackend(faults=list(faults)).generate(GenerationRequest(
        prompt="", width=spec.width, height=spec.height, seed=3, layout=layout_for(spec)))
    path.write_bytes(result.data)
    return result.metadata["injected"]


def test_qa_passes_a_clean_image_and_reports_json(tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(_spec().model_dump_json())
    _render(_spec(), tmp_path / "clean.png")
    r = runner.invoke(app, ["qa", str(tmp_path / "clean.png"), "--spec", str(spec_file),
                            "--json", "--overlay", str(tmp_path / "o.png")])
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["passed"] and {f["kind"] for f in report["regions"]} == {"ok"}
    assert all(f["box"] for f in report["regions"])
    assert (tmp_path / "o.png").stat().st_size > 0


EN_FAULTS = [k for k in FAULT_KINDS if k != "wrong_cjk"]


@pytest.mark.parametrize("kind", EN_FAULTS)
def test_qa_fails_every_injected_error_kind(tmp_path: Path, kind: str) -> None:
    spec = _spec()
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(spec.model_dump_json())
    region = {"wrong_digit": "price", "dropped_word": "body", "extra_text": None}.get(
        kind, "headline")
    injected = _render(spec, tmp_path / "bad.png", [Fault(kind=kind, region_id=region)])
    assert injected and injected[0]["kind"] == kind
    r = runner.invoke(app, ["qa", str(tmp_path / "bad.png"), "--spec", str(spec_file), "--json"])
    assert r.exit_code == 1, f"{kind} passed QA: {injected}\n{r.output}"
    report = json.loads(r.stdout)
    bad = [f for f in report["regions"] + report["unexpected"] if f["kind"] != "ok"]
    assert bad
    if region:
        assert any(f["region_id"] == region for f in bad)


@pytest.mark.parametrize("kind", ["wrong_cjk", "missing_region", "extra_text"])
def test_qa_fails_chinese_errors_and_passes_clean_chinese(tmp_path: Path, kind: str) -> None:
    spec = _zh_spec()
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(spec.model_dump_json())
    _render(spec, tmp_path / "clean.png")
    assert runner.invoke(app, ["qa", str(tmp_path / "clean.png"), "--spec",
                               str(spec_file)]).exit_code == 0
    region = None if kind == "extra_text" else "headline"
    _render(spec, tmp_path / "bad.png", [Fault(kind=kind, region_id=region)])
    assert runner.invoke(app, ["qa", str(tmp_path / "bad.png"), "--spec",
                               str(spec_file)]).exit_code == 1


def test_qa_expect_mode_without_a_spec(tmp_path: Path) -> None:
    _render(_spec(), tmp_path / "img.png")
    ok = runner.invoke(app, ["qa", str(tmp_path / "img.png"), "--expect", "Summer Sale",
                             "--expect", "Only $19.99"])
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(app, ["qa", str(tmp_path / "img.png"), "--expect", "Summer Sail"])
    assert bad.exit_code == 1


def test_qa_bad_input_exits_2_with_a_message(tmp_path: Path) -> None:
    r = runner.invoke(app, ["qa", str(tmp_path / "nope.png"), "--expect", "x"])
    assert r.exit_code == 2 and "no such image" in r.output
    _render(_spec(), tmp_path / "img.png")
    r = runner.invoke(app, ["qa", str(tmp_path / "img.png")])
    assert r.exit_code == 2 and "--spec" in r.output
    (tmp_path / "bad.json").write_text("{not json")
    r = runner.invoke(app, ["qa", str(tmp_path / "img.png"), "--spec", str(tmp_path / "bad.json")])
    assert r.exit_code == 2 and "not a valid spec" in r.output


def test_plan_prints_specs_with_verbatim_copy(examples: Path) -> None:
    r = runner.invoke(app, ["plan", str(examples / "summer-sale.yaml"), "--planner", "rules"])
    assert r.exit_code == 0, r.output
    specs = json.loads(r.stdout)
    texts = {reg["text"] for s in specs for reg in s["regions"] if reg.get("text")}
    assert "Summer Sale" in texts and len(specs) >= 2


def test_run_with_a_bad_brief_names_the_problem(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text("copy: {headline: Hi}\nformats: [1000x1000]\n")
    r = runner.invoke(app, ["run", str(tmp_path / "b.yaml"), "--out", str(tmp_path / "runs")])
    assert r.exit_code == 2
    assert "formats[0]: 1000x1000 is not a multiple of 32" in r.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.slow
def test_run_with_simulated_errors_never_accepts_a_wrong_image(tmp_path: Path,
                                                               examples: Path) -> None:
    runs = tmp_path / "runs"
    r = runner.invoke(app, ["run", str(examples / "summer-sale.yaml"), "--simulate-errors",
                            "0.5", "--seed", "5", "--out", str(runs), "--json"])
    assert r.exit_code in (0, 3), r.output
    manifest = json.loads(next(runs.glob("*/manifest.json")).read_text())
    attempts = [a for asset in manifest["assets"] for a in asset["attempts"]]
    assert any(a["injected"] for a in attempts), "the simulation injected nothing"
    for a in attempts:
        if a["injected"]:
            assert a["qa"]["passed"] is False, f"wrong text accepted: {a['injected']}"
    for asset in manifest["assets"]:
        assert asset["status"] in ("accepted", "needs_review")
        if asset["status"] == "accepted":
            final = next(a for a in asset["attempts"] if a["qa"]["passed"])
            assert final["injected"] == []
    if any(a["status"] == "needs_review" for a in manifest["assets"]):
        listed = runner.invoke(app, ["review", "list", "--out", str(runs), "--json"])
        items = json.loads(listed.stdout)
        item = items[0]
        ok = runner.invoke(app, ["review", "approve", item["run_id"], item["asset_id"],
                                 "--out", str(runs)])
        assert ok.exit_code == 0, ok.output
        # what waits failed QA: approving it says so, it is never plain "accepted"
        assert "approved_with_findings" in ok.output and "known findings" in ok.output


def test_review_of_unknown_run_is_a_clear_error(tmp_path: Path) -> None:
    r = runner.invoke(app, ["review", "approve", "nope", "poster", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "no run 'nope'" in r.output


def test_backends_lists_every_backend() -> None:
    r = runner.invoke(app, ["backends", "--json"])
    assert r.exit_code == 0
    info = {b["name"]: b for b in json.loads(r.stdout)}
    assert set(info) == {"typeset", "zai", "fal", "runware", "openai-images", "vllm-omni",
                         "diffusers"}
    assert info["zai"]["capabilities"]["limits"]["min_side"] == 512  # Z.ai's GLM-Image guide
    assert info["zai"]["required_settings"] == ["SIGNWRITER_ZAI_API_KEY"]
    assert info["typeset"]["capabilities"]["edit"] is True
    table = runner.invoke(app, ["backends"])
    assert "openai-images" in table.output and "vllm-omni" in table.output


def test_doctor_offline_on_defaults() -> None:
    r = runner.invoke(app, ["doctor", "--offline"])
    assert "fonts (cjk)" in r.output and "OCR judge" in r.output
    assert r.exit_code == 0, r.output


def test_invalid_option_values_are_named(tmp_path: Path, examples: Path) -> None:
    r = runner.invoke(app, ["run", str(examples / "summer-sale.yaml"), "--planner", "magic",
                            "--out", str(tmp_path)])
    assert r.exit_code == 2 and "--planner" in r.output


def test_bench_refuses_an_unknown_ocr_runtime_naming_the_choices() -> None:
    r = runner.invoke(app, ["bench", "pipeline", "--ocr-runtime", "tensorrt"])
    assert r.exit_code == 2
    out = " ".join(r.output.replace("│", " ").split())
    assert "tensorrt" in out and "'auto', 'openvino', 'openvino-f32', 'onnxruntime'" in out
