"""Files only from where they belong: brand fonts and logos come from the brief's folder or
an allowed assets folder; everything else is refused before it is opened."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agents.brief import load_brief
from agents.cli import app
from agents.errors import BriefError, PathNotAllowed
from agents.paths import FONT_SUFFIXES, IMAGE_SUFFIXES, asset_roots, confine
from agents.settings import Settings
from generation.fonts import find_font

runner = CliRunner()


def _png(path: Path) -> Path:
    from PIL import Image
    Image.new("RGB", (8, 8), "red").save(path)
    return path


def _brief(folder: Path, brand: dict, name: str = "b.yaml") -> Path:
    f = folder / name
    f.write_text(json.dumps({"name": "t", "brand": brand, "copy": {"headline": "Hi"},
                             "formats": ["social-square"]}))
    return f


@pytest.fixture
def kit(tmp_path: Path) -> Path:
    """A brief folder with a logo and a copy of a real font."""
    d = tmp_path / "brief"
    d.mkdir()
    _png(d / "logo.png")
    shutil.copyfile(find_font("latin", "bold"), d / "Brand-Bold.ttf")
    return d


def test_relative_logo_and_font_resolve_inside_the_brief_folder(kit: Path) -> None:
    b = load_brief(_brief(kit, {"logo": "logo.png", "fonts": {"headline": "Brand-Bold.ttf",
                                                              "body": "DejaVu Sans"}}))
    assert b.brand.logo == (kit / "logo.png").resolve()
    assert b.brand.fonts.headline == str((kit / "Brand-Bold.ttf").resolve())
    assert b.brand.fonts.body == "DejaVu Sans"  # a family name: looked up among installed fonts


@pytest.mark.parametrize("field,value", [
    ("logo", "/etc/hostname"), ("logo", "../outside.png"), ("logo", "sub/../../outside.png"),
    ("font", "/etc/passwd"), ("font", "/proc/self/environ"), ("font", "../../outside.ttf"),
])
def test_paths_outside_are_refused_without_revealing_whether_they_exist(
        kit: Path, field: str, value: str) -> None:
    (kit.parent / "outside.png").write_bytes(b"x")  # exists, just outside the brief folder

    def refusal(v: str) -> str:
        brand = {"logo": v} if field == "logo" else {"fonts": {"headline": v}}
        with pytest.raises(BriefError) as exc:
            load_brief(_brief(kit, brand))
        return str(exc.value).replace(v, "VALUE")

    existing, missing = refusal(value), refusal(value + "-missing")
    assert "outside the allowed folders" in existing and "does not exist" not in existing
    assert existing == missing.replace("VALUE", "VALUE")  # same words either way


def test_home_paths_are_not_expanded(kit: Path) -> None:
    with pytest.raises(BriefError, match="'~' is not expanded"):
        load_brief(_brief(kit, {"fonts": {"headline": "~/.fonts/x.ttf"}}))


def test_plan_answers_the_same_for_existing_and_missing_outside_paths(kit: Path) -> None:
    a = runner.invoke(app, ["plan", str(_brief(kit, {"logo": "/etc/hostname"}))])
    b = runner.invoke(app, ["plan", str(_brief(kit, {"logo": "/etc/no-such-file-here"}))])
    assert a.exit_code == b.exit_code == 2
    assert a.output.replace("hostname", "X") == b.output.replace("no-such-file-here", "X")
    assert "Traceback" not in a.output


def test_symlink_out_device_fifo_and_folder_are_refused(kit: Path, tmp_path: Path) -> None:
    secret = _png(tmp_path / "secret.png")
    os.symlink(secret, kit / "link.png")
    os.symlink("/dev/zero", kit / "zero.png")
    os.mkfifo(kit / "pipe.png")
    (kit / "dir.png").mkdir()
    roots = asset_roots(kit)
    for name, words in [("link.png", "a link to a place outside"),
                        ("zero.png", "a link to a place outside"),
                        ("pipe.png", "is a FIFO"), ("dir.png", "is a folder")]:
        with pytest.raises(PathNotAllowed, match=words):
            confine(name, roots, field="brand.logo", kinds=IMAGE_SUFFIXES, what="logo")
    os.symlink(kit / "logo.png", kit / "inside.png")  # a link that stays inside is fine
    assert confine("inside.png", roots, field="x", kinds=IMAGE_SUFFIXES) == kit / "logo.png"


def test_an_allowed_assets_folder_serves_a_shared_brand_kit(tmp_path: Path, kit: Path) -> None:
    shared = tmp_path / "brand-kit"
    shared.mkdir()
    _png(shared / "shared-logo.png")
    brief = _brief(kit, {"logo": str(shared / "shared-logo.png")})
    with pytest.raises(BriefError, match="outside the allowed folders"):
        load_brief(brief, Settings(_env_file=None))
    b = load_brief(brief, Settings(assets_dirs=[shared], _env_file=None))
    assert b.brand.logo == shared / "shared-logo.png"


def test_wrong_kind_long_and_control_character_paths(kit: Path) -> None:
    roots = asset_roots(kit)
    with pytest.raises(PathNotAllowed, match="is not a .ttf/.otf/.ttc file"):
        confine("logo.png", roots, field="f", kinds=FONT_SUFFIXES, what="font")
    with pytest.raises(PathNotAllowed, match="characters long"):
        confine("a" * 5000 + ".png", roots, field="f")
    with pytest.raises(PathNotAllowed, match="control characters"):
        confine("lo\x00go.png", roots, field="f")
    with pytest.raises(PathNotAllowed, match="File name too long"):
        confine("x" * 300 + ".png", roots, field="f")  # ENAMETOOLONG is a message too


def test_a_planner_may_not_name_files_the_brief_did_not_give(kit: Path, settings) -> None:
    from agents.errors import PlannerError
    from agents.planner.rules import RulesPlanner
    from agents.api import plan_brief

    brief = load_brief(_brief(kit, {"logo": "logo.png"}))
    specs = RulesPlanner().plan(brief)
    assert specs[0].logo == str(brief.brand.logo)
    tampered = brief.model_copy(deep=True)
    tampered.brand.logo = Path("/etc/hostname")

    class Sneaky(RulesPlanner):
        def plan(self, b):  # noqa: ANN001, ANN202 - what a misbehaving LLM plan amounts to
            return RulesPlanner.plan(self, tampered)

    import agents.api as runner_mod
    orig = runner_mod.make_planner
    runner_mod.make_planner = lambda s: Sneaky()
    try:
        with pytest.raises(PlannerError, match="names a file the brief did not give"):
            plan_brief(brief, settings)
    finally:
        runner_mod.make_planner = orig
