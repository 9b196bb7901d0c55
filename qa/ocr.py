"""OCR engines behind one protocol: read an RGB array, return lines with pixel boxes.

* :class:`RapidOCREngine` — the judge: rapidocr 3.x with the PP-OCRv6 models that ship in
  its wheel, run by OpenVINO where it is installed (the default install has it) or by
  onnxruntime — the same ONNX models either way. The angle classifier is off (it flips
  short strings such as ``¥9``). One engine per process and runtime, holding a pool of
  single-threaded model instances (one per core, created lazily); safe to share between
  threads.
* :class:`TesseractEngine` — a second opinion only: dictionary correction is off (a
  dictionary "corrects" misspellings into passes), languages ``eng+chi_sim``.
* :class:`HangulEngine` — the judge for copy with Hangul, which rapidocr's vocabulary
  lacks: rapidocr's detector finds the lines; a line tesseract (``kor+eng``, dictionaries
  off) reads as Hangul keeps tesseract's read, any other line rapidocr's.

Each engine says which scripts it reads (``scripts``); :mod:`qa.scripts` picks the judge
for the copy's scripts.

Neither engine snaps its read to the expected text: the language prior of an OCR model can
already read a wrong look-alike glyph as the intended one, and nothing here adds to that.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from importlib.util import find_spec
from typing import Any, Literal, Protocol, runtime_checkable

import cv2
import numpy as np

from qa.errors import EngineUnavailable, QAError
from qa.models import OCRLine

TEXT_SCORE = 0.3
"""rapidocr drops lines below this confidence; kept low so garbage shows as *illegible*."""


DET_MAX_SIDE = 2000
"""Images larger than this are scaled down for text detection (recognition is unaffected)."""


OCRRuntime = Literal["auto", "openvino", "onnxruntime"]
"""Which inference runtime runs rapidocr's ONNX models. ``auto`` takes OpenVINO when it is
installed. OpenVINO computes in bf16 on CPUs with native bf16 (AVX512-BF16, AMX) and in f32
elsewhere; at bf16, with one single-threaded instance per core, it checks about 30 % more
images per second than onnxruntime (measured on 512² and 1024² posters, 2 cores: 70 vs
101 ms and 169 vs 253 ms per image), and on small type it is a little less sure — which is
why the pipeline judges an image it does not pass again with onnxruntime at f32 (see
:func:`resolve_recheck_runtime`)."""


def resolve_runtime(runtime: str = "auto") -> Literal["openvino", "onnxruntime"]:
    """The runtime ``runtime`` names, ``auto`` resolved; raises
    :class:`~qa.errors.EngineUnavailable` for one that is not installed."""
    key = runtime.strip().lower()
    if key not in ("auto", "openvino", "onnxruntime"):
        raise EngineUnavailable(f"unknown OCR runtime {runtime!r}; choose auto, openvino or "
                                "onnxruntime")
    if key in ("auto", "openvino") and find_spec("openvino") is not None:
        return "openvino"
    if key == "openvino":
        raise EngineUnavailable("OCR runtime openvino is not installed: pip install openvino "
                                "(or set SIGNWRITER_OCR_RUNTIME=onnxruntime)")
    if find_spec("onnxruntime") is None:
        raise EngineUnavailable("no OCR runtime is installed: pip install openvino or "
                                "pip install onnxruntime")
    return "onnxruntime"


def resolve_recheck_runtime(runtime: str = "auto") -> Literal["openvino", "onnxruntime"]:
    """The runtime that judges again, from scratch, an image the first read did not pass:
    ``auto`` is onnxruntime when installed (always f32), else the default runtime."""
    if runtime.strip().lower() == "auto":
        return "onnxruntime" if find_spec("onnxruntime") is not None else resolve_runtime()
    return resolve_runtime(runtime)


@runtime_checkable
class OCREngine(Protocol):
    """Anything that reads text lines from an RGB ``uint8`` array of shape (h, w, 3)."""

    name: str

    def read(self, img: np.ndarray) -> list[OCRLine]: ...


Reader = OCREngine
"""What :func:`qa.check.check_image` accepts as ``reader``."""


class RapidOCREngine:
    """rapidocr (PP-OCRv6 det + rec), the judge. Use :func:`get_engine`."""

    name = "rapidocr"
    scripts = frozenset({"latin", "han", "kana"})

    def __init__(self, instances: int | None = None, runtime: str = "auto") -> None:
        self.instances = max(1, instances or os.cpu_count() or 1)
        self.runtime = resolve_runtime(runtime)
        self._idle: queue.LifoQueue = queue.LifoQueue()
        self._created = 0
        self._lock = threading.Lock()

    def _new(self):
        try:
            from rapidocr import EngineType, RapidOCR
        except ImportError as exc:  # pragma: no cover - dependency of the package
            raise EngineUnavailable("rapidocr is not installed: pip install 'rapidocr>=3.4' "
                                    "openvino") from exc
        engine_type = EngineType(self.runtime)
        ocr = RapidOCR(params={
            "Det.engine_type": engine_type,
            "Rec.engine_type": engine_type,
            "Global.use_cls": False,
            "Global.log_level": "error",  # "detection result is empty" is not news
            "Global.text_score": TEXT_SCORE,
            # detect at the image's own scale (up to DET_MAX_SIDE): the default
            # ("min" 736) blows a 900x160 crop up to 4100x736 and costs seconds;
            # check_image upscales small text itself
            "Det.limit_type": "max",
            "Det.limit_side_len": DET_MAX_SIDE,
            # one thread per instance, one instance per core: on poster-sized inputs
            # onnxruntime's intra-op threads barely help one image (measured 0.225 s vs
            # 0.217 s), while two single-threaded instances check two images at once
            # (0.126 s per image on 2 cores)
            "EngineConfig.onnxruntime.intra_op_num_threads": 1,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            # reuse tensor memory between checks: ~10 % faster per image (0.21 → 0.19 s)
            "EngineConfig.onnxruntime.enable_cpu_mem_arena": True,
            # the same for OpenVINO; its threads must not be pinned: every instance would
            # pin to the same first core (measured: 118 ms per image pinned, 70 unpinned)
            "EngineConfig.openvino.inference_num_threads": 1,
            "EngineConfig.openvino.enable_cpu_pinning": "False",
        })
        logging.getLogger("RapidOCR").setLevel(logging.ERROR)
        return ocr

    @contextmanager
    def _engine(self) -> Iterator[Any]:
        """Borrow an idle instance (creating up to ``instances`` of them lazily)."""
        try:
            ocr = self._idle.get_nowait()
        except queue.Empty:
            with self._lock:
                create = self._created < self.instances
                if create:
                    self._created += 1
            if create:
                try:
                    ocr = self._new()
                except BaseException:
                    with self._lock:
                        self._created -= 1
                    raise
            else:
                ocr = self._idle.get()
        try:
            yield ocr
        finally:
            self._idle.put(ocr)

    def read(self, img: np.ndarray) -> list[OCRLine]:
        bgr = np.ascontiguousarray(_rgb(img)[:, :, ::-1])
        with self._engine() as ocr:
            # rapidocr keeps use_det/use_rec between calls: always say all three
            result = ocr(bgr, use_det=True, use_cls=False, use_rec=True)
        if result.txts is None or result.boxes is None:
            return []
        lines: list[OCRLine] = []
        for quad, text, score in zip(result.boxes, result.txts, result.scores or ()):
            if text.strip():
                lines.append(OCRLine(text=text, box=_quad_box(quad), confidence=float(score),
                                     engine=self.name))
        return lines

    def detect(self, img: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Text line boxes (x0, y0, x1, y1 in pixels), top to bottom, without reading them."""
        bgr = np.ascontiguousarray(_rgb(img)[:, :, ::-1])
        with self._engine() as ocr:
            result = ocr(bgr, use_det=True, use_cls=False, use_rec=False)
        boxes = getattr(result, "boxes", None)
        if boxes is None:
            return []
        return sorted((_quad_box(q) for q in boxes), key=lambda b: (b[1], b[0]))

    def recognize(self, line: np.ndarray) -> tuple[str, float]:
        """Read one cropped text line (no detection): its text and confidence."""
        bgr = np.ascontiguousarray(_rgb(line)[:, :, ::-1])
        with self._engine() as ocr:
            result = ocr(bgr, use_det=False, use_cls=False, use_rec=True)
        txts = getattr(result, "txts", None)
        if not txts:
            return "", 0.0
        return str(txts[0]), float(result.scores[0])


def _quad_box(quad) -> tuple[int, int, int, int]:
    q = np.asarray(quad)
    return (int(q[:, 0].min()), int(q[:, 1].min()),
            int(np.ceil(q[:, 0].max())), int(np.ceil(q[:, 1].max())))


class TesseractEngine:
    """Tesseract via pytesseract, dictionaries off; a second opinion, never the judge."""

    name = "tesseract"
    LANG = "eng+chi_sim"
    CONFIG = "--psm 6 -c load_system_dawg=0 -c load_freq_dawg=0"
    _SCRIPTS = {"eng": {"latin"}, "chi_sim": {"han"}, "chi_tra": {"han"},
                "jpn": {"han", "kana"}, "kor": {"hangul"}}

    def __init__(self, lang: str = LANG, config: str = CONFIG) -> None:
        import pytesseract

        self._tess = pytesseract
        self.lang = lang
        self.config = config
        self.scripts = frozenset(s for code in lang.split("+") for s in self._SCRIPTS.get(code, ()))
        try:
            pytesseract.get_tesseract_version()
        except pytesseract.TesseractNotFoundError as exc:
            raise EngineUnavailable(
                "the tesseract binary is not installed: apt-get install tesseract-ocr "
                "tesseract-ocr-chi-sim") from exc
        have = set(pytesseract.get_languages(config=""))
        missing = [lang_ for lang_ in lang.split("+") if lang_ not in have]
        if missing:
            pkgs = " ".join("tesseract-ocr-" + m.replace("_", "-") for m in missing)
            raise EngineUnavailable(f"tesseract language data missing ({', '.join(missing)}): "
                                    f"apt-get install {pkgs}")

    def read(self, img: np.ndarray) -> list[OCRLine]:
        from PIL import Image

        try:
            data = self._tess.image_to_data(Image.fromarray(_rgb(img)), lang=self.lang,
                                            config=self.config, output_type=self._tess.Output.DICT)
        except self._tess.TesseractError as exc:
            raise QAError(f"tesseract failed: {exc}") from exc
        groups: dict[tuple[int, int, int], list[int]] = {}
        for i, word in enumerate(data["text"]):
            if word.strip() and float(data["conf"][i]) >= 0:
                key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
                groups.setdefault(key, []).append(i)
        lines: list[OCRLine] = []
        for idx in groups.values():
            x0 = min(data["left"][i] for i in idx)
            y0 = min(data["top"][i] for i in idx)
            x1 = max(data["left"][i] + data["width"][i] for i in idx)
            y1 = max(data["top"][i] + data["height"][i] for i in idx)
            text = " ".join(data["text"][i] for i in idx)
            conf = sum(float(data["conf"][i]) for i in idx) / len(idx) / 100.0
            lines.append(OCRLine(text=text, box=(x0, y0, x1, y1), confidence=conf,
                                 engine=self.name))
        return lines


class HangulEngine:
    """The judge for copy with Hangul (rapidocr's vocabulary has none): rapidocr's detector
    finds the text lines; each line is read by tesseract ``kor+eng`` (dictionaries off)
    and keeps that read when it holds Hangul, else rapidocr's recogniser reads it (the
    measured judge for Latin, digits, Han and kana). Built by :func:`qa.scripts.judge_for`
    on the configured rapidocr engine, so it shares that engine's models and runtime."""

    scripts = frozenset({"latin", "han", "kana", "hangul"})
    LANG = "kor+eng"
    CONFIG = "--psm 7 -c load_system_dawg=0 -c load_freq_dawg=0"
    LINE_PX = 48
    """Line crops are upscaled to about this height for tesseract (at most 4×)."""

    def __init__(self, detector: RapidOCREngine, lang: str = LANG) -> None:
        self.detector = detector
        self.tesseract = TesseractEngine(lang, self.CONFIG)  # EngineUnavailable without kor
        self.name = f"{detector.name}+tesseract-kor"

    def read(self, img: np.ndarray) -> list[OCRLine]:
        arr = _rgb(img)
        boxes = self.detector.detect(arr)
        if not boxes:
            return []
        with ThreadPoolExecutor(max_workers=self.detector.instances) as pool:
            reads = list(pool.map(lambda b: self._read_line(arr, b), boxes))
        return [OCRLine(text=text, box=box, confidence=conf, engine=self.name)
                for box, (text, conf) in zip(boxes, reads) if text.strip()]

    def _read_line(self, arr: np.ndarray, box: tuple[int, int, int, int]) -> tuple[str, float]:
        x0, y0, x1, y1 = box
        crop = arr[max(0, y0):y1, max(0, x0):x1]
        if crop.size == 0:
            return "", 0.0
        text, conf = self._tesseract_line(crop)
        if any(0xAC00 <= ord(c) <= 0xD7AF or 0x3130 <= ord(c) <= 0x318F for c in text):
            return text, conf
        r_text, r_conf = self.detector.recognize(crop)
        if r_text.strip() and r_conf >= TEXT_SCORE:
            return r_text, r_conf
        return text, conf

    def _tesseract_line(self, crop: np.ndarray) -> tuple[str, float]:
        gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
        border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
        if float(np.median(border)) < 128:  # light text on a dark ground
            gray = 255 - gray
        h = gray.shape[0]
        if h < self.LINE_PX:
            f = min(4.0, self.LINE_PX / max(h, 1))
            gray = cv2.resize(gray, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC)
        pad = max(8, gray.shape[0] // 4)
        gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        lines = self.tesseract.read(np.stack([gray] * 3, axis=-1))
        if not lines:
            return "", 0.0
        text = " ".join(ln.text for ln in lines)
        weight = sum(len(ln.text) for ln in lines) or 1
        return text, sum(ln.confidence * len(ln.text) for ln in lines) / weight


def _rgb(img: np.ndarray) -> np.ndarray:
    arr = np.asarray(img)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    elif arr.shape[2] == 4:
        arr = arr[:, :, :3]
    return arr.astype(np.uint8, copy=False)


_ENGINES: dict[str, OCREngine] = {}
_ENGINES_LOCK = threading.Lock()
_FACTORIES = {"rapidocr": RapidOCREngine, "tesseract": TesseractEngine}


def get_engine(name: str, *, runtime: str = "auto", instances: int | None = None,
               lang: str | None = None) -> OCREngine:
    """The process-wide engine called ``name`` (``rapidocr`` or ``tesseract``); for
    rapidocr, ``runtime`` (:data:`OCRRuntime`) and ``instances`` (parallel model
    instances, default one per core) pick the engine; for tesseract, ``lang`` its
    language data (default :attr:`TesseractEngine.LANG`)."""
    key = name.strip().lower()
    if key not in _FACTORIES:
        raise EngineUnavailable(f"unknown OCR engine {name!r}; choose one of "
                                f"{', '.join(sorted(_FACTORIES))}")
    if key == "rapidocr":
        resolved = resolve_runtime(runtime)
        cache_key = f"rapidocr:{resolved}:{instances or 0}"
        with _ENGINES_LOCK:
            if cache_key not in _ENGINES:
                _ENGINES[cache_key] = RapidOCREngine(instances, resolved)
            return _ENGINES[cache_key]
    lang = lang or TesseractEngine.LANG
    with _ENGINES_LOCK:
        if f"tesseract:{lang}" not in _ENGINES:
            _ENGINES[f"tesseract:{lang}"] = TesseractEngine(lang)
        return _ENGINES[f"tesseract:{lang}"]
