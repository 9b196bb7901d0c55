"""The OCR engines themselves, on real images."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image

from qa import EngineUnavailable, ExpectedText, check_image, get_engine
from qa.ocr import TesseractEngine, resolve_recheck_runtime, resolve_runtime
from tests.qa.images import draw_text


def _line(text: str, size=(640, 160)) -> np.ndarray:
    img = Image.new("RGB", size, (255, 255, 255))
    draw_text(img, text, (0.05, 0.2, 0.9, 0.6), weight="regular", max_size=48)
    return np.asarray(img)


def test_tesseract_reads_a_simple_line():
    lines = get_engine("tesseract").read(_line("Summer sale today"))
    assert " ".join(l.text for l in lines) == "Summer sale today"
    assert all(l.engine == "tesseract" and 0 < l.confidence <= 1 for l in lines)


def test_tesseract_does_not_correct_a_misspelling_with_its_dictionary():
    lines = get_engine("tesseract").read(_line("Summer sael today"))
    assert "sael" in " ".join(l.text for l in lines)


def test_missing_tesseract_language_names_the_package():
    with pytest.raises(EngineUnavailable, match="tesseract-ocr-xyz"):
        TesseractEngine(lang="eng+xyz")


def test_unknown_engine_is_unavailable():
    with pytest.raises(EngineUnavailable, match="rapidocr"):
        get_engine("abbyy")


def test_rapidocr_reads_short_price_without_flipping_it():
    lines = get_engine("rapidocr").read(_line("¥9", size=(200, 100)))
    assert [l.text for l in lines] == ["¥9"]


def test_rapidocr_engine_is_shared_and_thread_safe():
    engine = get_engine("rapidocr")
    assert get_engine("RapidOCR") is engine
    img = _line("Open daily")
    results: list[list[str]] = []

    def work():
        results.append([l.text for l in engine.read(img)])

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [["Open daily"]] * 3


def test_second_opinion_is_noted_but_never_changes_the_verdict(tmp_path):
    img = Image.new("RGB", (640, 320), (255, 255, 255))
    draw_text(img, "Fresh sandals", (0.05, 0.1, 0.9, 0.3), weight="regular", max_size=48)
    draw_text(img, "Beach towells", (0.05, 0.6, 0.9, 0.3), weight="regular", max_size=48)
    img.save(tmp_path / "two.png")
    expected = [ExpectedText(id="a", text="Fresh sandals", box=(0.05, 0.1, 0.9, 0.3)),
                ExpectedText(id="b", text="Beach towels", box=(0.05, 0.6, 0.9, 0.3))]
    report = check_image(tmp_path / "two.png", expected, second_opinion=True)
    a, b = report.regions
    assert a.kind == "ok" and "tesseract read 'Fresh sandals' (agrees)" in a.note
    assert b.kind == "misspelt" and "tesseract read" in b.note and "(differs)" in b.note


# --- runtimes --------------------------------------------------------------------------------
def test_both_runtimes_read_the_same_line():
    img = _line("Grand Opening 2026")
    ov = get_engine("rapidocr", runtime="openvino")
    ort = get_engine("rapidocr", runtime="onnxruntime")
    assert ov is not ort and (ov.runtime, ort.runtime) == ("openvino", "onnxruntime")
    assert [l.text for l in ov.read(img)] == [l.text for l in ort.read(img)] == [
        "Grand Opening 2026"]


def test_auto_runtime_is_openvino_when_installed_and_recheck_is_openvino_at_f32():
    assert resolve_runtime("auto") == "openvino"  # a dependency of the package
    assert resolve_recheck_runtime("auto") == "openvino-f32"
    assert resolve_recheck_runtime("onnxruntime") == "onnxruntime"
    # a judge that already computes at f32 is not judged again by another runtime
    assert resolve_recheck_runtime("auto", judge="onnxruntime") == "onnxruntime"
    assert resolve_recheck_runtime("auto", judge="openvino-f32") == "openvino-f32"
    assert get_engine("rapidocr") is get_engine("rapidocr", runtime="openvino")


def _precision(engine) -> str:
    with engine._engine() as ocr:
        return str(ocr.text_rec.session.session.get_compiled_model().get_property(
            "INFERENCE_PRECISION_HINT"))


def test_openvino_f32_is_held_to_f32_in_every_instance_and_reads_like_onnxruntime():
    from qa.ocr import RapidOCREngine

    engine = RapidOCREngine(instances=2, runtime="openvino-f32")
    img = _line("Only $19.99 today")
    with engine._engine() as a, engine._engine() as b:  # two instances, models shared
        for ocr in (a, b):
            for attr in ("text_det", "text_rec"):
                compiled = getattr(ocr, attr).session.session.get_compiled_model()
                assert "32" in str(compiled.get_property("INFERENCE_PRECISION_HINT"))
    ort = get_engine("rapidocr", runtime="onnxruntime")
    assert [l.text for l in engine.read(img)] == [l.text for l in ort.read(img)] == [
        "Only $19.99 today"]


def test_unknown_runtime_names_the_choices():
    with pytest.raises(EngineUnavailable, match="auto, openvino, openvino-f32 or onnxruntime"):
        get_engine("rapidocr", runtime="tensorrt")


@pytest.mark.parametrize("runtime", ["openvino", "openvino-f32", "onnxruntime"])
def test_parallel_instances_share_one_copy_of_the_models_and_read_alike(runtime):
    from qa.ocr import RapidOCREngine

    engine = RapidOCREngine(instances=2, runtime=runtime)
    texts = ["Open daily", "Only $19.99", "Shop now", "Members only", "Book today", "Save 30%"]
    imgs = [_line(t) for t in texts]
    results: dict[int, list[str]] = {}

    def work(k: int) -> None:
        for i in range(k, len(imgs), 2):
            results[i] = [ln.text for ln in engine.read(imgs[i])]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [results[i] for i in range(len(texts))] == [[t] for t in texts]
    assert engine._created == 2
    a, b = [engine._idle.get_nowait() for _ in range(2)]
    for attr in ("text_det", "text_rec"):
        sa, sb = getattr(a, attr).session, getattr(b, attr).session
        assert getattr(a, attr) is not getattr(b, attr)       # per-call state apart
        if runtime.startswith("openvino"):  # one model, one infer request per instance
            assert sa.model is sb.model and sa.session is not sb.session
        else:                      # one thread-safe session
            assert sa.session is sb.session


@pytest.mark.parametrize("runtime", ["openvino", "openvino-f32"])
def test_no_two_instances_share_an_openvino_compiled_model(runtime, monkeypatch):
    """Two infer requests of one compiled model whose input shapes change at the same
    moment can deadlock the process with the GIL held (batches hung for minutes:
    tests/automation/test_batch.py's attempt cap). So each instance compiles the model for
    itself (one infer request per compiled model), and two threads reading pages of new
    sizes at the same moment both finish, with the right reads."""
    import openvino

    from qa.ocr import OPENVINO_SHAPE_CACHE, RapidOCREngine

    compiled: list[int] = []  # which model each of our compilations was of
    real = openvino.Core.compile_model

    def compile_model(self, model, *args, **kwargs):
        config = args[1] if len(args) > 1 else kwargs.get("config") or {}
        if config.get("CPU_RUNTIME_CACHE_CAPACITY") == str(OPENVINO_SHAPE_CACHE):
            compiled.append(id(model))
        return real(self, model, *args, **kwargs)

    monkeypatch.setattr(openvino.Core, "compile_model", compile_model)
    engine = RapidOCREngine(instances=2, runtime=runtime)
    with engine._engine() as a, engine._engine() as b:  # both instances made, then back
        pass
    models = {id(getattr(ocr, attr).session.model) for ocr in (a, b)
              for attr in ("text_det", "text_rec")}
    assert len(models) == 2  # the detector's and the recogniser's, read once
    assert sorted(compiled) == sorted(list(models) * 2)  # each compiled once per instance

    sizes = [(512, 512), (640, 512), (512, 640), (704, 480)]
    barrier = threading.Barrier(2)
    reads: dict[int, list[list[str]]] = {0: [], 1: []}

    def work(k: int) -> None:
        for w, h in sizes:
            barrier.wait()
            img = np.full((h, w, 3), 235, np.uint8)
            img[h // 3:h // 3 + 60, 40:w - 40] = 20
            img = _line("Only $19.99", (w, h)) if k else img
            reads[k].append([ln.text for ln in engine.read(img)])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "OCR threads hung"
    assert reads[1] == [["Only $19.99"]] * len(sizes)


@pytest.mark.parametrize("shape", [(512, 512), (1024, 768), (37, 301), (2100, 900)])
def test_the_detectors_lookup_normalisation_gives_rapidocrs_own_input(shape):
    """qa.ocr._lookup_normalise: the same float32 array as rapidocr's float64 arithmetic."""
    from rapidocr.ch_ppocr_det.utils import DetPreProcess

    engine = get_engine("rapidocr")
    img = np.random.default_rng(sum(shape)).integers(0, 256, shape + (3,), dtype=np.uint8)
    with engine._engine() as ocr:
        det = ocr.text_det
        ours = det.get_preprocess()(img)
        theirs = DetPreProcess(det.limit_side_len, det.limit_type, det.mean, det.std)(img)
    assert type(det.get_preprocess()) is not DetPreProcess
    assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs)


def test_a_detector_built_otherwise_keeps_its_own_normalisation():
    """The lookup is a speed-up, never a requirement: a detector without the attributes it
    relies on (another rapidocr) is left as it is, and the page side is read per call."""
    from types import SimpleNamespace

    from qa.ocr import _lookup_normalise

    own = object()
    det = SimpleNamespace(get_preprocess=lambda: own)  # no limit_side_len, mean, std
    _lookup_normalise(det)
    assert det.get_preprocess() is own

    engine = get_engine("rapidocr")
    with engine._engine() as ocr:
        side = ocr.text_det.limit_side_len
        try:
            ocr.text_det.limit_side_len = 320
            assert ocr.text_det.get_preprocess().limit_side_len == 320
        finally:
            ocr.text_det.limit_side_len = side


def test_the_detector_makes_one_preprocessor_per_side_with_rapidocrs_own_input():
    """rapidocr builds a preprocessor on every call; ours is built once per detection side
    (the page reader changes the side per page) and gives rapidocr's own input at each."""
    from rapidocr.ch_ppocr_det.utils import DetPreProcess

    engine = get_engine("rapidocr")
    img = np.random.default_rng(7).integers(0, 256, (900, 1300, 3), dtype=np.uint8)
    with engine._engine() as ocr:
        det = ocr.text_det
        side = det.limit_side_len
        try:
            made = {}
            for s in (640, 1024, 640, side):
                det.limit_side_len = s
                pre = det.get_preprocess()
                assert pre.limit_side_len == s and made.setdefault(s, pre) is pre
                theirs = DetPreProcess(s, det.limit_type, det.mean, det.std)(img)
                assert np.array_equal(pre(img), theirs)
            assert len({id(p) for p in made.values()}) == 3
        finally:
            det.limit_side_len = side


@pytest.mark.parametrize("shape", [(40, 60, 3), (1, 1, 3), (0, 5, 3), (33, 17, 4), (21, 30)])
def test_images_reach_rapidocr_as_the_same_bgr_bytes(shape):
    """qa.ocr._bgr (OpenCV's channel swap) gives the bytes numpy's reversed view did, for
    crops (views), RGBA, grey and empty images."""
    from qa.ocr import _bgr, _rgb

    img = np.random.default_rng(3).integers(0, 256, shape, dtype=np.uint8)
    views = [img, img[1:, 2:]] if img.shape[0] > 1 and img.shape[1] > 2 else [img]
    for view in views:
        bgr = _bgr(view)
        assert bgr.flags.c_contiguous and bgr.dtype == np.uint8
        assert np.array_equal(bgr, np.ascontiguousarray(_rgb(view)[:, :, ::-1]))


# -- a tilted line's height ------------------------------------------------------------------


def test_a_quadrilaterals_height_is_across_its_direction():
    from qa.ocr import _quad_height

    angle = np.radians(4.0)
    along, across = np.array([np.cos(angle), np.sin(angle)]), np.array([-np.sin(angle), np.cos(angle)])
    corner = np.array([30.0, 200.0])
    quad = [corner, corner + 900 * along, corner + 900 * along + 24 * across, corner + 24 * across]
    assert _quad_height(quad) == pytest.approx(24.0, abs=0.1)
    column = [(10, 10), (40, 10), (40, 400), (10, 400)]  # a vertical CJK column
    assert _quad_height(column) is None


def test_a_tilted_lines_text_height_is_its_type_not_its_upright_box():
    """A long legal line tilted 4°: its upright box is more than twice as high as its text;
    the line's text height (qa.models.OCRLine.text_height) is the untilted line's."""
    img = Image.new("RGB", (1200, 400), (255, 255, 255))
    draw_text(img, "Offer valid 1-14 March at 12 participating locations only.",
              (0.05, 0.45, 0.9, 0.06), weight="regular", max_size=18)
    flat = get_engine("rapidocr").read(np.asarray(img))
    tilted = get_engine("rapidocr").read(
        np.asarray(img.rotate(4.0, resample=Image.BICUBIC, fillcolor=(255, 255, 255))))
    assert len(flat) == 1 and len(tilted) == 1
    upright = flat[0].box[3] - flat[0].box[1]
    assert tilted[0].box[3] - tilted[0].box[1] > 2 * upright
    assert tilted[0].text_height == pytest.approx(upright, abs=3)
