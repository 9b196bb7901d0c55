"""The ``typeset`` backend: a deterministic Pillow renderer that follows a layout exactly.

It does not draw the scene a brief describes ("a steaming latte on a wooden table"): it
paints a backdrop in the layout's palette, shaped by the description's mood words (dark,
warm, radial, dots…), or uses the brief's own background picture, and places the brief's
product photos and logo (:mod:`generation.images`) or a placeholder card. Each image's
``metadata["backdrop"]`` says which.

It is the embedded default (free, offline, no GPU) and the reference for what a correct
image looks like: a designer's clean draft with every :class:`~generation.base.TextBlock`
set in a real font (:mod:`generation.fonts`), fitted to its box, wrapped, aligned and in a
colour that contrasts with what is behind it. The same request and seed always give the
same PNG bytes; another seed gives another background.

With :class:`TypesetOptions` it can also *simulate* GLM-Image: ``fault_rate`` is the
chance that an attempt gets one of the text errors the model really makes
(:mod:`generation.faults`), and ``faults`` injects given errors on every call. What was
injected is reported in ``metadata["injected"]`` so tests know what QA must find.

``edit`` repairs: it paints the region over with the local background and sets the
layout's text for the blocks there again (subject to the same fault options).
"""

from __future__ import annotations

import io
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from generation.backgrounds import (
    PxBox, paint_background, paint_placeholder, read_style, tone_for_text,
)
from generation.base import (
    BackendSpec,
    BoxTuple, Capabilities, EditRequest, Fault, GeneratedImage, GenerationRequest, Layout,
    OnSubmit, PlacedImage, SizeLimits, TextBlock,
)
from generation.errors import BackendError, ImageAssetError, InvalidRequest
from generation.faults import Injection, inject
from generation.images import logo_box, place
from generation.fonts import LINE_SPACING, FontNotFound, fit_text, is_cjk_language, script_of
from generation.legibility import (
    BUSY, Legibility, backdrop, backdrop_contrast, busyness, draw_shadow, halo_colour,
    required_contrast, text_mask,
)
from generation.palette import (
    BLACK, MIN_TEXT_CONTRAST, RGB, WHITE, Roles, contrast, luminance, mix, parse_hex, roles,
    to_hex,
)

NAME = "typeset"


class TypesetOptions(BaseModel):
    """Options of the typeset renderer (all about simulating GLM-Image's text errors)."""

    model_config = ConfigDict(extra="forbid")

    fault_rate: float = Field(0.0, ge=0.0, le=1.0, description="Chance that an attempt gets "
                              "one injected text error (0 = always clean, 1 = always one).")
    faults: list[Fault] = Field(default_factory=list, description="Errors injected on every "
                                "call, for tests.")
    fault_seed: int | None = Field(None, description="Seed for choosing faults, combined "
                                   "with each request's seed (e.g. the run's seed).")
    latency_s: float = Field(0.0, ge=0.0, le=600.0, description="Answer this many seconds "
                             "after the request (drawing included), like a remote API with a "
                             "fixed latency: for benchmarks of many workers (`bench scale`).")


@dataclass
class _Set:
    """How one text block was set."""

    size_px: int
    colour: RGB
    panel: bool
    legibility: Legibility | None = None


class TypesetBackend:
    """Renders a :class:`~generation.base.Layout` with Pillow; see the module docstring."""

    name = NAME
    capabilities = Capabilities(
        text_to_image=True, edit=True, follows_layout=True, paid=False, cost_per_image_usd=0.0,
        limits=SizeLimits(min_side=64, max_side=4096, multiple=1, max_pixels=4096 * 4096),
    )

    def __init__(self, options: TypesetOptions | None = None, **kwargs: Any) -> None:
        if options is not None and kwargs:
            raise InvalidRequest("pass either a TypesetOptions or keyword options, not both",
                                 backend=NAME)
        try:
            self.options = options or TypesetOptions(**kwargs)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg']}"
                                 for e in exc.errors())
            raise InvalidRequest(f"bad typeset options: {problems}", backend=NAME) from None

    @classmethod
    def from_options(cls, **options: Any) -> TypesetBackend:
        return cls(**options)

    # -- the protocol -------------------------------------------------------------------

    def generate(self, request: GenerationRequest, *,
                 on_submit: OnSubmit | None = None) -> GeneratedImage:
        """Draw ``request.layout``; raises :class:`InvalidRequest` without a layout."""
        started = time.perf_counter()
        attempt = request.attempt_id
        layout = self._need_layout(request.layout, attempt)
        self._check_size(request.width, request.height, attempt)
        layout, injected = self._faults(layout, request.seed, None, attempt, "generate")
        img, sets = _render(layout, request.width, request.height, request.seed, attempt)
        result = self._result(img, request.seed, started, injected, sets)
        result.metadata["backdrop"] = (
            "the brief's background picture" if layout.background_image is not None else
            "painted in the palette; the described scene is not drawn")
        self._wait(started)
        return result

    def edit(self, request: EditRequest, *, on_submit: OnSubmit | None = None) -> GeneratedImage:
        """Repaint ``request.region`` (every text block when None) and set the layout's
        text there again."""
        started = time.perf_counter()
        attempt = request.attempt_id
        layout = self._need_layout(request.layout, attempt)
        self._check_size(request.width, request.height, attempt)
        img = _open_image(request.image_path, request.width, request.height, attempt)
        areas = _edit_areas(layout, request.region)
        ids = {bid for _, blocks in areas for bid in blocks}
        new_layout, injected = self._faults(layout, request.seed, ids, attempt, "edit")
        by_id = {t.id: t for t in new_layout.texts}
        extras = [t for t in new_layout.texts if t.id not in {b.id for b in layout.texts}]
        pal = roles(layout.palette)
        sets: dict[str, _Set] = {}
        context = layout_context(layout)
        for area, blocks in areas:
            _repaint(img, _px(area, request.width, request.height), request.seed)
            for bid in blocks:
                if bid in by_id:
                    sets[bid] = _set_text(img, by_id[bid], pal, attempt, context)
        for block in extras:
            sets[block.id] = _set_text(img, block, pal, attempt, context)
        result = self._result(img, request.seed, started, injected, sets)
        result.metadata["edited_regions"] = sorted(ids)
        self._wait(started)
        return result

    def _wait(self, started: float) -> None:
        """Sleep out the rest of ``latency_s`` (a fixed latency, drawing included)."""
        rest = self.options.latency_s - (time.perf_counter() - started)
        if rest > 0:
            time.sleep(rest)

    # -- helpers -------------------------------------------------------------------------

    @staticmethod
    def _need_layout(layout: Layout | None, attempt: str | None) -> Layout:
        if layout is None:
            raise InvalidRequest("the typeset renderer needs request.layout (the text blocks "
                                 "and boxes to set); none was given", backend=NAME,
                                 attempt=attempt)
        return layout

    def _check_size(self, width: int, height: int, attempt: str | None) -> None:
        self.capabilities.limits.require(width, height, backend=NAME, attempt=attempt)

    def _faults(self, layout: Layout, seed: int, region_ids: set[str] | None,
                attempt: str | None, operation: str) -> tuple[Layout, list[Injection]]:
        """Inject the configured faults. The choice depends on ``fault_seed`` *and* the
        request's seed, so each attempt of a run (a new seed) draws afresh."""
        opts = self.options
        if not opts.faults and opts.fault_rate <= 0:
            return layout, []
        rng = random.Random(f"faults:{opts.fault_seed}:{seed}:{operation}")
        explicit = opts.faults
        if region_ids is not None:  # an edit: only faults for what it redraws
            explicit = [f for f in explicit if f.region_id is None or f.region_id in region_ids]
        count = 1 if rng.random() < opts.fault_rate else 0
        try:
            return inject(layout, rng, faults=explicit, random_faults=count,
                          region_ids=region_ids)
        except InvalidRequest as exc:
            raise InvalidRequest(exc.detail, backend=NAME, attempt=attempt) from None

    @staticmethod
    def _result(img: Image.Image, seed: int, started: float, injected: list[Injection],
                sets: dict[str, _Set]) -> GeneratedImage:
        buf = io.BytesIO()
        img.save(buf, "PNG", compress_level=3)
        return GeneratedImage(
            data=buf.getvalue(), media_type="image/png", width=img.width, height=img.height,
            seed=seed, backend=NAME, model="pillow-typeset",
            elapsed_s=round(time.perf_counter() - started, 4), cost_usd=0.0,
            metadata={
                "renderer": NAME,
                "injected": [r.model_dump() for r in injected],
                "fitted": {k: v.size_px for k, v in sets.items()},
                "text_colours": {k: to_hex(v.colour) for k, v in sets.items()},
                "panels": sorted(k for k, v in sets.items() if v.panel),
                "legibility": {k: v.legibility.as_dict() for k, v in sets.items()
                               if v.legibility is not None},
            },
        )


# -- rendering ------------------------------------------------------------------------------

def _px(box: BoxTuple, width: int, height: int) -> PxBox:
    x, y, w, h = box
    x0, y0 = round(max(0.0, x) * width), round(max(0.0, y) * height)
    x1, y1 = round(min(1.0, x + w) * width), round(min(1.0, y + h) * height)
    return x0, y0, max(x0 + 1, x1), max(y0 + 1, y1)


def _render(layout: Layout, width: int, height: int, seed: int, attempt: str | None
            ) -> tuple[Image.Image, dict[str, _Set]]:
    rng = random.Random(f"typeset:{seed}")
    pal = roles(layout.palette)
    prefer = tone_for_text([parse_hex(t.color) for t in layout.texts])
    tone = read_style(layout.background, prefer_tone=prefer).tone
    try:
        if layout.background_image is not None:  # the brief's own picture, cover-fitted
            img = Image.new("RGB", (width, height), pal.light)
            place(img, layout.background_image, (0, 0, width, height))
        else:
            img = paint_background(width, height, layout.background, pal, rng,
                                   prefer_tone=prefer)
        for box in layout.image_boxes:
            paint_placeholder(img, _px(box, width, height), pal, rng, tone=tone)
        for placed in layout.images:
            place(img, placed, _px(placed.box, width, height),
                  radius=round(min(width, height) * 0.02))
        if layout.logo_path:
            _logo(img, layout, attempt)
    except ImageAssetError as exc:
        raise ImageAssetError(exc.detail, backend=NAME, attempt=attempt) from None
    context = layout_context(layout)
    sets = {t.id: _set_text(img, t, pal, attempt, context) for t in layout.texts}
    return img, sets


def _logo(img: Image.Image, layout: Layout, attempt: str | None) -> None:
    """The logo (PNG, JPEG, WebP or SVG), whole and with its transparency, in the first
    corner no text or picture uses (:func:`generation.images.logo_box`)."""
    path = Path(layout.logo_path or "")
    if not path.is_file():
        raise InvalidRequest(f"logo file {str(path)!r} does not exist", backend=NAME,
                             attempt=attempt)
    place(img, PlacedImage(file=str(path), fit="contain"),
          _px(logo_box(layout), img.width, img.height))


def _overlap(a: BoxTuple, b: BoxTuple) -> bool:
    return not (a[0] + a[2] <= b[0] or b[0] + b[2] <= a[0]
                or a[1] + a[3] <= b[1] or b[1] + b[3] <= a[1])


def _choose_colour(wanted: RGB, backdrop: list[tuple[float, float, float]], pal: Roles,
                   minimum: float = MIN_TEXT_CONTRAST) -> RGB | None:
    """``wanted`` if it reads against the backdrop, else the most contrasting palette
    colour that does, else black or white; None when nothing reaches ``minimum``."""
    def worst(c: RGB) -> float:
        return min(contrast(c, b) for b in backdrop)

    if worst(wanted) >= minimum:
        return wanted
    good = [c for c in pal.colours if worst(c) >= minimum]
    if good:
        return max(good, key=worst)
    bw = max((BLACK, WHITE), key=worst)
    return bw if worst(bw) >= minimum else None


def _aligned_x(align: str, x0: int, x1: int, width: float) -> float:
    if align == "left":
        return float(x0)
    if align == "right":
        return x1 - width
    return x0 + (x1 - x0 - width) / 2


def layout_context(layout: Layout) -> str | None:
    """The CJK language of a layout (its first CJK text's language), or None: Latin text
    on a CJK layout is set in the same Noto CJK face so the design has one voice."""
    for t in layout.texts:
        if script_of(t.text) == "cjk":
            return t.language if is_cjk_language(t.language) else "zh"
    return None


def _line_x(align: str, x0: float, x1: float, ink: tuple[float, float, float, float]) -> float:
    """Where a line starts so that its *ink* is aligned: centred lines are centred on what
    is drawn, so a full-width ideographic comma or bracket (whose glyph sits at one side of
    its em box) does not push a CJK line off centre."""
    left, _, right, _ = ink
    if align == "left":
        return x0 - left
    if align == "right":
        return x1 - right
    return (x0 + x1) / 2 - (left + right) / 2


def _set_text(img: Image.Image, block: TextBlock, pal: Roles, attempt: str | None,
              context: str | None = None) -> _Set:
    """Fit, place and draw one text block (with a button, or a backing panel when the
    background would not let it read)."""
    W, H = img.size
    x0, y0, x1, y1 = _px(block.box, W, H)
    is_cta = block.role == "cta"
    pad_y = round((y1 - y0) * 0.18) if is_cta else 0
    pad_x = max(round(pad_y * 1.6), round((x1 - x0) * 0.05)) if is_cta else 0
    inner_w, inner_h = max(1, x1 - x0 - 2 * pad_x), max(1, y1 - y0 - 2 * pad_y)
    max_size = round(block.size * H) if block.size else None
    fit_args: dict[str, Any] = dict(weight=block.weight, family=block.font,
                                    language=block.language, context=context)
    try:
        fit = fit_text(block.text, inner_w, inner_h, max_size=max_size, **fit_args)
        if fit is None:  # copy too long for a legible size: set it small rather than drop it
            fit = fit_text(block.text, inner_w, inner_h, max_size=max_size, min_size=4,
                           **fit_args)
    except FontNotFound as exc:
        raise BackendError(str(exc), backend=NAME, attempt=attempt) from None
    if fit is None:
        return _Set(size_px=0, colour=parse_hex(block.color), panel=False)
    face = fit.typeface(block.text)
    step = fit.size * LINE_SPACING
    inks = [face.getbbox(line) if line.strip() else (0.0, 0.0, 0.0, 0.0) for line in fit.lines]
    # ink extents relative to the first baseline, to centre what is really drawn
    tops = [ink[1] + i * step for i, ink in enumerate(inks) if ink[2] > ink[0]]
    bottoms = [ink[3] + i * step for i, ink in enumerate(inks) if ink[2] > ink[0]]
    ink_top, ink_bottom = (min(tops), max(bottoms)) if tops else (-fit.size * 0.8, 0.0)
    baseline0 = y0 + (y1 - y0 - (ink_bottom - ink_top)) / 2 - ink_top
    xs = [_line_x(block.align, x0 + pad_x, x1 - pad_x, ink) for ink in inks]
    drawn = [(x + ink[0], x + ink[2]) for x, ink in zip(xs, inks) if ink[2] > ink[0]]
    left = min((d[0] for d in drawn), default=float(x0))
    right = max((d[1] for d in drawn), default=float(x0))
    text_w = right - left
    ink_box = (int(left), int(baseline0 + ink_top), int(right + 1),
               int(baseline0 + ink_bottom + 1))

    wanted = parse_hex(block.color)
    minimum = required_contrast(fit.size)
    draw = ImageDraw.Draw(img, "RGBA")
    panel = False
    shadow = False
    area = _grow(ink_box, 2, W, H)
    busy = busyness(img, area)
    if is_cta:
        button = pal.accent
        if contrast(button, wanted) < MIN_TEXT_CONTRAST and contrast(
                button, backdrop(img, ink_box)[1]) < 1.6:
            button = pal.dark if luminance(pal.accent) > 0.3 else pal.light
        bx0 = max(x0, int(left - pad_x))
        bx1 = min(x1, int(left + text_w + pad_x))
        draw.rounded_rectangle((bx0, y0, bx1, y1), radius=(y1 - y0) // 2, fill=button)
        colour = _choose_colour(wanted, [tuple(map(float, button))], pal, minimum) or max(
            (BLACK, WHITE), key=lambda c: contrast(c, button))
        legible = Legibility(contrast(colour, button), minimum, busy, "button")
    else:
        behind = backdrop(img, area)
        chosen = _choose_colour(wanted, behind, pal, minimum)
        if chosen is None:  # a busy background: put the text on a panel
            panel = True
            colour = wanted if luminance(wanted) < 0.18 or luminance(wanted) > 0.6 else BLACK
            back = mix(pal.light, WHITE, 0.5) if luminance(colour) < 0.3 else mix(
                pal.dark, BLACK, 0.3)
            if contrast(colour, back) < minimum:
                colour = BLACK if luminance(back) > 0.3 else WHITE
            m = max(6, fit.size // 3)
            draw.rounded_rectangle(_grow(ink_box, m, W, H), radius=m, fill=(*back, 235))
            legible = Legibility(backdrop_contrast(colour, backdrop(img, area)), minimum,
                                 busy, "panel")
        else:
            colour = chosen
            shadow = busy > BUSY
            legible = Legibility(backdrop_contrast(colour, behind), minimum, busy,
                                 "shadow" if shadow else "none")
    if shadow:  # a busy backdrop: a soft halo behind the glyphs
        mask, mdraw = text_mask(img.size)
        for i, line in enumerate(fit.lines):
            face.draw(mdraw, (xs[i], baseline0 + i * step), line, fill=255)
        draw_shadow(img, mask, halo_colour(colour), fit.size)
        draw = ImageDraw.Draw(img, "RGBA")
    for i, line in enumerate(fit.lines):
        face.draw(draw, (xs[i], baseline0 + i * step), line, fill=colour)
    return _Set(size_px=fit.size, colour=colour, panel=panel, legibility=legible)


def _grow(box: PxBox, m: int, width: int, height: int) -> PxBox:
    return (max(0, box[0] - m), max(0, box[1] - m), min(width, box[2] + m),
            min(height, box[3] + m))


# -- editing --------------------------------------------------------------------------------

def _open_image(path: str, width: int, height: int, attempt: str | None) -> Image.Image:
    p = Path(path)
    if not p.is_file():
        raise InvalidRequest(f"image to edit {path!r} does not exist", backend=NAME,
                             attempt=attempt)
    try:
        with Image.open(p) as src:
            img = src.convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidRequest(f"image to edit {path!r} is not a readable image: "
                             f"{type(exc).__name__}", backend=NAME, attempt=attempt) from None
    if img.size != (width, height):
        img = img.resize((width, height), Image.Resampling.LANCZOS)
    return img


def _union(a: BoxTuple, b: BoxTuple) -> BoxTuple:
    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
    x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return (x0, y0, x1 - x0, y1 - y0)


def _edit_areas(layout: Layout, region: BoxTuple | None) -> list[tuple[BoxTuple, list[str]]]:
    """What to repaint: the region grown until it holds every text block it touches (so no
    half-erased text is left), with those blocks' ids; without a region, every block."""
    if region is None:
        return [(t.box, [t.id]) for t in layout.texts]
    area, ids = region, []
    changed = True
    while changed:
        changed = False
        for t in layout.texts:
            if t.id not in ids and _overlap(area, t.box):
                ids.append(t.id)
                area = _union(area, t.box)
                changed = True
    return [(area, ids)]


def _repaint(img: Image.Image, box: PxBox, seed: int) -> None:
    """Cover ``box`` with the background just outside it: each pixel blends the smoothed
    colour profiles of the strips above/below (per column) and left/right (per row), so a
    gradient or soft shape carries through the patch; then grain like the original."""
    W, H = img.size
    m = max(3, min(W, H) // 150)
    x0, y0, x1, y1 = max(0, box[0] - m), max(0, box[1] - m), min(W, box[2] + m), min(H, box[3] + m)
    arr = np.asarray(img, np.float32)
    h, w = y1 - y0, x1 - x0
    whole = np.median(arr[y0:y1, x0:x1].reshape(-1, 3), axis=0)

    def profile(strip: np.ndarray, axis: int, n: int) -> np.ndarray | None:
        if strip.size == 0:
            return None
        prof = np.median(strip, axis=axis)  # (n, 3)
        k = max(3, n // 12)
        pad = np.pad(prof, ((k, k), (0, 0)), mode="edge")
        kernel = np.ones(2 * k + 1, np.float32) / (2 * k + 1)
        return np.stack([np.convolve(pad[:, c], kernel, mode="valid") for c in range(3)], 1)

    top = profile(arr[max(0, y0 - 2 * m):y0, x0:x1], 0, w)
    bottom = profile(arr[y1:min(H, y1 + 2 * m), x0:x1], 0, w)
    left = profile(arr[y0:y1, max(0, x0 - 2 * m):x0], 1, h)
    right = profile(arr[y0:y1, x1:min(W, x1 + 2 * m)], 1, h)
    ty = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    tx = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
    parts, weights = [], []
    if top is not None or bottom is not None:
        t = top if top is not None else bottom
        b = bottom if bottom is not None else top
        parts.append(t[None] * (1 - ty) + b[None] * ty)  # type: ignore[index]
        weights.append(1.0)
    if left is not None or right is not None:
        lft = left if left is not None else right
        rgt = right if right is not None else left
        parts.append(lft[:, None] * (1 - tx) + rgt[:, None] * tx)  # type: ignore[index]
        weights.append(1.0)
    if parts:
        patch = sum(p * wt for p, wt in zip(parts, weights)) / sum(weights)
    else:
        patch = np.broadcast_to(whole, (h, w, 3)).astype(np.float32)
    patch = patch + np.random.default_rng(seed & 0x7FFFFFFF).normal(
        0, 2.0, (h, w, 1)).astype(np.float32)
    patch_img = Image.fromarray(np.asarray(patch).clip(0, 255).astype(np.uint8), "RGB")
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).rectangle((m // 2, m // 2, w - 1 - m // 2, h - 1 - m // 2), fill=255)
    img.paste(patch_img, (x0, y0), mask.filter(ImageFilter.GaussianBlur(m / 3)))


@dataclass
class Overlaid:
    """An image with text set onto it, and how legible each overlaid block is."""

    data: bytes
    media_type: str
    legibility: dict[str, Legibility]
    colours: dict[str, str]

    @property
    def all_legible(self) -> bool:
        return all(v.ok for v in self.legibility.values())


def overlay_text(data: bytes, layout: Layout, block_ids: set[str], *,
                 attempt: str | None = None) -> Overlaid:
    """Typeset the given text blocks onto an existing picture (encoded bytes in, PNG out),
    with the same typesetter as the ``typeset`` backend.

    This is the ``overlay`` render policy: text that must be exact beyond doubt (legal
    lines, prices) is set by signwriter in the brand font onto the generated picture, in
    the area the prompt kept clear, and then verified like any other text. Each block is
    checked for WCAG contrast against what the model drew there
    (:mod:`generation.legibility`): a colour that fails is swapped for a palette colour,
    black or white that passes; when none does, the text gets a backing panel, and a busy
    backdrop gets a soft shadow. The per-block result is in :attr:`Overlaid.legibility`.
    """
    try:
        img = Image.open(io.BytesIO(data)).convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidRequest(f"cannot overlay text: not an image ({exc})", backend=NAME,
                             attempt=attempt) from None
    pal = roles(layout.palette)
    context = layout_context(layout)
    sets: dict[str, _Set] = {}
    for block in layout.texts:
        if block.id in block_ids:
            sets[block.id] = _set_text(img, block, pal, attempt, context)
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=3)
    return Overlaid(data=buf.getvalue(), media_type="image/png",
                    legibility={k: v.legibility for k, v in sets.items()
                                if v.legibility is not None},
                    colours={k: to_hex(v.colour) for k, v in sets.items()})


def overlay_blocks(data: bytes, layout: Layout, block_ids: set[str], *,
                   attempt: str | None = None) -> bytes:
    """:func:`overlay_text`, returning only the PNG bytes."""
    return overlay_text(data, layout, block_ids, attempt=attempt).data


BACKEND = BackendSpec(
    name=NAME, summary="Built-in Pillow renderer: follows the layout exactly, free, offline; "
    "paints a backdrop in the palette (or the brief's picture), does not draw the described "
    "scene; can simulate GLM-Image text errors", factory=TypesetBackend, options=TypesetOptions,
    capabilities=TypesetBackend.capabilities)
