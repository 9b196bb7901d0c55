"""JSON report and overlay PNG from a real check."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from qa import QAReport, check_image, render_overlay, write_report
from qa.report import GREEN, ORANGE, RED
from tests.qa.images import Block, render


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    path, expected = render(folder / "p.png", [
        Block("headline", "SUMMER SALE", (0.1, 0.1, 0.8, 0.15)),
        Block("price", "Only $19.99", (0.1, 0.4, 0.8, 0.12), drawn="Only $18.99"),
    ], size=(768, 768), extra=[("Terms apply", (0.2, 0.75, 0.6, 0.08))])
    return folder, path, check_image(path, expected)


def test_json_report_round_trips(checked):
    folder, _, report = checked
    out = folder / "deep" / "report.json"
    write_report(report, out)
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["passed"] is False
    assert [r["kind"] for r in data["regions"]] == ["ok", "misspelt"]
    # positions index the normalised key ("Only$19.99": spaces do not count by default)
    assert data["regions"][1]["diff"] == [{"op": "replace", "expected": "9", "read": "8",
                                           "position": 6}]
    assert data["unexpected"][0]["read"] == "Terms apply"
    assert QAReport.model_validate_json(out.read_text(encoding="utf-8")) == report


def _edge_colour(img: np.ndarray, box, colour) -> float:
    """Fraction of the box's left edge pixels (just inside) that have ``colour``."""
    h, w = img.shape[:2]
    x0 = int(box[0] * w) + 1
    y0, y1 = int(box[1] * h) + 2, int((box[1] + box[3]) * h) - 2
    column = img[y0:y1, x0]
    return float(np.mean(np.all(column == np.array(colour), axis=1)))


def test_overlay_boxes_ok_green_wrong_red_unexpected_orange(checked):
    folder, path, report = checked
    out = folder / "overlay.png"
    render_overlay(path, report, out)
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape == (768, 768, 3)
    assert _edge_colour(img, report.regions[0].box, GREEN) > 0.9
    assert _edge_colour(img, report.regions[1].box, RED) > 0.9
    assert _edge_colour(img, report.unexpected[0].read_box, ORANGE) > 0.9
    # the source image has none of these colours: they were all drawn by the overlay
    src = np.asarray(Image.open(path).convert("RGB"))
    for colour in (GREEN, RED, ORANGE):
        assert not np.all(src == np.array(colour), axis=2).any()


def test_jpeg_overlay_from_already_decoded_pixels(checked):
    folder, path, report = checked
    out = folder / "overlay.jpg"
    pixels = np.asarray(Image.open(path).convert("RGB"))
    render_overlay(folder / "not-read-again.png", report, out, pixels=pixels)
    with Image.open(out) as im:
        assert im.format == "JPEG" and im.size == (768, 768)
        img = np.asarray(im.convert("RGB")).astype(int)
    h, w = img.shape[:2]
    x, y, bw, bh = report.regions[1].box  # the wrong region: its box edge is red (lossy)
    edge = img[int(y * h) + 4:int((y + bh) * h) - 4, int(x * w) + 1]
    assert np.mean((edge[:, 0] > 180) & (edge[:, 1] < 80) & (edge[:, 2] < 80)) > 0.8


def test_a_failing_region_shows_what_was_expected_beside_what_was_read(tmp_path):
    """On a 2048×512 banner the labels are large enough to read back (OCR'd here), and a
    failing region's label carries the expected text as well as the read one."""
    from qa.ocr import get_engine
    from qa.report import label_size

    path, expected = render(tmp_path / "banner.png", [
        Block("headline", "Autumn Deals", (0.05, 0.35, 0.5, 0.3)),
        Block("price", "Only $29.99", (0.62, 0.55, 0.3, 0.25), drawn="Only $28.99"),
    ], size=(2048, 512))
    report = check_image(path, expected)
    assert [f.kind for f in report.regions] == ["ok", "misspelt"]
    out = tmp_path / "overlay.png"
    render_overlay(path, report, out)
    assert label_size(2048, 512) >= 30  # it was 12 px before
    img = np.asarray(Image.open(out).convert("RGB"))
    red_rows = np.where(np.all(img == np.array(RED), axis=2).sum(axis=1) > 40)[0]
    assert red_rows.size >= 3 * label_size(2048, 512)  # three lines: verdict, expected, read
    words = " ".join(line.text for line in get_engine("rapidocr").read(img))
    assert "expected" in words and "29.99" in words and "28.99" in words
