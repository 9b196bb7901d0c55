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

import copy
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

PAGE_TEXT_PX = 48
"""In spec mode the page is detected at the scale where its smallest expected text, as
large as its box could hold it (:func:`estimate_text_px`), is about this many pixels
high: text drawn three times smaller than its box allows is still 16 px for the detector
(real generations often draw a legal line 2–3 times smaller than its box)."""

PAGE_DET_MIN_SIDE = 640
"""…but never on fewer pixels than this on the long side (stray text smaller than the
copy is still found)."""



OCRRuntime = Literal["auto", "openvino", "openvino-f32", "onnxruntime"]
"""Which inference runtime runs rapidocr's ONNX models. ``auto`` takes OpenVINO when it is
installed; ``openvino-f32`` is OpenVINO held to f32 whatever the CPU offers. OpenVINO computes in bf16 on CPUs with native bf16 (AVX512-BF16, AMX) and in f32
elsewhere; at bf16, with one single-threaded instance per core, it checks about 30 % more
images per second than onnxruntime (measured on 512² and 1024² posters, 2 cores: 70 vs
101 ms and 169 vs 253 ms per image), and on small type it is a little less sure — which is
why the pipeline judges an image it does not pass again at f32 (see
:func:`resolve_recheck_runtime`)."""

Runtime = Literal["openvino", "openvino-f32", "onnxruntime"]


def resolve_runtime(runtime: str = "auto") -> Runtime:
    """The runtime ``runtime`` names, ``auto`` resolved; raises
    :class:`~qa.errors.EngineUnavailable` for one that is not installed."""
    key = runtime.strip().lower()
    if key not in ("auto", "openvino", "openvino-f32", "onnxruntime"):
        raise EngineUnavailable(f"unknown OCR runtime {runtime!r}; choose auto, openvino, "
                                "openvino-f32 or onnxruntime")
    if key in ("auto", "openvino", "openvino-f32") and find_spec("openvino") is not None:
        return "openvino-f32" if key == "openvino-f32" else "openvino"
    if key in ("openvino", "openvino-f32"):
        raise EngineUnavailable("OCR runtime openvino is not installed: pip install openvino "
                                "(or set SIGNWRITER_OCR_RUNTIME=onnxruntime)")
    if find_spec("onnxruntime") is None:
        raise EngineUnavailable("no OCR runtime is installed: pip install openvino or "
                                "pip install onnxruntime")
    return "onnxruntime"


def resolve_recheck_runtime(runtime: str = "auto", judge: str = "auto") -> Runtime:
    """The runtime that judges again, from scratch, an image the first read (on ``judge``)
    did not pass. ``auto`` is the judge's own runtime held to f32: OpenVINO at f32 behind
    OpenVINO (no second inference library in memory: measured peak 1014 MiB against
    1453 MiB with onnxruntime, 20 checks of 768–1024 px posters, and faster), the judge
    itself when it already computes at f32 (then there is no second judgement)."""
    if runtime.strip().lower() == "auto":
        first = resolve_runtime(judge)
        return "openvino-f32" if first == "openvino" else first
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
        bound_malloc_arenas()
        self.runtime = resolve_runtime(runtime)
        self._idle: queue.LifoQueue = queue.LifoQueue()
        self._created = 0
        self._lock = threading.Lock()
        self._first: Any = None  # the instance whose loaded models the others share

    def _new(self):
        try:
            from rapidocr import EngineType, RapidOCR
        except ImportError as exc:  # pragma: no cover - dependency of the package
            raise EngineUnavailable("rapidocr is not installed: pip install 'rapidocr>=3.4' "
                                    "openvino") from exc
        engine_type = EngineType(self.runtime.removesuffix("-f32"))
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
        f32 = self.runtime == "openvino-f32"
        with self._lock:
            first = self._first
            if first is None:
                ocr._load_det_model()
                ocr._load_rec_model()
                if self.runtime.startswith("openvino"):
                    _compile_openvino(ocr, f32=f32)
                self._first = ocr
            else:  # compiled under the lock: one compilation of a model at a time
                _share_models(ocr, first, f32=f32)
        _lookup_normalise(ocr.text_det)
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

    def read(self, img: np.ndarray, det_side: int | None = None) -> list[OCRLine]:
        """The text lines of ``img``; ``det_side`` caps the long side the detector sees
        (default :data:`DET_MAX_SIDE`); lines are recognised at full resolution."""
        bgr = _bgr(img)
        with self._engine() as ocr:
            _set_det_side(ocr, det_side)
            # rapidocr keeps use_det/use_rec between calls: always say all three
            result = ocr(bgr, use_det=True, use_cls=False, use_rec=True)
        if result.txts is None or result.boxes is None:
            return []
        lines: list[OCRLine] = []
        for quad, text, score in zip(result.boxes, result.txts, result.scores or ()):
            if text.strip():
                lines.append(OCRLine(text=text, box=_quad_box(quad), confidence=float(score),
                                     engine=self.name, height=_quad_height(quad)))
        return lines

    def detect(self, img: np.ndarray, det_side: int | None = None
               ) -> list[tuple[int, int, int, int]]:
        """Text line boxes (x0, y0, x1, y1 in pixels), top to bottom, without reading them."""
        bgr = _bgr(img)
        with self._engine() as ocr:
            _set_det_side(ocr, det_side)
            result = ocr(bgr, use_det=True, use_cls=False, use_rec=False)
        boxes = getattr(result, "boxes", None)
        if boxes is None:
            return []
        return sorted((_quad_box(q) for q in boxes), key=lambda b: (b[1], b[0]))

    def recognize(self, line: np.ndarray) -> tuple[str, float]:
        """Read one cropped text line (no detection): its text and confidence."""
        bgr = _bgr(line)
        with self._engine() as ocr:
            result = ocr(bgr, use_det=False, use_cls=False, use_rec=True)
        txts = getattr(result, "txts", None)
        if not txts:
            return "", 0.0
        return str(txts[0]), float(result.scores[0])

    def read_glyphs(self, img: np.ndarray) -> list[tuple[str, float, tuple[int, int, int, int],
                                                         tuple[int, int, int, int]]]:
        """Every character read, one per entry: (char, confidence, its box, its line's box),
        boxes in pixels, lines in rapidocr's order (for :mod:`qa.lookalike`). A character's
        box comes from the recogniser's CTC positions: its column span is approximate."""
        bgr = _bgr(img)
        with self._engine() as ocr:
            _set_det_side(ocr, None)  # not the page scale the last borrower left
            try:
                result = ocr(bgr, use_det=True, use_cls=False, use_rec=True,
                             return_word_box=True, return_single_char_box=True)
            finally:
                _plain(ocr)
        if result.txts is None or result.boxes is None or not result.word_results:
            return []
        out = []
        for quad, words in zip(result.boxes, result.word_results):
            q = np.asarray(quad)
            line = (int(q[:, 0].min()), int(q[:, 1].min()), int(np.ceil(q[:, 0].max())),
                    int(np.ceil(q[:, 1].max())))
            for text, score, wbox in words or ():
                if not text or not text.strip() or wbox is None:
                    continue
                w = np.asarray(wbox)
                box = (int(w[:, 0].min()), int(w[:, 1].min()), int(np.ceil(w[:, 0].max())),
                       int(np.ceil(w[:, 1].max())))
                out.append((text, float(score), box, line))
        return out


MALLOC_ARENAS = 2
"""glibc malloc arenas a checking process may use (glibc's default is 8 per core). Every
thread that runs an inference gets an arena of its own for the tensors OpenVINO allocates
in it, and keeps the freed pages: 16 pipeline threads checking 1024² posters held
1690 MB at peak with the default, 1064 MB with 2 arenas, at the same CPU time
(``bench pipeline --size 1024 --assets 32``, 28.7 vs 29.4 CPU-s)."""

_ARENAS_BOUND = False


def bound_malloc_arenas(arenas: int = MALLOC_ARENAS) -> None:
    """Hold glibc to ``arenas`` malloc arenas (see :data:`MALLOC_ARENAS`), once per
    process, before the engine's threads allocate; nothing where the C library is not
    glibc, or where ``MALLOC_ARENA_MAX`` already says how many."""
    global _ARENAS_BOUND
    if _ARENAS_BOUND or os.environ.get("MALLOC_ARENA_MAX"):
        return
    _ARENAS_BOUND = True
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-8, int(arenas))  # -8: M_ARENA_MAX
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass


def _share_models(ocr: Any, first: Any, *, f32: bool = False) -> None:
    """Give a new rapidocr instance the models ``first`` loaded instead of its own copies:
    the weights are read once (about 250 MB less per extra instance). Each instance keeps
    its own detector/recogniser objects (per-call state). Under OpenVINO each instance
    compiles the shared model for itself (:func:`_openvino_request`: about 20 MB each), so
    that no two infer requests ever share a compiled model: two requests of one compiled
    model whose input shapes change at the same moment (the CPU plugin re-specialising
    its kernels in the model's shared shape cache) can deadlock the process for good — a
    thread blocked inside OpenVINO holding Python's GIL, every other thread frozen (seen
    as batches hanging for minutes; reproduced in 3 of 34 fresh processes with two
    instances reading new page sizes at once). Making such inferences take turns cost the
    parallelism: nearly every line crop is a new shape, so most recognitions ran alone
    (``bench batch``: 72 % of the inference CPU). An onnxruntime session runs calls from
    several threads at once by design, so it is shared as it is."""
    for attr in ("text_det", "text_rec"):
        model = copy.copy(getattr(first, attr))
        if getattr(model.session.session, "get_compiled_model", None) is not None:
            inner = copy.copy(model.session)  # OpenVINO: a compiled model of its own
            inner.session = _openvino_request(inner.model, f32=f32)
            model.session = inner
        if hasattr(model, "postprocess_op"):
            model.postprocess_op = copy.copy(model.postprocess_op)
        setattr(ocr, attr, model)


def _lookup_normalise(det: Any) -> None:
    """Make a rapidocr detector normalise its input by table lookup. rapidocr normalises
    the resized image in float64 arithmetic (``(x * scale - mean) / std`` with float64
    mean and std, then cast to float32): about a fifth of a 512² page's detection. A
    pixel is one of 256 values per channel, so the same float32 values come from a table
    built by rapidocr's own ``normalize`` (bit for bit: each value goes through the same
    operations), looked up channel by channel into the model's layout (measured on a 640²
    page: 0.9 against 10.2 ms CPU). A rapidocr whose detector is built otherwise keeps its
    own normalisation (the lookup is a speed-up, never a requirement)."""
    try:
        from rapidocr.ch_ppocr_det.utils import DetPreProcess

        probe = DetPreProcess(det.limit_side_len, det.limit_type, det.mean, det.std)
        _normalise_table(probe)
        probe.resize  # noqa: B018 — the method the lookup relies on
    except (ImportError, AttributeError, TypeError, ValueError):
        return

    class LookupDetPreProcess(DetPreProcess):
        def __call__(self, img: np.ndarray) -> np.ndarray | None:
            if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
                return super().__call__(img)
            resized = self.resize(img)
            if resized is None:
                return None
            table = _normalise_table(self)
            out = np.empty((1, 3) + resized.shape[:2], np.float32)
            for c, plane in enumerate(cv2.split(resized)):
                out[0, c] = cv2.LUT(plane, table[c:c + 1])
            return out

    # rapidocr builds a new preprocessor on every call, converting its configuration's
    # mean and std lists to arrays each time (about 2 ms a call, mostly in omegaconf): one
    # per detection side instead, read when called (the page reader sets the side per page)
    mean, std = np.array(det.mean), np.array(det.std)
    made: dict[tuple[int, str], LookupDetPreProcess] = {}

    def preprocess() -> LookupDetPreProcess:
        key = (det.limit_side_len, det.limit_type)
        pre = made.get(key)
        if pre is None:
            pre = made[key] = LookupDetPreProcess(key[0], key[1], mean, std)
        return pre

    det.get_preprocess = preprocess


_TABLES: dict[tuple, np.ndarray] = {}


def _normalise_table(pre: Any) -> np.ndarray:
    """(3, 256) float32: what ``pre.normalize`` makes of each value of each channel."""
    key = (tuple(np.asarray(pre.mean).tolist()), tuple(np.asarray(pre.std).tolist()), pre.scale)
    table = _TABLES.get(key)
    if table is None:
        values = np.repeat(np.arange(256, dtype=np.uint8)[:, None, None], 3, axis=2)
        table = np.ascontiguousarray(pre.normalize(values)[:, 0, :].T.astype(np.float32))
        _TABLES[key] = table
    return table


OPENVINO_SHAPE_CACHE = 256
"""Kernels OpenVINO's CPU plugin keeps per input shape, per model (its default is 5000).
The judge sees a new shape with nearly every crop, so the default grows a checking
process without end (measured: 1590 → 2564 MiB over 40 hard-set checks, still rising);
0 keeps it flat but costs 20 % CPU; 200 cost 5 % and held 1849 MiB."""


def _compile_openvino(ocr: Any, *, f32: bool) -> None:
    """Compile a rapidocr instance's OpenVINO models again with our settings
    (:func:`_openvino_request`)."""
    for attr in ("text_det", "text_rec"):
        session = getattr(ocr, attr).session
        session.session = _openvino_request(session.model, f32=f32)


def _openvino_request(model: Any, *, f32: bool) -> Any:
    """An infer request on ``model`` (an OpenVINO model) compiled for the CPU with our
    settings: the shape cache bounded (:data:`OPENVINO_SHAPE_CACHE`), one unpinned thread
    as in :meth:`RapidOCREngine._new`, and with ``f32`` held to f32 (OpenVINO picks bf16 on
    CPUs with native bf16)."""
    from openvino import Core

    config = {"INFERENCE_NUM_THREADS": "1", "ENABLE_CPU_PINNING": "False",
              "CPU_RUNTIME_CACHE_CAPACITY": str(OPENVINO_SHAPE_CACHE)}
    if f32:
        config["INFERENCE_PRECISION_HINT"] = "f32"
    return Core().compile_model(model, "CPU", config).create_infer_request()


def _set_det_side(ocr: Any, side: int | None) -> None:
    """Point a borrowed rapidocr instance's detector at ``side`` (the long side it sees)."""
    side = int(side or DET_MAX_SIDE)
    if ocr.text_det is not None:
        # the loaded detector reads its own attribute (its configuration only when it is
        # built): an omegaconf write on every read cost about half a millisecond
        ocr.text_det.limit_side_len = side
    else:
        ocr.cfg.Det.limit_side_len = side


def _quad_height(quad) -> float | None:
    """The height of a horizontal line's quadrilateral across its direction (the mean of
    its left and right sides); None for a line that runs more down than across (a vertical
    CJK column keeps its upright box)."""
    q = np.asarray(quad, np.float64)
    if q.shape != (4, 2):
        return None
    across = (np.linalg.norm(q[1] - q[0]) + np.linalg.norm(q[2] - q[3])) / 2
    down = (np.linalg.norm(q[3] - q[0]) + np.linalg.norm(q[2] - q[1])) / 2
    if down >= across:
        return None
    return round(float(down), 1)


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


def _plain(ocr: Any) -> None:
    """Restore an instance's call parameters: rapidocr keeps those of the last call."""
    ocr.update_params(use_det=True, use_cls=False, use_rec=True, return_word_box=False,
                      return_single_char_box=False)


def _is_hangul(ch: str) -> bool:
    return 0xAC00 <= ord(ch) <= 0xD7AF or 0x3130 <= ord(ch) <= 0x318F


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
    """Line crops lower than this are upscaled to it for tesseract (at most 4×)."""
    LINE_MAX_PX = 56
    """Line crops higher than this are scaled down to it. tesseract's Korean model misreads
    large lines of thin strokes: a regular-weight subtitle in a 96 px crop came out as
    ``월 | OF PE] SICH 50% 알 인``, the same crop at 24–64 px as the text itself. 56 rather
    than 64: at 64 a bold 200 px price line lost its ``원`` on one of three seeds."""

    HANGUL_DOUBT = 0.8
    """A tesseract read holding Hangul below this confidence is doubtful (see :meth:`_line`)."""
    OTHER_SURE = 0.9
    """rapidocr's read of a line overrides a doubtful Hangul read at this confidence or more."""

    def __init__(self, detector: RapidOCREngine, lang: str = LANG) -> None:
        self.detector = detector
        self.tesseract = TesseractEngine(lang, self.CONFIG)  # EngineUnavailable without kor
        self.name = f"{detector.name}+tesseract-kor"

    def read(self, img: np.ndarray, det_side: int | None = None) -> list[OCRLine]:
        arr = _rgb(img)
        boxes = self.detector.detect(arr, det_side)
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
        return self._line(crop)[:2]

    def _line(self, crop: np.ndarray) -> tuple[str, float, bool]:
        """One line crop's read and confidence, and whether it is tesseract's Hangul read.
        tesseract's read is kept when it holds Hangul, unless it is a doubtful one (below
        :data:`HANGUL_DOUBT`) of a line that rapidocr reads with near certainty (at least
        :data:`OTHER_SURE`) as letters of its own scripts (Han, kana, Latin): tesseract's
        Korean model forces Hangul onto any glyphs, and read a stray ``爆款`` as ``배제`` at
        0.21 and ``好物`` as ``기`` at 0.51, which left the stray words unreported. On the
        examples' Hangul lines (every image of ``bench examples`` on ``winter-sale-ko``,
        seeds 11–20) tesseract read 0.81 and up, except price lines (``59,000 원`` at
        0.47–0.79), and rapidocr, which has no Hangul, read surely only digits there
        (``59,000``) — never a letter above 0.84."""
        text, conf = self._tesseract_line(crop)
        if any(_is_hangul(c) for c in text):
            if conf >= self.HANGUL_DOUBT:
                return text, conf, True
            r_text, r_conf = self.detector.recognize(crop)
            if r_conf >= self.OTHER_SURE and any(c.isalpha() and not _is_hangul(c) for c in r_text):
                return r_text, r_conf, False
            return text, conf, True
        r_text, r_conf = self.detector.recognize(crop)
        if r_text.strip() and r_conf >= TEXT_SCORE:
            return r_text, r_conf, False
        return text, conf, False

    def recognize(self, line: np.ndarray) -> tuple[str, float]:
        """rapidocr's recogniser on one crop (:mod:`qa.lookalike` reads a lone glyph with it)."""
        return self.detector.recognize(line)

    def read_glyphs(self, img: np.ndarray) -> list[tuple[str, float, tuple[int, int, int, int],
                                                         tuple[int, int, int, int]]]:
        """Every character read, as :meth:`RapidOCREngine.read_glyphs` gives them: in a line
        that holds Hangul, tesseract's own character boxes, with the line's tesseract
        confidence (rapidocr's boxes there are guesses: it cannot read the Hangul around a
        digit, and the box it gave the ``0`` of ``최대 50%`` covered ``대 5``); every other
        line as rapidocr reads it."""
        arr = _rgb(img)
        out: list[tuple[str, float, tuple[int, int, int, int], tuple[int, int, int, int]]] = []
        hangul_lines: list[tuple[int, int, int, int]] = []
        for box in self.detector.detect(arr):
            x0, y0, x1, y1 = box
            crop = arr[max(0, y0):y1, max(0, x0):x1]
            if crop.size == 0:
                continue
            text, conf, hangul = self._line(crop)
            if not hangul:
                continue
            hangul_lines.append(box)
            for ch, (bx0, by0, bx1, by1) in self._tesseract_symbols(crop):
                out.append((ch, conf, (max(0, x0) + bx0, max(0, y0) + by0, max(0, x0) + bx1,
                                       max(0, y0) + by1), box))
        for entry in self.detector.read_glyphs(arr):
            line = entry[3]
            cx, cy = (line[0] + line[2]) / 2, (line[1] + line[3]) / 2
            if not any(b[0] <= cx <= b[2] and b[1] <= cy <= b[3] for b in hangul_lines):
                out.append(entry)
        return out

    def _prepared(self, crop: np.ndarray) -> tuple[np.ndarray, float, int]:
        """A line crop as tesseract reads it: grey, dark on light, scaled to
        :data:`LINE_PX`–:data:`LINE_MAX_PX` high, padded; with the scale and the pad."""
        gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
        border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
        if float(np.median(border)) < 128:  # light text on a dark ground
            gray = 255 - gray
        h = gray.shape[0]
        f = 1.0
        if h < self.LINE_PX:
            f = min(4.0, self.LINE_PX / max(h, 1))
            gray = cv2.resize(gray, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC)
        elif h > self.LINE_MAX_PX:
            f = self.LINE_MAX_PX / h
            gray = cv2.resize(gray, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        pad = max(8, gray.shape[0] // 4)
        gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        return gray, f, pad

    def _tesseract_symbols(self, crop: np.ndarray) -> list[tuple[str, tuple[int, int, int, int]]]:
        """tesseract's characters of one line crop, each with its box in the crop's pixels."""
        from PIL import Image

        gray, f, pad = self._prepared(crop)
        tess = self.tesseract._tess
        try:
            data = tess.image_to_boxes(Image.fromarray(gray), lang=self.tesseract.lang,
                                       config=self.tesseract.config, output_type=tess.Output.DICT)
        except tess.TesseractError as exc:
            raise QAError(f"tesseract failed: {exc}") from exc
        height = gray.shape[0]
        out = []
        for ch, left, bottom, right, top in zip(data.get("char", []), data.get("left", []),
                                                data.get("bottom", []), data.get("right", []),
                                                data.get("top", [])):
            if not ch.strip():
                continue
            out.append((ch, (int((left - pad) / f), int((height - top - pad) / f),
                             int(np.ceil((right - pad) / f)), int(np.ceil((height - bottom - pad) / f)))))
        return out

    def _tesseract_line(self, crop: np.ndarray) -> tuple[str, float]:
        gray, _, _ = self._prepared(crop)
        lines = self.tesseract.read(np.stack([gray] * 3, axis=-1))
        if not lines:
            return "", 0.0
        text = " ".join(ln.text for ln in lines)
        weight = sum(len(ln.text) for ln in lines) or 1
        return text, sum(ln.confidence * len(ln.text) for ln in lines) / weight


def estimate_text_px(text: str, box_w: float, box_h: float) -> float:
    """About how high ``text`` is drawn when set as large as it fits a ``box_w``×``box_h``
    px box, on one line or wrapped (CJK and full-width characters one em wide, others
    0.6 em; lines 1.25 em apart)."""
    ems = sum(1.0 if ord(ch) >= 0x2E80 else 0.6 for ch in text.strip()) or 1.0
    return max(min(box_h / (1.25 * k), box_w * k / ems) for k in range(1, 7))


def page_det_side(width: int, height: int, texts_and_boxes) -> int | None:
    """The long side at which to detect the text of a ``width``×``height`` page whose
    expected texts are ``texts_and_boxes`` (``(text, (x, y, w, h) fractions)``): see
    :data:`PAGE_TEXT_PX`. ``None`` (full resolution, up to :data:`DET_MAX_SIDE`) when a
    text has no box."""
    sizes = []
    for text, box in texts_and_boxes:
        if box is None:
            return None
        sizes.append(estimate_text_px(text, box[2] * width, box[3] * height))
    if not sizes:
        return None
    long_side = max(width, height)
    side = int(np.ceil(long_side * PAGE_TEXT_PX / max(1.0, min(sizes)) / 32) * 32)
    return max(PAGE_DET_MIN_SIDE, min(side, DET_MAX_SIDE, long_side))


class PageReader:
    """An engine reading one page in spec mode, where the boxes say how large the text
    is: the whole page is detected at :func:`page_det_side` (at 1024² with large copy,
    640 px: a third of the pixels; at 2048², typically half the side: a quarter) and every
    line found is recognised at full resolution. Any other image (a crop the check
    re-reads) is read as the engine reads it."""

    def __init__(self, engine: RapidOCREngine | HangulEngine, shape: tuple[int, int],
                 det_side: int) -> None:
        self.engine = engine
        self.shape = shape
        self.det_side = det_side
        self.name = engine.name
        self.scripts = engine.scripts

    def read(self, img: np.ndarray) -> list[OCRLine]:
        arr = np.asarray(img)
        page = tuple(arr.shape[:2]) == self.shape
        return self.engine.read(arr, det_side=self.det_side if page else None)


def for_page(engine, shape: tuple[int, int], texts_and_boxes):
    """``engine`` as a :class:`PageReader` for a page of ``shape`` (h, w) whose expected
    texts and boxes are ``texts_and_boxes``; ``engine`` itself when the page would be
    detected at full resolution anyway or the engine cannot detect at a given scale."""
    if not isinstance(engine, (RapidOCREngine, HangulEngine)):
        return engine
    side = page_det_side(shape[1], shape[0], texts_and_boxes)
    if side is None or side >= min(max(shape), DET_MAX_SIDE):
        return engine
    return PageReader(engine, tuple(shape), side)


def _rgb(img: np.ndarray) -> np.ndarray:
    arr = np.asarray(img)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    elif arr.shape[2] == 4:
        arr = arr[:, :, :3]
    return arr.astype(np.uint8, copy=False)


def _bgr(img: np.ndarray) -> np.ndarray:
    """``img`` as rapidocr takes it: a contiguous BGR ``uint8`` copy. OpenCV swaps the
    channels byte for byte as numpy's reversed view does, at a fraction of the cost
    (measured on a 2048² page: about 2 against 13 ms CPU)."""
    arr = np.ascontiguousarray(_rgb(img))
    if arr.size == 0:  # OpenCV refuses an empty image
        return np.ascontiguousarray(arr[:, :, ::-1])
    return cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)


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
