"""The delivered file: PNG, JPEG or WebP, with a quality setting.

Every attempt is generated, stored and judged by OCR as a lossless image; only the final,
accepted image is encoded in the format the brief asks for. :data:`MIN_QUALITY` keeps lossy
encodings from blurring small text that QA read on the lossless original.
"""

from __future__ import annotations

import io
from typing import Literal

from PIL import Image, UnidentifiedImageError

from generation.errors import InvalidRequest

FileType = Literal["png", "jpeg", "webp"]
MIN_QUALITY = 60
SUFFIX = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}
MEDIA_TYPE = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


def encode(data: bytes, file_type: FileType = "png", quality: int = 90) -> bytes:
    """``data`` (any image Pillow reads) re-encoded as ``file_type``: PNG (lossless,
    optimised; ``quality`` unused), JPEG (4:4:4 chroma so coloured text keeps its edges,
    progressive) or WebP (lossy at ``quality``; 100 means lossless)."""
    if file_type not in SUFFIX:
        raise InvalidRequest(f"unknown output type {file_type!r}: use png, jpeg or webp")
    if not MIN_QUALITY <= quality <= 100:
        raise InvalidRequest(f"output quality {quality} is outside {MIN_QUALITY}–100")
    try:
        with Image.open(io.BytesIO(data)) as src:
            img = src.convert("RGBA" if file_type != "jpeg" and "A" in src.getbands()
                              else "RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidRequest(f"cannot encode the output: not an image ({exc})") from None
    buf = io.BytesIO()
    if file_type == "png":
        img.save(buf, "PNG", optimize=True)
    elif file_type == "jpeg":
        img.save(buf, "JPEG", quality=quality, subsampling=0, progressive=True, optimize=True)
    else:
        img.save(buf, "WEBP", quality=quality, lossless=quality == 100, method=4)
    return buf.getvalue()
