"""The LLM planner against a real local OpenAI-compatible server: valid plans, re-asks with
the validation errors, copy that must stay verbatim, and HTTP failures with clear errors."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from agents.brief import Brief, load_brief, parse_brief
from agents.errors import CopyNotVerbatim, PlannerError
from agents.llm_client import ChatClient
from agents.planner import LLMPlanner, make_planner
from agents.planner.rules import RulesPlanner
from agents.settings import Settings
from generation.fonts import MIN_LEGIBLE_PX
from tests.servers.openai_chat import TEST_KEY as CHAT_KEY
from tests.servers.openai_chat import OpenAIChatServer, Reply, Request, slow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "briefs"
ONE_FORMAT = {"name": "sale", "brand": {"name": "Sunny", "colors": ["#ff6b35", "#004e89"]},
              "copy": {"headline": "Summer Sale", "price": "$49.99", "cta": "Shop Now",
                       "legal": "*Terms apply"},
              "formats": ["social-square"], "render_policy": {"legal": "overlay"}}


def _spec_dict(brief: Brief, fmt: str) -> dict[str, Any]:
    """A plausible LLM answer: a valid spec for ``fmt`` without fitted sizes."""
    spec = next(s for s in RulesPlanner().plan(brief) if s.asset_id == fmt)
    data = spec.model_dump(mode="json")
    for r in data["regions"]:
        r["typography"]["size"] = None
        r["render"] = "model"
    return data


def _answer(brief: Brief, edit: Callable[[dict[str, Any]], None] | None = None
            ) -> Callable[[Request], str]:
    """A scripted reply: the spec for whichever format the request asks about."""
    def reply(request: Request) -> str:
        fmt = re.search(r'Plan the format "([^"]+)"', request.messages[1]["content"]).group(1)
        data = _spec_dict(brief, fmt)
        if edit:
            edit(data)
        return json.dumps(data, ensure_ascii=False)
    return reply


def _region(data: dict[str, Any], rid: str) -> dict[str, Any]:
    return next(r for r in data["regions"] if r["id"] == rid)


@pytest.fixture
def sale() -> Brief:
    return parse_brief(ONE_FORMAT)


def test_valid_json_first_time(chat_server: OpenAIChatServer, llm_settings: Settings):
    brief = load_brief(EXAMPLES / "summer-sale.yaml")
    chat_server.script(*[_answer(brief)] * 3)
    specs = make_planner(llm_settings).plan(brief)
    assert [s.asset_id for s in specs] == ["poster-portrait", "social-square", "banner-wide"]
    reqs = chat_server.chat_requests
    assert len(reqs) == 3
    first = reqs[0]
    assert first.path == "/v1/chat/completions"
    assert first.headers["authorization"] == f"Bearer {CHAT_KEY}"
    assert first.body["model"] == "test-model"
    assert first.body["response_format"] == {"type": "json_object"}
    system, user = first.messages[0]["content"], first.messages[1]["content"]
    assert first.messages[0]["role"] == "system" and '"regions"' in system  # the JSON schema
    assert "verbatim" in system.lower()
    assert '"Summer Sale"' in user and '"From $49.99"' in user and "1024x1536" in user
    for spec in specs:
        assert sorted(spec.copy_texts().values()) == sorted(
            i.text for i in brief.copy_items().values())
        # fitted with real font metrics, and the brief's render policy applied
        assert all(r.typography.size * spec.height >= MIN_LEGIBLE_PX for r in spec.text_regions)
        assert next(r for r in spec.regions if r.id == "legal").render == "overlay"


def test_invalid_json_is_reasked_with_the_error(chat_server, llm_settings, sale):
    chat_server.script("Sure! Here is your layout: {regions: [", _answer(sale))
    spec = LLMPlanner(llm_settings).plan(sale)[0]
    assert spec.copy_texts()["headline"] == "Summer Sale"
    second = chat_server.chat_requests[1].messages
    assert second[-2] == {"role": "assistant", "content": "Sure! Here is your layout: {regions: ["}
    assert "not valid JSON" in second[-1]["content"]


def test_schema_invalid_is_reasked_with_the_validation_errors(chat_server, llm_settings, sale):
    def bad(data):
        _region(data, "headline")["box"]["w"] = 1.5
        _region(data, "price")["role"] = "banner"
    chat_server.script(_answer(sale, bad), _answer(sale))
    spec = LLMPlanner(llm_settings).plan(sale)[0]
    assert spec.width == 1024
    repair = chat_server.chat_requests[1].last_user_text
    assert "regions.0.box.w" in repair and "less than or equal to 1" in repair
    assert "regions.1.role" in repair


def test_paraphrased_copy_is_never_accepted(chat_server, llm_settings, sale):
    def paraphrase(data):
        _region(data, "headline")["text"] = "Summer sale!"
    chat_server.script(*[_answer(sale, paraphrase)] * 3)
    with pytest.raises(CopyNotVerbatim) as exc:
        LLMPlanner(llm_settings).plan(sale)
    assert len(chat_server.chat_requests) == 3  # 1 + llm_max_repairs, then it gives up
    assert "Summer sale!" in str(exc.value) and "Summer Sale" in str(exc.value)
    for req in chat_server.chat_requests[1:]:
        assert '"Summer sale!"' in req.last_user_text and '"Summer Sale"' in req.last_user_text
        assert "not verbatim" in req.last_user_text


def test_paraphrase_then_exact_copy_is_accepted(chat_server, llm_settings, sale):
    def translate(data):
        _region(data, "cta")["text"] = "Jetzt kaufen"
    chat_server.script(_answer(sale, translate), _answer(sale))
    spec = LLMPlanner(llm_settings).plan(sale)[0]
    assert spec.copy_texts()["cta"] == "Shop Now"
    assert "'cta'" in chat_server.chat_requests[1].last_user_text


def test_dropped_item_and_invented_text_are_named(chat_server, llm_settings, sale):
    def drop(data):
        data["regions"] = [r for r in data["regions"] if r["id"] != "legal"]
        data["regions"].append({"id": "slogan", "role": "body", "text": "Best deals ever",
                                "box": {"x": 0.0, "y": 0.0, "w": 0.05, "h": 0.05}})
    chat_server.script(_answer(sale, drop), _answer(sale))
    LLMPlanner(llm_settings).plan(sale)
    repair = chat_server.chat_requests[1].last_user_text
    assert "copy item 'legal' (\"*Terms apply\") is missing" in repair
    assert "'slogan'" in repair and "not in the brief" in repair


def test_size_and_format_come_from_the_brief(chat_server, llm_settings, sale):
    def resize(data):
        data.update(width=640, height=480, asset_id="whatever", format="custom")
    chat_server.script(_answer(sale, resize))
    spec = LLMPlanner(llm_settings).plan(sale)[0]
    assert (spec.asset_id, spec.format, spec.width, spec.height) == (
        "social-square", "social-square", 1024, 1024)


def test_overlapping_and_unfittable_boxes_are_reasked(chat_server, llm_settings, sale):
    def overlap(data):
        _region(data, "price")["box"] = dict(_region(data, "headline")["box"])
    def tiny(data):
        _region(data, "legal")["box"] = {"x": 0.1, "y": 0.97, "w": 0.02, "h": 0.01}
    chat_server.script(_answer(sale, overlap), _answer(sale, tiny), _answer(sale))
    LLMPlanner(llm_settings).plan(sale)
    assert "'headline' and 'price' overlap" in chat_server.chat_requests[1].last_user_text
    assert "'legal' is too small" in chat_server.chat_requests[2].last_user_text


def test_brief_without_copy_uses_the_llm_copy_as_exact_text(chat_server, llm_settings):
    brief = parse_brief({"name": "bakery", "prompt": "a cosy poster for our new sourdough",
                         "formats": ["poster-portrait", "social-square"]})
    written = {"regions": [
        {"id": "headline", "role": "headline", "text": "Slow Bread, Fast Love",
         "box": {"x": 0.1, "y": 0.05, "w": 0.8, "h": 0.15}},
        {"id": "cta", "role": "cta", "text": "Taste it today",
         "box": {"x": 0.2, "y": 0.85, "w": 0.6, "h": 0.08}}]}
    other = copy.deepcopy(written)
    other["regions"][0]["text"] = "Slow bread, fast love"
    chat_server.script(json.dumps(written), json.dumps(other), json.dumps(written))
    specs = LLMPlanner(llm_settings).plan(brief)
    for spec in specs:
        assert spec.copy_texts() == {"headline": "Slow Bread, Fast Love", "cta": "Taste it today"}
    reqs = chat_server.chat_requests
    assert "write short, fitting marketing copy" in reqs[0].messages[1]["content"]
    # the second format must carry the copy written for the first, verbatim
    assert '"Slow Bread, Fast Love"' in reqs[1].messages[1]["content"]
    assert '"Slow bread, fast love"' in reqs[2].last_user_text


def test_server_error_is_retried_then_reported_without_the_key(chat_server, llm_settings, sale):
    chat_server.script(Reply.error(503, "overloaded"), _answer(sale))
    assert LLMPlanner(llm_settings).plan(sale)[0].asset_id == "social-square"
    chat_server.script(*[Reply.error(500, f"internal error for key {CHAT_KEY}")] * 3)
    with pytest.raises(PlannerError) as exc:
        LLMPlanner(llm_settings).plan(sale)
    msg = str(exc.value)
    assert "HTTP 500" in msg and "3 attempts" in msg and chat_server.base_url in msg
    assert CHAT_KEY not in msg and "***" in msg


def test_refused_key_names_the_setting_and_is_not_retried(chat_server, llm_settings, sale):
    wrong = llm_settings.model_copy(update={"llm_api_key": SecretStr("sk-wrong-key-123456")})
    with pytest.raises(PlannerError) as exc:
        LLMPlanner(wrong).plan(sale)
    msg = str(exc.value)
    assert "refused the API key" in msg and "SIGNWRITER_LLM_API_KEY" in msg
    assert "sk-wrong-key-123456" not in msg and CHAT_KEY not in msg
    assert len(chat_server.requests) == 1
    assert chat_server.requests[0].headers["authorization"] == "Bearer sk-wrong-key-123456"


def test_slow_server_times_out_with_a_clear_error(chat_server):
    chat_server.script(*[slow("{}", 3.0)] * 2)
    client = ChatClient(chat_server.base_url, "test-model", api_key=CHAT_KEY, timeout_s=0.3,
                        max_retries=1, backoff_s=0.01)
    with client, pytest.raises(PlannerError, match=r"timed out after 0.3s \(2 attempts\)"):
        client.chat([{"role": "user", "content": "hi"}])
    assert len(chat_server.chat_requests) == 2


def test_unreachable_endpoint_is_reported(sale):
    settings = Settings(_env_file=None, llm_base_url="http://127.0.0.1:9/v1", llm_timeout_s=1)
    client = ChatClient.from_settings(settings)
    client.backoff_s = 0.01
    with client, pytest.raises(PlannerError, match="could not be reached"):
        client.chat([{"role": "user", "content": "hi"}])


def test_reply_without_content_is_malformed(chat_server):
    chat_server.script(Reply(200, {"choices": []}))
    with ChatClient(chat_server.base_url, "m", api_key=CHAT_KEY) as client, \
            pytest.raises(PlannerError, match=r"without choices\[0\]\.message\.content"):
        client.chat([{"role": "user", "content": "hi"}])
