"""`make test`'s torch step (scripts/install-torch.sh): the CPU build, and it says which source
it used — installed, a local wheel, PyTorch's CPU index when reachable, PyPI last."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "install-torch.sh"


def _decide(venv: Path, **env: str) -> str:
    r = subprocess.run([str(SCRIPT), str(venv), "--dry-run"], capture_output=True, text=True,
                       timeout=120, env={**os.environ, **env})
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    return venv


@pytest.fixture
def cpu_index() -> Iterator[str]:
    """A stand-in for download.pytorch.org/whl/cpu on 127.0.0.1 (answers /torch/)."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200 if self.path == "/whl/cpu/torch/" else 404)
            self.end_headers()
            self.wfile.write(b"<a href='torch-2.99.0+cpu.whl'>torch</a>")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/whl/cpu"
    server.shutdown()
    server.server_close()


def test_an_installed_torch_is_kept() -> None:
    import torch
    if torch.__version__.split("+")[0] != "2.13.0":
        pytest.skip("this environment's torch is not the pinned one")
    out = _decide(Path(sys.executable).parent.parent)
    assert "already installed" in out and "(dry run)" not in out


def test_a_local_wheel_is_used_before_any_index(fresh_venv: Path) -> None:
    out = _decide(fresh_venv)
    if "local wheel" not in out:
        pytest.skip("no local torch wheel on this machine (pip --find-links)")
    assert "--no-index" in out


def test_without_a_local_wheel_the_cpu_index_is_used_when_reachable(fresh_venv: Path,
                                                                    cpu_index: str) -> None:
    out = _decide(fresh_venv, TORCH_PIN="torch==2.99.0", TORCH_CPU_INDEX=cpu_index)
    assert f"(CPU build) from {cpu_index}" in out
    assert f"--index-url {cpu_index}" in out


def test_an_unreachable_cpu_index_falls_back_to_pypi_and_says_so(fresh_venv: Path) -> None:
    out = _decide(fresh_venv, TORCH_PIN="torch==2.99.0",
                  TORCH_CPU_INDEX="http://127.0.0.1:9/whl/cpu")
    assert "WARNING" in out and "CUDA" in out and "--index-url" not in out
