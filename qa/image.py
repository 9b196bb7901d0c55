"""Loading an image QA can trust: one still, opaque RGB picture of a sensible size.

:func:`load_image` refuses, with a :class:`~qa.errors.BadImage` that says why and what to
do, before anything large is decoded:

- anything that is not a regular file (a folder, a FIFO, a device), or a file larger than
  ``max_bytes``;
- a file Pillow cannot identify or decode (truncated, corrupt, not an image);
- more than ``max_pixels`` pixels, read from the header before decoding, so a
  decompression bomb (a small file that expands to gigabytes) never expands;
- a side shorter than ``min_side`` or a shape thinner than ``max_aspect`` : 1 (a 1×20000
  strip has no text to read);
- an animated image (GIF, APNG, WebP, multi-page TIFF): refused, not judged on its first
  frame; export the frame to check as a still image.

Transparency is composited onto ``background`` (white by default), so what is judged is
what a viewer sees: a fully transparent image shows nothing, and has no text.
"""

from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from qa.errors import BadImage

MAX_PIXELS = 40_000_000
"""Largest image decoded (40 MP: 120 MB as RGB). Settings: ``SIGNWRITER_MAX_IMAGE_PIXELS``."""

MAX_BYTES = 200_000_000
"""Largest image file read."""

MIN_SIDE = 16
"""Shortest side, px, of an image that can hold legible text."""

MAX_ASPECT = 32.0
"""Longest side / shortest side."""

WHITE = (255, 255, 255)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _name(path: Path) -> str:
    s = str(path)
    s = "".join(c if c.isprintable() else "?" for c in s)
    return s if len(s) <= 200 else s[:180] + "…"


def load_image(image: str | Path, *, max_pixels: int = MAX_PIXELS, max_bytes: int = MAX_BYTES,
               min_side: int = MIN_SIDE, max_aspect: float = MAX_ASPECT,
               background: tuple[int, int, int] = WHITE) -> np.ndarray:
    """Decode an image file to RGB ``uint8`` (H, W, 3), or raise :class:`BadImage`."""
    path = Path(image)
    name = _name(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise BadImage(f"no such image file: {name}", path=str(path)) from None
    except OSError as e:
        raise BadImage(f"cannot read image {name}: {e.strerror or type(e).__name__}",
                       path=str(path)) from None
    if not stat.S_ISREG(st.st_mode):
        raise BadImage(f"{name} is {_kind(st.st_mode)}, not an image file", path=str(path))
    if st.st_size > max_bytes:
        raise BadImage(f"{name} is {st.st_size:,} bytes; at most {max_bytes:,} are read",
                       path=str(path))
    if st.st_size == 0:
        raise BadImage(f"{name} is empty", path=str(path))
    try:
        with warnings.catch_warnings():
            # the pixel limit below is ours; Pillow's own warning would only repeat it, and
            # its decoders' warnings about damaged files (TIFF tags, EXIF) are not ours to
            # print: a file that cannot be decoded is refused below with one message
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                w, h = im.size
                _check_shape(name, path, w, h, max_pixels, min_side, max_aspect)
                frames = getattr(im, "n_frames", 1) if getattr(im, "is_animated", False) else 1
                if frames > 1:
                    raise BadImage(f"{name} is animated ({frames} frames); QA judges one still "
                                   "image: export the frame to check as PNG", path=str(path))
                im.load()
                return _flatten(im, background)
    except BadImage:
        raise
    except Image.DecompressionBombError:
        raise BadImage(f"{name} is a decompression bomb (far more pixels than its file "
                       "size suggests); refused before decoding", path=str(path)) from None
    except (UnidentifiedImageError, SyntaxError):
        raise BadImage(f"{name} is not an image Pillow can read (PNG, JPEG, WebP…)",
                       path=str(path)) from None
    except MemoryError:
        raise BadImage(f"{name} is too large to decode in memory", path=str(path)) from None
    except Exception as exc:  # noqa: BLE001 - a decoder's every failure is a bad image
        raise BadImage(f"cannot decode image {name}: {type(exc).__name__}: "
                       f"{str(exc)[:120]}", path=str(path)) from None


def _check_shape(name: str, path: Path, w: int, h: int, max_pixels: int, min_side: int,
                 max_aspect: float) -> None:
    if w <= 0 or h <= 0:
        raise BadImage(f"{name} has no pixels ({w}x{h})", path=str(path))
    if w * h > max_pixels:
        raise BadImage(f"{name} is {w}x{h} = {w * h / 1e6:.1f} MP; at most "
                       f"{max_pixels / 1e6:.1f} MP are checked (refused before decoding; "
                       "scale it down, or raise SIGNWRITER_MAX_IMAGE_PIXELS)", path=str(path))
    if min(w, h) < min_side:
        raise BadImage(f"{name} is {w}x{h}: a side shorter than {min_side} px cannot hold "
                       "legible text", path=str(path))
    if max(w, h) / min(w, h) > max_aspect:
        raise BadImage(f"{name} is {w}x{h}: thinner than {max_aspect:g}:1, not a picture "
                       "to check", path=str(path))


def _flatten(im: Image.Image, background: tuple[int, int, int]) -> np.ndarray:
    """RGB pixels; transparency composited onto ``background``."""
    has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        im.mode == "P" and "transparency" in im.info) or (
        im.mode in ("RGB", "L") and "transparency" in im.info)
    if has_alpha:
        rgba = im.convert("RGBA")
        base = Image.new("RGBA", rgba.size, (*background, 255))
        return np.asarray(Image.alpha_composite(base, rgba).convert("RGB"))
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scaled = np.zeros(arr.shape, np.uint8) if hi <= lo else (
            (arr - lo) * (255.0 / (hi - lo))).astype(np.uint8)
        return np.repeat(scaled[..., None], 3, axis=2)
    return np.asarray(im.convert("RGB"))
