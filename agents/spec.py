"""The visual spec: what the planner produces and everything downstream consumes.

One :class:`VisualSpec` per asset (one per format of the brief). Boxes are fractions of
the canvas so a spec survives being snapped to another size. Text regions carry the
*exact* text that must appear, and how strictly it is compared.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from generation.limits import GLM_IMAGE_LIMITS
from qa.models import Strictness

Role = Literal["headline", "subheadline", "body", "cta", "price", "legal", "label", "image",
               "logo"]
TEXT_ROLES: tuple[str, ...] = ("headline", "subheadline", "body", "cta", "price", "legal",
                               "label")

CANVAS = GLM_IMAGE_LIMITS
"""The canvases a spec may have: GLM-Image's (each backend may narrow them; the runner
snaps a spec to its backend's limits)."""

HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


class Box(BaseModel):
    """A rectangle as fractions of the canvas."""

    model_config = ConfigDict(extra="forbid")

    x: float = Field(ge=0, le=1)
    y: float = Field(ge=0, le=1)
    w: float = Field(gt=0, le=1)
    h: float = Field(gt=0, le=1)

    @model_validator(mode="after")
    def _inside(self) -> "Box":
        if self.x + self.w > 1.0001 or self.y + self.h > 1.0001:
            raise ValueError("box extends beyond the canvas (x+w and y+h must be ≤ 1)")
        return self

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.x, self.y, self.w, self.h)

    def overlaps(self, other: "Box") -> bool:
        return not (self.x + self.w <= other.x or other.x + other.w <= self.x
                    or self.y + self.h <= other.y or other.y + other.h <= self.y)


class Typography(BaseModel):
    """Typographic hints for a text region."""

    model_config = ConfigDict(extra="forbid")

    weight: Literal["regular", "bold"] = "regular"
    size: float | None = Field(None, gt=0, le=0.5, description="Font size as a fraction of the "
                               "canvas height (the planner's fitted size).")
    color: str = "#111111"
    align: Literal["left", "center", "right"] = "center"
    font: str | None = Field(None, description="Font family or file (brand font).")

    @field_validator("color")
    @classmethod
    def _hex(cls, v: str) -> str:
        if not HEX.match(v):
            raise ValueError(f"colour {v!r} is not a #rrggbb hex colour")
        return v.lower()


class ImageRef(BaseModel):
    """An image file the brief brought (already confined to its folder), and how it is
    fitted: ``contain`` shows it whole (logos, cut-out products), ``cover`` fills the area
    and crops around ``focus`` (photos, backgrounds). Never stretched."""

    model_config = ConfigDict(extra="forbid")

    file: str
    fit: Literal["cover", "contain"] = "contain"
    focus: tuple[float, float] = (0.5, 0.5)

    @field_validator("focus")
    @classmethod
    def _focus(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not all(0 <= c <= 1 for c in v):
            raise ValueError("focus is (x, y), each a fraction of the image from 0 to 1")
        return v


class Region(BaseModel):
    """One area of the layout: text with its exact copy, or an image area."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    role: Role
    box: Box
    text: str | None = None
    language: str = "en"
    typography: Typography = Field(default_factory=Typography)
    strictness: Strictness = Field(default_factory=Strictness)
    render: Literal["model", "overlay"] = Field(
        "model", description="model: the image model draws it; overlay: signwriter sets it.")
    description: str | None = Field(None, description="For image regions: what to show.")
    image: ImageRef | None = Field(None, description="For image regions: the brief's own "
                                   "picture (a product photo) placed there.")

    @model_validator(mode="after")
    def _text_matches_role(self) -> "Region":
        if self.role in TEXT_ROLES and not (self.text and self.text.strip()):
            raise ValueError(f"region '{self.id}' has role {self.role} but no text")
        if self.role in ("image", "logo") and self.text:
            raise ValueError(f"region '{self.id}' is an {self.role} region and cannot carry text")
        if self.image is not None and self.role != "image":
            raise ValueError(f"region '{self.id}' has an image but role {self.role}")
        return self

    @property
    def is_text(self) -> bool:
        return self.role in TEXT_ROLES


class Output(BaseModel):
    """The delivered file of an asset: its type and, for JPEG and WebP, its quality."""

    model_config = ConfigDict(extra="forbid")

    file_type: Literal["png", "jpeg", "webp"] = "png"
    quality: int = Field(90, ge=60, le=100, description="JPEG/WebP quality (60–100; WebP 100 "
                         "is lossless). QA judges the lossless image before encoding.")


class VisualSpec(BaseModel):
    """The complete plan for one asset."""

    model_config = ConfigDict(extra="forbid")

    asset_id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    format: str = Field(description="Preset name or WIDTHxHEIGHT.")
    width: int
    height: int
    language: str = "en"
    background: str = Field("clean gradient", description="Background / scene description. "
                            "Image models draw it; the typeset backend does not: it paints a "
                            "backdrop in the palette (its mood words: dark, warm, dots…) or "
                            "the brief's own background picture.")
    style: str = Field("", description="Visual style notes.")
    palette: list[str] = Field(default_factory=lambda: ["#1d3557", "#457b9d", "#f1faee"])
    brand: str | None = None
    logo: str | None = None
    background_image: ImageRef | None = Field(None, description="The brief's own background "
                                              "picture (typeset fills the canvas with it).")
    output: Output = Field(default_factory=Output, description="The final file's type.")
    regions: list[Region]

    @model_validator(mode="after")
    def _valid(self) -> "VisualSpec":
        problem = CANVAS.problem(self.width, self.height)
        if problem:
            raise ValueError(problem)
        ids = [r.id for r in self.regions]
        dupes = {i for i in ids if ids.count(i) > 1}
        if dupes:
            raise ValueError(f"duplicate region ids: {sorted(dupes)}")
        for c in self.palette:
            if not HEX.match(c):
                raise ValueError(f"palette colour {c!r} is not a #rrggbb hex colour")
        return self

    @property
    def text_regions(self) -> list[Region]:
        return [r for r in self.regions if r.is_text]

    def copy_texts(self) -> dict[str, str]:
        return {r.id: r.text or "" for r in self.text_regions}
