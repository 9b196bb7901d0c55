"""The QA benchmark: a deterministic labelled set, the report, and scoring a user's folder."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from agents.benchmarks.dataset import load_dataset, make_dataset
from agents.benchmarks.qa import (
    ItemResult, ManifestError, format_result, read_manifest, run_qa_bench, score_folder,
    summarise, wilson,
)
from generation.fonts import find_font, load_font


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_gives_the_same_labels_and_images(tmp_path):
    a = make_dataset(4, 7, tmp_path / "a")
    b = make_dataset(4, 7, tmp_path / "b")
    assert [i.model_dump() for i in a] == [i.model_dump() for i in b]
    assert [_sha(tmp_path / "a" / i.file) for i in a] == [_sha(tmp_path / "b" / i.file) for i in b]
    assert [i.sha256 for i in a] == [_sha(tmp_path / "a" / i.file) for i in a]
    assert load_dataset(tmp_path / "a") == a

    # half the items carry exactly one labelled error, visibly different from the spec
    assert [i.correct for i in a] == [True, False, True, False]
    for item in a:
        if item.correct:
            assert item.error_kind is None and item.rendered is None
        else:
            assert item.error_kind
            if item.error_region is not None:
                spec = {t.id: t.text for t in item.texts}[item.error_region]
                assert item.rendered != spec
        assert all(0 <= v <= 1 for t in item.texts for v in t.box)
        with Image.open(tmp_path / "a" / item.file) as im:
            assert im.format == "JPEG" and im.size == (item.width, item.height)

    other = make_dataset(4, 8, tmp_path / "c")
    assert [i.sha256 for i in other] != [i.sha256 for i in a]


def test_the_degraded_lookalike_set_pairs_twins_in_unseen_faces(tmp_path):
    """``--set lookalike-hard``: deterministic; a pair's two posters share faces and
    degradations and differ only around the substituted region; the warped boxes still
    hold their text (its ink lies inside the box)."""
    import numpy as np

    from agents.benchmarks.lookalikes import HARD, make_lookalike_set

    a = make_lookalike_set(4, 3, tmp_path / "a", hard=True)
    b = make_lookalike_set(4, 3, tmp_path / "b", hard=True)
    assert [i.model_dump() for i in a] == [i.model_dump() for i in b]
    assert [_sha(tmp_path / "a" / i.file) for i in a] == [i.sha256 for i in a]
    for good, bad in (a[0:2], a[2:4]):
        assert good.correct and not bad.correct and bad.rendered
        assert good.degradations == bad.degradations
        assert abs(good.degradations["rotation_deg"]) <= HARD["rotation_deg"]
        assert good.texts == bad.texts
        with Image.open(tmp_path / "a" / good.file) as g, Image.open(tmp_path / "a" / bad.file) as w:
            assert g.format == "JPEG"
            diff = np.abs(np.asarray(g, np.int16) - np.asarray(w, np.int16)).max(axis=2) > 60
        ys, xs = np.nonzero(diff)
        x, y, bw, bh = next(t.box for t in bad.texts if t.id == bad.error_region)
        W, H = bad.width, bad.height
        assert len(ys) and x * W <= xs.min() and xs.max() <= (x + bw) * W
        assert y * H <= ys.min() and ys.max() <= (y + bh) * H
    plain = make_lookalike_set(2, 3, tmp_path / "c")
    assert plain[1].rendered == a[1].rendered and plain[1].degradations == {}



def test_the_fine_print_lookalike_set_puts_a_letter_for_a_digit_in_the_legal_line(tmp_path):
    """``--set lookalike-legal``: the degraded set's pairs, but always a letter for a ``0`` or
    ``1`` in the small line, drawn at legal size; twins share everything else."""
    import numpy as np

    from agents.benchmarks.lookalikes import LEGAL_PAIRS, SUBSTITUTIONS, make_lookalike_set

    assert len(LEGAL_PAIRS) == 8
    items = make_lookalike_set(8, 5, tmp_path, legal=True)
    assert [i.id for i in items[:2]] == ["LL5-0000", "LL5-0001"]
    legal = {SUBSTITUTIONS[k][1:] for k in LEGAL_PAIRS}
    for good, bad in zip(items[0::2], items[1::2]):
        assert good.correct and not bad.correct and bad.error_region == "small"
        small = next(t.text for t in bad.texts if t.id == "small")
        assert (small, bad.rendered) in legal
        assert good.degradations == bad.degradations and good.texts == bad.texts
        with Image.open(tmp_path / good.file) as g, Image.open(tmp_path / bad.file) as w:
            diff = np.abs(np.asarray(g, np.int16) - np.asarray(w, np.int16)).max(axis=2) > 60
        ys, _ = np.nonzero(diff)
        # a letter and a digit of 12-18 px type differ in a few rows of the small line
        assert len(ys) and ys.max() - ys.min() <= 24

def test_wilson_interval():
    r = wilson(5, 10)
    assert r.rate == 0.5 and r.low == pytest.approx(0.2366, abs=1e-3)
    assert r.high == pytest.approx(0.7634, abs=1e-3)
    none = wilson(0, 10)
    assert none.low == 0.0 and none.high == pytest.approx(0.2775, abs=1e-3)
    assert wilson(0, 0).total == 0


def test_an_image_sent_to_review_is_neither_accepted_nor_a_reject():
    def item(i: int, correct: bool, passed: bool, review: bool = False) -> ItemResult:
        return ItemResult(id=str(i), file=f"{i}.png", correct=correct, language="en",
                          passed=passed, review=review,
                          failing=["unexpected read='AFA'"] if review else [])

    result = summarise([item(1, True, True), item(2, True, False, True), item(3, True, False),
                        item(4, False, False, True), item(5, False, False)], source="t")
    assert (result.catch.hits, result.catch.total) == (2, 2)  # review is not acceptance
    assert (result.catch_outright.hits, result.review_wrong.hits) == (1, 1)
    assert (result.false_reject.hits, result.false_reject.total) == (1, 3)
    assert (result.review_right.hits, result.review_right.total) == (1, 3)
    assert result.false_reject_by_language["en"].hits == 1
    text = format_result(result)
    assert "right sent to review" in text and "sent to review:" in text


@pytest.mark.slow
def test_tiny_bench_reports_every_field(tmp_path):
    result = run_qa_bench(8, 0, tmp_path / "bench")
    assert result.n == 8 and result.errors == 0
    assert result.catch.total == 4 and result.false_reject.total == 4
    assert sum(r.total for r in result.catch_by_kind.values()) == 4
    assert sum(r.total for r in result.catch_by_language.values()) == 4
    assert result.median_s > 0 and result.p90_s >= result.median_s
    assert result.peak_rss_mb > 50
    assert (tmp_path / "bench" / "results.json").is_file()
    saved = json.loads((tmp_path / "bench" / "results.json").read_text())
    assert saved["catch"]["total"] == 4
    text = format_result(result)
    for needle in ("catch rate", "false-reject rate", "median", "p90", "peak memory",
                   "kind ", "language "):
        assert needle in text
    # a second run reuses the dataset on disk (same images, same labels)
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "bench/dataset/images").iterdir()}
    again = run_qa_bench(8, 0, tmp_path / "bench")
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "bench/dataset/images").iterdir()}
    assert before == after
    assert [i.passed for i in again.items] == [i.passed for i in result.items]


def _poster(path: Path, lines: list[str]) -> None:
    img = Image.new("RGB", (800, 500), (245, 240, 228))
    draw = ImageDraw.Draw(img)
    for k, text in enumerate(lines):
        script = "cjk" if any(ord(c) > 0x2E80 for c in text) else "latin"
        font = load_font(find_font(script, "bold"), 56)
        draw.text((60, 60 + k * 140), text, font=font, fill=(25, 25, 40))
    img.save(path)


@pytest.fixture
def user_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "mine"
    folder.mkdir()
    _poster(folder / "good.png", ["Summer Sale", "$19.99"])
    _poster(folder / "typo.png", ["Summer Sael", "$19.99"])
    _poster(folder / "zh.png", ["夏季大促", "¥99"])
    (folder / "labels.csv").write_text(
        "file,expected,correct,error_kind\n"
        "good.png,Summer Sale|$19.99,true,\n"
        "typo.png,Summer Sale|$19.99,false,swapped_chars\n"
        "zh.png,夏季大促|¥99,yes,\n", encoding="utf-8")
    return folder


def test_score_folder_scores_a_users_labelled_images(user_folder):
    result = score_folder(user_folder)
    assert result.n == 3 and result.errors == 0
    assert (result.catch.hits, result.catch.total) == (1, 1)
    assert result.catch_by_kind["swapped_chars"].hits == 1
    assert (result.false_reject.hits, result.false_reject.total) == (0, 2)
    assert set(result.false_reject_by_language) == {"en", "zh"}
    assert "catch rate" in format_result(result)


def test_jsonl_manifest_and_its_errors(tmp_path):
    folder = tmp_path / "j"
    folder.mkdir()
    _poster(folder / "a.png", ["SALE"])
    (folder / "labels.jsonl").write_text(
        json.dumps({"file": "a.png", "expected": ["SALE"], "correct": True}) + "\n")
    (row,) = read_manifest(folder)
    assert row == {"file": "a.png", "expected": ["SALE"], "correct": True, "error_kind": None,
                   "language": "en"}

    (folder / "labels.jsonl").write_text(
        json.dumps({"file": "a.png", "expected": ["SALE"], "correct": "maybe"}) + "\n")
    with pytest.raises(ManifestError, match="line 1: 'correct'"):
        read_manifest(folder)
    (folder / "labels.jsonl").write_text(
        json.dumps({"file": "gone.png", "expected": "SALE", "correct": 1}) + "\n")
    with pytest.raises(ManifestError, match="gone.png"):
        read_manifest(folder)
    with pytest.raises(ManifestError, match="no labels.csv"):
        read_manifest(tmp_path)
