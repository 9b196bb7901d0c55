"""A deterministic, labelled image set for benchmarking OCR QA.

:func:`make_dataset` (``n`` items from a ``seed``) writes ``images/<id>.jpg`` and a
``labels.jsonl`` manifest into a folder; the same seed always gives the same labels and
the same image bytes. Each item is a poster drawn by the ``typeset`` renderer from a
:class:`~generation.base.Layout` built here (headline, subheadline, price, call to action,
a legal line at legal size, sometimes a picture placeholder), in English, Chinese or a mix
of both, and then made to look photographic:

* a photographic-style background behind the text: blurred shapes, multi-scale texture
  and uneven lighting (the text's own pixels are kept; see :func:`_text_mask`);
* on about a third of the items, the text's contrast reduced by 30–45 %;
* a small perspective warp and rotation (≤ 1°), with the label boxes moved by the same
  homography so the labels stay true;
* Gaussian blur (σ 0.3–1.0), sensor noise and JPEG compression (quality 55–90).

Half the items (every other one) carry exactly one injected error of a kind GLM-Image
really makes (:mod:`generation.faults`: ``wrong_letter``, ``missing_letter``,
``doubled_letter``, ``dropped_word``, ``swapped_chars``, ``wrong_digit``, ``wrong_cjk``,
``missing_region``, ``extra_text``), cycling through the kinds that apply to the item's
language so every kind is represented; the label names the kind, region and what was
really drawn. ``expected`` is always what the spec asked for.

The degradation parameters are fixed here, before any tuning of QA, and are not tuned to
flatter QA's numbers.

``labels.jsonl`` is a superset of the manifest format :func:`agents.benchmarks.qa.score_folder`
reads (``file``, ``expected``, ``correct``), so a generated set can also be scored as a
user's folder (without boxes).
"""

from __future__ import annotations

from collections.abc import Callable

import hashlib
import io
import math
import random
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from pydantic import BaseModel, ConfigDict, Field

from generation.base import BoxTuple, Fault, GenerationRequest, Layout, TextBlock
from generation.faults import applicable_kinds, inject
from generation.fonts import is_cjk as is_cjk_char
from generation.typeset import TypesetBackend
from qa.models import ExpectedText

Language = Literal["en", "zh", "ja", "mixed"]

KINDS_BY_LANGUAGE: dict[str, tuple[str, ...]] = {
    "en": ("wrong_letter", "missing_letter", "doubled_letter", "dropped_word", "swapped_chars",
           "wrong_digit", "missing_region", "extra_text"),
    "zh": ("wrong_cjk", "missing_letter", "doubled_letter", "swapped_chars", "wrong_digit",
           "missing_region", "extra_text"),
    "mixed": ("wrong_cjk", "wrong_letter", "missing_letter", "doubled_letter", "dropped_word",
              "swapped_chars", "wrong_digit", "missing_region", "extra_text"),
}
"""The error kinds cycled through for each language (every kind GLM-Image makes that can
apply to that script)."""

SIZES: tuple[tuple[int, int], ...] = ((768, 1024), (1024, 768), (896, 896))

# -- copy -------------------------------------------------------------------------------------

_EN = {
    "headline": ["Summer Sale", "New Season Arrivals", "Fresh Coffee Daily", "Grand Opening",
                 "Winter Collection", "Weekend Market", "Back to School", "Spring Garden Fair",
                 "Midnight Flash Deal", "Holiday Gift Guide", "Organic Juice Bar",
                 "Urban Running Club", "Autumn Book Week", "Harbour Food Festival"],
    "subheadline": ["Up to 50% off everything", "Handmade with love since 1998",
                    "Free delivery on orders over $35", "Two days only this weekend",
                    "Bring a friend and save more", "Fresh picks every morning",
                    "Members get early access", "Live music from 7 pm",
                    "Open late every Friday", "Brewed from single origin beans"],
    "price": ["$19.99", "€24.50", "£9.99", "Only $49", "$128.00", "From $7.95", "2 for $15",
              "$3.50", "Now €39", "$249"],
    "cta": ["Shop now", "Book today", "Order online", "Join us", "Learn more", "Get yours",
            "Visit us", "Sign up free"],
    "legal": ["*Terms apply. Offer ends 31 May 2025.", "While stocks last. See store for details.",
              "Prices include VAT. Limit 2 per customer.",
              "Valid in participating stores until 30 June.",
              "*Excludes gift cards. One use per order.",
              "Offer valid 1-14 March at 12 locations."],
}
_ZH = {
    "headline": ["夏季大促", "全场五折", "新品上市", "周末特卖", "限时抢购", "冬季新品",
                 "好物推荐", "春日限定", "开业大酬宾", "年终清仓", "晴天咖啡节", "美食周"],
    "subheadline": ["全场商品买一送一", "会员专享折扣", "今日下单立享优惠", "满二百元免运费",
                    "周末两天限时特价", "每天清晨新鲜到店", "新老顾客同享好礼", "买两件再减十元"],
    "price": ["¥99", "仅售¥128", "8折", "99元", "¥59.90", "¥19.9起", "只要¥36", "¥299"],
    "cta": ["立即购买", "马上抢购", "立即预约", "了解更多", "扫码领券", "到店自提"],
    "legal": ["活动细则以门店公告为准", "本活动最终解释权归本店所有", "优惠券不可与其他优惠同享",
              "活动时间至6月30日止", "图片仅供参考以实物为准"],
}
_MIXED_HEADLINES = ["夏日 Summer Sale", "新品 New Arrivals", "咖啡 Coffee Week",
                    "开业 Grand Opening", "周末 Weekend Deals"]

_PALETTES = [
    ["#1d3557", "#e63946", "#f1faee"], ["#264653", "#e9c46a", "#f4f1de"],
    ["#3d405b", "#e07a5f", "#f4f1de"], ["#22223b", "#c9ada7", "#f2e9e4"],
    ["#0b3954", "#ff5a5f", "#fefffe"], ["#2b2d42", "#ef233c", "#edf2f4"],
    ["#283618", "#dda15e", "#fefae0"], ["#03045e", "#00b4d8", "#caf0f8"],
]
_BACKGROUNDS = ["soft gradient", "warm sunny gradient", "dark elegant radial glow",
                "cool fresh gradient with dots", "light airy waves", "dark stripes",
                "bright confetti", "soft radial light"]


class BenchText(BaseModel):
    """One expected text: what the spec asked for and where (fractions of the image)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    text: str
    box: BoxTuple
    language: str
    role: str


class BenchItem(BaseModel):
    """One labelled image of the set."""

    model_config = ConfigDict(extra="forbid")

    id: str
    file: str = Field(description="Image path relative to the dataset folder.")
    expected: list[str] = Field(description="The expected strings (manifest-compatible).")
    texts: list[BenchText]
    correct: bool
    error_kind: str | None = None
    error_region: str | None = None
    rendered: str | None = Field(default=None, description="What the faulty region really says.")
    language: Language
    width: int
    height: int
    degradations: dict[str, float] = Field(default_factory=dict)
    sha256: str = ""

    def expected_texts(self) -> list[ExpectedText]:
        """The QA input for this item (with boxes)."""
        return [ExpectedText(id=t.id, text=t.text, box=t.box, language=t.language, role=t.role)
                for t in self.texts]


def make_dataset(n: int, seed: int, out: Path, *,
                 progress: Callable[[str, int, int], None] | None = None,
                 hard: bool = False) -> list[BenchItem]:
    """Write ``n`` labelled images into ``out`` (``images/`` and ``labels.jsonl``) and
    return their labels. Deterministic in ``(n, seed)``; item ``i`` depends only on
    ``(seed, i)``, so a larger ``n`` extends a smaller set. ``progress(stage, done, total)``
    is called after each image."""
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    items = []
    for i in range(n):
        items.append(make_item(seed, i, out, hard=hard))
        if progress:
            progress("making the labelled set", i + 1, n)
    with (out / "labels.jsonl").open("w", encoding="utf-8") as fh:
        for item in items:
            fh.write(item.model_dump_json() + "\n")
    return items


def load_dataset(folder: Path) -> list[BenchItem]:
    """Read a folder written by :func:`make_dataset`."""
    lines = (Path(folder) / "labels.jsonl").read_text(encoding="utf-8").splitlines()
    return [BenchItem.model_validate_json(line) for line in lines if line.strip()]


def language_for(seed: int, index: int) -> Language:
    r = random.Random(f"bench:{seed}:{index}:language").random()
    return "en" if r < 0.4 else "zh" if r < 0.75 else "mixed"


def make_item(seed: int, index: int, out: Path, *, hard: bool = False) -> BenchItem:
    """Build, render, degrade and save item ``index`` of the set for ``seed`` (``hard``: the
    harder variant, see :data:`HARD`)."""
    rng = random.Random(f"bench{'-hard' if hard else ''}:{seed}:{index}")
    language = language_for(seed, index)
    width, height = rng.choice(SIZES)
    layout = _layout(rng, language, width, height)
    if hard:
        layout = _unseen_faces(rng, layout)
    faulty = index % 2 == 1
    kind = region = rendered = None
    drawn = layout
    if faulty:
        kind, region = _pick_fault(rng, layout, language, index)
        drawn, records = inject(layout, random.Random(f"bench:{seed}:{index}:fault"),
                                faults=[Fault(kind=kind, region_id=region)])
        rendered = records[0].rendered
        region = records[0].region_id
    if hard:
        drawn = _drifted(rng, drawn)
    img, degr, homography = _render_degraded(drawn, width, height, seed * 100_003 + index, rng,
                                             hard=hard)
    texts = [BenchText(id=t.id, text=t.text, box=warp_box(t.box, homography, width, height),
                       language=t.language, role=t.role) for t in layout.texts]
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=int(degr["jpeg_quality"]), optimize=False)
    data = buf.getvalue()
    item_id = f"{'H' if hard else ''}{seed}-{index:04d}"
    rel = f"images/{item_id}.jpg"
    (Path(out) / rel).write_bytes(data)
    return BenchItem(id=item_id, file=rel, expected=[t.text for t in texts], texts=texts,
                     correct=not faulty, error_kind=kind, error_region=region, rendered=rendered,
                     language=language, width=width, height=height, degradations=degr,
                     sha256=hashlib.sha256(data).hexdigest())


# -- layouts -----------------------------------------------------------------------------------

def _copy(rng: random.Random, language: Language) -> dict[str, tuple[str, str]]:
    """role -> (text, language) for one poster."""
    if language == "en":
        return {r: (rng.choice(v), "en") for r, v in _EN.items()}
    if language == "zh":
        return {r: (rng.choice(v), "zh") for r, v in _ZH.items()}
    # mixed: a bilingual headline, and each other role from either language
    out = {"headline": (rng.choice(_MIXED_HEADLINES), "zh")}
    for role in ("subheadline", "price", "cta", "legal"):
        src, lang = (_ZH, "zh") if rng.random() < 0.5 else (_EN, "en")
        out[role] = (rng.choice(src[role]), lang)
    return out


def _jitter(rng: random.Random, box: BoxTuple, d: float = 0.015) -> BoxTuple:
    x, y, w, h = box
    return (round(x + rng.uniform(-d, d), 4), round(y + rng.uniform(-d, d), 4), w, h)


def _layout(rng: random.Random, language: Language, width: int, height: int) -> Layout:
    copy = _copy(rng, language)
    portrait = height >= width
    legal_px = rng.uniform(13.0, 16.0)  # legal-size text, in pixels
    if portrait:
        boxes = {"headline": (0.08, 0.07, 0.84, 0.13), "subheadline": (0.1, 0.22, 0.8, 0.06),
                 "price": (0.28, 0.58, 0.44, 0.09), "cta": (0.3, 0.74, 0.4, 0.07),
                 "legal": (0.05, 0.91, 0.9, 0.035)}
        picture = (0.12, 0.31, 0.76, 0.23)
    else:
        boxes = {"headline": (0.06, 0.1, 0.55, 0.17), "subheadline": (0.06, 0.3, 0.55, 0.08),
                 "price": (0.06, 0.46, 0.3, 0.12), "cta": (0.06, 0.66, 0.3, 0.09),
                 "legal": (0.05, 0.9, 0.9, 0.045)}
        picture = (0.66, 0.12, 0.28, 0.6)
    palette = rng.choice(_PALETTES)
    colours = {"headline": palette[0], "subheadline": palette[0], "price": palette[1],
               "cta": palette[2], "legal": palette[0]}
    texts = []
    for role, (text, lang) in copy.items():
        size = legal_px / height if role == "legal" else None
        texts.append(TextBlock(id=role, text=text, box=_jitter(rng, boxes[role]), role=role,
                               language=lang, color=colours[role], size=size,
                               weight="bold" if role in ("headline", "price", "cta") else "regular",
                               align="center" if portrait else "left"))
    return Layout(background=rng.choice(_BACKGROUNDS), palette=palette, texts=texts,
                  image_boxes=[picture] if rng.random() < 0.5 else [])


def _pick_fault(rng: random.Random, layout: Layout, language: Language, index: int
                ) -> tuple[str, str | None]:
    """The kind (cycling through the language's kinds by item index) and a region it can
    visibly change; the next kind in the cycle when it applies to no region."""
    kinds = KINDS_BY_LANGUAGE[language]
    start = (index // 2) % len(kinds)
    for step in range(len(kinds)):
        kind = kinds[(start + step) % len(kinds)]
        if kind == "extra_text":
            return kind, None
        regions = [t.id for t in layout.texts if kind in applicable_kinds(t.text)]
        if regions:
            return kind, rng.choice(regions)
    return "extra_text", None


# -- rendering and degradation --------------------------------------------------------------------

def _render(layout: Layout, width: int, height: int, seed: int) -> Image.Image:
    result = TypesetBackend().generate(GenerationRequest(prompt="benchmark poster", width=width,
                                                         height=height, seed=seed, layout=layout))
    return Image.open(io.BytesIO(result.data)).convert("RGB")


def _text_mask(layout: Layout, with_text: np.ndarray, width: int, height: int, seed: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """A 0..1 mask (h, w, 1) of the pixels the text (and its button/panel) changed, and the
    picture without text: the same layout rendered with blank texts (same seed, so the same
    background), subtracted from the real one."""
    blank = layout.model_copy(update={"texts": [t.model_copy(update={"text": " "})
                                                for t in layout.texts]})
    bare = np.asarray(_render(blank, width, height, seed), np.float32)
    diff = np.abs(with_text - bare).max(axis=2)
    mask = Image.fromarray(np.clip(diff * 8, 0, 255).astype(np.uint8), "L")
    mask = mask.filter(ImageFilter.MaxFilter(3)).filter(ImageFilter.GaussianBlur(0.8))
    return np.asarray(mask, np.float32)[..., None] / 255.0, bare


def _texture(rng: random.Random, width: int, height: int) -> np.ndarray:
    """A zero-mean photographic-style field (h, w, 3): blurred shapes + multi-scale noise."""
    layer = Image.new("RGB", (width, height), (128, 128, 128))
    draw = ImageDraw.Draw(layer)
    for _ in range(rng.randint(6, 14)):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        rx, ry = rng.uniform(0.05, 0.3) * width, rng.uniform(0.05, 0.3) * height
        shade = [int(128 + rng.uniform(-60, 60)) for _ in range(3)]
        if rng.random() < 0.5:
            draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=tuple(shade))
        else:
            draw.rectangle((cx - rx, cy - ry, cx + rx, cy + ry), fill=tuple(shade))
    layer = layer.filter(ImageFilter.GaussianBlur(rng.uniform(10, 30)))
    field = np.asarray(layer, np.float32) - 128.0
    nrng = np.random.default_rng(rng.getrandbits(63))
    for cells, amp in ((6, 14.0), (24, 8.0), (96, 5.0)):
        small = nrng.normal(0, amp, (max(2, cells * height // width), cells, 1)).astype(np.float32)
        field += cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)[..., None]
    return field


def _render_degraded(layout: Layout, width: int, height: int, seed: int, rng: random.Random,
                     *, hard: bool = False) -> tuple[Image.Image, dict[str, float], np.ndarray]:
    clean = np.asarray(_render(layout, width, height, seed), np.float32)
    mask, bare = _text_mask(layout, clean, width, height, seed)
    degr: dict[str, float] = {}

    low = rng.random() < 0.33
    k = rng.uniform(0.3, 0.45) if low else 0.0
    degr["contrast_cut"] = round(k, 3)
    arr = clean - k * mask * (clean - bare)

    strength = rng.uniform(0.6, 1.0)
    degr["texture"] = round(strength, 3)
    field = _texture(rng, width, height)
    if hard:
        field = 0.5 * field + _unseen_texture(rng, width, height)
    arr = arr + (1.0 - mask) * strength * field

    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    gx, gy = rng.uniform(-1, 1), rng.uniform(-1, 1)
    light = 1.0 + 0.08 * (gx * (xs / width - 0.5) + gy * (ys / height - 0.5)) * 2
    degr["lighting"] = round(math.hypot(gx, gy) * 0.08, 3)
    arr = np.clip(arr * light[..., None], 0, 255)

    angle = rng.uniform(-HARD["rotation_deg"], HARD["rotation_deg"]) if hard else rng.uniform(-1.0, 1.0)
    homography = tilted(rng, width, height, angle, 0.008)
    degr["rotation_deg"] = round(angle, 3)
    arr = cv2.warpPerspective(arr.astype(np.float32), homography, (width, height),
                              flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)

    sigma = rng.uniform(0.3, 1.0)
    degr["blur_sigma"] = round(sigma, 3)
    arr = cv2.GaussianBlur(arr, (0, 0), sigma)
    noise = rng.uniform(2.0, 5.0)
    degr["noise_sigma"] = round(noise, 3)
    arr = arr + np.random.default_rng(rng.getrandbits(63)).normal(
        0, noise, arr.shape).astype(np.float32)
    degr["jpeg_quality"] = float(rng.randint(55, 90))
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    return img, degr, homography


HARD = {"rotation_deg": 4.0, "drift": 0.03}
"""The harder variant (``signwriter bench qa --set hard``): every text set in a face QA
was never tuned on (:data:`UNSEEN_FACES`: URW's base-35 clones for Latin, WenQuanYi Zen Hei
and AR PL UMing for CJK), a background texture of another kind (hard-edged stripes and
discs, :func:`_unseen_texture`), each text drawn up to ±3 % of the image width (and ±1 % of
its height) away from the box the label keeps, and the whole image rotated up to ±4°."""

UNSEEN_FACES = {
    "latin": ["NimbusSans-Regular.otf", "NimbusSans-Bold.otf", "NimbusRoman-Regular.otf",
              "NimbusRoman-Bold.otf", "C059-Roman.otf", "C059-Bold.otf", "P052-Roman.otf",
              "P052-Bold.otf", "URWGothic-Book.otf", "URWGothic-Demi.otf",
              "URWBookman-Light.otf", "URWBookman-Demi.otf", "NimbusSansNarrow-Regular.otf",
              "NimbusSansNarrow-Bold.otf"],
    "cjk": ["wqy-zenhei.ttc", "uming.ttc"],
}
"""Faces for the harder variant (Debian: fonts-urw-base35, fonts-wqy-zenhei,
fonts-arphic-uming); none of them is a reference face of :mod:`qa.lookalike`."""


def font_files() -> dict[str, str]:
    """Every installed font file by its name (the first found of a name wins)."""
    found: dict[str, str] = {}
    for root in (Path("/usr/share/fonts"), Path("/usr/local/share/fonts")):
        if root.is_dir():
            for p in root.rglob("*"):
                if p.suffix.lower() in (".otf", ".ttf", ".ttc"):
                    found.setdefault(p.name, str(p))
    return found


def _unseen_faces(rng: random.Random, layout: Layout) -> Layout:
    files = font_files()
    latin = [files[f] for f in UNSEEN_FACES["latin"] if f in files]
    cjk = [files[f] for f in UNSEEN_FACES["cjk"] if f in files]
    if not latin or not cjk:
        raise FileNotFoundError("the hard set needs fonts-urw-base35, fonts-wqy-zenhei and "
                                "fonts-arphic-uming (apt-get install them)")
    texts = []
    for t in layout.texts:
        pool = cjk if any(is_cjk_char(c) for c in t.text) else latin
        texts.append(t.model_copy(update={"font": rng.choice(pool)}))
    return layout.model_copy(update={"texts": texts})


def _drifted(rng: random.Random, layout: Layout) -> Layout:
    """Each text's box moved by up to ±3 % of the width and ±1 % of the height."""
    d = HARD["drift"]
    texts = []
    for t in layout.texts:
        x, y, w, h = t.box
        x = min(max(0.0, x + rng.uniform(-d, d)), 1.0 - w)
        y = min(max(0.0, y + rng.uniform(-d / 3, d / 3)), 1.0 - h)
        texts.append(t.model_copy(update={"box": (round(x, 4), round(y, 4), w, h)}))
    return layout.model_copy(update={"texts": texts})


def _unseen_texture(rng: random.Random, width: int, height: int) -> np.ndarray:
    """A zero-mean field of another kind than :func:`_texture`: hard-edged stripes at a
    random angle and period, and sharp discs (h, w, 3)."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    theta = rng.uniform(0, math.pi)
    period = rng.uniform(18, 90)
    phase = (xs * math.cos(theta) + ys * math.sin(theta)) / period
    stripes = np.where((phase % 1.0) < 0.5, 1.0, -1.0).astype(np.float32) * rng.uniform(8, 18)
    field = np.repeat(stripes[..., None], 3, axis=2)
    layer = Image.new("RGB", (width, height), (128, 128, 128))
    draw = ImageDraw.Draw(layer)
    for _ in range(rng.randint(5, 12)):
        r = rng.uniform(0.02, 0.12) * width
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        shade = tuple(int(128 + rng.uniform(-50, 50)) for _ in range(3))
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=shade)
    return field + (np.asarray(layer, np.float32) - 128.0)


def tilted(rng: random.Random, width: int, height: int, angle: float, jitter: float
           ) -> np.ndarray:
    """The homography of a photographed or generated page: each corner moved by up to
    ``jitter`` of the side (drawn from ``rng``), then the whole rotated by ``angle``
    degrees about the centre."""
    src = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    dst = src + np.float32([[rng.uniform(-jitter, jitter) * width,
                             rng.uniform(-jitter, jitter) * height] for _ in range(4)])
    rot = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    dst = np.float32([rot @ np.array([x, y, 1.0]) for x, y in dst])
    return cv2.getPerspectiveTransform(src, dst)


def warp_box(box: BoxTuple, homography: np.ndarray, width: int, height: int) -> BoxTuple:
    """The bounding box (fractions) of ``box`` after the image's homography."""
    x, y, w, h = box
    pts = np.float32([[[x * width, y * height]], [[(x + w) * width, y * height]],
                      [[(x + w) * width, (y + h) * height]], [[x * width, (y + h) * height]]])
    moved = cv2.perspectiveTransform(pts, homography).reshape(-1, 2)
    x0, y0 = max(0.0, float(moved[:, 0].min()) / width), max(0.0, float(moved[:, 1].min()) / height)
    x1 = min(1.0, float(moved[:, 0].max()) / width)
    y1 = min(1.0, float(moved[:, 1].max()) / height)
    return (round(x0, 4), round(y0, 4), round(x1 - x0, 4), round(y1 - y0, 4))

