"""Images a brief brings: a logo (PNG, JPEG, WebP or SVG), product photos and a background
picture, loaded safely and placed without distortion.

* :func:`load_image` opens a file as RGBA: raster files through Pillow (at most
  :data:`MAX_PIXELS` pixels, so a decompression bomb is an error, not a hang), SVG logos
  through resvg (``resvg-py`` wheels: no system library) after refusing any SVG that
  references another file or URL. A file that cannot be used raises :class:`ImageAssetError`
  naming the file and the reason.
* :func:`place` puts an image into a box: ``contain`` (the whole image, letterboxed,
  transparency kept: logos and cut-out products) or ``cover`` (fills the box, cropped
  around a focal point: photos and backgrounds). Never stretched.
* :func:`composite` sets a layout's images onto a picture another backend made (the
  fallback for providers that take no reference images).
* :func:`reference_png` / :func:`reference_rgb` read a picture to send as a reference
  image to a provider that takes them (PNG bytes, or an RGB image for an in-process model).
* :func:`image_palette` derives a palette from a picture (its dominant colours), for
  briefs that bring images but no brand colours.

The path has already been confined to the brief's folder or an allowed assets folder by
the caller (``agents.paths``); this module only reads what it is given.
"""

from __future__ import annotations

import base64
import io
import re
import warnings
from functools import lru_cache
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, UnidentifiedImageError

from generation.base import BoxTuple, Layout, PlacedImage, ReferenceImage
from generation.errors import ImageAssetError, InvalidRequest
from generation.palette import RGB, luminance, saturation, to_hex

RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
SVG_SUFFIXES = (".svg",)
MAX_PIXELS = 40_000_000
"""Largest decoded image (pixels) a brief may bring: 40 MP, e.g. 8000×5000."""
SVG_RENDER_PX = 1024
"""Long side an SVG logo is rasterised at before it is scaled into its box."""

_SVG_EXTERNAL = re.compile(r"""(?:href|src)\s*=\s*["'](?!#|data:)""", re.IGNORECASE)
PxBox = tuple[int, int, int, int]


@lru_cache(maxsize=32)
def _load(path: str, mtime_ns: int) -> Image.Image:
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in SVG_SUFFIXES:
        return _load_svg(p)
    if suffix not in RASTER_SUFFIXES:
        raise ImageAssetError(f"image {p.name}: {suffix or 'no suffix'} is not a PNG, JPEG, "
                              f"WebP or SVG file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as src:
                if src.width * src.height > MAX_PIXELS:
                    raise ImageAssetError(
                        f"image {p.name} is {src.width}x{src.height} pixels, more than "
                        f"{MAX_PIXELS:,}: use a smaller file")
                img = src.convert("RGBA")
    except ImageAssetError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageAssetError(f"image {p.name} is too large to decode safely: use a "
                              f"smaller file") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageAssetError(f"image {p.name} is not a readable image "
                              f"({type(exc).__name__})") from None
    return img


def _load_svg(p: Path) -> Image.Image:
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImageAssetError(f"SVG {p.name} cannot be read as UTF-8 text "
                              f"({type(exc).__name__})") from None
    if "<svg" not in text:
        raise ImageAssetError(f"SVG {p.name} has no <svg> element")
    if _SVG_EXTERNAL.search(text) or "<!ENTITY" in text:
        raise ImageAssetError(f"SVG {p.name} refers to other files or URLs (href/src or an "
                              f"entity): embed everything in the SVG")
    try:
        import resvg_py

        raw = resvg_py.svg_to_bytes(svg_string=text, width=SVG_RENDER_PX)
        with Image.open(io.BytesIO(bytes(raw))) as src:
            return src.convert("RGBA")
    except ImportError:
        raise ImageAssetError("SVG logos need the resvg-py package (pip install resvg-py)"
                              ) from None
    except (ValueError, OSError, UnidentifiedImageError) as exc:
        raise ImageAssetError(f"SVG {p.name} cannot be rendered: {str(exc)[:120]}") from None


def load_image(path: str | Path) -> Image.Image:
    """The image at ``path`` as RGBA (cached by path and modification time; the caller must
    not modify it). Raises :class:`ImageAssetError` when it cannot be used."""
    p = Path(path)
    try:
        mtime = p.stat().st_mtime_ns
    except OSError:
        raise ImageAssetError(f"image {p.name} does not exist") from None
    return _load(str(p), mtime)


def fitted(img: Image.Image, width: int, height: int, fit: Literal["cover", "contain"],
           focus: tuple[float, float] = (0.5, 0.5)) -> tuple[Image.Image, int, int]:
    """``img`` scaled for a ``width``×``height`` box, aspect ratio kept: ``contain`` fits
    it whole, ``cover`` fills the box and crops around ``focus`` (fractions of the image).
    Returns the image and its offset inside the box."""
    iw, ih = img.size
    if fit == "contain":
        scale = min(width / iw, height / ih)
        w, h = max(1, round(iw * scale)), max(1, round(ih * scale))
        return img.resize((w, h), Image.Resampling.LANCZOS), (width - w) // 2, (height - h) // 2
    scale = max(width / iw, height / ih)
    w, h = max(width, round(iw * scale)), max(height, round(ih * scale))
    big = img.resize((w, h), Image.Resampling.LANCZOS)
    fx, fy = (min(1.0, max(0.0, v)) for v in focus)
    left = min(max(0, round(fx * w - width / 2)), w - width)
    top = min(max(0, round(fy * h - height / 2)), h - height)
    return big.crop((left, top, left + width, top + height)), 0, 0


def place(canvas: Image.Image, placed: PlacedImage, box: PxBox, *, radius: int = 0) -> None:
    """Paste ``placed``'s image into ``box`` of ``canvas`` (in place), transparency kept;
    ``radius`` rounds the corners of a ``cover`` photo."""
    x0, y0, x1, y1 = box
    w, h = max(1, x1 - x0), max(1, y1 - y0)
    img, ox, oy = fitted(load_image(placed.file), w, h, placed.fit, placed.focus)
    mask = img.getchannel("A")
    if radius and placed.fit == "cover":
        rounded = Image.new("L", img.size, 0)
        ImageDraw.Draw(rounded).rounded_rectangle((0, 0, img.width - 1, img.height - 1),
                                                  radius, fill=255)
        mask = Image.composite(mask, rounded, rounded)
    canvas.paste(img.convert("RGB"), (x0 + ox, y0 + oy), mask)


def px_box(box: BoxTuple, width: int, height: int) -> PxBox:
    x, y, w, h = box
    x0, y0 = round(max(0.0, x) * width), round(max(0.0, y) * height)
    x1, y1 = round(min(1.0, x + w) * width), round(min(1.0, y + h) * height)
    return x0, y0, max(x0 + 1, x1), max(y0 + 1, y1)


LOGO_SIZE = (0.2, 0.08)
_CORNERS = [(0.04, 0.03), (0.76, 0.03), (0.04, 0.89), (0.76, 0.89)]


def logo_box(layout: Layout) -> BoxTuple:
    """Where the logo goes: the first corner (top left, top right, bottom left, bottom
    right) that no text, picture or placeholder touches; else the top left. The prompt
    names the same corner so an image model leaves it clear."""
    w, h = LOGO_SIZE
    taken = [t.box for t in layout.texts] + list(layout.image_boxes) + [
        p.box for p in layout.images]

    def free(c: tuple[float, float]) -> bool:
        return not any(not (c[0] + w <= b[0] or b[0] + b[2] <= c[0] or c[1] + h <= b[1]
                            or b[1] + b[3] <= c[1]) for b in taken)
    x, y = next((c for c in _CORNERS if free(c)), _CORNERS[0])
    return (x, y, w, h)


def composite(data: bytes, layout: Layout) -> bytes:
    """The layout's product images and logo set onto an encoded picture (PNG out), for
    backends that cannot take them as reference images. The background image is not
    pasted (the model drew the background)."""
    try:
        canvas = Image.open(io.BytesIO(data)).convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidRequest(f"cannot place images: not an image ({exc})") from None
    W, H = canvas.size
    for placed in layout.images:
        place(canvas, placed, px_box(placed.box, W, H), radius=round(min(W, H) * 0.02))
    if layout.logo_path:
        place(canvas, PlacedImage(file=layout.logo_path, fit="contain"),
              px_box(logo_box(layout), W, H))
    buf = io.BytesIO()
    canvas.save(buf, "PNG", compress_level=3)
    return buf.getvalue()


REFERENCE_MAX_SIDE = 1536
"""Longest side of a reference image sent to a provider: larger pictures are scaled down
(aspect kept), so a 40 MP photo is not uploaded inline as base64."""


def _reference(path: str | Path, max_side: int) -> Image.Image:
    img = load_image(path)
    if max(img.size) > max_side:
        img = img.copy()
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return img


def reference_png(path: str | Path, max_side: int = REFERENCE_MAX_SIDE) -> bytes:
    """The picture at ``path`` as PNG bytes to send as a reference image: SVG rasterised,
    transparency kept, at most ``max_side`` px on its long side. Raises
    :class:`ImageAssetError` when the file cannot be used."""
    buf = io.BytesIO()
    _reference(path, max_side).save(buf, "PNG", compress_level=3)
    return buf.getvalue()


def reference_pngs(references: Sequence[ReferenceImage], *, backend: str,
                   attempt: str | None) -> list[bytes]:
    """Each reference image as PNG bytes (:func:`reference_png`), in order; a picture that
    cannot be used is an :class:`ImageAssetError` naming the backend and attempt."""
    try:
        return [reference_png(r.file) for r in references]
    except ImageAssetError as exc:
        raise ImageAssetError(exc.detail, backend=backend, attempt=attempt) from None


def png_data_uri(data: bytes) -> str:
    """``data:image/png;base64,…``: how providers that take inline images receive one."""
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def reference_rgb(path: str | Path, max_side: int = REFERENCE_MAX_SIDE) -> Image.Image:
    """The picture as an RGB image for an in-process model (transparent areas white)."""
    img = _reference(path, max_side)
    flat = Image.new("RGB", img.size, (255, 255, 255))
    flat.paste(img.convert("RGB"), (0, 0), img.getchannel("A"))
    return flat


def image_palette(path: str | Path, colours: int = 5) -> list[str]:
    """A palette from a picture: its dominant colours (median cut on a thumbnail, fully
    transparent pixels ignored), ordered dark → light, with the most saturated mid colour
    kept so a palette role for accents exists."""
    img = load_image(path).copy()
    img.thumbnail((128, 128))
    arr = np.asarray(img, np.uint8).reshape(-1, 4)
    px = arr[arr[:, 3] > 32][:, :3]
    if not len(px):
        return []
    flat = Image.fromarray(np.ascontiguousarray(px.reshape(1, -1, 3)), "RGB")
    quant = flat.quantize(colors=colours, method=Image.Quantize.MEDIANCUT)
    pal = quant.getpalette() or []
    counts = sorted(quant.getcolors() or [], reverse=True)
    found: list[RGB] = []
    for _, idx in counts:
        rgb = (pal[idx * 3], pal[idx * 3 + 1], pal[idx * 3 + 2])
        if rgb not in found:
            found.append(rgb)
    found.sort(key=luminance)
    if len(found) > 3:  # dark, light and the most saturated between
        mid = max(found[1:-1], key=saturation)
        found = [found[0], mid, found[-1]]
    return [to_hex(c) for c in found]
