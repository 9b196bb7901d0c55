"""A read-only or full runs folder: refused before any work (exit 2), and a disk that
fills up mid-run stops the run cleanly (exit 4), keeps what was generated and says how to
resume — on real small tmpfs mounts (the tests run as root in CI; they are skipped only
where mounting is impossible)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FOUR = """\
name: four
copy: {headline: Summer Sale, price: From $49.99}
formats: [social-square, card-small, poster-portrait, banner-wide]
"""


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """``tmpfs(size="1m", ro=False)``: a fresh tmpfs mounted under tmp_path (unmounted after)."""
    mounted: list[Path] = []

    def mount(size: str, ro: bool = False) -> Path:
        d = tmp_path / f"fs-{uuid.uuid4().hex[:6]}"
        d.mkdir()
        opts = f"size={size}" + (",ro" if ro else "")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(d)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip() or r.returncode})")
        mounted.append(d)
        return d

    yield mount
    for d in mounted:
        subprocess.run(["umount", "-l", str(d)], capture_output=True)


def _cli(args: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNWRITER_")}
    return subprocess.run([sys.executable, "-m", "agents.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout,
                          env={**env, "PYTHONPATH": str(ROOT), "COLUMNS": "200"})


def _one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    errors = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, stderr
    return errors[0]


def test_a_read_only_runs_folder_is_refused_before_work(tmp_path: Path, tmpfs) -> None:
    brief = tmp_path / "four.yaml"
    brief.write_text(FOUR)
    ro = tmpfs("64k", ro=True)
    r = _cli(["run", str(brief), "--out", str(ro)])
    assert r.returncode == 2
    line = _one_error_line(r.stderr)
    assert "not usable" in line and "Read-only file system" in line and "--out" in line
    assert "planned" not in r.stderr  # refused before planning


def test_a_full_runs_folder_is_refused_before_work(tmp_path: Path, tmpfs) -> None:
    brief = tmp_path / "four.yaml"
    brief.write_text(FOUR)
    full = tmpfs("64k")
    try:
        (full / "filler").write_bytes(b"x" * 200_000)
    except OSError:
        pass  # filled to the last block
    r = _cli(["run", str(brief), "--out", str(full)])
    assert r.returncode == 2
    line = _one_error_line(r.stderr)
    assert "the disk is full" in line and "free some space" in line


def test_disk_full_mid_run_stops_cleanly_and_resume_completes(tmp_path: Path, tmpfs) -> None:
    brief = tmp_path / "four.yaml"
    brief.write_text(FOUR)
    disk = tmpfs("1m")  # room for the run folder and a first image, not for all four
    r = _cli(["run", str(brief), "--out", str(disk), "--seed", "1"])
    assert r.returncode == 4, r.stderr  # stopped
    line = _one_error_line(r.stderr)
    assert "the disk is full" in line and "signwriter resume" in line
    (run_dir,) = [d for d in disk.iterdir() if d.name.startswith("2")]
    ledger = [json.loads(x) for x in (run_dir / "ledger.jsonl").read_text().splitlines()
              if x.strip()] if (run_dir / "ledger.jsonl").exists() else []
    # the ledger records each payment before its image is written, so the image the disk
    # had no room for may be missing now; resume brings every one back (typeset is free:
    # drawn again, the same bytes)
    # the disk grows; the run goes on from where it stopped and completes every asset
    subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
    res = _cli(["resume", run_dir.name, "--out", str(disk), "--json"])
    assert res.returncode == 0, res.stderr
    m = json.loads(res.stdout)
    assert m["status"] == "succeeded" and len(m["assets"]) == 4
    done = [(e["asset_id"], e["attempt"]) for e in
            (json.loads(x) for x in (run_dir / "ledger.jsonl").read_text().splitlines())
            if e.get("kind", "done") == "done"]
    assert len(done) == len(set(done))  # no attempt generated twice
    assert set(ledger_e["asset_id"] for ledger_e in ledger) <= {a for a, _ in done}
    final = {(e["asset_id"], e["attempt"]): e for e in
             (json.loads(x) for x in (run_dir / "ledger.jsonl").read_text().splitlines())
             if e.get("kind", "done") == "done"}
    for e in final.values():  # every generation the ledger records is on disk now
        assert (run_dir / e["image"]).is_file()
