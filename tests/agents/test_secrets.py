"""Secrets never echoed: a provider that repeats the key — raw, URL-encoded, base64, or as
a task id — gets it cut from stderr, run.json, the manifest, the ledger and the checkpoints;
doctor prints no key inside a URL and contacts nothing unless a backend is chosen."""

from __future__ import annotations

import base64
import re
import urllib.parse
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agents.cli import app
from agents.settings import Settings
from generation.redact import contains, forms, redact, redact_value
from tests.agents.test_pipeline_remote import BRIEF, Model, _specs
from tests.servers.provider_server import Recorded, Reply
from tests.servers.zai_server import ZaiServer

runner = CliRunner()
KEY = "sk-test/SECRET+9f8e=7d&x"  # URL-encoding and base64 both change it


def test_every_form_of_a_key_is_found_and_cut() -> None:
    raw = KEY.encode()
    texts = [
        f"error for {KEY}!", f"url?k={urllib.parse.quote(KEY, safe='')}",
        "url?k=" + re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(),
                          urllib.parse.quote(KEY, safe='')),
        f"url?k={urllib.parse.quote_plus(KEY)}", raw.hex(),
        base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode(),
        "Basic " + base64.b64encode(b"user:" + raw).decode(),
        "Basic " + base64.b64encode(b"u:" + raw + b":tail").decode(),
        base64.b64encode(b"xy" + raw).decode(),
    ]
    for t in texts:
        assert contains(t, [KEY]), t
        cut = redact(t, [KEY])
        assert "***" in cut and not contains(cut, [KEY]), (t, cut)
    assert redact("nothing here", [KEY]) == "nothing here"
    assert not contains("ordinary text about keys", [KEY, None, "", "abc"])
    assert redact_value({"a": [f"x{KEY}"], KEY: 1}, [KEY]) == {"a": ["x***"], "***": 1}
    assert len(forms(KEY)) >= 8


class LeakyZai(ZaiServer):
    """Z.ai's protocol, from an endpoint that echoes the caller's key back."""

    leak = ""

    def route(self, route: str, rec: Recorded, fault: str | None) -> Reply:
        key = rec.headers.get("authorization", "").removeprefix("Bearer ")
        if route == "submit" and self.leak == "task-id":
            task_id = f"task-{key}"
            w, h = self._size(rec)
            self.tasks[task_id] = {"size": (w, h), "polls": 0, "fault": None,
                                   "prompt": rec.json.get("prompt", "")}
            return Reply(200, {"id": task_id, "task_status": "PROCESSING"})
        if route == "submit" and self.leak == "url-encoded":
            return self._error(400, 1214, "size invalid; see https://docs.example/?key="
                                          f"{urllib.parse.quote(key, safe='')}")
        if route == "submit" and self.leak == "base64":
            basic = base64.b64encode(f"user:{key}".encode()).decode()
            return self._error(401, 1002, f"Authorization Basic {basic} invalid")
        if route == "result" and self.leak == "metadata":
            reply = super().route(route, rec, fault)
            if isinstance(reply.body, dict) and reply.body.get("task_status") == "SUCCESS":
                reply.body["request_id"] = f"req-{key}"
                reply.body["model"] = f"glm-image ({key})"
            return reply
        return super().route(route, rec, fault)


def _leaks(text: str) -> list[str]:
    return [f for f in forms(KEY) if f in text]


@pytest.mark.parametrize("leak,exit_code", [("url-encoded", 1), ("base64", 4),
                                            ("task-id", 4), ("metadata", 0)])
def test_a_key_echoed_by_the_provider_is_never_stored_or_printed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, leak: str, exit_code: int) -> None:
    brief = tmp_path / "brief.yaml"
    brief.write_text(BRIEF)
    runs = tmp_path / "runs"
    with LeakyZai() as server:
        server.leak = leak
        server.painter = Model(_specs(brief, Settings(_env_file=None)), wrong=0)
        for k, v in {"SIGNWRITER_BACKEND": "zai", "SIGNWRITER_ZAI_API_KEY": KEY,
                     "SIGNWRITER_ZAI_BASE_URL": server.base_url,
                     "SIGNWRITER_POLL_INTERVAL_S": "0.02", "SIGNWRITER_RETRY_BACKOFF_S": "0.01",
                     "SIGNWRITER_MAX_RETRIES": "1", "COLUMNS": "200"}.items():
            monkeypatch.setenv(k, v)
        r = runner.invoke(app, ["run", str(brief), "--out", str(runs), "--seed", "1"])
        assert server.requests, "the provider was called"
    assert r.exit_code == exit_code, r.output
    assert _leaks(r.output) == [], r.output
    if leak == "task-id":
        assert "contains your API key; it was not stored. Rotate the key" in r.output
    files = [p for p in runs.rglob("*") if p.is_file()]
    assert any(p.name == "ledger.jsonl" for p in files) or leak != "metadata"
    for p in files:
        text = p.read_bytes().decode("latin-1")
        assert _leaks(text) == [], p


def test_doctor_is_offline_unless_a_backend_is_chosen_and_hides_keys_in_urls(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with LeakyZai() as server:
        quoted = urllib.parse.quote(KEY, safe="")
        url_with_key = server.url.replace("http://", f"http://user:{quoted}@") + "/api/paas/v4"
        monkeypatch.setenv("SIGNWRITER_ZAI_BASE_URL", url_with_key + f"?token={quoted}")
        monkeypatch.setenv("SIGNWRITER_ZAI_API_KEY", KEY)
        monkeypatch.setenv("SIGNWRITER_LLM_BASE_URL", url_with_key)
        r = runner.invoke(app, ["doctor"])
        assert "not contacted" in r.output and not server.requests
        monkeypatch.setenv("SIGNWRITER_BACKEND", "zai")
        r = runner.invoke(app, ["doctor"])
        assert server.requests, "a chosen backend's endpoint is checked"
        assert _leaks(r.output) == [] and "user:" not in r.output, r.output
        n = len(server.requests)
        r = runner.invoke(app, ["doctor", "--offline"])
        assert len(server.requests) == n and _leaks(r.output) == []
