"""Named format presets. Every preset is a valid canvas (multiples of 32, 512–2048 px,
at most 2^22 pixels). A brief may also give ``WIDTHxHEIGHT`` or ``{name, width, height}``."""

from __future__ import annotations

from pydantic import BaseModel


class Preset(BaseModel):
    name: str
    width: int
    height: int
    description: str


PRESETS: dict[str, Preset] = {p.name: p for p in [
    Preset(name="poster-portrait", width=1024, height=1536, description="A2/A3-style poster, 2:3"),
    Preset(name="poster-landscape", width=1536, height=1024, description="Landscape poster, 3:2"),
    Preset(name="social-square", width=1024, height=1024, description="Instagram/LinkedIn post"),
    Preset(name="social-portrait", width=1088, height=1344, description="4:5 feed post"),
    Preset(name="story-vertical", width=1088, height=1920, description="Stories/Reels, ~9:16"),
    Preset(name="banner-wide", width=1920, height=768, description="Web hero banner, 5:2"),
    Preset(name="banner-leaderboard", width=2048, height=512, description="Leaderboard, 4:1"),
    Preset(name="slide-16x9", width=1536, height=864, description="Presentation slide, 16:9"),
    Preset(name="card-small", width=768, height=768, description="Small social card"),
]}
