"""``solid``: a minimal signwriter backend plugin.

It sets every text block of the layout in Pillow's own font on one solid colour: no
model, no key, no network. Everything signwriter needs to know about it is the
:data:`BACKEND` spec at the bottom; ``pyproject.toml`` registers it under the
``signwriter.backends`` entry-point group. Its options come from the environment like
every backend's: ``SIGNWRITER_SOLID_BACKGROUND="#fff3d6"``.
"""

from __future__ import annotations

import io
import time
from typing import Any

from PIL import Image, ImageDraw, ImageFont
from pydantic import BaseModel, ConfigDict, Field

from generation.base import (
    BackendSpec, Capabilities, EditRequest, GeneratedImage, GenerationRequest, OnSubmit,
    TextBlock,
)
from generation.errors import InvalidRequest, Unsupported
from generation.limits import SizeLimits

NAME = "solid"
COLOUR = r"^#[0-9a-fA-F]{6}$"


class SolidOptions(BaseModel):
    """Options of the ``solid`` backend (``SIGNWRITER_SOLID_<OPTION>``)."""

    model_config = ConfigDict(extra="forbid")

    background: str = Field("#f7f3e8", pattern=COLOUR, description="Canvas colour.")
    ink: str = Field("#1b1b1b", pattern=COLOUR, description="Text colour.")


class SolidBackend:
    """Sets the layout's text on a solid colour. ``SolidBackend(**options)``."""

    name = NAME

    def __init__(self, **options: Any) -> None:
        self.options = SolidOptions(**options)
        self.capabilities = BACKEND.capabilities

    def generate(self, request: GenerationRequest, *,
                 on_submit: OnSubmit | None = None) -> GeneratedImage:
        started = time.monotonic()
        self.capabilities.limits.require(request.width, request.height, backend=NAME,
                                         attempt=request.attempt_id)
        if request.layout is None:
            raise InvalidRequest("solid sets a layout's text: the request has no layout",
                                 backend=NAME, attempt=request.attempt_id)
        image = Image.new("RGB", (request.width, request.height), self.options.background)
        draw = ImageDraw.Draw(image)
        for block in request.layout.texts:
            self._set(draw, block, request.width, request.height)
        out = io.BytesIO()
        image.save(out, format="PNG")
        return GeneratedImage(data=out.getvalue(), width=request.width, height=request.height,
                              seed=request.seed, backend=NAME, model="solid-0.1",
                              elapsed_s=time.monotonic() - started)

    def edit(self, request: EditRequest, *, on_submit: OnSubmit | None = None) -> GeneratedImage:
        raise Unsupported("solid cannot edit", backend=NAME, attempt=request.attempt_id)

    def _set(self, draw: ImageDraw.ImageDraw, block: TextBlock, width: int, height: int) -> None:
        """The block's text, as large as fits its box (wrapped on words), centred."""
        x, y, w, h = (block.box[0] * width, block.box[1] * height, block.box[2] * width,
                      block.box[3] * height)
        size = max(int(h * 0.8), 12)
        while True:
            font = ImageFont.load_default(size=size)
            lines = _wrap(draw, block.text, font, w * 0.95)
            line_h = size * 1.25
            if (lines and line_h * len(lines) <= h) or size <= 12:
                break
            size = int(size * 0.9)
        top = y + (h - line_h * len(lines)) / 2
        for i, line in enumerate(lines):
            left = x + (w - draw.textlength(line, font=font)) / 2
            draw.text((left, top + i * line_h), line, font=font, fill=self.options.ink)


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: Any, max_width: float) -> list[str]:
    """``text`` in lines no wider than ``max_width``; empty when a word alone is wider."""
    lines: list[str] = []
    for word in text.split():
        if draw.textlength(word, font=font) > max_width:
            return []
        if lines and draw.textlength(f"{lines[-1]} {word}", font=font) <= max_width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


BACKEND = BackendSpec(
    name=NAME, summary="Example plugin: the layout's text on a solid colour (no model)",
    factory=SolidBackend, options=SolidOptions,
    capabilities=Capabilities(follows_layout=True, paid=False,
                              limits=SizeLimits(min_side=256, max_side=2048, multiple=1,
                                                max_pixels=2**22)),
    settings=("background", "ink"))
