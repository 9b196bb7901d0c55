"""Fault injection: every kind is a real, visible error, drawn and recorded."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
from PIL import Image

from generation.base import Fault, GenerationRequest, Layout, TextBlock
from generation.errors import InvalidRequest
from generation.faults import (
    CJK_LOOKALIKES, FAULT_KINDS, applicable_kinds, garble, inject, normalise,
)
from generation.fonts import is_cjk
from generation.typeset import TypesetBackend

SAMPLES = ["Summer Sale", "$19.99", "夏季大促 全场5折", "Shop now", "AA", "x", "Go go",
           "Offer ends 31 August.", "50% OFF", "全场包邮", "Ééé", "1 2", "ab"]


def test_no_kind_is_ever_a_no_op() -> None:
    for kind in FAULT_KINDS:
        for text in SAMPLES:
            for seed in range(40):
                out = garble(kind, text, random.Random(seed))
                if out is not None:
                    assert normalise(out) != normalise(text), (kind, text, out)


def test_kinds_apply_only_where_they_make_sense() -> None:
    assert "wrong_digit" not in applicable_kinds("Summer Sale")
    assert "wrong_digit" in applicable_kinds("$19.99")
    assert "wrong_cjk" not in applicable_kinds("Summer Sale")
    assert "wrong_cjk" in applicable_kinds("夏季大促")
    assert "wrong_letter" not in applicable_kinds("夏季大促")
    assert "dropped_word" not in applicable_kinds("Sale")
    assert "dropped_word" in applicable_kinds("Summer Sale")
    assert "swapped_chars" not in applicable_kinds("AA")  # swapping equal chars changes nothing
    assert "missing_letter" not in applicable_kinds("x")
    assert garble("swapped_chars", "Aa", random.Random(0)) is None  # only case would change


def test_each_kind_does_what_it_says() -> None:
    rng = random.Random(3)
    dropped = garble("dropped_word", "Big Summer Sale", rng)
    assert dropped in {"Summer Sale", "Big Sale", "Big Summer"}
    doubled = garble("doubled_letter", "Sale", rng)
    assert len(doubled) == 5 and sorted(set(doubled)) == sorted(set("Sale"))
    missing = garble("missing_letter", "Sale", rng)
    assert len(missing) == 3 and all(c in "Sale" for c in missing)
    digit = garble("wrong_digit", "$19.99", rng)
    assert digit != "$19.99" and [c for c in digit if not c.isdigit()] == ["$", "."]
    cjk = garble("wrong_cjk", "夏季", rng)
    assert cjk in {CJK_LOOKALIKES["夏"] + "季", "夏" + CJK_LOOKALIKES["季"]}
    assert garble("missing_region", "Sale", rng) == ""


# zhconv leaves its dictionary file open when it loads it (a ResourceWarning, not ours)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_cjk_look_alikes_are_distinct_simplified_characters() -> None:
    assert {"夏": "复", "季": "李", "大": "太", "全": "金", "折": "拆", "元": "无"}.items() \
        <= CJK_LOOKALIKES.items()
    import zhconv
    for a, b in CJK_LOOKALIKES.items():
        assert a != b and is_cjk(a) and is_cjk(b)
        # a Traditional/Simplified pair would vanish in QA's normalisation
        assert zhconv.convert(b, "zh-cn") != zhconv.convert(a, "zh-cn")


def layout() -> Layout:
    return Layout(texts=[
        TextBlock(id="h", text="Summer Sale", box=(0.1, 0.05, 0.8, 0.12)),
        TextBlock(id="p", text="$19.99", box=(0.1, 0.3, 0.4, 0.1)),
        TextBlock(id="z", text="夏季大促", box=(0.1, 0.5, 0.5, 0.1), language="zh"),
    ], image_boxes=[(0.55, 0.3, 0.4, 0.3)])


def test_inject_is_deterministic_and_records_what_it_changed() -> None:
    a = inject(layout(), random.Random(9), random_faults=3)
    b = inject(layout(), random.Random(9), random_faults=3)
    assert a == b and len(a[1]) == 3
    new, records = a
    texts = {t.id: t.text for t in new.texts}
    for rec in records:
        if rec.kind == "extra_text":
            assert rec.region_id is None and texts[next(k for k in texts if k.startswith("extra"))]
        elif rec.kind == "missing_region":
            assert rec.region_id not in texts
        else:
            assert normalise(rec.rendered) != normalise(rec.expected)


def test_explicit_faults_follow_their_region_and_reject_impossible_ones() -> None:
    new, recs = inject(layout(), random.Random(0), faults=[Fault(kind="wrong_digit")])
    assert recs[0].region_id == "p" and new.texts[1].text != "$19.99"
    new, recs = inject(layout(), random.Random(0),
                       faults=[Fault(kind="wrong_letter", region_id="h", detail="Sunmer Sale")])
    assert new.texts[0].text == "Sunmer Sale" and recs[0].expected == "Summer Sale"
    with pytest.raises(InvalidRequest, match="wrong_cjk"):
        inject(layout(), random.Random(0), faults=[Fault(kind="wrong_cjk", region_id="h")])
    with pytest.raises(InvalidRequest, match="nope"):
        inject(layout(), random.Random(0), faults=[Fault(kind="wrong_letter", region_id="nope")])
    with pytest.raises(InvalidRequest, match="visibly"):
        inject(layout(), random.Random(0),
               faults=[Fault(kind="wrong_letter", region_id="h", detail="SUMMER  sale")])
    # an edit of one region never changes another
    for seed in range(20):
        _, recs = inject(layout(), random.Random(seed), random_faults=1, region_ids={"p"})
        assert all(r.region_id in ("p", None) for r in recs)


def test_extra_text_goes_where_nothing_else_is() -> None:
    lay = layout()
    for seed in range(10):
        new, recs = inject(lay, random.Random(seed), faults=[Fault(kind="extra_text")])
        x, y, w, h = recs[0].box
        for other in [t.box for t in lay.texts] + lay.image_boxes:
            ox, oy, ow, oh = other
            assert x + w <= ox or ox + ow <= x or y + h <= oy or oy + oh <= y
        assert normalise(recs[0].rendered) not in normalise(" ".join(t.text for t in lay.texts))


def test_every_kind_is_really_drawn_and_read_back_by_ocr() -> None:
    """One poster, one fault of each kind on its own region, one OCR pass."""
    from rapidocr import RapidOCR
    texts = {
        "wrong_letter": "Summer Sale", "missing_letter": "Weekend Offer",
        "doubled_letter": "Free Delivery", "dropped_word": "Shop the new range",
        "swapped_chars": "Limited Edition", "wrong_digit": "$19.99",
        "wrong_cjk": "夏季大促", "missing_region": "Members only",
    }
    blocks = [TextBlock(id=kind, text=text, box=(0.08, 0.03 + 0.1 * i, 0.84, 0.07),
                        weight="bold", language="zh" if kind == "wrong_cjk" else "en")
              for i, (kind, text) in enumerate(texts.items())]
    lay = Layout(texts=blocks)
    faults = [Fault(kind=k, region_id=k) for k in texts] + [Fault(kind="extra_text")]
    w, h = 768, 1152
    result = TypesetBackend(faults=faults).generate(
        GenerationRequest(prompt="x", width=w, height=h, seed=1, layout=lay))
    injected = result.metadata["injected"]
    assert sorted(r["kind"] for r in injected) == sorted(FAULT_KINDS)

    ocr = RapidOCR(params={"Global.use_cls": False, "Global.log_level": "warning"})
    res = ocr(np.asarray(Image.open(io.BytesIO(result.data)).convert("RGB")))
    reads: list[tuple[str, float, float]] = [
        ("".join(t.split()), float(np.mean(b[:, 0])) / w, float(np.mean(b[:, 1])) / h)
        for t, b in zip(res.txts, res.boxes)]

    def read_in(box: tuple[float, float, float, float]) -> str:
        x, y, bw, bh = box
        return "".join(t for t, cx, cy in reads if x <= cx <= x + bw and y <= cy <= y + bh)

    for rec in injected:
        box = rec["box"]
        assert read_in(box) == "".join(rec["rendered"].split()), rec
        if rec["kind"] != "extra_text":
            assert rec["expected"] == texts[rec["region_id"]]
    assert len(reads) == len(texts)  # 7 garbled regions + 1 stray word; the missing one is gone
