"""The run folder's ledger and JSON files, on a real folder."""

from __future__ import annotations

import json

from agents.store import RunStore, read_json, write_json


def _entry(aid: str, n: int, kind: str = "done", **kw):
    return {"kind": kind, "asset_id": aid, "attempt": n, "backend": "typeset", **kw}


def test_find_generation_sees_entries_another_writer_appended(tmp_path):
    reader = RunStore.create(tmp_path, "r1")
    writer = RunStore(reader.root)  # e.g. a second process on the same run
    assert reader.find_generation("a", 1) is None
    writer.record_generation(_entry("a", 1, kind="submitted", handle={"task": "t1"}))
    writer.record_generation(_entry("a", 1, image="images/x.png", cost_usd=0.015))
    writer.record_generation(_entry("b", 1, cost_usd=0.015))
    assert reader.find_generation("a", 1)["image"] == "images/x.png"
    assert reader.find_generation("a", 1, kind="submitted")["handle"] == {"task": "t1"}
    assert reader.find_generation("a", 2) is None
    writer.record_generation(_entry("a", 2, cost_usd=0.02))
    assert reader.find_generation("a", 2)["cost_usd"] == 0.02
    assert reader.spent_usd() == 0.05 and len(reader.ledger()) == 4


def test_a_line_torn_by_a_crash_neither_breaks_the_ledger_nor_swallows_the_next(tmp_path):
    store = RunStore.create(tmp_path, "r1")
    store.record_generation(_entry("a", 1, cost_usd=0.01))
    with open(store.root / "ledger.jsonl", "a", encoding="utf-8") as f:
        f.write('{"kind": "done", "asset_id": "b", "att')  # killed mid-write
    resumed = RunStore(store.root)
    assert [e["asset_id"] for e in resumed.ledger()] == ["a"]
    resumed.record_generation(_entry("b", 1, cost_usd=0.02))
    fresh = RunStore(store.root)
    assert fresh.find_generation("b", 1)["cost_usd"] == 0.02
    assert [e["asset_id"] for e in fresh.ledger()] == ["a", "b"]
    assert resumed.find_generation("b", 1) is not None


def test_write_json_is_indented_utf8_and_round_trips(tmp_path):
    obj = {"text": "夏季特惠 “Summer”", "n": 3, "path": tmp_path, "nested": {"k": [1, 2.5]}}
    write_json(tmp_path / "x.json", obj)
    raw = (tmp_path / "x.json").read_text(encoding="utf-8")
    assert "夏季特惠 “Summer”" in raw and raw.endswith("}\n") and '\n  "n": 3' in raw
    assert read_json(tmp_path / "x.json") == {**obj, "path": str(tmp_path)}
    assert json.loads(raw)["nested"] == {"k": [1, 2.5]}


def test_rel_works_for_relative_and_resolved_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = RunStore.create(tmp_path / "runs", "r1")
    rel_store = RunStore(store.root.relative_to(tmp_path))
    assert rel_store.rel(rel_store.root / "images" / "a.png") == "images/a.png"
    assert rel_store.rel(store.root / "images" / "a.png") == "images/a.png"
