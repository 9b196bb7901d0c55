"""Writing a report: JSON for machines, an overlay image for people.

Overlay colours: each expected region's box is green (``ok``) or red (anything else),
labelled with its id and verdict, and for a failing region with what was expected beside
what was read (labels sized for the canvas: :func:`label_size`); where the text was read somewhere
other than its box (``misplaced``, or a region without a box) the read box is outlined too;
unexpected text is boxed orange.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from qa.errors import BadImage
from qa.models import BoxTuple, QAReport

GREEN = (0, 200, 0)
RED = (230, 0, 0)
ORANGE = (255, 140, 0)
GREY = (150, 150, 150)

_LABEL_FONTS = [
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.ttc",
]


def write_report(report: QAReport, path: Path) -> None:
    """Write ``report`` as indented JSON to ``path`` (parent folders are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report.model_dump_json(indent=2), encoding="utf-8")


def render_overlay(image: str | Path, report: QAReport, out: Path, *,
                   pixels: np.ndarray | None = None) -> None:
    """Draw ``report`` over ``image`` and save it at ``out``: JPEG (quality 85) for a
    ``.jpg``/``.jpeg`` name — a review aid, about 15× faster to write than PNG — else PNG.
    ``pixels`` (the image already decoded, RGB) saves decoding it again."""
    if pixels is not None:
        base = Image.fromarray(np.ascontiguousarray(pixels[:, :, :3]))  # RGB, a copy
    else:
        try:
            with Image.open(image) as im:
                base = im.convert("RGB")
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise BadImage(f"cannot read image {image}: {exc.__class__.__name__}",
                           path=str(image)) from exc
    w, h = base.size
    draw = ImageDraw.Draw(base)
    width = max(2, round(max(w, h) / 600))
    font = _font(label_size(w, h))

    for f in report.regions:
        colour = GREEN if f.kind == "ok" else RED
        if f.kind == "ok":
            label = f"{f.region_id}: ok"
        else:  # what was expected beside what was read, so a person sees the difference
            label = (f"{f.region_id}: {f.kind}\nexpected '{_short(f.expected)}'\n"
                     f"read '{_short(f.read) if f.read else '(nothing)'}'")
        if f.box is not None:
            rect = _rect(f.box, w, h)
            draw.rectangle(rect, outline=colour, width=width)
            _label(draw, rect, label, colour, font)
        if f.read_box is not None and (f.box is None or f.kind == "misplaced"):
            rect = _rect(f.read_box, w, h)
            draw.rectangle(rect, outline=colour, width=width)
            if f.box is None or f.kind == "misplaced":
                _label(draw, rect, label if f.box is None else f"{f.region_id}: read here",
                       colour, font)
    stray = [(f, ORANGE, f"unexpected '{f.read}'") for f in report.unexpected]
    stray += [(f, GREY, f"repeats {f.region_id}") for f in report.repeats]
    for f, colour, label in stray:
        if f.read_box is None:
            continue
        rect = _rect(f.read_box, w, h)
        draw.rectangle(rect, outline=colour, width=width)
        _label(draw, rect, label, colour, font)

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() in (".jpg", ".jpeg"):
        base.save(out, format="JPEG", quality=85)
    else:
        base.save(out, format="PNG", compress_level=1)  # a review aid: speed over size


def _rect(box: BoxTuple, w: int, h: int) -> tuple[int, int, int, int]:
    x, y, bw, bh = box
    x0, y0 = int(x * w), int(y * h)
    return x0, y0, max(x0 + 1, int((x + bw) * w)), max(y0 + 1, int((y + bh) * h))


def label_size(width: int, height: int) -> int:
    """Label text height (px) for a ``width``×``height`` overlay: about 1/60 of the long
    side, so labels stay readable when the overlay is shown scaled to fit a screen (a
    2048×512 banner gets 34 px labels, not 12), never more than 1/8 of the short side."""
    return max(14, min(round(max(width, height) / 60), round(min(width, height) / 8)))


def _short(text: str | None, limit: int = 48) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _label(draw: ImageDraw.ImageDraw, rect: tuple[int, int, int, int], text: str,
           colour: tuple[int, int, int], font: ImageFont.ImageFont | ImageFont.FreeTypeFont) -> None:
    """Text on a filled tab just above the box (below it, or inside it, when there is no
    room above); kept inside the image."""
    W, H = draw.im.size
    left, top, right, bottom = draw.multiline_textbbox((0, 0), text, font=font, spacing=4)
    pad = max(3, round((bottom - top) / 12))
    tw, th = right - left + 2 * pad, bottom - top + 2 * pad
    if rect[1] - th >= 0:
        y = rect[1] - th
    elif rect[3] + th <= H:
        y = rect[3]
    else:
        y = rect[1]
    x = max(0, min(rect[0], W - tw))
    draw.rectangle((x, y, x + tw, y + th), fill=colour)
    draw.multiline_text((x + pad - left, y + pad - top), text, fill=(255, 255, 255), font=font,
                        spacing=4)


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    for path in _LABEL_FONTS:
        if Path(path).is_file():
            try:
                index = 2 if path.endswith("NotoSansCJK-Regular.ttc") else 0
                return ImageFont.truetype(path, size=size, index=index)
            except OSError:
                continue
    return ImageFont.load_default(size=size)
