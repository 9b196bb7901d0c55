"""`signwriter doctor` checks the configuration and reaches the configured endpoint."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from agents.cli import app
from tests.servers.zai_server import ZaiServer

KEY = "sk-doctor-SECRET-42"
runner = CliRunner()


def test_doctor_reaches_the_configured_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    with ZaiServer() as server:
        monkeypatch.setenv("SIGNWRITER_BACKEND", "zai")
        monkeypatch.setenv("SIGNWRITER_ZAI_API_KEY", KEY)
        monkeypatch.setenv("SIGNWRITER_ZAI_BASE_URL", server.base_url)
        monkeypatch.setenv("SIGNWRITER_MAX_COST", "1")
        r = runner.invoke(app, ["doctor"])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.replace("│", " ").split())
    assert "zai endpoint" in text and "answered HTTP" in text
    assert KEY not in r.output


def test_doctor_names_the_missing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNWRITER_BACKEND", "fal")
    r = runner.invoke(app, ["doctor", "--offline"])
    assert r.exit_code == 1
    assert "SIGNWRITER_FAL_API_KEY" in r.output.replace("\n", "").replace("│", "").replace(" ", "")


def test_doctor_reports_an_unreachable_pool_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNWRITER_BACKEND", "openai-images")
    monkeypatch.setenv("SIGNWRITER_OPENAI_IMAGES_URLS", '["http://127.0.0.1:9"]')
    r = runner.invoke(app, ["doctor", "--timeout", "1"])
    assert r.exit_code == 1 and "cannot reach" in r.output


def test_doctor_names_the_ocr_runtimes() -> None:
    from agents.doctor import run_checks
    from agents.settings import Settings

    def ocr(**kw):
        checks = run_checks(Settings(_env_file=None, **kw), reach=False)
        return next(c for c in checks if c.name == "OCR runtime")

    c = ocr()
    assert c.level == "ok" and c.message.startswith("openvino") and "openvino-f32" in c.message
    c = ocr(ocr_runtime="onnxruntime")
    assert c.level == "ok" and c.message == "onnxruntime"
