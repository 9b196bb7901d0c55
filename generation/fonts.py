"""Fonts: finding a real font for a script and weight, and fitting text into a box.

Used by the typeset renderer and by the rules planner (so a planned size is a size that
really fits, measured with the same font metrics the renderer uses).
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

MIN_LEGIBLE_PX = 14
"""The smallest font size (px) signwriter will set: below this, copy does not fit."""

LINE_SPACING = 1.2

_SEARCH_DIRS = [
    Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts",
    Path("/Library/Fonts"), Path("/System/Library/Fonts"), Path("C:/Windows/Fonts"),
]

# (script, weight) -> candidate file names, best first
_CANDIDATES: dict[tuple[str, str], list[str]] = {
    ("latin", "regular"): ["DejaVuSans.ttf", "NotoSans-Regular.ttf", "LiberationSans-Regular.ttf",
                           "Arial.ttf", "NotoSansCJK-Regular.ttc"],
    ("latin", "bold"): ["DejaVuSans-Bold.ttf", "NotoSans-Bold.ttf", "LiberationSans-Bold.ttf",
                        "Arial Bold.ttf", "NotoSansCJK-Bold.ttc"],
    ("cjk", "regular"): ["NotoSansCJK-Regular.ttc", "NotoSansSC-Regular.otf",
                         "wqy-microhei.ttc", "PingFang.ttc", "msyh.ttc"],
    ("cjk", "bold"): ["NotoSansCJK-Bold.ttc", "NotoSansSC-Bold.otf", "NotoSansCJK-Regular.ttc",
                      "wqy-microhei.ttc", "PingFang.ttc", "msyhbd.ttc"],
}


class FontNotFound(RuntimeError):
    """No usable font file for the requested script; names the package to install."""


def is_cjk(ch: str) -> bool:
    """True for CJK ideographs, kana, hangul and CJK punctuation/full-width forms."""
    if not ch:
        return False
    o = ord(ch)
    return (0x3000 <= o <= 0x9FFF or 0xAC00 <= o <= 0xD7AF or 0xF900 <= o <= 0xFAFF
            or 0xFF00 <= o <= 0xFFEF or 0x20000 <= o <= 0x2FA1F)


def script_of(text: str) -> str:
    """``cjk`` if the text has any CJK character, else ``latin``."""
    return "cjk" if any(is_cjk(c) for c in text) else "latin"


@lru_cache(maxsize=None)
def _index() -> dict[str, str]:
    found: dict[str, str] = {}
    for d in _SEARCH_DIRS:
        if not d.is_dir():
            continue
        for root, _dirs, files in os.walk(d):
            for f in files:
                if f.lower().endswith((".ttf", ".otf", ".ttc")):
                    found.setdefault(f, os.path.join(root, f))
                    found.setdefault(f.lower(), os.path.join(root, f))
    return found


@lru_cache(maxsize=None)
def find_font(script: str = "latin", weight: str = "regular", family: str | None = None) -> str:
    """A font file path for ``script`` and ``weight``; ``family`` (a path or a file/family
    name) is preferred when it exists and covers the script."""
    if family:
        p = Path(family)
        if p.is_file():
            return str(p)
        idx = _index()
        key = family.replace(" ", "")
        for name, path in idx.items():
            stem = name.rsplit(".", 1)[0].replace(" ", "").lower()
            want = key.lower() + ("-bold" if weight == "bold" else "")
            if stem == want or (weight != "bold" and stem in (key.lower(), key.lower() + "-regular")):
                if script != "cjk" or "cjk" in stem or "sc" in stem:
                    return path
    idx = _index()
    for cand in _CANDIDATES[(script, weight)]:
        if cand in idx:
            return idx[cand]
    raise FontNotFound(
        f"no {weight} font for {script} text found; install fonts-dejavu-core and "
        f"fonts-noto-cjk (Debian/Ubuntu) or set a brand font file"
    )


@lru_cache(maxsize=512)
def load_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    """A Pillow font (cached); ``.ttc`` collections use their Simplified Chinese face."""
    index = 0
    if path.lower().endswith(".ttc") and ("NotoSansCJK" in path or "NotoSerifCJK" in path):
        index = 2  # JP=0, KR=1, SC=2, TC=3, HK=4 in the Noto CJK collections
    return ImageFont.truetype(path, size=size, index=index)


def text_width(font: ImageFont.FreeTypeFont, text: str) -> float:
    return font.getlength(text)


def _tokens(text: str) -> list[str]:
    """Break opportunities: words for Latin (with their following space), characters for CJK."""
    out: list[str] = []
    buf = ""
    for ch in text:
        if is_cjk(ch):
            if buf:
                out.append(buf)
                buf = ""
            # keep closing punctuation with the previous character
            if out and unicodedata.category(ch) in ("Po", "Pe", "Pf") and is_cjk(out[-1][-1:]):
                out[-1] += ch
            else:
                out.append(ch)
        elif ch == " ":
            buf += ch
            out.append(buf)
            buf = ""
        else:
            buf += ch
    if buf:
        out.append(buf)
    return out


def wrap(text: str, font: ImageFont.FreeTypeFont, max_width: float) -> list[str] | None:
    """Greedy line-wrapping at word (Latin) or character (CJK) boundaries.

    Explicit newlines are kept. Returns None when a single word is wider than the box.
    """
    lines: list[str] = []
    for para in text.split("\n"):
        line = ""
        for tok in _tokens(para):
            trial = line + tok
            if text_width(font, trial.rstrip()) <= max_width:
                line = trial
                continue
            if not line:
                return None  # one unbreakable token does not fit
            lines.append(line.rstrip())
            line = tok.lstrip() if tok.strip() else ""
            if text_width(font, line.rstrip()) > max_width:
                return None
        lines.append(line.rstrip())
    return lines


@dataclass(frozen=True)
class Fit:
    """Text fitted into a box: the font size (px), the lines and the block's size."""

    size: int
    lines: tuple[str, ...]
    width: float
    height: float
    font_path: str


def fit_text(text: str, box_w: float, box_h: float, *, font_path: str,
             max_size: int | None = None, min_size: int = MIN_LEGIBLE_PX,
             max_lines: int | None = None) -> Fit | None:
    """The largest font size (≤ ``max_size``) at which ``text`` fits ``box_w``×``box_h`` px.

    Returns None when even ``min_size`` does not fit: the caller reports that as copy
    that cannot be set legibly, never as an overflow.
    """
    hi = int(max_size or box_h)
    lo = min_size
    best: Fit | None = None
    while lo <= hi:
        mid = (lo + hi) // 2
        fit = _try(text, box_w, box_h, font_path, mid, max_lines)
        if fit:
            best = fit
            lo = mid + 1
        else:
            hi = mid - 1
    return best


def _try(text: str, box_w: float, box_h: float, font_path: str, size: int,
         max_lines: int | None) -> Fit | None:
    font = load_font(font_path, size)
    lines = wrap(text, font, box_w)
    if lines is None or (max_lines and len(lines) > max_lines):
        return None
    height = size * LINE_SPACING * (len(lines) - 1) + size * 1.15
    if height > box_h:
        return None
    width = max(text_width(font, ln) for ln in lines)
    return Fit(size=size, lines=tuple(lines), width=width, height=height, font_path=font_path)
