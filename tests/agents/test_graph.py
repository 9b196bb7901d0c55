"""Graph routing: plan → generate → check → decide → (generate | review | end).

Each test compiles its own graph with an in-memory saver and drives it with the real
typeset renderer and real OCR; a scripted backend decides which attempt carries which
injected error, so every route is exercised deterministically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from agents.graph import build_graph
from agents.settings import Settings
from agents.spec import Box, Region, Typography, VisualSpec
from agents.state import Budget, Context
from agents.store import RunStore, write_json
from generation.base import Capabilities, EditRequest, Fault, GenerationRequest
from generation.typeset import TypesetBackend


class ScriptedBackend:
    """The typeset renderer, with a fault list chosen per attempt number."""

    name = "scripted"

    def __init__(self, script: dict[int, list[Fault]], *, can_edit: bool = True) -> None:
        self.script = script
        self.calls: list[tuple[str, int]] = []
        self.capabilities = Capabilities(edit=can_edit, follows_layout=True,
                                         limits=TypesetBackend.capabilities.limits)

    def _backend(self, attempt_id: str | None) -> tuple[TypesetBackend, int]:
        n = int((attempt_id or "x/x/1").rsplit("/", 1)[1])
        return TypesetBackend(faults=self.script.get(n, [])), n

    def generate(self, request: GenerationRequest, *, on_submit=None):
        backend, n = self._backend(request.attempt_id)
        self.calls.append(("generate", n))
        return backend.generate(request)

    def edit(self, request: EditRequest, *, on_submit=None):
        backend, n = self._backend(request.attempt_id)
        self.calls.append(("edit", n))
        return backend.edit(request)


def _spec() -> VisualSpec:
    return VisualSpec(
        asset_id="card", format="card-small", width=768, height=768, background="soft gradient",
        palette=["#1d3557", "#457b9d", "#f1faee"],
        regions=[
            Region(id="headline", role="headline", box=Box(x=0.08, y=0.08, w=0.84, h=0.2),
                   text="Summer Sale", typography=Typography(weight="bold", color="#1d3557")),
            Region(id="price", role="price", box=Box(x=0.08, y=0.45, w=0.84, h=0.16),
                   text="$49.99", typography=Typography(weight="bold", color="#1d3557")),
            Region(id="cta", role="cta", box=Box(x=0.25, y=0.75, w=0.5, h=0.1),
                   text="Shop now", typography=Typography(weight="bold", color="#f1faee")),
        ])


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    s = RunStore.create(tmp_path, "run1")
    write_json(s.root / "run.json", {"run_id": "run1", "backend": "scripted"})
    write_json(s.spec_path("card"), _spec().model_dump(mode="json"))
    return s


def _run(store: RunStore, backend: ScriptedBackend, max_attempts: int = 3):
    graph = build_graph().compile(checkpointer=InMemorySaver())
    ctx = Context(settings=Settings(max_attempts=max_attempts, _env_file=None), store=store,
                  backend=backend, budget=Budget(None))
    config = {"configurable": {"thread_id": "run1/card"}}
    result = graph.invoke({"run_id": "run1", "asset_id": "card", "attempts": []}, config,
                          context=ctx)
    return graph, ctx, config, result


def _no_bytes(value: Any) -> bool:
    if isinstance(value, (bytes, bytearray)):
        return False
    if isinstance(value, dict):
        return all(_no_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_no_bytes(v) for v in value)
    return True


def test_clean_image_is_accepted_first_time(store: RunStore) -> None:
    backend = ScriptedBackend({})
    graph, _, config, result = _run(store, backend)
    assert result["status"] == "accepted"
    assert backend.calls == [("generate", 1)]
    assert (store.root / result["final_image"]).is_file()
    a = store.attempts("card")[0]
    assert a["qa"]["passed"] and a["decision"]["action"] == "accept"
    assert (store.root / a["qa"]["overlay"]).is_file() and (store.root / a["qa"]["report"]).is_file()
    # state carries paths and hashes, never image bytes
    assert _no_bytes(graph.get_state(config).values)
    assert len(a["sha256"]) == 64


def test_misspelling_is_repaired_when_the_backend_can_edit(store: RunStore) -> None:
    backend = ScriptedBackend({1: [Fault(kind="wrong_letter", region_id="headline")]})
    _, _, _, result = _run(store, backend)
    assert result["status"] == "accepted"
    assert backend.calls == [("generate", 1), ("edit", 2)]
    first, second = store.attempts("card")
    assert first["qa"]["passed"] is False and first["decision"]["action"] == "repair"
    assert "headline" in first["decision"]["why"]
    assert second["action"] == "repair" and second["repaired"] == ["headline"]


def test_misspelling_regenerates_with_reinforced_prompt_without_edit(store: RunStore) -> None:
    backend = ScriptedBackend({1: [Fault(kind="wrong_digit", region_id="price")]},
                              can_edit=False)
    _, _, _, result = _run(store, backend)
    assert result["status"] == "accepted"
    assert backend.calls == [("generate", 1), ("generate", 2)]
    first, second = store.attempts("card")
    assert first["seed"] != second["seed"]
    prompt2 = (store.root / second["prompt"]).read_text()
    assert "came out wrong last time" in prompt2 and "$-4-9-.-9-9" in prompt2
    assert "came out wrong" not in (store.root / first["prompt"]).read_text()


def test_persistent_failure_goes_to_review_with_best_attempt_then_resumes(store: RunStore) -> None:
    missing = [Fault(kind="missing_region", region_id="cta")]
    backend = ScriptedBackend({1: [Fault(kind="wrong_letter", region_id="headline")],
                               2: missing, 3: missing}, can_edit=False)
    graph, ctx, config, result = _run(store, backend, max_attempts=3)
    snap = graph.get_state(config)
    assert snap.interrupts, "the graph pauses for a person"
    assert store.asset_status("card")["status"] == "needs_review"
    payload = snap.interrupts[0].value
    scores = {a["n"]: a["qa"]["score"] for a in store.attempts("card")}
    assert payload["best_attempt"] == max(scores, key=lambda n: (scores[n], -n))
    best = payload["best_attempt"]
    best_qa = store.attempts("card")[best - 1]["qa"]
    # the reason is about the attempt the reviewer is asked to approve, not the last one
    assert payload["reason"].startswith(f"attempt {best} of 3 is the best")
    wrong = [r for r in best_qa["regions"] if r["kind"] != "ok"]
    assert wrong and f"'{wrong[0]['region_id']}'" in payload["reason"]
    assert payload["allowed"] == ["approve", "reject", "edit", "regenerate"]  # cannot edit
    assert [a["n"] for a in payload["attempts"]] == [1, 2, 3]
    result = graph.invoke(Command(resume={"decision": "approve", "reviewer": "ana",
                                          "attempt": best}), config, context=ctx)
    # a known typo is never plain "accepted"
    assert result["status"] == "approved_with_findings"
    status = store.asset_status("card")
    assert status["review"]["reviewer"] == "ana"
    assert status["accepted_attempt"] == best
    assert status["findings"][0]["region_id"] == wrong[0]["region_id"]
    assert store.write_manifest()["assets"][0]["status"] == "approved_with_findings"
    assert len(backend.calls) == 3  # approving generated nothing more


def test_reject_after_review(store: RunStore) -> None:
    backend = ScriptedBackend({1: [Fault(kind="missing_region", region_id="price")]},
                              can_edit=False)
    graph, ctx, config, _ = _run(store, backend, max_attempts=1)
    result = graph.invoke(Command(resume={"decision": "reject", "note": "off brand"}), config,
                          context=ctx)
    assert result["status"] == "rejected"
    assert store.asset_status("card")["review"]["note"] == "off brand"
    manifest = store.write_manifest()
    assert manifest["assets"][0]["status"] == "rejected"
    assert json.loads((store.root / "manifest.json").read_text())["status"] == "failed"


def _events(ctx: Context) -> list:
    seen: list = []
    ctx.on_event = seen.append
    return seen


def test_review_side_effects_happen_once_and_a_bad_answer_is_asked_again(store: RunStore) -> None:
    backend = ScriptedBackend({1: [Fault(kind="missing_region", region_id="price")]},
                              can_edit=False)
    graph = build_graph().compile(checkpointer=InMemorySaver())
    ctx = Context(settings=Settings(max_attempts=1, _env_file=None), store=store,
                  backend=backend, budget=Budget(None))
    seen = _events(ctx)
    config = {"configurable": {"thread_id": "run1/card"}}
    graph.invoke({"run_id": "run1", "asset_id": "card", "attempts": []}, config, context=ctx)
    first = graph.get_state(config).interrupts[0]
    updated = store.asset_status("card")["updated"]
    # an answer that slipped past the library's validation: asked again, not locked
    graph.invoke(Command(resume={"decision": "approve", "attempt": 9}), config, context=ctx)
    again = graph.get_state(config).interrupts
    assert again and again[0].id != first.id
    assert "has no attempt 9" in again[0].value["problem"]
    assert store.asset_status("card")["updated"] == updated  # nothing re-recorded
    result = graph.invoke(Command(resume={"decision": "reject", "note": "wrong price"}), config,
                          context=ctx)
    assert result["status"] == "rejected"
    done = [e for e in seen if e.kind == "done"]
    assert [e.detail["status"] for e in done] == ["needs_review", "rejected"]


def test_edit_changes_the_text_and_regenerates_until_it_passes(store: RunStore) -> None:
    backend = ScriptedBackend({1: [Fault(kind="wrong_letter", region_id="headline")]},
                              can_edit=False)
    graph, ctx, config, _ = _run(store, backend, max_attempts=1)
    assert graph.get_state(config).interrupts
    result = graph.invoke(Command(resume={"decision": "edit", "region": "headline",
                                          "text": "Winter Sale", "reviewer": "ana"}),
                          config, context=ctx)
    assert result["status"] == "accepted"
    assert backend.calls == [("generate", 1), ("generate", 2)]
    spec = json.loads(store.spec_path("card").read_text())
    assert next(r for r in spec["regions"] if r["id"] == "headline")["text"] == "Winter Sale"
    second = store.attempts("card")[1]
    assert any(r["expected"] == "Winter Sale" and r["kind"] == "ok"
               for r in second["qa"]["regions"])
    assert (store.asset_dir("card") / "spec-before-round-1.json").is_file()


def test_regenerate_adds_the_reviewers_note_to_the_prompt(store: RunStore) -> None:
    backend = ScriptedBackend({1: [Fault(kind="missing_region", region_id="cta")]},
                              can_edit=False)
    graph, ctx, config, _ = _run(store, backend, max_attempts=1)
    result = graph.invoke(Command(resume={"decision": "regenerate",
                                          "note": 'warmer "sunset" colours'}), config,
                          context=ctx)
    assert result["status"] == "accepted"
    prompt = (store.root / store.attempts("card")[1]["prompt"]).read_text()
    assert "A reviewer asked for this change: warmer sunset colours" in prompt


def test_repair_of_one_region_edits_the_chosen_attempt(store: RunStore) -> None:
    backend = ScriptedBackend({1: [Fault(kind="wrong_letter", region_id="headline")],
                               2: [Fault(kind="wrong_letter", region_id="headline")]})
    graph, ctx, config, _ = _run(store, backend, max_attempts=2)
    payload = graph.get_state(config).interrupts[0].value
    assert "repair" in payload["allowed"]
    result = graph.invoke(Command(resume={"decision": "repair", "region": "headline",
                                          "attempt": 1}), config, context=ctx)
    assert result["status"] == "accepted"
    third = store.attempts("card")[2]
    assert third["action"] == "repair" and third["repaired"] == ["headline"]


@pytest.mark.parametrize("policy,clean", [("always", True), ("never", False)])
def test_review_policy_always_and_never(store: RunStore, policy: str, clean: bool) -> None:
    faults = {} if clean else {1: [Fault(kind="missing_region", region_id="cta")]}
    graph = build_graph().compile(checkpointer=InMemorySaver())
    ctx = Context(settings=Settings(max_attempts=1, review_policy=policy, _env_file=None),
                  store=store, backend=ScriptedBackend(faults, can_edit=False),
                  budget=Budget(None))
    config = {"configurable": {"thread_id": "run1/card"}}
    result = graph.invoke({"run_id": "run1", "asset_id": "card", "attempts": []}, config,
                          context=ctx)
    if policy == "always":  # QA passed, and still a person sees it first
        payload = graph.get_state(config).interrupts[0].value
        assert payload["attempts"][0]["passed"] and "policy is 'always'" in payload["reason"]
        result = graph.invoke(Command(resume={"decision": "approve"}), config, context=ctx)
        assert result["status"] == "accepted"
    else:  # QA's word is final: no interrupt, the asset fails
        assert not graph.get_state(config).interrupts
        assert result["status"] == "failed" and "review policy 'never'" in result["error"]
