"""Fonts: finding a real font for a script and weight, and fitting text into a box.

Used by the typeset renderer and by the rules planner (so a planned size is a size that
really fits, measured with the same font metrics the renderer uses).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

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


CJK_FACES = {"ja": "JP", "ko": "KR", "zh": "SC", "zh-cn": "SC", "zh-hans": "SC", "zh-sg": "SC",
             "zh-tw": "TC", "zh-hant": "TC", "zh-hk": "HK", "zh-mo": "HK"}
"""The Noto CJK face each language is set in: Japanese, Korean, Simplified and Traditional
Chinese draw the same code points with different glyphs (直, 骨, 刃…)."""

CJK_LANGUAGES = ("zh", "ja", "ko")


def cjk_face(language: str | None) -> str:
    """``JP``/``KR``/``SC``/``TC``/``HK`` for a language tag (``zh`` alone is SC)."""
    lang = (language or "").lower().replace("_", "-")
    return CJK_FACES.get(lang) or CJK_FACES.get(lang.split("-")[0], "SC")


def is_cjk_language(language: str | None) -> bool:
    return (language or "").lower().split("-")[0].split("_")[0] in CJK_LANGUAGES


@lru_cache(maxsize=64)
def face_index(path: str, language: str | None = None) -> int:
    """The face of a font collection (``.ttc``) for ``language``: in the Noto CJK
    collections the face whose name ends in the language's tag (``Noto Sans CJK JP``),
    never a ``Mono`` one; 0 for single fonts and unknown collections."""
    if not path.lower().endswith(".ttc"):
        return 0
    tag = cjk_face(language)
    for i in range(32):
        try:
            family = ImageFont.truetype(path, size=12, index=i).getname()[0] or ""
        except OSError:
            break
        if family.endswith(f" {tag}") and "Mono" not in family:
            return i
    return 0


@lru_cache(maxsize=128)
def load_font(path: str, size: int, language: str | None = None) -> ImageFont.FreeTypeFont:
    """A Pillow font (cached); a collection (``.ttc``) uses ``language``'s face. Each is
    its own FreeType face (a Noto CJK one holds about 2 MB), so the cache stays small."""
    return ImageFont.truetype(path, size=size, index=face_index(path, language))


@lru_cache(maxsize=64)
def _cmap(path: str, index: int) -> frozenset[int] | None:
    """The code points a font file covers (None when it cannot be read)."""
    try:
        from fontTools.ttLib import TTFont

        font = TTFont(path, fontNumber=index, lazy=True)
        cmap = font.getBestCmap() or {}
        font.close()
        return frozenset(cmap)
    except Exception:  # noqa: BLE001 - an unreadable table means "unknown coverage"
        return None


def covers(path: str, text: str, language: str | None = None) -> bool:
    """True when the font at ``path`` has a glyph for every non-space character of
    ``text`` (unknown coverage counts as covered)."""
    cmap = _cmap(path, face_index(path, language))
    return cmap is None or all(ord(c) in cmap for c in text if not c.isspace())


class Typeface:
    """A font at one size, with a fallback for characters it lacks: a brand font for the
    Latin letters and the language's Noto CJK face for the rest, so a mixed-script line is
    set in matching faces run by run. Measures and draws like a Pillow font."""

    def __init__(self, primary: ImageFont.FreeTypeFont, primary_path: str,
                 fallback: ImageFont.FreeTypeFont | None = None,
                 language: str | None = None) -> None:
        self.primary = primary
        self.fallback = fallback
        self.size = int(primary.size)
        self._path = primary_path
        self._language = language

    def runs(self, text: str) -> list[tuple[str, ImageFont.FreeTypeFont]]:
        """``text`` cut into runs, each with the font that has its glyphs."""
        if self.fallback is None:
            return [(text, self.primary)] if text else []
        out: list[tuple[str, ImageFont.FreeTypeFont]] = []
        for ch in text:
            font = self.primary if (ch.isspace() or covers(self._path, ch, self._language)) \
                else self.fallback
            if out and out[-1][1] is font:
                out[-1] = (out[-1][0] + ch, font)
            else:
                out.append((ch, font))
        return out

    def getlength(self, text: str) -> float:
        if self.fallback is None:
            return self.primary.getlength(text)
        return sum(f.getlength(t) for t, f in self.runs(text))

    def getbbox(self, text: str, anchor: str = "ls") -> tuple[float, float, float, float]:
        """The ink box of ``text`` drawn at the origin (left, top, right, bottom): what is
        really inked, so a full-width ``，`` counts for its dot, not its em box."""
        x, boxes = 0.0, []
        for t, f in self.runs(text):
            mask, (ox, oy) = f.getmask2(t, anchor=anchor)
            ink = mask.getbbox()
            if ink:
                boxes.append((x + ox + ink[0], oy + ink[1], x + ox + ink[2], oy + ink[3]))
            x += f.getlength(t)
        if not boxes:
            return (0.0, 0.0, 0.0, 0.0)
        return (min(b[0] for b in boxes), min(b[1] for b in boxes),
                max(b[2] for b in boxes), max(b[3] for b in boxes))

    def draw(self, draw: Any, xy: tuple[float, float], text: str, fill: Any,
             **kwargs: Any) -> None:
        """Draw ``text`` with its left baseline at ``xy``."""
        x, y = xy
        for t, f in self.runs(text):
            draw.text((x, y), t, font=f, fill=fill, anchor="ls", **kwargs)
            x += f.getlength(t)


def font_path_for(text: str, weight: str = "regular", family: str | None = None,
                  language: str | None = None, context: str | None = None) -> str:
    """The font file ``text`` is set in: the brand ``family`` when given; otherwise the
    language's Noto CJK face for CJK text *and* for Latin text on a CJK layout (``context``
    is the layout's CJK language), so "Grand Opening" beside 新店开业 is in the same
    design; else the Latin face."""
    script = script_of(text)
    if script == "latin" and (is_cjk_language(language) or is_cjk_language(context)):
        script = "cjk"
    return find_font(script, weight, family)


def typeface(text: str, size: int, *, weight: str = "regular", family: str | None = None,
             language: str | None = None, context: str | None = None) -> Typeface:
    """The :class:`Typeface` for ``text`` at ``size``: the face :func:`font_path_for` names,
    with the language's Noto CJK face as fallback when that face lacks some characters."""
    return _typeface(text, size, weight, family, language, context)


@lru_cache(maxsize=96)
def _typeface(text: str, size: int, weight: str, family: str | None, language: str | None,
              context: str | None) -> Typeface:
    lang = language if script_of(text) == "cjk" or not context else context
    if script_of(text) == "cjk" and not is_cjk_language(lang):
        lang = context if is_cjk_language(context) else "zh"
    path = font_path_for(text, weight, family, language, context)
    primary = load_font(path, size, lang)
    fallback = None
    if not covers(path, text, lang):
        try:
            cjk = find_font("cjk", weight)
        except FontNotFound:
            cjk = None
        if cjk and cjk != path:
            fallback = load_font(cjk, size, lang)
    return Typeface(primary, path, fallback, lang)


def text_width(font: ImageFont.FreeTypeFont | Typeface, text: str) -> float:
    return font.getlength(text)


# ---- line breaking ------------------------------------------------------------------------

NO_LINE_START = set("、。，．・：；？！ー～々〻ゝゞヽヾぁぃぅぇぉっゃゅょゎゕゖァィゥェォッャュョヮヵヶ"
                    "」』）】〉》〕］｝〙〗”’»›%％‰…‥〜,.;:!?)]}")
"""Characters that may not begin a line (kinsoku shori): closing brackets and
punctuation, small kana, the prolonged sound mark and iteration marks."""

NO_LINE_END = set("「『（【〈《〔［｛〘〖“‘«‹([{¥￥$＄€£₩#＃*※")
"""Characters that may not end a line: opening brackets and prefixed currency signs."""

_UNITS = {"%", "％", "off", "km", "kg", "g", "cm", "mm", "m", "ml", "l", "gb", "tb", "mb",
          "am", "pm", "h", "min", "usd", "eur", "gbp", "rmb", "cny", "hkd", "jpy", "krw",
          "twd", "ntd", "pcs", "x"}
_MONTHS = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "sept", "oct", "nov",
           "dec", "january", "february", "march", "april", "june", "july", "august",
           "september", "october", "november", "december"}
_CJK_WORDS = ("税込", "税抜", "送料無料", "送料込", "限定", "以上", "까지", "부터")
_NUMBER_RUN = re.compile(
    r"[$€£¥￥₩＄]?(?:\d[\d,.:]*(?:[%％]|[円元折起号年月日時分秒個件点位名人週]|税込|税抜|"
    r"[원개명일월년시분])*[/~〜\-–—]?)+")
_BRACKETS = {"(": ")", "（": "）", "【": "】", "「": "」", "『": "』", "〔": "〕", "[": "]"}
_MAX_GROUP = 14
"""A bracketed group this short (``(was $179)``, ``（税込）``) is never broken."""


def _is_hangul(ch: str) -> bool:
    o = ord(ch)
    return 0xAC00 <= o <= 0xD7AF or 0x1100 <= o <= 0x11FF or 0x3130 <= o <= 0x318F


def _is_katakana(ch: str) -> bool:
    o = ord(ch)
    return 0x30A1 <= o <= 0x30FA or ch in "ーヽヾ" or 0x31F0 <= o <= 0x31FF


def _atoms(text: str, language: str | None) -> list[str]:
    """Pieces no line break may fall inside, each with its trailing space: a Latin word, a
    Korean word (Korean breaks between words, not syllables), one CJK character, a number
    with its currency sign and units (``¥168起``, ``9月6日``, ``$49.99``), a CJK compound
    such as 税込."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            if out:
                out[-1] += ch
            else:
                out.append(ch)
            i += 1
            continue
        m = _NUMBER_RUN.match(text, i)
        if m and m.end() > i and any(c.isdigit() for c in m.group()):
            j = m.end()
            while j < n and not text[j].isspace() and not is_cjk(text[j]) or (
                    j < n and _is_hangul(text[j])):  # the rest of the word: 49.99€, 2025년
                j += 1
            out.append(text[i:j])
            i = j
            continue
        word = next((w for w in _CJK_WORDS if text.startswith(w, i)), None)
        if word:
            out.append(word)
            i += len(word)
            continue
        if _is_katakana(ch):  # a katakana word (モンブラン) is not broken: up to 8 kana
            j = i
            while j < n and _is_katakana(text[j]) and j - i < 8:
                j += 1
            if j < n and _is_katakana(text[j]):
                j = i + 1  # a longer run breaks like other CJK text
            out.append(text[i:j])
            i = j
            continue
        if is_cjk(ch) and not _is_hangul(ch):
            out.append(ch)
            i += 1
            continue
        j = i
        while j < n and not text[j].isspace() and not (is_cjk(text[j]) and not _is_hangul(
                text[j])):
            j += 1
        out.append(text[i:j])
        i = j
    return out


def _glued(a: str, b: str) -> bool:
    """No break between atoms ``a`` and ``b``: a number and its unit or month (``31 July``,
    ``12 kg``), a currency sign and its amount, kinsoku pairs."""
    wa, wb = a.strip(), b.strip()
    if not wa or not wb:
        return False
    if wb[0] in NO_LINE_START or wa[-1] in NO_LINE_END:
        return True
    la, lb = wa.lower().strip(".,;:()"), wb.lower().strip(".,;:()")
    if wa[-1].isdigit() and (lb in _UNITS or lb in _MONTHS or lb.rstrip(".,") in _MONTHS):
        return True
    if la in _MONTHS and wb[0].isdigit():
        return True
    if la in {"$", "€", "£", "¥", "us$", "hk$", "nt$", "no.", "nr.", "p."} and wb[0].isdigit():
        return True
    return False


def break_units(text: str, language: str | None = None) -> list[str]:
    """``text`` (one paragraph) as the units a line may break between, by the language's
    rules: atoms (:func:`_atoms`) joined where no break is allowed (kinsoku, numbers with
    units, months with days) and short bracketed groups kept whole."""
    atoms = _atoms(text, language)
    units: list[str] = []
    open_group: tuple[int, str, int] | None = None  # (start unit index, closer, chars)
    for atom in atoms:
        join = bool(units) and _glued(units[-1], atom)
        if open_group is not None:
            join = True
        if join:
            units[-1] += atom
        else:
            units.append(atom)
        stripped = atom.strip()
        if open_group is not None:
            start, closer, _ = open_group
            if closer in stripped:
                open_group = None
            elif len(units[-1]) > _MAX_GROUP:  # too long to keep whole: break normally
                head = units.pop()
                units.extend(_split_back(head, language))
                open_group = None
        elif stripped and stripped[0] in _BRACKETS and _BRACKETS[stripped[0]] not in stripped:
            open_group = (len(units) - 1, _BRACKETS[stripped[0]], len(stripped))
    return units


def _split_back(chunk: str, language: str | None) -> list[str]:
    """A group that grew too long, as ordinary units again (kinsoku still applies)."""
    units: list[str] = []
    for atom in _atoms(chunk, language):
        if units and _glued(units[-1], atom):
            units[-1] += atom
        else:
            units.append(atom)
    return units


def _greedy(units: list[str], font: Any, max_width: float) -> list[str] | None:
    lines: list[str] = []
    line = ""
    for unit in units:
        trial = line + unit
        if text_width(font, trial.rstrip()) <= max_width:
            line = trial
            continue
        if not line.strip():
            return None  # one unbreakable unit does not fit
        lines.append(line.rstrip())
        line = unit.lstrip()
        if text_width(font, line.rstrip()) > max_width:
            return None
    lines.append(line.rstrip())
    return lines


def _no_orphan(lines: list[str], font: Any, max_width: float, units: list[str]) -> list[str]:
    """A last line of one short unit (a lone word or character) takes the previous line's
    last unit with it when that fits and leaves the previous line more than one unit."""
    if len(lines) < 2:
        return lines
    last = lines[-1]
    if len([u for u in units if u.strip()]) < 3 or len(last.strip()) > 3 and " " in last:
        return lines
    lone = len(break_units(last)) == 1
    if not lone:
        return lines
    prev_units = break_units(lines[-2])
    if len(prev_units) < 2:
        return lines
    moved = prev_units[-1]
    spaced = not is_cjk(moved.rstrip()[-1:]) and not is_cjk(last[:1])
    new_last = moved.rstrip() + (" " if spaced else "") + last
    if text_width(font, new_last.rstrip()) > max_width:
        return lines
    return [*lines[:-2], "".join(prev_units[:-1]).rstrip(), new_last.rstrip()]


def wrap(text: str, font: Any, max_width: float, *, language: str | None = None,
         balance: bool = True) -> list[str] | None:
    """Lines of ``text`` no wider than ``max_width``, broken by the language's rules
    (:func:`break_units`). Explicit newlines are kept. With ``balance`` the lines of each
    paragraph are made as even as the breaks allow (a headline never leaves one word or one
    character alone on its last line). None when a unit is wider than the box."""
    lines: list[str] = []
    for para in text.split("\n"):
        units = break_units(para, language)
        got = _greedy(units, font, max_width)
        if got is None:
            return None
        if balance and len(got) > 1:
            lo, hi = text_width(font, para) / len(got) * 0.9, max_width
            best = got
            for _ in range(12):
                mid = (lo + hi) / 2
                trial = _greedy(units, font, mid)
                if trial is not None and len(trial) <= len(got):
                    best, hi = trial, mid
                else:
                    lo = mid
            got = _no_orphan(best, font, max_width, units)
        lines.extend(got)
    return lines


@dataclass(frozen=True)
class Fit:
    """Text fitted into a box: the font size (px), the lines and the block's size."""

    size: int
    lines: tuple[str, ...]
    width: float
    height: float
    font_path: str
    language: str | None = None
    family: str | None = None
    weight: str = "regular"
    context: str | None = None

    def typeface(self, text: str | None = None) -> Typeface:
        """The typeface the lines were measured with."""
        return typeface(text if text is not None else "".join(self.lines), self.size,
                        weight=self.weight, family=self.family, language=self.language,
                        context=self.context)


def fit_text(text: str, box_w: float, box_h: float, *, font_path: str | None = None,
             max_size: int | None = None, min_size: int = MIN_LEGIBLE_PX,
             max_lines: int | None = None, weight: str = "regular", family: str | None = None,
             language: str | None = None, context: str | None = None) -> Fit | None:
    """The largest font size (≤ ``max_size``) at which ``text`` fits ``box_w``×``box_h`` px,
    broken into balanced lines by the rules of ``language``.

    The face is chosen by :func:`typeface` from ``weight``, ``family`` (a brand font),
    ``language`` and ``context`` (the layout's CJK language); ``font_path`` overrides the
    family. Returns None when even ``min_size`` does not fit: the caller reports that as
    copy that cannot be set legibly, never as an overflow.
    """
    family = font_path or family
    hi = int(max_size or box_h)
    lo = min_size
    best: Fit | None = None
    while lo <= hi:  # the size is decided with greedy lines (balancing never adds a line)
        mid = (lo + hi) // 2
        fit = _try(text, box_w, box_h, mid, max_lines, weight, family, language, context)
        if fit:
            best = fit
            lo = mid + 1
        else:
            hi = mid - 1
    if best is not None and len(best.lines) > 1:  # then the lines are balanced
        face = best.typeface(text)
        lines = wrap(text, face, box_w, language=language) or list(best.lines)
        best = Fit(size=best.size, lines=tuple(lines),
                   width=max(text_width(face, ln) for ln in lines), height=best.height,
                   font_path=best.font_path, language=language, family=family,
                   weight=weight, context=context)
    return best


def _try(text: str, box_w: float, box_h: float, size: int, max_lines: int | None,
         weight: str, family: str | None, language: str | None,
         context: str | None) -> Fit | None:
    face = typeface(text, size, weight=weight, family=family, language=language,
                    context=context)
    lines = wrap(text, face, box_w, language=language, balance=False)
    if lines is None or (max_lines and len(lines) > max_lines):
        return None
    height = size * LINE_SPACING * (len(lines) - 1) + size * 1.15
    if height > box_h:
        return None
    width = max(text_width(face, ln) for ln in lines)
    return Fit(size=size, lines=tuple(lines), width=width, height=height,
               font_path=face._path, language=language, family=family, weight=weight,
               context=context)
