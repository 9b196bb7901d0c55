"""Checking one image: is every expected text there, spelt exactly, where it belongs?

The cascade keeps cost low:

1. read the whole image once with the judge engine (rapidocr);
2. for each region with a box, join the whole-image lines that fall in the box (reading
   order; a line break reads as a space) and compare normalised keys — exact means ``ok``;
3. only regions that do not read exactly get a second, dearer pass: a crop with a margin,
   upscaled so its text is about :data:`TARGET_TEXT_PX` high (plus a polarity-inverted
   variant on a dark background); that read overrides the whole-image read when it matches;
4. a region still not matching is ``misplaced`` (its text is read exactly elsewhere),
   ``illegible`` (something there, read with low confidence), ``misspelt`` (read,
   differently: with a character diff) or ``missing`` (nothing there);
5. whole-image lines that belong to no region are ``unexpected`` and fail the image —
   except, in a check without boxes, a line that repeats a verified text (or one of the
   lines it was read from) exactly, at the same size and apart from it: that is the copy
   drawn again (two shirts, four packs), listed in the report's ``repeats``; and, in a
   check without boxes whose every text was verified, other text that looks like scene
   text (apart from the copy, not a phrase as prominent as it: :func:`incidental`) sends
   the image to ``review`` — neither accepted nor failed;
   with a ``recheck`` engine (the pipeline's: OpenVINO held to f32, when the judge runs at
   bf16 for speed), an image that did not pass cleanly is judged again, steps 1–5, wholly
   by that engine: a failing verdict is never the fast engine's alone (the fast
   judgement, kept only when it passes cleanly, therefore stops at its first failing
   region and runs its look-alike checks last, once everything else has passed);
6. optionally, a region still ``illegible`` is shown to a blind vision reader
   (:class:`qa.vision.VisionReader`); it passes only by :func:`qa.vision.vision_confirms`.

A region passes ONLY on an exact read after normalisation: no fuzzy acceptance, no
look-alike folding, no snapping a read to the expected text. One bounded exception, for
legal-size text (OCR lines under :data:`SMALL_TEXT_PX` high): letter case and sentence
punctuation (``. , ; : ! ?`` not between digits) are below what the judge resolves
reliably at that size, so a confident read that differs from the expected text ONLY in
those passes — with a note on the finding saying what was not verified; footnote marks
(``*``, ``※``) likewise, in any script. Letters, digits, prices (a ``.``/``,`` between
digits is kept) and all other CJK text stay exact.

A second exception, for the judge's own misreads (``detalls``, ``6月80日`` on correct
lines): in the final judgement, a region whose closest read differs from the expected
text by at most two substituted characters (and marks the judge did not see) passes when
an independent reader with another prior — tesseract, dictionaries off, on the judge's
lines — reads the expected text exactly AND the glyph of each substituted character is
not the judge's character by its shape (positive shape evidence for the expected
character where the pair is a look-alike pair or involves a digit). See
:mod:`qa.second_reader`; the finding's note names the characters in dispute.
"""

from __future__ import annotations

import re
import statistics
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from qa import align, lookalike, metrics, second_reader
from qa.errors import BadImage, QAError
from qa.glyphs import (FOOTNOTE_MARKS, fold, identical_note, pictograph_note, pictographs,
                       same_text)
from qa.image import load_image
from qa.models import BoxTuple, CharDiff, ExpectedText, Finding, OCRLine, QAReport, Strictness
from qa.normalize import has_cjk, is_traditional, normalize, wants_simplified
from qa.ocr import HangulEngine, OCREngine, Reader, get_engine, resolve_recheck_runtime
from qa.scripts import judges
from qa.vision import VisionReader, vision_confirms

TARGET_TEXT_PX = 40
"""Crops are upscaled so a text line is about this many pixels high."""

MAX_UPSCALE = 4.0
MAX_CROP_SIDE = 2000
MIN_CONFIDENCE = 0.6
"""Reads below this (character-weighted) confidence are not reliable: ``illegible``, and
not reported as unexpected text."""

BOXLESS_UNEXPECTED_CONFIDENCE = 0.8
"""In a check without boxes (``signwriter qa --expect``), a line no expected text accounts
for is reported as unexpected text only when read at least this surely. Without boxes
every line of the picture is a candidate, and icons read as text at moderate confidence:
on the real-image set's tuning half (``bench/real``, case and punctuation not judged) a
knife, plate and fork read ``iol`` at 0.70, five stars ``食食食食食`` at 0.76, furigana
``Lレ`` at 0.65 — three correct images failed only on those; no wrong image of that half
was caught only by a read under 0.8. With boxes the floor stays :data:`MIN_CONFIDENCE`:
every character on the image must be accounted for."""

CANDIDATE_MIN_SIMILARITY = 50.0
"""A text found without a box must be at least this similar to be reported as misspelt
rather than missing."""

MAX_WINDOW_LINES = 6

SMALL_TEXT_PX = 40
"""OCR line boxes lower than this (in image pixels) hold small text, where letter case and
sentence punctuation are not judged (see the module docstring). rapidocr's line boxes are
about 1.5–2.3× the type size (its detector pads each line), so this is type under about
18–20 px: legal lines and footnotes; headlines, prices and calls to action are far above.
A line's height is measured across its direction (:attr:`qa.models.OCRLine.text_height`),
not as its upright box: a 17 px legal line across a poster tilted 3.5° has a box three
times as high as its type, which made it body text here and in :mod:`qa.lookalike`
(paired runs, the same images before → after: ``bench qa --set hard``, rotated ±4°, false
rejects seed 4 3 → 3, seed 5 8 → 5, held out seed 73 10 → 9 and seed 74 12 → 11, catch
100 % throughout; ``--set lookalike-hard``, rotated ±2°, seeds 1–4 and 6–8: look-alikes
accepted 15 → 13, false rejects 28 → 26). What it costs: legal-size type is judged with
legal-size margins, whose shape evidence is noisier (a correct ``0`` of ``6月30日`` in a
Hei face failed twice on seed 74 where its tilted line had been body text)."""

_SENTENCE_PUNCT = frozenset(".,;:!?\"'") | FOOTNOTE_MARKS
"""Marks not judged in small Latin text: sentence punctuation, footnote marks (``*``, ``※``
…) and quotes (at legal size ``*`` and ``"`` are a few pixels of ink each). In small CJK
text only the footnote marks (:data:`qa.glyphs.FOOTNOTE_MARKS`) are not judged: the judge
drops a legal-size ``※`` but reads ``。`` and ``、``, and every ideograph and kana stays
exact."""

VISION_MARGIN = 0.25
"""Margin around an illegible region's box for the vision crop, as a fraction of its height."""

PixelBox = tuple[int, int, int, int]


@dataclass
class _Read:
    text: str
    lines: list[OCRLine]
    engine: str
    source: str  # "page", "crop", "crop-inverted"
    ids: set[int] = field(default_factory=set)
    note: str = ""

    @property
    def confidence(self) -> float:
        return align.mean_confidence(self.lines)

    @property
    def box(self) -> PixelBox | None:
        return align.union_box(self.lines)


def check_image(image: str | Path, expected: list[ExpectedText], *, reader: Reader | None = None,
                second_opinion: bool = False, locate: bool = True,
                vision: VisionReader | None = None,
                pixels: np.ndarray | None = None, recheck: Reader | None = None) -> QAReport:
    """OCR-check ``image`` against ``expected`` and return the report (never raises for a
    failed check). ``reader`` defaults to the rapidocr judge (with, unless ``recheck`` is
    given, the default second judgement below); ``second_opinion`` adds a
    tesseract read of each region to its ``note`` (advisory: it never changes a verdict);
    ``locate=False`` ignores boxes and searches the whole image for each text.
    ``vision`` (optional) transcribes regions still ``illegible`` blind; such a region
    passes only on an exact transcription that no confident local read contradicts.

    ``recheck``, a second engine, judges again from scratch an image whose whole-image
    ``reader`` read did not pass (the verdict is then ``recheck``'s; the crop cascade runs
    only in that second judgement). ``pixels``: the image already decoded (RGB ``uint8``,
    from :func:`load_image`), so it is not decoded twice; ``image`` then only names it in
    the report.

    Raises :class:`~qa.errors.BadImage` for an unreadable file and
    :class:`~qa.errors.EngineUnavailable` when an engine cannot run.
    """
    t0 = time.perf_counter()
    arr = load_image(image) if pixels is None else pixels
    h, w = arr.shape[:2]
    if reader is None and recheck is None:  # the default judge, as the pipeline runs it
        recheck = get_engine("rapidocr", runtime=resolve_recheck_runtime())
    # the judge for the copy's scripts (Hangul: rapidocr's detector + tesseract kor); in
    # spec mode it detects the page at the resolution the smallest expected text allows
    engine, recheck = judges(reader or get_engine("rapidocr"), recheck, expected,
                             arr.shape[:2] if locate else None)
    judge_again = recheck if recheck is not None and recheck is not engine else None
    # glyph reads of the look-alike check, shared by both judgements: a region whose box
    # the second judgement reads as the first did is not read glyph by glyph again
    reads: lookalike.GlyphReads = {}
    # a first judgement that a second one would redo unless it passes cleanly stops at its
    # first failing region and leaves the look-alike check until it has read cleanly
    ctx = _Context(arr=arr, page=engine.read(arr), engine=engine, cascade=judge_again is None,
                   glyph_reads=reads, provisional=judge_again is not None)
    judged = _judge(ctx, expected, locate)
    clean = False
    if judged is not None:
        findings, used, boxes_px = judged
        unexpected = _unexpected(ctx, used, boxes_px) + _residue(ctx, expected, findings, locate)
        clean = all(f.kind == "ok" for f in findings) and not unexpected
    if judge_again is not None and not (clean and _lookalikes_hold(ctx)):
        # the fast read did not pass cleanly: judge again, wholly, at full precision, so a
        # failing verdict is never the fast engine's alone
        ctx = _Context(arr=arr, page=judge_again.read(arr), engine=judge_again,
                       glyph_reads=reads)
        findings, used, boxes_px = _judged(ctx, expected, locate)
        unexpected = (_unexpected(ctx, used, boxes_px)
                      + _residue(ctx, expected, findings, locate))
    if vision is not None:
        for exp, f in zip(expected, findings):
            if f.kind == "illegible":
                _ask_vision(ctx, vision, exp, f)
    if second_opinion:
        _add_second_opinion(ctx, expected, findings)

    repeats: list[Finding] = []
    boxless = not locate or all(e.box is None for e in expected)
    if boxless:
        unexpected, repeats = _split_repeats(ctx, expected, findings, unexpected)

    pairs = [(e.text, f.read or "", e.strictness) for e, f in zip(expected, findings)]
    passed = all(f.kind == "ok" for f in findings) and not unexpected
    review = (boxless and not passed and all(f.kind == "ok" for f in findings)
              and incidental(ctx, findings, unexpected))
    if review:
        unexpected = [u.model_copy(update={"note": u.note + "; apart from the copy, not a "
                                           "phrase as prominent as it: for review"})
                      for u in unexpected]
    return QAReport(
        image=str(image), width=w, height=h, passed=passed,
        score=metrics.score(findings, unexpected),
        word_accuracy=metrics.word_accuracy(pairs), ned=metrics.ned(pairs),
        regions=findings, unexpected=unexpected, repeats=repeats, review=review,
        engine=ctx.engine.name,
        elapsed_s=round(time.perf_counter() - t0, 3), not_judged=not_judged(expected),
    )


def not_judged(expected: list[ExpectedText]) -> list[str]:
    """What a check of ``expected`` does not judge, region by region (for the report)."""
    out = []
    case = [e.id for e in expected if not e.strictness.case]
    punct = [e.id for e in expected if not e.strictness.punctuation]
    picto = [(e.id, pictographs(e.text)) for e in expected if pictographs(e.text)]
    if case:
        out.append("letter case (case: any): " + ", ".join(case))
    if punct:
        out.append("punctuation: " + ", ".join(punct))
    if picto:
        out.append("pictographs: " + ", ".join(f"{rid} {' '.join(p)}" for rid, p in picto))
    return out


def _judge(ctx: _Context, expected: list[ExpectedText], locate: bool
           ) -> tuple[list[Finding], set[int], list[PixelBox]] | None:
    """A finding per expected text (in order), the page lines they used, their pixel boxes
    (the lines each finding used are in ``ctx.region_lines``, by the finding's index).
    In a provisional judgement (:attr:`_Context.provisional`) None as soon as a region
    does not pass: the image is judged again anyway, and nothing of this one is kept."""
    w, h = ctx.size
    used: set[int] = set()
    boxes_px: list[PixelBox] = []
    ctx.region_lines = {}
    order = sorted(range(len(expected)), key=lambda i: expected[i].box is None or not locate)
    by_index: dict[int, Finding] = {}
    for i in order:
        exp = expected[i]
        if not normalize(exp.text, exp.strictness):  # nothing an OCR can verify (✨✨)
            by_index[i] = Finding(region_id=exp.id, kind="ok", expected=exp.text, box=exp.box,
                                  engine=ctx.engine.name,
                                  note=pictograph_note(exp.text) or "no text to verify")
            continue
        if exp.box is not None and locate:
            pbox = _to_pixels(exp.box, w, h)
            boxes_px.append(pbox)
            finding, ids = _check_boxed(ctx, exp, pbox)
        else:
            finding, ids = _check_unboxed(ctx, exp)
        if ctx.provisional and finding.kind != "ok":
            return None
        used |= ids
        ctx.region_lines[i] = set(ids)
        by_index[i] = finding
    return [by_index[i] for i in range(len(expected))], used, boxes_px


def _judged(ctx: _Context, expected: list[ExpectedText], locate: bool
            ) -> tuple[list[Finding], set[int], list[PixelBox]]:
    """:func:`_judge` for a judgement that is not provisional (it always judges every region)."""
    judged = _judge(ctx, expected, locate)
    if judged is None:  # pragma: no cover - only a provisional judgement stops early
        raise QAError("a final judgement stopped early")
    return judged


def _lookalikes_hold(ctx: _Context) -> bool:
    """Whether every read of a provisional judgement that passed on its text passes the
    look-alike check too (:func:`_verified`, left until then): checked in the order the
    regions were judged, up to the first doubt (the image is then judged again)."""
    for exp, read in ctx.deferred:
        if _doubts(ctx, exp, read):
            return False
    return True


@dataclass
class _Context:
    arr: np.ndarray
    page: list[OCRLine]
    engine: OCREngine
    cascade: bool = True  # re-read regions that did not read exactly from crops
    region_lines: dict[int, set[int]] = field(default_factory=dict)  # by expected index
    glyph_reads: lookalike.GlyphReads = field(default_factory=dict)  # of this image
    provisional: bool = False
    """A first judgement that a second one redoes unless it passes cleanly (all regions
    ``ok``, no unexpected text): its look-alike checks wait in :attr:`deferred` until every
    region has read and no unexpected text was found (:func:`_lookalikes_hold`), and it
    stops at the first region that does not pass (:func:`_judge`). The verdict is the
    same: a judgement that would have failed is judged again either way, and one that
    passes has run every check."""
    deferred: list[tuple[ExpectedText, _Read]] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        return self.arr.shape[1], self.arr.shape[0]

    def frac(self, box: PixelBox | None) -> BoxTuple | None:
        if box is None:
            return None
        w, h = self.size
        x0, y0 = max(0, box[0]), max(0, box[1])
        x1, y1 = min(w, box[2]), min(h, box[3])
        return (round(x0 / w, 4), round(y0 / h, 4), round(max(0, x1 - x0) / w, 4),
                round(max(0, y1 - y0) / h, 4))


# --- regions with a box ---------------------------------------------------------------


def _check_boxed(ctx: _Context, exp: ExpectedText, pbox: PixelBox) -> tuple[Finding, set[int]]:
    want = normalize(exp.text, exp.strictness)
    ids = {i for i, ln in enumerate(ctx.page) if align.inside(ln.box, pbox)}
    lines = [ctx.page[i] for i in ids]
    page_read = _Read(align.join(lines), lines, ctx.engine.name, "page", ids)
    if _same(page_read.text, exp):
        return _verified(ctx, exp, page_read), ids

    # the whole-image lines near the box (text drifts, a stray word shares the box): a run
    # of them that reads exactly is the region, and whatever else is in the box stays
    # unaccounted for (unexpected); no crop re-read can turn an exact line into a failure
    near = _near(ctx, pbox)
    found = (_search(ctx, exp, exclude=set(range(len(ctx.page))) - near, whole=True)
             or _assemble(ctx, exp, near | ids, whole=True) if near | ids else None)
    if found is not None:
        return _verified(ctx, exp, found, found.note), found.ids

    reads = [page_read]
    line_h = statistics.median(ln.text_height for ln in lines) if lines else None
    for read in _crop_reads(ctx, pbox, line_h) if ctx.cascade else ():
        if _same(read.text, exp):
            # the crop read overrides the whole-image read, for the lines it explains
            return _verified(ctx, exp, read), _explained(ctx, ids, read, want, exp)
        reads.append(read)
    small = _small_text_match(exp, reads)
    if small is not None:
        return (_verified(ctx, exp, small, _small_note(small, exp)),
                ids if small.source == "page" else _explained(ctx, ids, small, want, exp))
    kana = _small_kana_match(ctx, exp, reads, whole=True)
    if kana is not None:
        read, note = kana
        return (_verified(ctx, exp, read, note),
                ids if read.source == "page" else _explained(ctx, ids, read, want, exp))
    second = _second_read(ctx, exp, reads) if ctx.cascade else None
    if second is not None:
        read, judged, note = second
        return (_verified(ctx, exp, read, note),
                ids if judged.source == "page" else _explained(ctx, ids, judged, want, exp))

    elsewhere = _search(ctx, exp, exclude=ids)
    best = _best(reads, want, exp.strictness)
    if elsewhere is not None and (best is None or _sim(exp, best) < 80.0):
        return Finding(region_id=exp.id, kind="misplaced", expected=exp.text, read=elsewhere.text,
                       box=exp.box, read_box=ctx.frac(elsewhere.box),
                       similarity=_sim(exp, elsewhere), confidence=elsewhere.confidence,
                       engine=elsewhere.engine,
                       note="read exactly outside its box"), ids | elsewhere.ids
    if best is None:
        return Finding(region_id=exp.id, kind="missing", expected=exp.text, box=exp.box,
                       engine=ctx.engine.name, note="no text read in the box"), ids
    return _wrong(ctx, exp, best), ids


NEAR_MARGIN = 0.6
"""A whole-image line is *near* a box when it overlaps the box grown by this fraction of
the line's height on every side (text drifts a little from where it was asked for)."""


def _near(ctx: _Context, pbox: PixelBox) -> set[int]:
    out = set()
    for i, ln in enumerate(ctx.page):
        m = int(NEAR_MARGIN * (ln.box[3] - ln.box[1]))
        grown = (pbox[0] - m, pbox[1] - m, pbox[2] + m, pbox[3] + m)
        if align.inside(ln.box, grown, min_cover=0.5):
            out.add(i)
    return out


def _explained(ctx: _Context, ids: set[int], read: _Read, want: str, exp: ExpectedText) -> set[int]:
    """The whole-image lines of a box that a matching crop read accounts for: those whose
    text is part of the expected text, or that mostly lie under a line of the crop read
    (the same text, misread on the whole-image pass). Any other line in the box is text
    the region did not ask for."""
    out = set()
    for i in ids:
        ln = ctx.page[i]
        key = normalize(ln.text, exp.strictness)
        if key and key in want:
            out.add(i)
        elif any(align.inside(ln.box, r.box, min_cover=0.5) for r in read.lines):
            out.add(i)
    return out


def _in_image(ln: OCRLine, x0: int, y0: int, k: float) -> OCRLine:
    """A line read on a crop whose top left is (``x0``, ``y0``) in the image, upscaled ``k``
    times: its box and height in image pixels."""
    return ln.model_copy(update={
        "box": (int(x0 + ln.box[0] / k), int(y0 + ln.box[1] / k),
                int(x0 + ln.box[2] / k), int(y0 + ln.box[3] / k)),
        "height": None if ln.height is None else ln.height / k})


def _crop_reads(ctx: _Context, pbox: PixelBox, line_h: float | None) -> Iterator[_Read]:
    """Reads of an upscaled crop with margin (and its inverse on a dark background),
    lazily, so a matching first variant costs one OCR call; boxes mapped to the image."""
    w, h = ctx.size
    bh = max(1, pbox[3] - pbox[1])
    text_h = line_h or min(bh, TARGET_TEXT_PX * 2)
    margin = max(8, int(0.35 * text_h))
    x0, y0 = max(0, pbox[0] - margin), max(0, pbox[1] - margin)
    x1, y1 = min(w, pbox[2] + margin), min(h, pbox[3] + margin)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return
    crop = ctx.arr[y0:y1, x0:x1]
    scale = min(MAX_UPSCALE, max(1.0, TARGET_TEXT_PX / max(text_h, 1)))
    scale = min(scale, MAX_CROP_SIDE / max(crop.shape[:2]))
    scale = max(scale, 1.0)
    if scale > 1.01:
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    variants: list[tuple[str, np.ndarray, float]] = [("crop", crop, scale)]
    gray = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY)
    if float(np.median(gray)) < 128:
        variants.append(("crop-inverted", 255 - crop, scale))
    seen_h: list[float] = []
    seen_conf: list[float] = []
    seen_boxes: list[PixelBox] = []
    for source, img, k in variants:
        lines = [_in_image(ln, x0, y0, k) for ln in ctx.engine.read(np.ascontiguousarray(img))]
        seen_h += [ln.text_height for ln in lines]
        seen_boxes += [ln.box for ln in lines]
        seen_conf.append(align.mean_confidence(lines))
        yield _Read(align.join(lines), lines, ctx.engine.name, source)
    # small or faint type (nothing read on the page, small lines, or only an unsure read):
    # larger still, with local contrast evened out (CLAHE)
    small = line_h is None or (seen_h and statistics.median(seen_h) < SMALL_TEXT_PX)
    if not (small or max(seen_conf, default=0.0) < MIN_CONFIDENCE):
        return
    if seen_boxes:  # where the text was seen, with a margin
        ux0, uy0 = min(b[0] for b in seen_boxes), min(b[1] for b in seen_boxes)
        ux1, uy1 = max(b[2] for b in seen_boxes), max(b[3] for b in seen_boxes)
        m = max(6, int(0.3 * statistics.median(seen_h)))
        x0, y0 = max(0, ux0 - m), max(0, uy0 - m)
        x1, y1 = min(w, ux1 + m), min(h, uy1 + m)
    src = ctx.arr[y0:y1, x0:x1]
    if src.size == 0:
        return
    big = min(MAX_UPSCALE, max(ENHANCED_MIN_UPSCALE, ENHANCED_UPSCALE * scale),
              MAX_CROP_SIDE / max(src.shape[:2]))
    if big < scale * 1.2:
        return
    g = cv2.cvtColor(np.ascontiguousarray(src), cv2.COLOR_RGB2GRAY)
    g = cv2.resize(g, None, fx=big, fy=big, interpolation=cv2.INTER_CUBIC)
    even = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8)).apply(g)
    lines = [_in_image(ln, x0, y0, big)
             for ln in ctx.engine.read(np.ascontiguousarray(np.stack([even] * 3, axis=-1)))]
    yield _Read(align.join(lines), lines, ctx.engine.name, "crop-enhanced")


ENHANCED_UPSCALE = 1.5
ENHANCED_MIN_UPSCALE = 3.0
"""The last crop variant, for small or faint text, is this much larger than the first (at
least 3×) and contrast-evened: faint 13–16 px legal lines that read as garbage at 1–2×
read right at 3×."""


# --- regions without a box --------------------------------------------------------------


def _check_unboxed(ctx: _Context, exp: ExpectedText) -> tuple[Finding, set[int]]:
    found = _search(ctx, exp, exclude=set()) or _assemble(ctx, exp, set(range(len(ctx.page))))
    if found is not None:
        return _verified(ctx, exp, found, found.note), found.ids
    want = normalize(exp.text, exp.strictness)
    windows = [r for block in _blocks(ctx.page, set()) for r in _windows(ctx, block)]
    best = _best(windows, want, exp.strictness)
    if best is None or _sim(exp, best) < CANDIDATE_MIN_SIMILARITY:
        return Finding(region_id=exp.id, kind="missing", expected=exp.text,
                       engine=ctx.engine.name, note="not read anywhere in the image"), set()
    box = best.box or (0, 0, 1, 1)
    reads = [best]
    for read in _crop_reads(ctx, box, statistics.median(ln.text_height for ln in best.lines)):
        if _matches(read.text, exp):
            read.ids = best.ids
            return _verified(ctx, exp, read), best.ids
        reads.append(read)
    small = _small_text_match(exp, reads)
    if small is not None:
        return _verified(ctx, exp, small, _small_note(small, exp)), best.ids
    kana = _small_kana_match(ctx, exp, reads, whole=False)
    if kana is not None:
        return _verified(ctx, exp, kana[0], kana[1]), best.ids
    chosen = _best(reads, want, exp.strictness) or best
    return _wrong(ctx, exp, chosen), best.ids


def _search(ctx: _Context, exp: ExpectedText, exclude: set[int], *, whole: bool = False
            ) -> _Read | None:
    """The smallest run of whole-image lines (within one text block) that contains
    ``exp.text`` exactly after normalisation (``whole``: that is exactly it), or None."""
    found: list[_Read] = []
    want = normalize(exp.text, exp.strictness)
    for block in _blocks(ctx.page, exclude):
        for read in _windows(ctx, block):
            if _same(read.text, exp) if whole else _matches(read.text, exp):
                found.append(read)
    if not found:
        return None
    return min(found, key=lambda r: (len(r.lines), len(r.text)))


def _same(text: str, exp: ExpectedText) -> bool:
    """``text`` reads exactly ``exp.text``: equal keys, or keys equal position by position
    but for identical glyphs (:func:`qa.glyphs.same_text`); a separator of the expected
    text (`` - ``, `` | ``, a line break …) may have become a line break."""
    s = exp.strictness
    if normalize(text, s) == normalize(exp.text, s):
        return True
    cased = Strictness(case=True, punctuation=s.punctuation, whitespace=s.whitespace)
    if same_text(normalize(exp.text, cased), normalize(text, cased), case=s.case):
        return True
    loose = _unseparated(exp.text)
    if loose != exp.text:
        return same_text(normalize(loose, cased), normalize(_unseparated(text), cased),
                         case=s.case)
    return False


SEPARATORS = re.compile(r"\s+[-–—|/·•・]+\s+|\s*\n\s*")
"""Separators between the parts of a piece of copy (`` - ``, `` | ``, `` / ``, `` · ``, a
line break): on a poster they often become a line break or a new panel, so a read without
them still matches — with a note."""


def _unseparated(text: str) -> str:
    return SEPARATORS.sub(" ", text)


def _separator_note(exp: ExpectedText, read: str) -> str:
    seps = sorted({m.group().strip() or "line break" for m in SEPARATORS.finditer(exp.text)})
    if not seps:
        return ""
    s = Strictness(case=False, punctuation=True, whitespace=False)
    if normalize(exp.text, s) in normalize(read, s):
        return ""
    return "separators " + ", ".join(repr(x) for x in seps) + " read as line breaks"


def _assemble(ctx: _Context, exp: ExpectedText, candidates: set[int], *, whole: bool = False
              ) -> _Read | None:
    """``exp.text`` put together from whole-image lines among ``candidates`` (panels,
    columns, blocks apart, vertical CJK one column per line): a chain of lines, each
    holding the next piece of it exactly, each next to the one before in a reading order —
    the next line of a row below, the next words of a row to its right, the next column of
    vertical text to its left (or below it in the same column); None when no chain reads
    exactly it (under ``exp``'s strictness; a separator may be a line break). ``whole`` is
    kept for the callers' symmetry: a chain is always the whole text, never more.

    Chains are searched depth first over the lines whose key is a piece of the expected
    key, so lines of other texts in between (another bubble's column, a label between two
    lines) do not break a chain, and a piece that is misread breaks it (no chain, no
    pass). In a vertical line (:func:`_vertical`), an upright ``I`` and the length mark
    ``ー`` (turned upright in vertical setting) are one stroke (:data:`VERTICAL_IDENTICAL`)."""
    del whole
    s = exp.strictness
    cased = Strictness(case=True, punctuation=s.punctuation, whitespace=False)
    want = normalize(_unseparated(exp.text), cased)
    if not want:
        return None
    want_v = _vfold(want)

    def fits(key: str, vert: bool, pos: int) -> bool:
        target = want_v if vert else want
        return (pos + len(key) <= len(target)
                and same_text(target[pos:pos + len(key)], key, case=s.case))

    pieces: dict[int, tuple[str, bool]] = {}
    for i in candidates:
        ln = ctx.page[i]
        if ln.confidence < MIN_CONFIDENCE:
            continue
        key = normalize(_unseparated(ln.text), cased)
        if not key:
            continue
        vert = _vertical(ln)
        key = _vfold(key) if vert else key
        if any(fits(key, vert, pos) for pos in range(len(want) - len(key) + 1)):
            pieces[i] = (key, vert)
    if not pieces:
        return None
    breaks = _sentence_breaks(exp.text, want, cased)
    budget = [ASSEMBLE_STEPS]

    def extend(pos: int, chain: list[tuple[int, int]]) -> list[tuple[int, int]] | None:
        if pos == len(want):
            return chain
        budget[0] -= 1
        if budget[0] < 0:
            return None
        last = ctx.page[chain[-1][0]] if chain else None
        taken = {j for j, _ in chain}
        options = [j for j, (key, vert) in pieces.items()
                   if j not in taken and fits(key, vert, pos)
                   and (last is None or _follows(last, ctx.page[j], near=pos not in breaks))]
        if last is not None:  # the nearest piece first
            options.sort(key=lambda j: _gap(last.box, ctx.page[j].box))
        for j in options:
            found = extend(pos + len(pieces[j][0]), chain + [(j, pos)])
            if found:
                return found
        return None

    chain = extend(0, [])
    if not chain or len(chain) < 2 and not pieces[chain[0][0]][1]:
        return None  # one horizontal line is _search's to find
    run = [ctx.page[j] for j, _ in chain]
    text = " ".join(ln.text.strip() for ln in run)
    how = ("columns right to left" if all(pieces[j][1] for j, _ in chain) else "lines")
    note = f"read across {len(run)} {how}" if len(run) > 1 else ""
    if any(pieces[j][1] and not fits(normalize(_unseparated(ctx.page[j].text), cased), False, pos)
           for j, pos in chain):
        note = _append(note, "vertical text: an upright I and the length mark ー read as "
                             "one stroke")
    return _Read(text, run, ctx.engine.name, "page", {j for j, _ in chain}, note=note)


SENTENCE_END = re.compile(r"(?:[。！？!?…]+|\.(?=\s|$))[」』”\"')）]*")
"""The end of a sentence (with its closing quotes or brackets): a long text may go on in
another bubble, panel or column from there, anywhere on the image."""


def _sentence_breaks(text: str, want: str, strictness: Strictness) -> set[int]:
    """Positions in the key ``want`` (of ``text``) where a sentence of ``text`` ends, or a
    separator (`` - ``, `` | ``, a line break) stands."""
    out = set()
    for m in list(SENTENCE_END.finditer(text)) + list(SEPARATORS.finditer(text)):
        key = normalize(_unseparated(text[:m.end()]), strictness)
        if 0 < len(key) < len(want) and same_text(want[:len(key)], key, case=True):
            out.add(len(key))
    return out


ASSEMBLE_STEPS = 20000
"""At most this many partial chains are tried per expected text (a page of short lines that
each occur in the text many times cannot make the search blow up)."""

VERTICAL_IDENTICAL = "ー一丨|IlＩｌ"
"""Drawn as one upright stroke in a vertical line: the length mark ``ー`` (set upright in
vertical text), the ideograph one, and an upright capital I or small l (``AI`` set upright
in a vertical bubble reads ``Aー``). Compared as one character in vertical lines only;
digits are never among them."""

_VFOLD = {ord(ch): "ー" for ch in VERTICAL_IDENTICAL}


def _vfold(key: str) -> str:
    return key.translate(_VFOLD)


def _vertical(ln: OCRLine) -> bool:
    """A vertical line: much taller than wide, and CJK or at least three characters long
    (upright Latin set in a column of vertical text, ``Claude!`` between two columns of
    Japanese; one or two narrow Latin letters can be tall on their own)."""
    x0, y0, x1, y1 = ln.box
    return (y1 - y0) >= 1.8 * max(1, x1 - x0) and (has_cjk(ln.text)
                                                   or len(ln.text.strip()) >= 3)


FOLLOW_GAP = 4.0
"""How far (in character sizes: a horizontal line's height, a vertical line's width) the
next piece of a text may be from the one before."""


def _follows(a: OCRLine, b: OCRLine, *, near: bool = True) -> bool:
    """``b`` can be the next piece of a text after ``a`` in a reading order: for a
    horizontal line, ``b`` is further along its row or on a following row; for a vertical
    line, ``b`` is a column to its left, further down its column, or wholly below it (the
    next panel) — and, when ``near``, close to it (:data:`FOLLOW_GAP`)."""
    ax0, ay0, ax1, ay1 = a.box
    bx0, by0, bx1, by1 = b.box
    va = _vertical(a)
    size = max(min(ax1 - ax0, ay1 - ay0), min(bx1 - bx0, by1 - by0), 1)
    gap_x = max(bx0 - ax1, ax0 - bx1, 0)
    gap_y = max(by0 - ay1, ay0 - by1, 0)
    if near and max(gap_x, gap_y) > FOLLOW_GAP * size:
        return False
    acx, acy = (ax0 + ax1) / 2, (ay0 + ay1) / 2
    bcx, bcy = (bx0 + bx1) / 2, (by0 + by1) / 2
    if va:
        return (bcx < acx - 0.3 * size or (abs(bcx - acx) < 0.5 * size and bcy > acy)
                or (not near and by0 >= ay1))
    overlap_y = min(ay1, by1) - max(ay0, by0)
    same_row = overlap_y >= 0.5 * min(ay1 - ay0, by1 - by0)
    return (bcx > acx if same_row else bcy > acy)


def _occurs(want: str, got: str, case: bool) -> Iterator[int]:
    """Where ``want`` occurs in ``got`` (case-preserving keys), identical glyphs and (unless
    ``case``) letter case aside."""
    n = len(want)
    for start in range(len(got) - n + 1):
        if same_text(want, got[start:start + n], case=case):
            yield start


def _matches(text: str, exp: ExpectedText) -> bool:
    """``exp.text`` equals ``text``, or appears in it as whole words (CJK: as a run not
    directly preceded or followed by another CJK character, so a doubled or extra ideograph
    at either end is not hidden inside a longer read)."""
    s = exp.strictness
    if not normalize(exp.text, s):
        return False
    if _same(text, exp):
        return True
    cased = Strictness(case=True, punctuation=s.punctuation, whitespace=s.whitespace)
    want, got = normalize(exp.text, cased), normalize(text, cased)
    spaced = Strictness(case=True, punctuation=s.punctuation, whitespace=True)
    want_ws, got_ws = normalize(exp.text, spaced), normalize(text, spaced)
    if has_cjk(want_ws):
        for start in _occurs(want, got, s.case):
            end = start + len(want)
            before = got[start - 1] if start > 0 else ""
            after = got[end] if end < len(got) else ""
            if not (_ideograph(before) and _ideograph(want[0])) and not (
                    _ideograph(after) and _ideograph(want[-1])):
                return True
        return False
    for start in _occurs(want_ws, got_ws, s.case):
        end = start + len(want_ws)
        before = got_ws[start - 1] if start > 0 else " "
        after = got_ws[end] if end < len(got_ws) else " "
        if not before.isalnum() and not after.isalnum():
            return True
    return False


def _ideograph(ch: str) -> bool:
    """A CJK letter (ideograph, kana, hangul), not CJK punctuation."""
    return bool(ch) and has_cjk(ch) and unicodedata.category(ch).startswith("L")


def _blocks(page: list[OCRLine], exclude: set[int]) -> list[list[int]]:
    """Line indices grouped into text blocks: lines that overlap horizontally and are at
    most ~one line height apart vertically (or share a row) belong together."""
    ids = [i for i in range(len(page)) if i not in exclude]
    parent = {i: i for i in ids}

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a_i, a in enumerate(ids):
        ba = page[a].box
        for b in ids[a_i + 1:]:
            bb = page[b].box
            lh = max(ba[3] - ba[1], bb[3] - bb[1])
            gap_y = max(ba[1], bb[1]) - min(ba[3], bb[3])
            gap_x = max(ba[0], bb[0]) - min(ba[2], bb[2])
            if (gap_y <= 1.0 * lh and gap_x <= 0) or (gap_y < -0.5 * lh and gap_x <= 1.5 * lh):
                parent[root(a)] = root(b)
    groups: dict[int, list[int]] = {}
    for i in ids:
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def _windows(ctx: _Context, block: list[int]) -> Iterator[_Read]:
    """Contiguous runs of a block's lines in reading order, up to :data:`MAX_WINDOW_LINES`."""
    ordered = align.in_reading_order([ctx.page[i] for i in block])
    index = {id(ctx.page[i]): i for i in block}
    for start in range(len(ordered)):
        for end in range(start + 1, min(len(ordered), start + MAX_WINDOW_LINES) + 1):
            lines = ordered[start:end]
            yield _Read(" ".join(l.text.strip() for l in lines), lines, ctx.engine.name,
                        "page", {index[id(l)] for l in lines})


# --- verdicts ---------------------------------------------------------------------------


def _sim(exp: ExpectedText, read: _Read) -> float:
    return align.similarity(normalize(exp.text, exp.strictness), normalize(read.text, exp.strictness))


def _best(reads: list[_Read], want: str, strictness: Strictness) -> _Read | None:
    """The non-empty read most similar to ``want`` (earlier reads win ties)."""
    best: _Read | None = None
    best_sim = -1.0
    for r in reads:
        key = normalize(r.text, strictness)
        if not key:
            continue
        sim = align.similarity(want, key)
        if sim > best_sim:
            best, best_sim = r, sim
    return best


def _verified(ctx: _Context, exp: ExpectedText, read: _Read, extra: str = "") -> Finding:
    """``ok`` for a read that matches ``exp`` — once every look-alike-prone character of
    it is verified glyph by glyph (:func:`qa.lookalike.verify`); else ``misspelt``, with
    each doubt in the note and as a diff."""
    if not lookalike.suspects(exp.text) or read.box is None:
        return _ok(ctx, exp, read, extra)
    if ctx.provisional:  # checked once the whole judgement has read cleanly
        ctx.deferred.append((exp, read))
        return _ok(ctx, exp, read, extra)
    doubts = _doubts(ctx, exp, read)
    if not doubts:
        return _ok(ctx, exp, read, extra)
    diff = [CharDiff(op="replace", expected=d.char, read=d.likely or "?", position=d.index)
            for d in doubts]
    seen = list(exp.text)
    for d in doubts:
        seen[d.index] = d.likely or "?"
    seen_text = "".join(seen)
    note = (f"look-alike: the line reads {read.text!r}, but " + "; ".join(d.describe() for d in doubts))
    return Finding(region_id=exp.id, kind="misspelt", expected=exp.text, read=seen_text,
                   box=exp.box, read_box=ctx.frac(read.box),
                   similarity=round(align.similarity(exp.text, seen_text), 2),
                   confidence=read.confidence, diff=diff, engine=read.engine,
                   note=_append(note, extra) if extra else note)


def _doubts(ctx: _Context, exp: ExpectedText, read: _Read) -> list[lookalike.Doubt]:
    """The look-alike check of a read that matches ``exp`` (:func:`qa.lookalike.verify`)."""
    line_h = statistics.median(ln.text_height for ln in read.lines)
    return lookalike.verify(ctx.arr, read.box, exp.text, _glyph_engine(ctx), line_height=line_h,
                            read_confidence=read.confidence, reads=ctx.glyph_reads)


def _ok(ctx: _Context, exp: ExpectedText, read: _Read, extra: str = "") -> Finding:
    note = "" if read.source == "page" else f"read on the {read.source} pass"
    for more in (_leniency_note(exp, read.text), extra, pictograph_note(exp.text)):
        if more:
            note = _append(note, more)
    return Finding(region_id=exp.id, kind="ok", expected=exp.text, read=read.text, box=exp.box,
                   read_box=ctx.frac(read.box), similarity=100.0, confidence=read.confidence,
                   engine=read.engine, note=note)


def _leniency_note(exp: ExpectedText, read: str) -> str:
    """What a passing read differs in from the expected text, that was not judged: letter
    case (``case: any``), identical glyphs (:mod:`qa.glyphs`); ``""`` when nothing."""
    s = exp.strictness
    notes = []
    cased = Strictness(case=True, punctuation=s.punctuation, whitespace=s.whitespace)
    want, got = normalize(exp.text, cased), normalize(read, cased)
    if not s.case and want not in got and want.lower() in got.lower():
        notes.append(f"letter case not judged (case: any): read {read!r}")
    if want not in got:
        same = identical_note(want, got)
        if same:
            notes.append(same)
    sep = _separator_note(exp, read)
    if sep:
        notes.append(sep)
    return "; ".join(notes)


def _wrong(ctx: _Context, exp: ExpectedText, read: _Read) -> Finding:
    want = normalize(exp.text, exp.strictness)
    got = normalize(read.text, exp.strictness)
    conf = read.confidence
    notes = []
    if wants_simplified(exp.language, exp.text):
        trad = [c for c in dict.fromkeys(read.text) if is_traditional(c)]
        if trad:
            notes.append("Traditional Chinese where Simplified is expected: " + "".join(trad))
    kind = "illegible" if conf < MIN_CONFIDENCE else "misspelt"
    if kind == "illegible":
        notes.append(f"low-confidence read ({conf:.2f})")
    picto = pictograph_note(exp.text)
    if picto:
        notes.append(picto)
    return Finding(region_id=exp.id, kind=kind, expected=exp.text, read=read.text, box=exp.box,
                   read_box=ctx.frac(read.box), similarity=round(align.similarity(want, got), 2),
                   confidence=conf, diff=align.char_diff(want, got), engine=read.engine,
                   note="; ".join(notes))


def _small_key(text: str, strictness: Strictness, marks: frozenset[str] = _SENTENCE_PUNCT
               ) -> str:
    """``text``'s key with letter case folded and ``marks`` not between digits dropped
    (the differences small text cannot show reliably)."""
    key = normalize(text, Strictness(case=False, punctuation=True,
                                     whitespace=strictness.whitespace))
    return "".join(ch for i, ch in enumerate(key) if ch not in marks or (
        0 < i < len(key) - 1 and key[i - 1].isdigit() and key[i + 1].isdigit()))


def _small_marks(exp: ExpectedText) -> frozenset[str]:
    """The marks not judged in ``exp`` at legal size: sentence punctuation and footnote
    marks in Latin text, footnote marks only in CJK text."""
    return FOOTNOTE_MARKS if has_cjk(exp.text) else _SENTENCE_PUNCT


def _small_text_match(exp: ExpectedText, reads: list[_Read]) -> _Read | None:
    """A confident read of small text that differs from ``exp`` only in what small text
    cannot show reliably (:func:`_small_marks`, letter case; see :data:`SMALL_TEXT_PX`),
    or None."""
    marks = _small_marks(exp)
    want = _small_key(exp.text, exp.strictness, marks)
    if not want:
        return None
    for read in reads:
        if not read.lines or read.confidence < MIN_CONFIDENCE:
            continue
        if statistics.median(ln.text_height for ln in read.lines) >= SMALL_TEXT_PX:
            continue
        if _small_key(read.text, exp.strictness, marks) == want:
            return read
    return None


def _small_note(read: _Read, exp: ExpectedText | None = None) -> str:
    height = statistics.median(ln.text_height for ln in read.lines)
    what = ("footnote marks (" + " ".join(sorted(FOOTNOTE_MARKS)) + ")"
            if exp is not None and has_cjk(exp.text)
            else "letter case and sentence punctuation")
    return f"small text ({height:.0f} px lines, read {read.text!r}): {what} not verified"


def _small_kana_match(ctx: _Context, exp: ExpectedText, reads: list[_Read], *, whole: bool
                      ) -> tuple[_Read, str] | None:
    """A read that is the expected text but for small kana read full-size (``セキュリテイ``
    for ``セキュリティ``: the judge reads a line without its glyphs' sizes), each of which
    is small by its measured height (:func:`qa.lookalike.small_kana_doubts`); (the read, the
    note), or None. ``whole``: the read must be the text (a region's box), else contain it."""
    if not any(ch in lookalike.SMALL_KANA for ch in exp.text):
        return None
    folded = exp.model_copy(update={"text": lookalike.full_size(exp.text)})
    for read in reads:
        text = lookalike.full_size(read.text)
        if read.box is None or not (_same(text, folded) if whole else _matches(text, folded)):
            continue
        line_h = statistics.median(ln.text_height for ln in read.lines)
        doubts = lookalike.small_kana_doubts(ctx.arr, read.box, exp.text, _glyph_engine(ctx),
                                             line_height=line_h, reads=ctx.glyph_reads)
        if doubts == []:
            return read, (f"the judge read {read.text!r}: its small kana, read full-size, "
                          "are small by their height")
    return None


def _second_read(ctx: _Context, exp: ExpectedText, reads: list[_Read]
                 ) -> tuple[_Read, _Read, str] | None:
    """A region no read of the judge matches, rescued by the second reader
    (:mod:`qa.second_reader`, whose docstring gives the rule): the judge's closest read
    differs only by a few substituted characters (and marks it did not see), tesseract
    reads the expected text exactly on the judge's lines, and no substituted glyph is the
    judge's character by its shape (:func:`qa.lookalike.verify_disputed`). (the second
    reader's read, the judge's read it rescues, the note), or None. The look-alike-prone characters of the text are then
    verified by the caller, as on any exact read."""
    want = normalize(exp.text, exp.strictness)
    judged = _best(reads, want, exp.strictness)
    lang = second_reader.lang_for(exp.text)
    if judged is None or judged.box is None or lang is None \
            or judged.confidence < MIN_CONFIDENCE:
        return None
    # small text: what small text does not judge (case, sentence punctuation) is not in
    # dispute either (see _small_text_match)
    small = statistics.median(ln.text_height for ln in judged.lines) < SMALL_TEXT_PX
    strict = (Strictness(case=False, punctuation=exp.strictness.punctuation,
                         whitespace=exp.strictness.whitespace) if small else exp.strictness)
    marks = _small_marks(exp) if small else frozenset()
    dispute = second_reader.disputes(exp.text, judged.text, strict, marks)
    if dispute is None:
        return None
    subs, dropped = dispute
    want_small = _small_key(exp.text, exp.strictness, marks)
    judged_key = _small_key(judged.text, exp.strictness, marks)
    text = None
    try:
        for t in second_reader.readings(ctx.arr, judged.lines, lang):
            if _same(t, exp) or small and _small_key(t, exp.strictness, marks) == want_small:
                text = t
                break
            if _small_key(t, exp.strictness, marks) == judged_key:
                break  # both readers read what the judge read: that is what is drawn
    except QAError:  # no tesseract or no language data: no second reader, no rescue
        return None
    if text is None:
        return None
    line_h = statistics.median(ln.text_height for ln in judged.lines)
    doubts = lookalike.verify_disputed(ctx.arr, judged.box, exp.text,
                                       subs, _glyph_engine(ctx),
                                       line_height=line_h, reads=ctx.glyph_reads)
    if doubts:
        return None
    read = _Read(text, judged.lines, "tesseract", "second-reader", set(judged.ids))
    note = (f"the judge read {judged.text!r}; tesseract (dictionaries off) reads the "
            f"expected text on the judge's lines, and no glyph in dispute is the judge's "
            f"character by its shape: " + second_reader.describe(subs, dropped, exp.text))
    return read, judged, note


def _glyph_engine(ctx: _Context):
    """The engine that reads a region glyph by glyph for :mod:`qa.lookalike`."""
    inner = getattr(ctx.engine, "engine", ctx.engine)  # a PageReader reads with its engine
    if isinstance(inner, HangulEngine):  # Hangul lines: glyphs located by tesseract's boxes
        return inner
    return ctx.engine if hasattr(ctx.engine, "read_glyphs") else get_engine("rapidocr")


def _ask_vision(ctx: _Context, vision: VisionReader, exp: ExpectedText, f: Finding) -> None:
    """Show an illegible region to the blind vision reader; pass it only when
    :func:`~qa.vision.vision_confirms` says so. A failing reader leaves a note."""
    frac = f.box or f.read_box
    if frac is None:
        return
    w, h = ctx.size
    x0, y0, x1, y1 = _to_pixels(frac, w, h)
    m = max(6, int(VISION_MARGIN * (y1 - y0)))
    crop = ctx.arr[max(0, y0 - m):min(h, y1 + m), max(0, x0 - m):min(w, x1 + m)]
    if crop.size == 0:
        return
    if crop.shape[0] < 64:
        scale = min(4.0, 64 / crop.shape[0])
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    try:
        said = vision.transcribe(np.ascontiguousarray(crop))
    except QAError as exc:
        f.note = _append(f.note, f"vision reader unavailable: {exc}")
        return
    pbox = (x0, y0, x1, y1)
    local = [(ln.text, ln.confidence) for ln in ctx.page if align.inside(ln.box, pbox)]
    if f.read:
        local.append((f.read, f.confidence))
    if vision_confirms(exp.text, said, local, strictness=exp.strictness,
                       min_local_confidence=MIN_CONFIDENCE):
        f.kind = "ok"
        f.read = said
        f.similarity = 100.0
        f.diff = []
        f.engine = vision.name
        f.note = _append(f.note, "illegible to OCR; a blind vision read matches exactly")
    else:
        f.note = _append(f.note, f"vision read {said!r} (does not confirm)")


def _unexpected(ctx: _Context, used: set[int], boxes: list[PixelBox]) -> list[Finding]:
    """Confident whole-image lines that no region accounts for — outside every box, or
    inside a box whose region read exactly without them (a stray word across a legal
    line). A line in the box of a region that failed is that region's (misread) text.
    Without boxes, only lines read at :data:`BOXLESS_UNEXPECTED_CONFIDENCE` or more."""
    out: list[Finding] = []
    floor = MIN_CONFIDENCE if boxes else BOXLESS_UNEXPECTED_CONFIDENCE
    for i, ln in enumerate(ctx.page):
        if i in used:
            continue
        if ln.confidence < floor:
            continue
        meaningful = [c for c in ln.text if c.isalnum()]
        if len(meaningful) < 2 and not any(has_cjk(c) for c in meaningful):
            continue
        out.append(Finding(kind="unexpected", read=ln.text, read_box=ctx.frac(ln.box),
                           confidence=ln.confidence, engine=ln.engine,
                           note="text that no region asked for"))
    return out


def _residue(ctx: _Context, expected: list[ExpectedText], findings: list[Finding],
             locate: bool) -> list[Finding]:
    """Words on the lines of a text found without a box that are not that text: a search
    finds ``Summer Sale`` inside the line ``HOT Summer Sale``, and ``HOT`` is then text
    no region asked for — unless it is another expected text read on the same line
    (``Clawd → Moltbot → OpenClaw``). Only letters, digits and CJK count (punctuation and
    symbols are judged, or not, with the region's text)."""
    out: list[Finding] = []
    oks = [(e, f) for e, f in zip(expected, findings) if f.kind == "ok" and f.read]
    for i, (exp, f) in enumerate(zip(expected, findings)):
        if f.kind != "ok" or not f.read or (exp.box is not None and locate):
            continue
        # the whole-image lines the text was found on (a crop re-read's margin may hold
        # a neighbour's text, which is judged as the page line it is)
        lines = [ctx.page[j] for j in ctx.region_lines.get(i, ())]
        if not lines:
            continue
        s = exp.strictness
        cased = Strictness(case=True, punctuation=s.punctuation, whitespace=False)
        got = normalize(_unseparated(align.join(lines)), cased)
        rest = _remove(got, normalize(_unseparated(exp.text), cased), s.case)
        if rest is None or rest == got:
            continue  # exact, or matched only through vertical folding: nothing to split
        for other, _ in oks:
            if other is not exp:
                rest = _remove(rest, normalize(_unseparated(other.text), cased), s.case) or rest
        left = "".join(ch for ch in rest if ch.isalnum() or ch == " ").strip()
        if len(left.replace(" ", "")) < 2 and not has_cjk(left):
            continue
        out.append(Finding(kind="unexpected", read=left, read_box=f.read_box,
                           confidence=f.confidence, engine=f.engine,
                           note=f"on the line of {exp.id} ({f.read!r}): text that no region "
                                f"asked for"))
    return out


def _remove(got: str, want: str, case: bool) -> str | None:
    """``got`` with the first occurrence of ``want`` (position by position, identical
    glyphs and, unless ``case``, letter case aside) replaced by a space; None when
    ``want`` does not occur."""
    if not want:
        return None
    for start in _occurs(want, got, case):
        return got[:start] + " " + got[start + len(want):]
    return None


REPEAT_SIZE_RATIO = 1.5
"""A repeat of the copy is drawn at the same size when its character size is within this
factor of the copy's (either way)."""

REPEAT_MIN_GAP = 1.5
"""…and stands apart from it: at least this many character sizes from every line the copy
was read from (a word doubled next to itself is the copy misdrawn, not a second copy)."""


def _split_repeats(ctx: _Context, expected: list[ExpectedText], findings: list[Finding],
                   unexpected: list[Finding]) -> tuple[list[Finding], list[Finding]]:
    """``unexpected`` split into the text that still fails the image, and the repeats of
    the copy: lines that read exactly a verified expected text, or one of the lines it was
    read from, again — at the same size and apart from it (a second T-shirt, four packs
    of one product range, a billboard and its reflection). Without boxes the check does
    not know how many times a text is meant to appear, and a repeat adds no words that
    were not asked for; with boxes it does, so this split is for box-less checks only.
    Words repeated at another size are another element of the layout (a caption, a label
    nobody asked for) and stay unexpected, as does anything not read exactly."""
    loose = Strictness(case=True, punctuation=False, whitespace=False)
    copies: list[tuple[str, list[OCRLine], float, str]] = []
    for i, (exp, f) in enumerate(zip(expected, findings)):
        ids = ctx.region_lines.get(i, set())
        if f.kind != "ok" or not ids:
            continue
        lines = [ctx.page[j] for j in ids]
        keys = {_repeat_key(exp.text, loose)} | {_repeat_key(ln.text, loose) for ln in lines}
        size = statistics.median(_char_size(ln) for ln in lines)
        for key in keys:
            if len(key) >= 2:
                copies.append((key, lines, size, exp.id))
    if not copies:
        return unexpected, []
    keep: list[Finding] = []
    repeats: list[Finding] = []
    for u in unexpected:
        ln = next((l for l in ctx.page if l.text == u.read and ctx.frac(l.box) == u.read_box),
                  None)
        key = _repeat_key(u.read or "", loose)
        match = None
        if ln is not None and key:
            size = _char_size(ln)
            for ckey, lines, csize, rid in copies:
                if (same_text(ckey, key, case=False) and max(size, csize) <= REPEAT_SIZE_RATIO * min(size, csize)
                        and all(_gap(ln.box, c.box) >= REPEAT_MIN_GAP * max(size, csize)
                                for c in lines)):
                    match = rid
                    break
        if match is None:
            keep.append(u)
        else:
            repeats.append(u.model_copy(update={
                "kind": "repeat", "region_id": match,
                "note": f"repeats {match}'s text at the same size, apart from it; "
                        "not judged as extra copy"}))
    return keep, repeats


PROMINENT_RATIO = 0.8
"""Other text at least this large (character size, against the median of the lines the
copy was read from) and :data:`PHRASE_CHARS` long is as prominent as the copy: a caption or
a sound effect nobody asked for, never scene text for review."""

PHRASE_CHARS = 5
"""Letters, digits and CJK characters from which a line of other text is a phrase rather
than a logo, a jersey number, a code or a label (``10``, ``AFA``, ``美团美团``, ``9:16``)."""


def incidental(ctx: _Context, findings: list[Finding], unexpected: list[Finding]) -> bool:
    """Whether the other text of a check without boxes whose every expected text was
    verified is scene text for a person to judge (:attr:`QAReport.review`) rather than
    a failure. Without boxes the check knows what must be on the image, not what else
    may be: a logo on a box, numbers on a jersey, a screen's title bar, a label inside
    an icon are in images people call correct, while other images carry a caption or a
    sound effect nobody asked for. OCR cannot tell the two apart, so such an image is
    neither accepted nor failed: it goes to review with the text boxed. It stays a
    failure when any of the other text

    * is not a whole line of its own (words on the copy's own line: :func:`_residue`),
    * touches or overlaps a line the copy was read from (text across the copy), or
    * is a phrase (:data:`PHRASE_CHARS`) as prominent as the copy (:data:`PROMINENT_RATIO`).
    """
    if not unexpected:
        return False
    copy = [ctx.page[j] for ids in ctx.region_lines.values() for j in ids]
    sizes = [_char_size(ln) for ln in copy]
    if not sizes:
        return False
    size = statistics.median(sizes)
    for u in unexpected:
        ln = next((l for l in ctx.page if l.text == u.read and ctx.frac(l.box) == u.read_box),
                  None)
        if ln is None:  # residue on a line of the copy
            return False
        if any(_gap(ln.box, c.box) <= 0 for c in copy):
            return False
        chars = sum(1 for c in ln.text if c.isalnum())
        if chars >= PHRASE_CHARS and _char_size(ln) >= PROMINENT_RATIO * size:
            return False
    return True


def _repeat_key(text: str, loose: Strictness) -> str:
    return normalize(_unseparated(text), loose)


def _char_size(ln: OCRLine) -> float:
    """A line's character size in pixels: a horizontal line's height, a vertical one's
    width."""
    x0, y0, x1, y1 = ln.box
    return float(max(1, min(x1 - x0, y1 - y0)))


def _gap(a: PixelBox, b: PixelBox) -> float:
    """The distance between two boxes (0 when they touch or overlap)."""
    gx = max(b[0] - a[2], a[0] - b[2], 0)
    gy = max(b[1] - a[3], a[1] - b[3], 0)
    return float((gx * gx + gy * gy) ** 0.5)


def _add_second_opinion(ctx: _Context, expected: list[ExpectedText],
                        findings: list[Finding]) -> None:
    """Advisory: tesseract reads each region's crop; agreement is noted, verdicts stand."""
    tess = get_engine("tesseract")
    w, h = ctx.size
    for exp, f in zip(expected, findings):
        frac = f.read_box or f.box
        if frac is None:
            continue
        x0, y0, x1, y1 = _to_pixels(frac, w, h)
        pad = max(6, (y1 - y0) // 4)
        crop = ctx.arr[max(0, y0 - pad):min(h, y1 + pad), max(0, x0 - pad):min(w, x1 + pad)]
        if crop.size == 0:
            continue
        try:
            text = align.join(tess.read(np.ascontiguousarray(crop)))
        except QAError as exc:
            f.note = _append(f.note, f"tesseract failed: {exc}")
            continue
        agrees = bool(text) and normalize(text, exp.strictness) == normalize(exp.text, exp.strictness)
        f.note = _append(f.note, f"tesseract read {text!r} ({'agrees' if agrees else 'differs'})")


def _append(note: str, more: str) -> str:
    return f"{note}; {more}" if note else more


# --- plumbing -----------------------------------------------------------------------------


def _to_pixels(box: BoxTuple, w: int, h: int) -> PixelBox:
    x, y, bw, bh = box
    x0, y0 = int(max(0.0, x) * w), int(max(0.0, y) * h)
    x1, y1 = int(round(min(1.0, x + bw) * w)), int(round(min(1.0, y + bh) * h))
    return x0, y0, max(x0 + 1, x1), max(y0 + 1, y1)
