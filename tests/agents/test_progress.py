"""`signwriter run … > log.txt`: the log shows the work while the run is going.

The CLI runs in its own process with its output in a file; the image provider (a Z.ai
speaking server on 127.0.0.1) holds every image until the test lets it go, so the test can
read the log while the run is provably still going."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.servers.provider_server import png_bytes
from tests.servers.zai_server import ZaiServer

BRIEF = """\
name: progress
brand: {name: Northwind, colors: ["#12355b", "#ffffff", "#d72638"]}
copy:
  headline: Autumn Deals
formats: [social-square, poster-portrait]
"""

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d \S+( attempt \d+)?: .+$")


def _wait_for(log: Path, pattern: str, proc: subprocess.Popen, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text() if log.exists() else ""
        if re.search(pattern, text):
            return text
        assert proc.poll() is None, f"the run ended early:\n{text}"
        time.sleep(0.05)
    raise AssertionError(f"{pattern!r} never appeared in the log:\n{log.read_text()}")


def test_a_run_logged_to_a_file_shows_each_event_as_it_happens(tmp_path: Path) -> None:
    brief = tmp_path / "brief.yaml"
    brief.write_text(BRIEF)
    release = threading.Event()

    def held_painter(prompt: str, width: int, height: int) -> bytes:
        release.wait(60)
        return png_bytes(width, height, "held")

    log = tmp_path / "log.txt"
    with ZaiServer() as server:
        server.painter = held_painter
        env = {**os.environ, "SIGNWRITER_ZAI_API_KEY": "sk-test-progress-123",
               "SIGNWRITER_ZAI_BASE_URL": server.base_url, "SIGNWRITER_POLL_INTERVAL_S": "0.01"}
        with open(log, "wb") as f:  # like `signwriter run … > log.txt 2>&1`
            proc = subprocess.Popen(
                [sys.executable, "-m", "agents.cli", "run", str(brief), "--backend", "zai",
                 "--max-attempts", "1", "--out", str(tmp_path / "runs")],
                stdout=f, stderr=subprocess.STDOUT, env=env)
        try:
            during = _wait_for(log, r"attempt 1: generate started", proc)
            # the provider still holds the images: the run is provably going on
            assert not release.is_set() and proc.poll() is None
            planned = [ln for ln in during.splitlines() if ": planned " in ln]
            assert len(planned) == 2 and all(LINE.match(ln) for ln in planned), during
            assert "QA" not in during
            release.set()
            assert proc.wait(timeout=120) in (1, 3)
        finally:
            release.set()
            if proc.poll() is None:
                proc.kill()
    text = log.read_text()
    events = [ln for ln in text.splitlines() if LINE.match(ln)]
    for what in ("planned", "generate started", "image ready", "QA FAIL", "status "):
        assert sum(what in ln for ln in events) == 2, (what, text)
    assert text.index("generate started") < text.index("image ready") < text.index("QA ")
