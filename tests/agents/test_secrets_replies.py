"""Secrets never echoed by the planner LLM, its prompt enhancer and the vision reader
(issue 11): an endpoint that repeats the caller's key (raw, URL-encoded, base64) in its
error bodies and in its answers gets every form of it cut, so it reaches no error message,
no output line, no QA report and no run artifact (specs, prompts, enhancer records, ledger,
run.json, checkpoints). Real local servers: the chat endpoint and a Z.ai image endpoint."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from agents.api import vision_reader
from agents.brief import load_brief
from agents.cli import app
from agents.errors import PlannerError
from agents.llm_client import ChatClient
from agents.planner.rules import RulesPlanner
from agents.settings import Settings
from generation.redact import forms
from qa import check_image
from qa.errors import VisionUnavailable
from qa.report import write_report
from tests.agents.test_pipeline_remote import BRIEF, Model, _specs
from tests.qa.test_vision import _blurred, _expected
from tests.servers.openai_chat import OpenAIChatServer, Reply, Request, echoed
from tests.servers.zai_server import ZaiServer

LLM_KEY = "sk-llm/SECRET+77=aa&b"  # URL-encoding and base64 both change it
ZAI_KEY = "zai-key.SECRET-0042"
runner = CliRunner()


def _leaks(text: str) -> list[str]:
    return [f for k in (LLM_KEY, ZAI_KEY) for f in forms(k) if f in text]


def test_a_key_echoed_in_an_error_body_never_reaches_the_error_message() -> None:
    with OpenAIChatServer(api_key=LLM_KEY) as server:
        server.script(lambda r: Reply.error(400, f"bad request from {echoed(r)}"),
                      *[lambda r: Reply.error(500, f"upstream failed for {echoed(r)}")] * 3,
                      lambda r: Reply(200, {"error": f"no choices for {echoed(r)}"}))
        with ChatClient(server.base_url, "m", api_key=LLM_KEY, max_retries=2,
                        backoff_s=0.001) as client:
            messages = []
            for _ in range(3):
                with pytest.raises(PlannerError) as exc:
                    client.chat([{"role": "user", "content": "hi"}])
                messages.append(str(exc.value))
    assert "HTTP 400" in messages[0] and "HTTP 500" in messages[1]
    assert "choices[0].message.content" in messages[2]
    for m in messages:
        assert "***" in m and _leaks(m) == [], m


def test_a_key_in_the_reply_is_cut_from_what_chat_returns() -> None:
    other = SecretStr(ZAI_KEY)  # another configured key the model was never sent
    with OpenAIChatServer(api_key=LLM_KEY) as server:
        server.script(lambda r: f"Sure. {echoed(r)} and the image key {ZAI_KEY}")
        with ChatClient(server.base_url, "m", api_key=LLM_KEY, secrets=[other]) as client:
            reply = client.chat([{"role": "user", "content": "hi"}])
    assert reply.startswith("Sure. key ***") and _leaks(reply) == [], reply


def _planner_reply(brief_path: Path):
    specs = {s.asset_id: s for s in RulesPlanner().plan(load_brief(brief_path))}

    def reply(request: Request) -> Reply | str:
        if "Plan the format" not in json.dumps(request.messages):
            # the prompt enhancer: refuses, echoing the key in its error body
            return Reply.error(400, f"content policy: {echoed(request)}")
        fmt = re.search(r'Plan the format \\?"([^"\\]+)', json.dumps(request.messages)).group(1)
        data = specs[fmt].model_dump(mode="json")
        for r in data["regions"]:
            r["typography"]["size"] = None
            r["render"] = "model" if r.get("render") != "overlay" else "overlay"
        data["style"] = f"clean, modern retail; {echoed(request)}"
        data["background"] = f"soft gradient {echoed(request)}"
        return json.dumps(data)
    return reply


@pytest.mark.slow
def test_a_planner_llm_that_echoes_the_key_leaks_it_nowhere(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    brief = tmp_path / "brief.yaml"
    brief.write_text(BRIEF)
    runs = tmp_path / "runs"
    with OpenAIChatServer(api_key=LLM_KEY) as llm, ZaiServer() as zai:
        llm.default = _planner_reply(brief)
        zai.painter = Model(_specs(brief, Settings(_env_file=None)), wrong=0)
        for k, v in {"SIGNWRITER_BACKEND": "zai", "SIGNWRITER_ZAI_API_KEY": ZAI_KEY,
                     "SIGNWRITER_ZAI_BASE_URL": zai.base_url, "SIGNWRITER_PLANNER": "llm",
                     "SIGNWRITER_LLM_BASE_URL": llm.base_url, "SIGNWRITER_LLM_API_KEY": LLM_KEY,
                     "SIGNWRITER_LLM_MODEL": "test-model", "SIGNWRITER_PROMPT_ENHANCE": "true",
                     "SIGNWRITER_POLL_INTERVAL_S": "0.02", "SIGNWRITER_RETRY_BACKOFF_S": "0.01",
                     "COLUMNS": "200"}.items():
            monkeypatch.setenv(k, v)
        r = runner.invoke(app, ["--debug", "run", str(brief), "--out", str(runs),
                                "--seed", "1"])
        planned = [q for q in llm.chat_requests if "Plan the format" in json.dumps(q.messages)]
        enhanced = [q for q in llm.chat_requests if q not in planned]
    assert planned and enhanced, "both the planner and the enhancer asked the LLM"
    assert r.exit_code == 0, r.output
    assert _leaks(r.output) == [], r.output
    files = [p for p in runs.rglob("*") if p.is_file()]
    spec = json.loads(next(p for p in files if p.parent.name == "specs").read_text())
    assert "***" in spec["style"]  # the LLM's words were kept, the key cut out of them
    record = json.loads(next(p for p in files if p.name == "prompt-enhancer.json").read_text())
    assert "HTTP 400" in record["error"] and "***" in record["error"]
    for p in files:
        assert _leaks(p.read_bytes().decode("latin-1")) == [], p
    # what the image model was sent carries no key either
    for q in zai.requests:
        assert _leaks(q.body.decode("utf-8", "replace")) == [], q.path


@pytest.fixture(scope="module")
def illegible(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = _blurred(tmp_path_factory.mktemp("vision") / "blurred.png", "Harbour Walk")
    (f,) = check_image(path, _expected()).regions
    assert f.kind == "illegible"  # so the vision reader is asked
    return path


@pytest.mark.parametrize("answer", ["error", "reply"])
def test_a_vision_reader_that_echoes_the_key_leaks_it_into_no_report(
        tmp_path: Path, illegible: Path, answer: str) -> None:
    with OpenAIChatServer(api_key=LLM_KEY, model="vision-test") as server:
        if answer == "error":
            server.script(*[lambda r: Reply.error(500, f"model crashed for {echoed(r)}")] * 2)
        else:
            server.script(lambda r: f"Harbour Walk {echoed(r)}")
        settings = Settings(vision_base_url=server.base_url, vision_model="vision-test",
                            vision_api_key=LLM_KEY, _env_file=None)
        with vision_reader(settings) as reader:  # as the pipeline builds it
            if answer == "error":
                with pytest.raises(VisionUnavailable) as exc:
                    reader.transcribe(np.zeros((40, 200, 3), np.uint8))
                assert "HTTP 500" in str(exc.value) and _leaks(str(exc.value)) == []
                server.script(*[lambda r: Reply.error(500, f"model crashed for {echoed(r)}")] * 2)
            report = check_image(illegible, _expected(), vision=reader)
    write_report(report, tmp_path / "qa.json")
    (f,) = report.regions
    assert f.kind == "illegible" and not report.passed  # the answer confirms nothing
    said = ("vision reader unavailable" if answer == "error" else "vision read")
    assert said in f.note and "***" in f.note, f.note
    assert _leaks((tmp_path / "qa.json").read_text()) == []
