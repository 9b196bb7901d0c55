"""`signwriter users …` and `signwriter serve` as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from agents.cli import app

runner = CliRunner()


def test_users_add_list_remove(tmp_path: Path) -> None:
    out = ["--out", str(tmp_path / "runs")]
    r = runner.invoke(app, ["users", "add", "ana", "--role", "reviewer", "--password-stdin",
                            *out], input="a long enough secret\n")
    assert r.exit_code == 0, r.output
    assert "a long enough secret" not in r.output
    listed = runner.invoke(app, ["users", "list", *out])
    assert listed.exit_code == 0 and listed.output.split() == ["ana", "reviewer"]
    again = runner.invoke(app, ["users", "add", "ana", "--password-stdin", *out],
                          input="another secret!\n")
    assert again.exit_code == 2 and "exists already" in again.output
    short = runner.invoke(app, ["users", "add", "bo", "--password-stdin", *out], input="x\n")
    assert short.exit_code == 2 and "at least 8 characters" in short.output
    no_stdin = runner.invoke(app, ["users", "add", "bo", *out])
    assert no_stdin.exit_code == 2 and "--password-stdin" in no_stdin.output
    role = runner.invoke(app, ["users", "add", "bo", "--role", "boss", "--password-stdin", *out],
                         input="a long enough secret\n")
    assert role.exit_code == 2
    assert runner.invoke(app, ["users", "remove", "ana", *out]).exit_code == 0
    gone = runner.invoke(app, ["users", "remove", "ana", *out])
    assert gone.exit_code == 2 and "no user 'ana'" in gone.output


def test_serve_listens_where_asked(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "agents.cli", "serve", "--port", str(port),
                             "--out", str(tmp_path / "runs")], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, "serve exited"
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
        assert health.status_code == 200 and health.json() == {"ok": True}
        queue = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert queue.status_code == 303 and queue.headers["location"].startswith("/login")
        assert "server" not in queue.headers  # no version banner
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert b"users add" in output  # it says how to make the first account


def test_index_rebuild_and_review_list_json(web_settings, run_id: str) -> None:  # noqa: ANN001
    """A lost index comes back from the run folders; the list reads only the index."""
    runs = Path(web_settings.runs_dir)
    for f in runs.glob("index.sqlite*"):
        f.unlink()
    out = ["--out", str(runs)]
    assert json.loads(runner.invoke(app, ["review", "list", "--json", *out]).stdout) == []
    r = runner.invoke(app, ["index", "rebuild", *out])
    assert r.exit_code == 0 and "indexed 2 run(s)" in r.output
    items = json.loads(runner.invoke(app, ["review", "list", "--json", *out]).stdout)
    assert len(items) == 4
    card = next(i for i in items if i["run_id"] == run_id and i["asset_id"] == "card-small")
    assert card["passed"] is False and Path(card["overlay"]).is_file()
    assert card["overlay"].endswith("attempt-01/overlay.jpg")
