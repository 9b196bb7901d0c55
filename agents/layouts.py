"""Layout presets per canvas shape, and stacking any number of copy items into them.

Six shapes — story, portrait, square, landscape, wide banner, leaderboard — each with text
columns (where copy is stacked top to bottom, inside the shape's safe zone:
:data:`SAFE_ZONES`) and, where there is room, an image area.
Boxes are fractions of the canvas, never overlap, and stay inside it. Box heights follow
each item's role (a headline gets more room than a legal line) and its length; when the
copy needs more room than a column has, every box shrinks in proportion, and the fitter
(:mod:`agents.fitting`) then decides whether the text can still be set legibly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from generation.fonts import is_cjk

Shape = Literal["story", "portrait", "square", "landscape", "wide", "leaderboard"]
BoxTuple = tuple[float, float, float, float]

ROLE_ORDER: tuple[str, ...] = ("headline", "subheadline", "label", "body", "price", "cta", "legal")
"""Top-to-bottom order of roles within a column (brief order is kept within a role)."""

ROLE_WEIGHT: dict[str, float] = {"headline": 3.0, "subheadline": 1.6, "price": 2.2, "body": 1.4,
                                 "label": 1.0, "cta": 1.3, "legal": 0.8}
"""Natural box height of each role, in layout units."""

FOOTER_ROLES = frozenset({"price", "cta", "legal"})
"""Roles anchored to the bottom of a vertical layout (the image sits between)."""


@dataclass(frozen=True)
class Column:
    """An area copy is stacked into. ``roles`` None takes every role not claimed elsewhere."""

    box: BoxTuple
    align: Literal["left", "center", "right"] = "center"
    roles: frozenset[str] | None = None


@dataclass(frozen=True)
class LayoutPreset:
    """How one canvas shape is laid out.

    ``unit`` is the height of one layout unit as a fraction of the canvas height; ``split``
    anchors the footer roles to the bottom of the first column and puts the image between
    (vertical shapes), otherwise the stack is centred and the image has its own ``image``
    area. ``min_image`` is the smallest image height worth placing.
    """

    shape: Shape
    columns: tuple[Column, ...]
    unit: float
    gap: float
    split: bool = False
    image: BoxTuple | None = None
    min_image: float = 0.18


SAFE_ZONES: dict[Shape, tuple[float, float, float, float]] = {
    "story": (0.06, 0.14, 0.06, 0.20),
    "portrait": (0.05, 0.04, 0.05, 0.04),
    "square": (0.05, 0.05, 0.05, 0.05),
    "landscape": (0.05, 0.06, 0.05, 0.06),
    "wide": (0.04, 0.07, 0.04, 0.07),
    "leaderboard": (0.025, 0.07, 0.025, 0.07),
}
"""Margins (left, top, right, bottom, as canvas fractions) that text stays out of, per
shape. Stories: the top band holds the app's profile bar and the bottom band its reply
field and buttons (about 250 and 340 px of a 1080×1920 story), so copy placed there is
covered. Banners: ad networks put their badge in a corner and crop edges."""


def safe_area(width: int, height: int) -> BoxTuple:
    """The box (x, y, w, h) inside which every text of a ``width``×``height`` canvas sits."""
    left, top, right, bottom = SAFE_ZONES[shape_of(width, height)]
    return (left, top, 1 - left - right, 1 - top - bottom)


PRESETS: dict[Shape, LayoutPreset] = {
    "story": LayoutPreset("story", (Column((0.07, 0.14, 0.86, 0.66)),), unit=0.038,
                          gap=0.016, split=True, min_image=0.14),
    "portrait": LayoutPreset("portrait", (Column((0.07, 0.05, 0.86, 0.90)),), unit=0.045,
                             gap=0.018, split=True, min_image=0.16),
    "square": LayoutPreset("square", (Column((0.07, 0.06, 0.86, 0.88)),), unit=0.055,
                           gap=0.02, split=True, min_image=0.16),
    "landscape": LayoutPreset("landscape", (Column((0.06, 0.08, 0.52, 0.84), align="left"),),
                              unit=0.07, gap=0.025, image=(0.62, 0.10, 0.33, 0.80)),
    "wide": LayoutPreset("wide", (Column((0.05, 0.08, 0.55, 0.84), align="left"),),
                         unit=0.085, gap=0.03, image=(0.64, 0.08, 0.31, 0.84)),
    "leaderboard": LayoutPreset(
        "leaderboard",
        (Column((0.03, 0.08, 0.50, 0.84), align="left"),
         Column((0.56, 0.10, 0.22, 0.80), roles=frozenset({"price", "cta"}))),
        unit=0.12, gap=0.04, image=(0.81, 0.08, 0.16, 0.84)),
}


def shape_of(width: int, height: int) -> Shape:
    """The layout shape of a ``width``×``height`` canvas."""
    ratio = width / height
    if ratio < 0.62:
        return "story"
    if ratio < 0.87:
        return "portrait"
    if ratio <= 1.15:
        return "square"
    if ratio < 2.2:
        return "landscape"
    if ratio < 3.4:
        return "wide"
    return "leaderboard"


@dataclass(frozen=True)
class Item:
    """One piece of copy to place."""

    id: str
    role: str
    text: str


@dataclass
class Placement:
    """Where every item goes, and the image area if there was room for one."""

    shape: Shape
    boxes: dict[str, BoxTuple] = field(default_factory=dict)
    align: dict[str, Literal["left", "center", "right"]] = field(default_factory=dict)
    image: BoxTuple | None = None


def _length_factor(item: Item, role_h_px: float, col_w_px: float) -> float:
    """How much taller than its role's natural height an item's box should be."""
    font_px = max(role_h_px / 1.3, 1.0)
    lines = 0
    for para in item.text.split("\n"):
        units = sum(1.0 if is_cjk(c) else 0.56 for c in para)
        lines += max(1, math.ceil(units * font_px / max(col_w_px, 1.0)))
    return min(3.0, 1.0 + 0.5 * (lines - 1))


def _heights(items: list[Item], unit: float, width: int, height: int, col: Column) -> list[float]:
    col_w_px = col.box[2] * width
    out = []
    for it in items:
        h = ROLE_WEIGHT.get(it.role, 1.0) * unit
        out.append(h * _length_factor(it, h * height, col_w_px))
    return out


def _stack(items: list[Item], heights: list[float], y: float, gap: float, col: Column,
           placement: Placement) -> float:
    """Place ``items`` top-down from ``y``; returns the bottom of the last box."""
    x, _cy, w, _ch = col.box
    for it, h in zip(items, heights):
        placement.boxes[it.id] = (x, y, w, h)
        placement.align[it.id] = col.align
        y += h + gap
    return y - gap if items else y


def _ordered(items: list[Item]) -> list[Item]:
    rank = {r: i for i, r in enumerate(ROLE_ORDER)}
    return sorted(items, key=lambda it: rank.get(it.role, len(rank)))  # stable: brief order


def place(items: list[Item], width: int, height: int, *, want_image: bool = True) -> Placement:
    """Lay ``items`` out on a ``width``×``height`` canvas (boxes as canvas fractions)."""
    preset = PRESETS[shape_of(width, height)]
    placement = Placement(shape=preset.shape)

    # assign items to columns: a column with explicit roles claims them, the first takes
    # the rest; an explicit column left empty gives its room to the first one
    groups: list[list[Item]] = [[] for _ in preset.columns]
    for it in items:
        idx = next((i for i, c in enumerate(preset.columns) if c.roles and it.role in c.roles), 0)
        groups[idx].append(it)
    columns = list(preset.columns)
    if len(columns) > 1 and not any(groups[1:]):
        first, last = columns[0].box, columns[-1].box
        columns[0] = Column((first[0], first[1], last[0] + last[2] - first[0], first[3]),
                            columns[0].align)

    for index, (col, group) in enumerate(zip(columns, groups)):
        if not group:
            continue
        group = _ordered(group)
        cx, cy, cw, ch = col.box
        gap = min(preset.gap, 0.25 * ch / max(len(group), 1))
        heights = _heights(group, preset.unit, width, height, col)
        room = ch - gap * (len(group) - 1)
        if sum(heights) > room:  # more copy than room: shrink every box in proportion
            scale = room / sum(heights)
            heights = [h * scale for h in heights]
        if preset.split and index == 0:
            top = [it for it in group if it.role not in FOOTER_ROLES]
            foot = [it for it in group if it.role in FOOTER_ROLES]
            th, fh = heights[:len(top)], heights[len(top):]
            top_end = _stack(top, th, cy, gap, col, placement)
            foot_h = sum(fh) + gap * max(len(foot) - 1, 0)
            foot_start = cy + ch - foot_h
            _stack(foot, fh, foot_start, gap, col, placement)
            free_top = top_end + (gap if top else 0)
            free_bottom = foot_start - (gap if foot else 0)
            if want_image and free_bottom - free_top >= preset.min_image:
                placement.image = (cx, free_top, cw, free_bottom - free_top)
        else:
            total = sum(heights) + gap * (len(group) - 1)
            _stack(group, heights, cy + (ch - total) / 2, gap, col, placement)
    if want_image and preset.image and not preset.split:
        placement.image = preset.image
    placement.boxes = {k: _clean(b) for k, b in placement.boxes.items()}
    if placement.image:
        placement.image = _clean(placement.image)
    return placement


def _clean(box: BoxTuple) -> BoxTuple:
    """Round to 4 decimals without leaving the canvas or growing into a neighbour."""
    x, y, w, h = box
    x0, y0 = math.ceil(x * 1e4) / 1e4, math.ceil(y * 1e4) / 1e4
    x1, y1 = math.floor((x + w) * 1e4) / 1e4, math.floor((y + h) * 1e4) / 1e4
    x1, y1 = min(x1, 1.0), min(y1, 1.0)
    return (x0, y0, round(max(x1 - x0, 1e-4), 4), round(max(y1 - y0, 1e-4), 4))
