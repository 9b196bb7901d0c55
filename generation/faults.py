"""Injecting the text errors GLM-Image really makes, for simulation and for tests.

Given a :class:`~generation.base.Layout` and a seeded ``random.Random``, :func:`inject`
returns a changed copy of the layout plus one :class:`Injection` record per error, so a
renderer draws the wrong text and the caller knows exactly what QA should find. The
kinds (``generation.base.Fault``):

==================  ===========================================================
``wrong_letter``    one Latin letter replaced by a look-alike (e→c, m→n, O→Q)
``missing_letter``  one letter or ideograph left out
``doubled_letter``  one letter or ideograph written twice
``dropped_word``    one word of a multi-word text left out
``swapped_chars``   two different adjacent characters swapped
``wrong_digit``     one digit of a price/number changed
``wrong_cjk``       one Chinese character replaced by a similar-looking one (夏→复)
``missing_region``  the whole text not drawn
``extra_text``      a short stray word drawn in an empty part of the canvas
==================  ===========================================================

Every injected error is a *visible* change: the rendered text never equals the expected
text after case folding, Unicode (NFKC) and whitespace normalisation. A kind is only
chosen for a text it applies to (``wrong_digit`` only where there are digits, …).
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Collection, Sequence
from typing import get_args

from pydantic import BaseModel, ConfigDict

from generation.base import BoxTuple, Fault, Layout, TextBlock
from generation.errors import InvalidRequest
from generation.fonts import is_cjk, script_of

FAULT_KINDS: tuple[str, ...] = get_args(Fault.model_fields["kind"].annotation)

_LOWER = {"a": "o", "b": "h", "c": "e", "d": "b", "e": "c", "f": "t", "g": "q", "h": "b",
          "i": "j", "j": "i", "k": "x", "l": "t", "m": "n", "n": "m", "o": "a", "p": "q",
          "q": "p", "r": "n", "s": "z", "t": "f", "u": "v", "v": "u", "w": "v", "x": "k",
          "y": "v", "z": "s"}
_UPPER = {"A": "R", "B": "R", "C": "G", "D": "O", "E": "F", "F": "E", "G": "C", "H": "N",
          "J": "L", "K": "X", "M": "N", "N": "M", "O": "Q", "P": "R", "Q": "O", "R": "P",
          "S": "B", "U": "V", "V": "U", "W": "V", "X": "K", "Y": "V", "Z": "S"}
LATIN_LOOKALIKES: dict[str, str] = {**_LOWER, **_UPPER}
"""A letter and the wrong letter GLM-Image tends to draw for it. Pairs that OCR or a
case-folding comparison could not tell apart (I/l/1, O/0) are left out on purpose."""

_CJK_PAIRS = (
    "夏复 季李 大太 全金 折拆 元无 天夫 人入 土士 未末 日曰 己已 买卖 王玉 白自 千干 "
    "午牛 今令 特持 价份 动劝 限很 免兔 费贵 送选 秒妙 上止 冬各 快块 乐东 开升 业亚 "
    "本木 两丙 田由 甲申 问间 场扬 为办 享亨 周同 晴睛 清请 待侍 历厉 候侯 住往 "
    "拨拔 壁璧 折析 幕慕 赢嬴 己巳 鸟乌 兵乒 荣劳 未朱"
)
CJK_LOOKALIKES: dict[str, str] = {}
"""A Simplified Chinese character and a different, visually similar Simplified one."""
for _pair in _CJK_PAIRS.split():
    _a, _b = _pair[0], _pair[1]
    if _a != _b:
        CJK_LOOKALIKES.setdefault(_a, _b)
        CJK_LOOKALIKES.setdefault(_b, _a)

_STRAY_LATIN = ("SALE", "NEW", "FREE", "HOT", "OFFER", "Lorem", "BEST", "DEAL", "WOW")
_STRAY_CJK = ("新品", "特价", "限时", "热卖", "好物", "爆款")

_WEIGHTS = {"missing_region": 0.5, "extra_text": 0.5}


class Injection(BaseModel):
    """One injected error: what the region should say and what was really drawn."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    region_id: str | None
    expected: str
    rendered: str
    box: BoxTuple | None = None


def normalise(text: str) -> str:
    """How QA compares texts: NFKC, case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def visibly_different(a: str, b: str) -> bool:
    return normalise(a) != normalise(b)


def _marks(text: str) -> list[int]:
    """Indexes of the letters, digits and ideographs (what a reader would miss)."""
    return [i for i, c in enumerate(text) if c.isalnum()]


def _wrong_letter(text: str, rng: random.Random) -> str | None:
    idx = [i for i, c in enumerate(text) if c in LATIN_LOOKALIKES]
    if not idx:
        return None
    i = rng.choice(idx)
    return text[:i] + LATIN_LOOKALIKES[text[i]] + text[i + 1:]


def _missing_letter(text: str, rng: random.Random) -> str | None:
    idx = _marks(text)
    if len(idx) < 2:
        return None
    i = rng.choice(idx)
    return text[:i] + text[i + 1:]


def _doubled_letter(text: str, rng: random.Random) -> str | None:
    idx = _marks(text)
    if not idx:
        return None
    i = rng.choice(idx)
    return text[:i + 1] + text[i] + text[i + 1:]


def _dropped_word(text: str, rng: random.Random) -> str | None:
    parts = re.split(r"(\s+)", text.strip())
    words = [k for k in range(0, len(parts), 2) if any(c.isalnum() for c in parts[k])]
    if len(parts) < 3 or not words:
        return None
    k = rng.choice(words)
    if k + 1 < len(parts):
        del parts[k:k + 2]
    else:
        del parts[k - 1:k + 1]
    return "".join(parts)


def _swapped_chars(text: str, rng: random.Random) -> str | None:
    idx = [i for i in range(len(text) - 1)
           if text[i].isalnum() and text[i + 1].isalnum()
           and normalise(text[i]) != normalise(text[i + 1])]
    if not idx:
        return None
    i = rng.choice(idx)
    return text[:i] + text[i + 1] + text[i] + text[i + 2:]


def _wrong_digit(text: str, rng: random.Random) -> str | None:
    idx = [i for i, c in enumerate(text) if "0" <= c <= "9"]
    if not idx:
        return None
    i = rng.choice(idx)
    new = str((int(text[i]) + rng.randint(1, 9)) % 10)
    return text[:i] + new + text[i + 1:]


def _wrong_cjk(text: str, rng: random.Random) -> str | None:
    idx = [i for i, c in enumerate(text) if c in CJK_LOOKALIKES]
    if not idx:
        return None
    i = rng.choice(idx)
    return text[:i] + CJK_LOOKALIKES[text[i]] + text[i + 1:]


_TEXT_FAULTS = {
    "wrong_letter": _wrong_letter, "missing_letter": _missing_letter,
    "doubled_letter": _doubled_letter, "dropped_word": _dropped_word,
    "swapped_chars": _swapped_chars, "wrong_digit": _wrong_digit, "wrong_cjk": _wrong_cjk,
}


def garble(kind: str, text: str, rng: random.Random) -> str | None:
    """``text`` with one error of ``kind``, or None when the kind does not apply to it."""
    if kind == "missing_region":
        return "" if text.strip() else None
    fn = _TEXT_FAULTS.get(kind)
    if fn is None:
        return None
    out = fn(text, rng)
    return out if out is not None and visibly_different(out, text) else None


def applicable_kinds(text: str) -> list[str]:
    """The region-level fault kinds that can visibly change ``text``."""
    probe = random.Random(0)
    return [k for k in (*_TEXT_FAULTS, "missing_region") if garble(k, text, probe) is not None]


def _overlaps(a: BoxTuple, b: BoxTuple, margin: float = 0.0) -> bool:
    return not (a[0] + a[2] + margin <= b[0] or b[0] + b[2] + margin <= a[0]
                or a[1] + a[3] + margin <= b[1] or b[1] + b[3] + margin <= a[1])


def empty_box(layout: Layout, rng: random.Random, *, w: float = 0.26, h: float = 0.05
              ) -> BoxTuple:
    """A ``w``×``h`` box that overlaps no text or image box (the least-covered if none)."""
    taken = [t.box for t in layout.texts] + list(layout.image_boxes)
    cands: list[BoxTuple] = []
    steps = 12
    for iy in range(steps):
        for ix in range(steps):
            x = 0.04 + (0.92 - w) * ix / (steps - 1)
            y = 0.03 + (0.94 - h) * iy / (steps - 1)
            cands.append((round(x, 4), round(y, 4), w, h))
    free = [c for c in cands if not any(_overlaps(c, t, 0.01) for t in taken)]
    if free:
        return rng.choice(free)

    def covered(c: BoxTuple) -> float:
        return sum(max(0.0, min(c[0] + c[2], t[0] + t[2]) - max(c[0], t[0]))
                   * max(0.0, min(c[1] + c[3], t[1] + t[3]) - max(c[1], t[1])) for t in taken)
    return min(cands, key=covered)


def _stray_word(layout: Layout, rng: random.Random) -> str:
    cjk = any(script_of(t.text) == "cjk" for t in layout.texts)
    present = normalise(" ".join(t.text for t in layout.texts))
    pool = [w for w in (_STRAY_CJK if cjk else _STRAY_LATIN) if normalise(w) not in present]
    return rng.choice(pool or ["ZQX"])


def _extra_text(layout: Layout, texts: list[TextBlock], rng: random.Random,
                word: str | None) -> tuple[TextBlock, Injection]:
    word = word or _stray_word(layout, rng)
    box = empty_box(layout.model_copy(update={"texts": texts}), rng)
    colour = texts[0].color if texts else "#111111"
    n = sum(1 for t in texts if t.id.startswith("extra-")) + 1
    block = TextBlock(id=f"extra-{n}", text=word, box=box, role="label", color=colour,
                      weight="bold", language="zh" if any(is_cjk(c) for c in word) else "en")
    return block, Injection(kind="extra_text", region_id=None, expected="", rendered=word,
                            box=box)


def inject(layout: Layout, rng: random.Random, *, faults: Sequence[Fault] = (),
           random_faults: int = 0, region_ids: Collection[str] | None = None
           ) -> tuple[Layout, list[Injection]]:
    """Apply the explicit ``faults`` and then ``random_faults`` randomly chosen ones.

    ``region_ids`` limits which text blocks may be changed (an edit only redraws some);
    explicit faults naming another region raise :class:`InvalidRequest`, as does a fault
    whose kind cannot apply to its region. A ``Fault.detail`` is the exact text to draw
    instead (for ``extra_text``: the stray word). Random faults only touch blocks the model
    draws (``render == "model"``). Returns the changed copy and one record per error.
    """
    texts = [t.model_copy() for t in layout.texts]
    allowed = set(region_ids) if region_ids is not None else {t.id for t in texts}
    records: list[Injection] = []

    def find(region_id: str) -> int:
        for i, t in enumerate(texts):
            if t.id == region_id:
                return i
        known = ", ".join(t.id for t in texts) or "none"
        raise InvalidRequest(f"fault names region {region_id!r}, which is not in the layout "
                             f"(regions: {known})")

    def apply(kind: str, i: int, detail: str = "") -> None:
        block = texts[i]
        if detail and kind != "missing_region":
            new: str | None = detail if visibly_different(detail, block.text) else None
        else:
            new = garble(kind, block.text, rng)
        if new is None:
            raise InvalidRequest(f"fault {kind} cannot visibly change region {block.id!r} "
                                 f"({block.text!r})")
        records.append(Injection(kind=kind, region_id=block.id, expected=block.text,
                                 rendered=new, box=block.box))
        texts[i] = block.model_copy(update={"text": new})

    for fault in faults:
        if fault.kind == "extra_text":
            block, rec = _extra_text(layout, texts, rng, fault.detail or None)
            texts.append(block)
            records.append(rec)
            continue
        if fault.region_id is not None:
            i = find(fault.region_id)
            if fault.region_id not in allowed:
                raise InvalidRequest(f"fault names region {fault.region_id!r}, which this "
                                     f"request does not draw")
            apply(fault.kind, i, fault.detail)
            continue
        cands = [i for i, t in enumerate(texts) if t.id in allowed and t.text
                 and (fault.detail or garble(fault.kind, t.text, random.Random(0)) is not None)]
        if not cands:
            raise InvalidRequest(f"fault {fault.kind} applies to no region of this layout")
        apply(fault.kind, rng.choice(cands), fault.detail)

    for _ in range(random_faults):
        options: dict[str, list[int]] = {"extra_text": []}
        for i, t in enumerate(texts):
            if t.id in allowed and t.render == "model" and not t.id.startswith("extra-"):
                for kind in applicable_kinds(t.text):
                    options.setdefault(kind, []).append(i)
        kinds = sorted(options)
        kind = rng.choices(kinds, weights=[_WEIGHTS.get(k, 1.0) for k in kinds])[0]
        if kind == "extra_text":
            block, rec = _extra_text(layout, texts, rng, None)
            texts.append(block)
            records.append(rec)
        else:
            apply(kind, rng.choice(options[kind]))

    kept = [t for t in texts if t.text]
    return layout.model_copy(update={"texts": kept}), records
