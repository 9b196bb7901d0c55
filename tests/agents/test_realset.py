"""The real-image set: its manifest, rebuild.py (from git mirrors, SHA-256 checked) and
`signwriter bench qa --folder` scoring what rebuild.py writes, strict and lenient."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from agents.benchmarks.qa import read_manifest, score_folder
from agents.cli import app
from generation.fonts import find_font, load_font
from qa.models import Strictness

ROOT = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("realset_rebuild", ROOT / "bench/real/rebuild.py")
rebuild = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(rebuild)


def test_the_committed_manifest_is_complete_and_balanced():
    rows = rebuild.load_manifest()
    assert len(rows) >= 100
    ids = [r["id"] for r in rows]
    files = [r["file"] for r in rows]
    assert len(set(ids)) == len(ids) and len(set(files)) == len(files)
    for r in rows:
        assert re.fullmatch(r"[0-9a-f]{64}", r["sha256"]), r["id"]
        assert re.fullmatch(r"[0-9a-f]{40}", r["commit"]), r["id"]
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", r["repo"]), r["id"]
        assert r["file"] == r["id"] + Path(r["path"]).suffix.lower()
        assert isinstance(r["correct"], bool)
        assert (r["error_kind"] is None) == r["correct"], r["id"]
        assert r["expected"] and all(isinstance(t, str) and t.strip() for t in r["expected"])
        assert r["language"] in {"en", "zh", "ja", "mixed"}
        assert r["model"] and r["notes"] is not None
    langs = {r["language"] for r in rows}
    assert {"en", "zh", "ja"} <= langs
    wrong = sum(not r["correct"] for r in rows)
    assert 0.3 <= wrong / len(rows) <= 0.7  # roughly half and half
    assert not list((ROOT / "bench/real").glob("*.png"))  # images are never committed


def _poster(path: Path, lines: list[str]) -> None:
    img = Image.new("RGB", (900, 420), (246, 240, 226))
    draw = ImageDraw.Draw(img)
    for k, text in enumerate(lines):
        draw.text((60, 70 + k * 150), text, font=load_font(find_font("latin", "bold"), 72),
                  fill=(24, 24, 36))
    img.save(path)


def _git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def mirror(tmp_path: Path) -> tuple[Path, list[dict]]:
    """A public-repo stand-in: a git repo with two generated posters, mirrored (bare) the
    way `fetch` lays mirrors out, and manifest rows pointing at its commit."""
    work = tmp_path / "src"
    (work / "out").mkdir(parents=True)
    _poster(work / "out/caps.png", ["SUMMER SALE"])
    _poster(work / "out/typo.png", ["Summer Sael"])
    _git("init", "-q", cwd=work)
    _git("add", ".", cwd=work)
    _git("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "outputs",
         cwd=work)
    commit = _git("rev-parse", "HEAD", cwd=work)
    mirrors = tmp_path / "mirrors"
    _git("clone", "-q", "--bare", str(work), str(mirrors / "someone+t2i-gallery" / "repo"))

    def row(name: str, correct: bool, kind: str | None) -> dict:
        data = (work / "out" / name).read_bytes()
        return {"id": name[:-4], "file": name, "repo": "someone/t2i-gallery", "commit": commit,
                "path": f"out/{name}", "sha256": hashlib.sha256(data).hexdigest(),
                "expected": ["Summer Sale"], "correct": correct, "error_kind": kind,
                "language": "en", "model": "test", "notes": ""}

    return mirrors, [row("caps.png", True, None), row("typo.png", False, "misspelt")]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_rebuild_writes_verified_images_that_bench_qa_scores(mirror, tmp_path):
    mirrors, rows = mirror
    manifest = _write(tmp_path / "manifest.jsonl", rows)
    dest = tmp_path / "set"
    assert rebuild.main([str(dest), "--manifest", str(manifest), "--mirror-dir",
                         str(mirrors)]) == 0
    for r in rows:
        assert hashlib.sha256((dest / r["file"]).read_bytes()).hexdigest() == r["sha256"]
    assert [row["id"] for row in read_manifest(dest)] == ["caps", "typo"]

    strict = score_folder(dest)
    lenient = score_folder(dest, strictness=Strictness(case=False, punctuation=False))
    # capitals are a design decision: only the lenient run accepts 'SUMMER SALE'
    assert (strict.false_reject.hits, lenient.false_reject.hits) == (1, 0)
    assert strict.catch.hits == lenient.catch.hits == 1  # the typo is caught either way
    assert "case and punctuation not judged" in lenient.source
    assert {i.id for i in lenient.items} == {"caps", "typo"}


def test_a_changed_or_absent_image_is_not_written_and_says_why(mirror, tmp_path, capsys):
    mirrors, rows = mirror
    rows[0]["sha256"] = "0" * 64
    rows.append(dict(rows[1], id="gone", file="gone.png", path="out/gone.png"))
    manifest = _write(tmp_path / "manifest.jsonl", rows)
    dest = tmp_path / "set"
    assert rebuild.main([str(dest), "--manifest", str(manifest), "--mirror-dir",
                         str(mirrors)]) == 1
    err = capsys.readouterr().err
    assert "caps" in err and "is not the manifest's" in err
    assert "gone" in err and "--clone" in err
    assert not (dest / "caps.png").exists() and not (dest / "gone.png").exists()
    assert [r["id"] for r in read_manifest(dest)] == ["typo"]
    assert rebuild.main([str(dest), "--manifest", str(manifest), "--mirror-dir", str(mirrors),
                         "--allow-missing"]) == 0


def test_a_malformed_manifest_is_one_clear_line(tmp_path, capsys):
    bad = tmp_path / "m.jsonl"
    bad.write_text('{"id": "x"}\n')
    assert rebuild.main([str(tmp_path / "d"), "--manifest", str(bad)]) == 2
    assert "line 1: missing file, repo" in capsys.readouterr().err


def test_leniency_flags_belong_to_folder_scoring():
    result = CliRunner().invoke(app, ["bench", "qa", "--ignore-case", "--n", "2"])
    assert result.exit_code != 0
    assert "apply to --folder" in result.output


def test_the_tuning_and_held_out_halves_are_fixed_by_each_images_id():
    from agents.benchmarks.qa import half_of

    rows = rebuild.load_manifest()
    halves = {r["id"]: half_of(r["id"]) for r in rows}
    assert set(halves.values()) == {"tune", "held-out"}
    # the rule is the id's SHA-256 (odd: held out), so adding rows never moves an image
    assert all(halves[i] == ("held-out" if int(hashlib.sha256(i.encode()).hexdigest(), 16) % 2
                             else "tune") for i in halves)
    counts = {(halves[r["id"]], r["correct"]): 0 for r in rows}
    for r in rows:
        counts[(halves[r["id"]], r["correct"])] += 1
    # the figures in bench/real/README.md are for these halves
    assert counts == {("tune", True): 47, ("tune", False): 35,
                      ("held-out", True): 48, ("held-out", False): 27}


def test_bench_qa_scores_one_half_of_a_folder(mirror, tmp_path):
    from agents.benchmarks.qa import ManifestError, half_of

    mirrors, rows = mirror
    rows.append(dict(rows[1], id="typo-b"))  # the same image under an id in the other half
    assert {half_of(r["id"]) for r in rows} == {"tune", "held-out"}
    dest = tmp_path / "set"
    assert rebuild.main([str(dest), "--manifest", str(_write(tmp_path / "m.jsonl", rows)),
                         "--mirror-dir", str(mirrors)]) == 0
    for half in ("tune", "held-out"):
        result = score_folder(dest, half=half)
        assert {i.id for i in result.items} == {r["id"] for r in rows if half_of(r["id"]) == half}
        assert f"{half} half" in result.source
    with pytest.raises(ManifestError, match="unknown half"):
        score_folder(dest, half="train")
    out = CliRunner().invoke(app, ["bench", "qa", "--half", "tune", "--n", "2"])
    assert out.exit_code != 0 and "--half applies to --folder" in out.output
