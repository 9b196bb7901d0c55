"""check_image on real rendered images, read by the real rapidocr judge."""

from __future__ import annotations

import pytest
from PIL import Image

from qa import BadImage, ExpectedText, check_image, get_engine
from qa.models import Strictness

from tests.qa.images import Block, draw_text, render

H = 1536


@pytest.fixture(scope="module")
def errors_report(tmp_path_factory):
    """One poster, one check: every region holds a different kind of mistake."""
    rows = [
        ("wrong_letter", "SUMMER SALE", "SUMMER SALT"),
        ("missing_letter", "Fresh sandals", "Fresh sandls"),
        ("doubled_letter", "Beach towels", "Beach towells"),
        ("dropped_word", "Free delivery over fifty", "Free delivery fifty"),
        ("swapped", "Limited edition", "Limtied edition"),
        ("price", "Only $19.99", "Only $18.99"),
        ("zh_wrong", "夏季特惠", "夏李特惠"),
        ("zh_traditional", "全场促销", "全场促銷"),
        ("fine", "Open daily", "Open daily"),
    ]
    blocks = [Block(rid, exp, (0.08, 0.03 + i * 0.107, 0.84, 0.07), drawn=drawn, max_size=72,
                    language="zh" if rid.startswith("zh") else "en")
              for i, (rid, exp, drawn) in enumerate(rows)]
    path, expected = render(tmp_path_factory.mktemp("errors") / "errors.png", blocks)
    report = check_image(path, expected)
    return {f.region_id: f for f in report.regions}, report


@pytest.mark.parametrize(("region", "op"), [
    ("wrong_letter", "replace"),
    ("missing_letter", "delete"),
    ("doubled_letter", "insert"),
    ("dropped_word", "delete"),
    ("swapped", None),  # a transposition: any edit pair
    ("price", "replace"),
    ("zh_wrong", "replace"),
    ("zh_traditional", "replace"),
])
def test_each_mistake_is_reported_misspelt_with_a_diff(errors_report, region, op):
    findings, report = errors_report
    f = findings[region]
    assert f.kind == "misspelt", f
    assert f.read and f.read.replace(" ", "") != f.expected.replace(" ", "")
    assert f.diff and (op is None or op in [d.op for d in f.diff]), f.diff
    assert 50 < f.similarity < 100
    assert not report.passed


@pytest.mark.parametrize(("region", "read"), [
    ("wrong_letter", "SUMMER SALT"), ("doubled_letter", "Beach towells"),
    ("dropped_word", "Free delivery fifty"), ("price", "Only $18.99"),
    ("zh_wrong", "夏李特惠"), ("zh_traditional", "全场促銷"),
])
def test_the_wrong_text_is_shown_as_read(errors_report, region, read):
    """No engine 'corrects' a misspelling or a look-alike glyph into the expected text."""
    findings, _ = errors_report
    assert findings[region].read == read


def test_diff_points_at_the_wrong_price_digit(errors_report):
    findings, _ = errors_report
    [d] = findings["price"].diff
    assert (d.op, d.expected, d.read) == ("replace", "9", "8")


def test_traditional_character_is_named(errors_report):
    findings, _ = errors_report
    assert "銷" in findings["zh_traditional"].note
    assert "Traditional" in findings["zh_traditional"].note


def test_metrics_count_the_mistakes(errors_report):
    findings, report = errors_report
    assert findings["fine"].kind == "ok"
    assert 0.4 < report.word_accuracy < 0.9
    assert 0.8 < report.ned < 1.0
    assert report.score < 0.7


def test_clean_english_poster_passes(poster):
    path, expected = poster([
        Block("headline", "SUMMER SALE", (0.08, 0.05, 0.84, 0.12), max_size=120),
        Block("sub", "All sandals now $19.99", (0.08, 0.20, 0.84, 0.06), weight="regular"),
        Block("price", "¥9", (0.4, 0.3, 0.2, 0.05), weight="regular"),
        Block("cta", "Shop now at example.com", (0.1, 0.85, 0.8, 0.06), weight="regular"),
    ])
    report = check_image(path, expected)
    assert report.passed, report.failing
    assert [f.kind for f in report.regions] == ["ok"] * 4
    assert report.score == 1.0 and report.word_accuracy == 1.0 and report.ned == 1.0
    assert report.width == 1024 and report.height == H
    x, y, w, h = report.regions[0].read_box
    assert 0.05 <= x < 0.2 and 0.05 <= y < 0.17 and 0.5 < w <= 0.87


def test_clean_chinese_poster_passes(poster):
    path, expected = poster([
        Block("headline", "夏季大促销", (0.1, 0.1, 0.8, 0.12), language="zh", max_size=110),
        Block("sub", "全场五折，限时三天！", (0.1, 0.3, 0.8, 0.06), language="zh", weight="regular"),
    ], size=(768, 1024))
    report = check_image(path, expected)
    assert report.passed, report.failing


def test_missing_region_is_missing(poster):
    path, expected = poster([
        Block("headline", "SUMMER SALE", (0.08, 0.05, 0.84, 0.12), max_size=110),
        Block("cta", "Shop now", (0.1, 0.7, 0.8, 0.08), drawn=None),
    ], size=(768, 768))
    report = check_image(path, expected)
    kinds = {f.region_id: f.kind for f in report.regions}
    assert kinds == {"headline": "ok", "cta": "missing"}
    assert not report.passed


def test_extra_text_is_unexpected_and_fails(poster):
    path, expected = poster([Block("headline", "SUMMER SALE", (0.08, 0.05, 0.84, 0.12))],
                            size=(768, 768), extra=[("Terms apply", (0.2, 0.7, 0.6, 0.08))])
    report = check_image(path, expected)
    assert report.regions[0].kind == "ok"
    assert not report.passed
    [extra] = report.unexpected
    assert extra.kind == "unexpected" and extra.read == "Terms apply"
    assert extra.read_box is not None and extra.read_box[1] > 0.6


def test_text_in_the_wrong_place_is_misplaced(poster):
    path, expected = poster([
        Block("headline", "SUMMER SALE", (0.08, 0.05, 0.84, 0.12)),
        Block("cta", "Shop now", (0.1, 0.8, 0.8, 0.08), draw_box=(0.1, 0.45, 0.8, 0.08)),
    ], size=(768, 768))
    report = check_image(path, expected)
    cta = report.regions[1]
    assert cta.kind == "misplaced", cta
    assert cta.read_box is not None and 0.4 < cta.read_box[1] < 0.55
    assert report.unexpected == [], "text reported misplaced is not also unexpected"
    assert not report.passed


def test_light_text_on_dark_background_passes(tmp_path):
    img = Image.new("RGB", (768, 768), (15, 20, 45))
    box = (0.1, 0.4, 0.8, 0.08)
    draw_text(img, "Limited offer ends Sunday", box, weight="regular", fill=(240, 240, 240),
              max_size=30)
    img.save(tmp_path / "dark.png")
    report = check_image(tmp_path / "dark.png", [ExpectedText(id="cta", text="Limited offer ends Sunday", box=box)])
    assert report.passed, report.failing


def test_multi_line_region_reads_as_one_text(poster):
    text = "Fresh styles for long sunny days by the sea, made to last all season long"
    path, expected = poster([Block("body", text, (0.15, 0.3, 0.7, 0.25), weight="regular",
                                   max_size=44, strictness=Strictness(whitespace=True))],
                            size=(768, 1024))
    report = check_image(path, expected)
    assert report.passed, report.failing
    x, y, w, h = report.regions[0].read_box
    assert h > 0.1, "the read spans several lines"


def test_expect_mode_without_boxes(poster):
    path, boxed = poster([
        Block("headline", "SUMMER SALE", (0.08, 0.05, 0.84, 0.12)),
        Block("body", "Fresh styles for long sunny days by the sea", (0.2, 0.4, 0.6, 0.2),
              weight="regular", max_size=40),
    ], size=(768, 1024))
    expected = [ExpectedText(id=e.id, text=e.text) for e in boxed]
    report = check_image(path, expected)
    assert report.passed, report.failing
    assert all(f.box is None and f.read_box is not None for f in report.regions)

    wrong = check_image(path, [ExpectedText(id="headline", text="SUMMER SALES"),
                               ExpectedText(id="gone", text="Winter coats")])
    kinds = {f.region_id: f.kind for f in wrong.regions}
    assert kinds == {"headline": "misspelt", "gone": "missing"}


def test_locate_false_ignores_boxes(poster):
    path, expected = poster([Block("cta", "Shop now", (0.1, 0.8, 0.8, 0.08),
                                   draw_box=(0.1, 0.3, 0.8, 0.08))], size=(768, 768))
    assert check_image(path, expected).regions[0].kind == "misplaced"
    assert check_image(path, expected, locate=False).passed


def test_unreadable_image_raises_bad_image_naming_the_file(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(BadImage, match="broken.png"):
        check_image(bad, [])
    with pytest.raises(BadImage, match="nothere.png"):
        check_image(tmp_path / "nothere.png", [])


# --- a fast judge, and a full-precision one for what it does not pass ----------------------------
class _Misreading:
    """Stands in for a fast, lower-precision engine: reads like the real judge, but drops one
    letter (as bf16 sometimes does on small type; a dropped letter, unlike a substituted
    one, is never rescued by the second reader); counts its calls."""

    def __init__(self, name: str, wrong: tuple[str, str] | None = ("SALE", "SAL")) -> None:
        self.name, self.wrong, self.calls = name, wrong, 0
        self._judge = get_engine("rapidocr", runtime="onnxruntime")

    def read(self, img):
        self.calls += 1
        lines = self._judge.read(img)
        if self.wrong:
            lines = [ln.model_copy(update={"text": ln.text.replace(*self.wrong)}) for ln in lines]
        return lines


def _sale_poster(poster, drawn: str = "SUMMER SALE"):
    return poster([
        Block("headline", "SUMMER SALE", (0.08, 0.05, 0.84, 0.12), max_size=120, drawn=drawn),
        Block("cta", "Shop now", (0.3, 0.8, 0.4, 0.06), weight="regular"),
    ], size=(768, 1024))


def test_a_fast_misread_is_judged_again_by_the_recheck_engine(poster):
    path, expected = _sale_poster(poster)
    fast, full = _Misreading("fast"), _Misreading("full", wrong=None)
    alone = check_image(path, expected, reader=fast)
    assert not alone.passed and alone.regions[0].read == "SUMMER SAL"
    fast.calls = 0
    report = check_image(path, expected, reader=fast, recheck=full)
    assert report.passed, report.failing
    assert report.engine == "full" and fast.calls == 1 and full.calls == 1


def test_a_clean_fast_pass_costs_no_recheck(poster):
    path, expected = _sale_poster(poster)
    fast, full = _Misreading("fast", wrong=None), _Misreading("full")
    report = check_image(path, expected, reader=fast, recheck=full)
    assert report.passed and report.engine == "fast" and full.calls == 0


def test_a_real_misspelling_fails_on_the_recheck_engine_too(poster):
    path, expected = _sale_poster(poster, drawn="SUMMER SALT")
    fast, full = _Misreading("fast", wrong=None), _Misreading("full", wrong=None)
    report = check_image(path, expected, reader=fast, recheck=full)
    assert not report.passed and report.engine == "full"
    assert report.regions[0].kind == "misspelt" and report.regions[0].read == "SUMMER SALT"
    assert fast.calls == 1 and full.calls >= 1  # the page, then crops of the failing region


def test_the_default_judge_judges_a_failing_image_again_at_f32(poster, monkeypatch):
    path, expected = _sale_poster(poster, drawn="SUMMER SALT")
    f32 = get_engine("rapidocr", runtime="openvino-f32")
    calls = []
    real_read = f32.read
    monkeypatch.setattr(f32, "read", lambda img: calls.append(img.shape) or real_read(img))
    report = check_image(path, expected)
    assert not report.passed and report.regions[0].read == "SUMMER SALT"
    assert calls and calls[0] == (1024, 768, 3)  # the whole image, read again at f32
    calls.clear()
    assert check_image(*_sale_poster(poster)).passed and calls == []  # a pass is not
