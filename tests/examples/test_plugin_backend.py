"""The example backend plugin (examples/plugin-backend), installed the way a user installs a
plugin — pip, into a folder of its own — then used through the real command line: it is
listed, passes doctor, and renders a brief that OCR verifies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "examples" / "plugin-backend"

BRIEF = """\
name: plugin
brand: {name: Northwind, colors: ["#12355b", "#ffffff", "#d72638"]}
copy:
  headline: Autumn Deals
  price: Only $29.99
formats: [social-square]
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The plugin pip-installed into its own folder (nothing else changes)."""
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("build")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-cache-dir", "--target", str(target), str(PLUGIN)],
        capture_output=True, text=True, timeout=300, cwd=build,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    assert proc.returncode == 0, proc.stderr
    assert list(target.glob("signwriter_solid-*.dist-info/entry_points.txt"))
    yield target


def _cli(installed: Path, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    path = os.pathsep.join([str(installed), str(ROOT), os.environ.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "agents.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": path, "COLUMNS": "250", **env})


def test_the_installed_plugin_is_listed(installed: Path, tmp_path: Path) -> None:
    r = _cli(installed, tmp_path, "backends", "--json")
    assert r.returncode == 0, r.stderr
    solid = next(b for b in json.loads(r.stdout) if b["name"] == "solid")
    assert solid["source"] == "signwriter-solid" and solid["required_settings"] == []
    assert solid["options"]["background"]["env"] == "SIGNWRITER_SOLID_BACKGROUND"
    # and without it installed, it is not there
    bare = subprocess.run([sys.executable, "-m", "agents.cli", "backends", "--json"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert "solid" not in {b["name"] for b in json.loads(bare.stdout)}


def test_the_installed_plugin_passes_doctor(installed: Path, tmp_path: Path) -> None:
    r = _cli(installed, tmp_path, "doctor", "--offline", SIGNWRITER_BACKEND="solid")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "solid: Example plugin" in " ".join(r.stdout.split())
    bad = _cli(installed, tmp_path, "doctor", "--offline", SIGNWRITER_BACKEND="solid",
               SIGNWRITER_SOLID_BACKGROUND="beige")
    assert bad.returncode == 1 and "SIGNWRITER_SOLID_BACKGROUND" in " ".join(bad.stdout.split())


def test_the_installed_plugin_renders_a_brief(installed: Path, tmp_path: Path) -> None:
    brief = tmp_path / "brief.yaml"
    brief.write_text(BRIEF)
    runs = tmp_path / "runs"
    r = _cli(installed, tmp_path, "run", str(brief), "--backend", "solid", "--out", str(runs),
             "--json", SIGNWRITER_SOLID_BACKGROUND="#fff3d6")
    assert r.returncode == 0, r.stdout + r.stderr
    manifest = json.loads(r.stdout)
    assert manifest["status"] == "succeeded" and manifest["backend"] == "solid"
    asset = manifest["assets"][0]
    assert asset["status"] == "accepted" and asset["attempts"][0]["backend"] == "solid"
    with Image.open(runs / manifest["run_id"] / asset["final_image"]) as im:
        assert im.convert("RGB").getpixel((2, 2)) == (0xff, 0xf3, 0xd6), "its setting reached it"
