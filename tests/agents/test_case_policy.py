"""Letter case as a design decision: the brief says it, the spec carries it, `signwriter qa`
can relax it, and the report says what was not judged — real files, real OCR."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image
from typer.testing import CliRunner

from agents.brief import Brief
from agents.cli import app
from agents.planner.rules import RulesPlanner
from agents.spec import Box
from tests.qa.images import draw_text

runner = CliRunner()


def _brief(**copy_extra) -> Brief:
    return Brief.model_validate({
        "name": "caps", "formats": ["social-square"],
        "copy": {"headline": {"text": "Tesla Inc.", **copy_extra}, "cta": "Shop now"},
        **({"case_policy": {"cta": "exact"}}),
    })


def test_case_defaults_to_any_and_an_item_or_a_role_can_make_it_exact():
    spec = RulesPlanner().plan(_brief())[0]
    case = {r.id: r.strictness.case for r in spec.text_regions}
    assert case["headline"] is False  # default: display capitals are correct copy
    assert case["cta"] is True  # the brief's case_policy for the cta role
    spec = RulesPlanner().plan(_brief(case="exact"))[0]
    assert {r.id: r.strictness.case for r in spec.text_regions}["headline"] is True


def test_a_brief_with_a_bad_case_value_is_refused():
    try:
        _brief(case="shouty")
    except ValueError as e:
        assert "case" in str(e)
    else:
        raise AssertionError("case: shouty was accepted")


def _caps_image(path: Path) -> Path:
    img = Image.new("RGB", (1024, 512), (250, 246, 236))
    draw_text(img, "TESLA INC.", (0.05, 0.3, 0.9, 0.4), max_size=80)
    img.save(path)
    return path


def test_qa_expect_passes_capitals_and_says_case_was_not_judged(tmp_path: Path):
    img = _caps_image(tmp_path / "caps.png")
    r = runner.invoke(app, ["qa", str(img), "--expect", "Tesla Inc.", "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert any("letter case" in line for line in report["not_judged"])
    assert "letter case not judged" in report["regions"][0]["note"]


def test_ignore_case_overrides_a_spec_that_says_exact(tmp_path: Path):
    img = _caps_image(tmp_path / "caps.png")
    spec = RulesPlanner().plan(_brief(case="exact"))[0]
    spec = spec.model_copy(update={"width": 1024, "height": 512})
    regions = [r.model_copy(update={"box": Box(x=0.05, y=0.3, w=0.9, h=0.4)})
               for r in spec.regions if r.id == "headline"]
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(spec.model_copy(update={"regions": regions}).model_dump_json())
    strict = runner.invoke(app, ["qa", str(img), "--spec", str(spec_path), "--json"])
    assert strict.exit_code == 1, strict.output
    lenient = runner.invoke(app, ["qa", str(img), "--spec", str(spec_path), "--json",
                                  "--ignore-case", "--ignore-punctuation"])
    assert lenient.exit_code == 0, lenient.output
    report = json.loads(lenient.output)
    assert any(line.startswith("letter case") for line in report["not_judged"])
    assert any(line.startswith("punctuation") for line in report["not_judged"])
