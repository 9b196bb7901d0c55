"""OCR engines behind one protocol: read an RGB array, return lines with pixel boxes.

* :class:`RapidOCREngine` — the judge: rapidocr 3.x with the PP-OCRv6 models that ship in
  its wheel. The angle classifier is off (it flips short strings such as ``¥9``). One
  engine per process, created lazily; calls are serialised by a lock, so it is safe to
  share between threads.
* :class:`TesseractEngine` — a second opinion only: dictionary correction is off (a
  dictionary "corrects" misspellings into passes), languages ``eng+chi_sim``.

Neither engine snaps its read to the expected text: the language prior of an OCR model can
already read a wrong look-alike glyph as the intended one, and nothing here adds to that.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol, runtime_checkable

import numpy as np

from qa.errors import EngineUnavailable, QAError
from qa.models import OCRLine

TEXT_SCORE = 0.3
"""rapidocr drops lines below this confidence; kept low so garbage shows as *illegible*."""


DET_MAX_SIDE = 2000
"""Images larger than this are scaled down for text detection (recognition is unaffected)."""


@runtime_checkable
class OCREngine(Protocol):
    """Anything that reads text lines from an RGB ``uint8`` array of shape (h, w, 3)."""

    name: str

    def read(self, img: np.ndarray) -> list[OCRLine]: ...


Reader = OCREngine
"""What :func:`qa.check.check_image` accepts as ``reader``."""


class RapidOCREngine:
    """rapidocr (PP-OCRv6 det + rec, onnxruntime), the judge. Use :func:`get_engine`."""

    name = "rapidocr"

    def __init__(self, instances: int | None = None) -> None:
        self.instances = max(1, instances or os.cpu_count() or 1)
        self._idle: queue.LifoQueue = queue.LifoQueue()
        self._created = 0
        self._lock = threading.Lock()

    @staticmethod
    def _new():
        try:
            from rapidocr import RapidOCR
        except ImportError as exc:  # pragma: no cover - dependency of the package
            raise EngineUnavailable("rapidocr is not installed: pip install 'rapidocr>=3.4' "
                                    "onnxruntime") from exc
        ocr = RapidOCR(params={
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
            result = ocr(bgr)
        if result.txts is None or result.boxes is None:
            return []
        lines: list[OCRLine] = []
        for quad, text, score in zip(result.boxes, result.txts, result.scores or ()):
            q = np.asarray(quad)
            box = (int(q[:, 0].min()), int(q[:, 1].min()),
                   int(np.ceil(q[:, 0].max())), int(np.ceil(q[:, 1].max())))
            if text.strip():
                lines.append(OCRLine(text=text, box=box, confidence=float(score), engine=self.name))
        return lines


class TesseractEngine:
    """Tesseract via pytesseract, dictionaries off; a second opinion, never the judge."""

    name = "tesseract"
    LANG = "eng+chi_sim"
    CONFIG = "--psm 6 -c load_system_dawg=0 -c load_freq_dawg=0"

    def __init__(self, lang: str = LANG, config: str = CONFIG) -> None:
        import pytesseract

        self._tess = pytesseract
        self.lang = lang
        self.config = config
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


def get_engine(name: str) -> OCREngine:
    """The process-wide engine called ``name`` (``rapidocr`` or ``tesseract``)."""
    key = name.strip().lower()
    if key not in _FACTORIES:
        raise EngineUnavailable(f"unknown OCR engine {name!r}; choose one of "
                                f"{', '.join(sorted(_FACTORIES))}")
    with _ENGINES_LOCK:
        if key not in _ENGINES:
            _ENGINES[key] = _FACTORIES[key]()
        return _ENGINES[key]
