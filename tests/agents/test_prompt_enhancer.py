"""The optional prompt enhancer: the planner LLM rewrites the GLM-Image prompt in the
model's own style, and a rewrite that changes, drops, repeats or invents a quoted text (or
falls back into lists, hex codes or percentages) is sent back, then refused. Against a real
OpenAI-compatible chat server on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from agents.brief import load_brief
from agents.llm_client import ChatClient
from agents.planner.rules import RulesPlanner
from agents.prompt_enhancer import enhance, prompt_problems
from agents.prompting import compile_prompt, glyph_texts
from agents.api import start_run
from agents.settings import Settings
from agents.store import RunStore
from tests.servers.openai_chat import TEST_KEY, OpenAIChatServer, Reply, Request
from tests.servers.openai_images_server import OpenAIImagesServer
from tests.agents.test_pipeline_remote import BRIEF, Model, _specs

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "briefs"


@pytest.fixture(scope="module")
def compiled() -> str:
    return compile_prompt(RulesPlanner().plan(load_brief(EXAMPLES / "summer-sale.yaml"))[0])


def _rewrite(req: Request) -> str:
    """A well-behaved enhancer: richer prose around the same quoted texts."""
    draft = req.messages[1]["content"]
    return ("Bathed in warm late-afternoon light, with soft shadows and a gentle paper "
            "texture, this design reads as follows. " + draft)


def test_a_faithful_rewrite_is_used(compiled):
    with OpenAIChatServer() as server, ChatClient(server.base_url, "m", api_key=TEST_KEY) as c:
        server.script(_rewrite)
        result = enhance(compiled, c)
    assert result.enhanced and result.prompt.startswith("Bathed in warm")
    assert glyph_texts(result.prompt) == glyph_texts(compiled)
    system = server.requests[0].messages[0]["content"]
    assert "quotation marks" in system and "bullet points" in system


def test_a_changed_text_is_sent_back_with_the_problem_named(compiled):
    bad = compiled.replace('"Summer Sale"', '"SUMMER SALE"')
    with OpenAIChatServer() as server, ChatClient(server.base_url, "m", api_key=TEST_KEY) as c:
        server.script(bad, _rewrite)
        result = enhance(compiled, c)
    assert result.enhanced and '"Summer Sale"' in result.prompt
    repair = server.requests[1].messages[-1]["content"]
    assert '"Summer Sale" must appear exactly as written' in repair
    assert '"SUMMER SALE" is in quotation marks but is not one of the texts' in repair


def test_a_rewrite_that_never_keeps_the_rules_is_refused(compiled):
    listy = "Poster:\n- headline \"Summer Sale\"\n- colour #004e89, 12% of the height"
    with OpenAIChatServer() as server, ChatClient(server.base_url, "m", api_key=TEST_KEY) as c:
        server.script(listy, listy, listy)
        result = enhance(compiled, c, max_repairs=2)
    assert not result.enhanced and result.prompt == compiled
    assert len(server.requests) == 3
    joined = " ".join(result.problems)
    assert "list markers" in joined and "hex colour codes" in joined
    assert "percentages" in joined and '"Shop Now" must appear' in joined


@pytest.mark.parametrize(("candidate", "problem"), [
    ('"Summer Sale" and "Summer Sale"', "quoted 2 times"),
    ("The brand's poster with 'Summer Sale'", "straight apostrophes"),
    ("# Poster\nSome prose", "list markers or headings"),
    ("", "empty"),
])
def test_problems_are_named(candidate, problem):
    assert any(problem in p for p in prompt_problems('A poster with "Summer Sale".', candidate))


def test_an_unreachable_enhancer_leaves_the_prompt_as_compiled(compiled):
    with OpenAIChatServer() as server:
        url = server.base_url
    with ChatClient(url, "m", api_key=TEST_KEY, max_retries=0, timeout_s=2) as client:
        result = enhance(compiled, client)
    assert not result.enhanced and result.prompt == compiled and "could not be reached" in (
        result.error or "")


def test_enhancing_needs_the_planner_llm():
    with pytest.raises(ValidationError, match="SIGNWRITER_LLM_BASE_URL"):
        Settings(_env_file=None, prompt_enhance=True)


def test_the_pipeline_sends_the_enhanced_prompt_and_keeps_the_compiled_one(tmp_path,
                                                                          monkeypatch):
    brief = tmp_path / "brief.yaml"
    brief.write_text(BRIEF)
    with OpenAIChatServer(default=_rewrite) as chat, OpenAIImagesServer() as images:
        monkeypatch.setenv("SIGNWRITER_OPENAI_IMAGES_URLS", json.dumps([images.url]))
        settings = Settings(_env_file=None, runs_dir=tmp_path / "runs", backend="openai-images",
                            planner="rules", max_attempts=3,
                            llm_base_url=chat.base_url, llm_api_key=TEST_KEY,
                            prompt_enhance=True, retry_backoff_s=0.01)
        images.painter = Model(_specs(brief, settings))
        result = start_run(brief, settings, seed=3)
        sent = [c.json["prompt"] for c in images.calls("generations")]
    asset = result.manifest["assets"][0]
    assert asset["status"] == "accepted"
    assert sent and sent[0].startswith("Bathed in warm")
    adir = RunStore(result.run_dir).attempt_dir("social-square", 1)
    compiled = (adir / "prompt-compiled.txt").read_text().strip()
    assert glyph_texts(compiled) == glyph_texts(sent[0])
    assert json.loads((adir / "prompt-enhancer.json").read_text())["enhanced"] is True
