"""The look-alike set: clean posters where one region carries a look-alike substitution.

``signwriter bench qa --set lookalike`` scores it. Items come in pairs from one seed: item
``2k`` is a correct poster, item ``2k+1`` the same poster with one character of one region
replaced by a look-alike (:data:`SUBSTITUTIONS`): a letter for a digit inside a price, a
date or a code (``$1O9``, ``5O%``, ``2O25``, ``$l9.99``), a digit for a letter in a code,
``rn`` for ``m``; a CJK character for one that differs by a stroke or a proportion
(``曰``/``日``, ``末``/``未``, ``干``/``千`` …); a kana for its twin (``ツ``/``シ``,
``ン``/``ソ``). The substituted region is the headline (about 64–96 px type), a body line
(26–36 px) or a small label (14–17 px), in turn; the copy is English, Chinese or
Japanese, in turn; the faces are those the typeset renderer sets (DejaVu Sans, Noto Sans
CJK) and their serif companions. Target: no look-alike accepted, and no more than 2 % of
the correct twins rejected.

``--set lookalike-hard`` (:data:`HARD`) draws the same pairs as a generator would, not as
the typeset renderer does: in faces QA was never tuned on (the hard set's
:data:`~agents.benchmarks.dataset.UNSEEN_FACES`: URW's base-35 clones, WenQuanYi Zen Hei,
AR PL UMing), the whole poster rotated up to ±2° and slightly skewed, blurred, with noise,
saved as JPEG.

``--set lookalike-legal`` (:data:`LEGAL_PAIRS`) is ``lookalike-hard`` in fine print only: the
substituted region is always the small line, set at 12–18 px (a legal line of a 768×1024
poster), and the pairs are the letters drawn for ``0`` and ``1`` in prices, dates and codes
(``$1O9``, ``5O%``, ``2O25``, ``O800``, ``$l9.99``, ``l2/06``, ``I207``, ``1OB``), where
shape carries least.

The set is written like :mod:`agents.benchmarks.dataset`'s (``images/``, ``labels.jsonl``
of :class:`~agents.benchmarks.dataset.BenchItem`), so it is checked the same way, boxes
included.
"""

from __future__ import annotations

import hashlib
import io
import random
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from agents.benchmarks.dataset import (
    UNSEEN_FACES,
    BenchItem,
    BenchText,
    font_files,
    tilted,
    warp_box,
)
from generation.fonts import MIN_LEGIBLE_PX, covers, find_font, fit_text, load_font

# (language, correct text, wrong text): each wrong text differs by one look-alike
SUBSTITUTIONS: tuple[tuple[str, str, str], ...] = (
    ("en", "Only $109", "Only $1O9"), ("en", "Save $19.99", "Save $l9.99"),
    ("en", "50% off", "5O% off"), ("en", "Since 2025", "Since 2O25"),
    ("en", "From $15", "From $1S"), ("en", "Gate 28", "Gate 2B"),
    ("en", "Call 0800 123", "Call O800 123"), ("en", "Ends 12/06", "Ends l2/06"),
    ("en", "Room 1207", "Room I207"), ("en", "Code B52", "Code 852"),
    ("en", "Code SALE25", "Code 5ALE25"), ("en", "Only $29.90", "Only $Z9.90"),
    ("en", "Now $60", "Now $G0"), ("en", "Open 9 to 5", "Open 9 to S"),
    ("en", "Modern living", "Rnodern living"), ("en", "Summer menu", "Summer rnenu"),
    ("en", "Window seats", "Vvindow seats"), ("en", "Order today", "Orcler today"),
    ("en", "Aisle 10B", "Aisle 1OB"), ("en", "2 for $18", "2 for $1B"),
    ("zh", "9月6日开幕", "9月6曰开幕"), ("zh", "未来可期", "末来可期"),
    ("zh", "已经开始", "己经开始"), ("zh", "入口在左侧", "人口在左侧"),
    ("zh", "千万好礼", "干万好礼"), ("zh", "土地公庙会", "士地公庙会"),
    ("zh", "王者归来", "玉者归来"), ("zh", "太阳能灯", "犬阳能灯"),
    ("zh", "戊戌年纪念", "戌戌年纪念"), ("zh", "天天特价", "夭天特价"),
    ("zh", "白色情人节", "自色情人节"), ("zh", "午后茶点", "牛后茶点"),
    ("zh", "本店自制", "木店自制"), ("zh", "免费试吃", "兔费试吃"),
    ("zh", "乒乓球赛", "兵乓球赛"), ("zh", "折扣专区", "拆扣专区"),
    ("zh", "问候卡片", "间候卡片"), ("zh", "晴天咖啡", "睛天咖啡"),
    ("zh", "今日特供", "令日特供"), ("zh", "开业大吉", "开业太吉"),
    ("zh", "全场八折", "全场入折"), ("zh", "周末市集", "周未市集"),
    ("ja", "シャツ特価", "ツャツ特価"), ("ja", "ソース味", "ンース味"),
    ("ja", "ツアー予約", "シアー予約"), ("ja", "ワイン祭り", "ウイン祭り"),
    ("ja", "ケーキ教室", "クーキ教室"), ("ja", "めん類", "ぬん類"),
    ("ja", "はじめまして", "ほじめまして"), ("ja", "さくら通り", "ちくら通り"),
)

_FILLER = {
    "en": ["Weekend Market", "Fresh bread daily", "Visit us today", "Members save more",
           "Open late Friday"],
    "zh": ["周末市集", "新鲜面包", "欢迎光临", "会员专享", "每天营业"],
    "ja": ["週末マルシェ", "焼きたてパン", "いらっしゃいませ", "会員限定", "毎日営業"],
}
_FACES = {"latin": ["DejaVuSans-Bold.ttf", "DejaVuSans.ttf", "DejaVuSerif.ttf"],
          "cjk": ["NotoSansCJK-Bold.ttc", "NotoSansCJK-Regular.ttc", "NotoSerifCJK-Regular.ttc"]}
_ROLES = ("headline", "body", "small")
_SIZE_PX = {"headline": (64, 96), "body": (26, 36), "small": (14, 17)}
_BOXES = {"headline": (0.06, 0.08, 0.88, 0.16), "body": (0.08, 0.42, 0.84, 0.08),
          "small": (0.08, 0.86, 0.84, 0.05)}
_BACKGROUNDS = [((250, 246, 236), (25, 25, 25)), ((255, 255, 255), (10, 40, 90)),
                ((24, 28, 40), (245, 240, 225)), ((255, 238, 214), (120, 20, 20))]
SIZE = (768, 1024)

HARD = {"rotation_deg": 2.0, "skew": 0.004, "blur_sigma": (0.3, 0.8), "noise_sigma": (1.0, 3.0),
        "jpeg_quality": (70, 92)}
"""The degradations of ``--set lookalike-hard``: rotation up to ±2° about the centre, each
corner moved up to 0.4 % of the side, Gaussian blur, Gaussian noise, JPEG quality (ranges
drawn uniformly per poster)."""


LEGAL_PX = (12, 18)
"""Type sizes of ``--set lookalike-legal``'s substituted small line (pixels, drawn uniformly)."""


def _legal_pairs() -> tuple[int, ...]:
    """Indices of :data:`SUBSTITUTIONS` where a letter stands for a ``0`` or a ``1``."""
    out = []
    for k, (language, good, bad) in enumerate(SUBSTITUTIONS):
        diff = [(a, b) for a, b in zip(good, bad) if a != b]
        if language == "en" and len(diff) == 1 and diff[0][0] in "01" and diff[0][1] in "ODlI":
            out.append(k)
    return tuple(out)


LEGAL_PAIRS: tuple[int, ...] = _legal_pairs()
"""The pairs of ``--set lookalike-legal`` (indices of :data:`SUBSTITUTIONS`)."""


def _face(script: str, k: int) -> str:
    name = _FACES[script][k % len(_FACES[script])]
    try:
        return find_font(script, "regular", name.rsplit(".", 1)[0])
    except Exception:  # noqa: BLE001 - a missing companion face falls back to the default
        return find_font(script, "bold" if "Bold" in name else "regular")


def make_lookalike_set(n: int, seed: int, out: Path, *, hard: bool = False,
                       legal: bool = False,
                       progress: Callable[[str, int, int], None] | None = None) -> list[BenchItem]:
    """Write ``n`` items (pairs: correct, then the same with a look-alike) into ``out``
    (``images/``, ``labels.jsonl``) and return their labels. Deterministic in ``seed``;
    ``hard``: unseen faces and a generator's degradations (:data:`HARD`); ``legal``: the
    same, the substitution always in the small line at 12–18 px (:data:`LEGAL_PAIRS`)."""
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    items = []
    for i in range(n):
        items.append(make_item(seed, i, out, hard=hard or legal, legal=legal))
        if progress:
            progress("making the look-alike set", i + 1, n)
    with (out / "labels.jsonl").open("w", encoding="utf-8") as fh:
        for item in items:
            fh.write(item.model_dump_json() + "\n")
    return items


def _unseen_face(rng: random.Random, script: str, texts: tuple[str, ...]) -> str:
    """An unseen face (:data:`UNSEEN_FACES`) of ``script`` that draws every character of
    ``texts`` (WenQuanYi Zen Hei and AR PL UMing both draw kana)."""
    files = font_files()
    pool = [files[f] for f in UNSEEN_FACES["cjk" if script == "cjk" else "latin"] if f in files]
    if not pool:
        raise FileNotFoundError("the lookalike-hard set needs fonts-urw-base35, "
                                "fonts-wqy-zenhei and fonts-arphic-uming (apt-get install them)")
    rng.shuffle(pool)
    return next((path for path in pool if all(covers(path, t) for t in texts)), pool[0])


def _degrade(img: Image.Image, rng: random.Random) -> tuple[np.ndarray, np.ndarray, dict]:
    """The poster as a generator would hand it over (:data:`HARD`): its pixels, the
    homography that moved them, and the degradations drawn."""
    w, h = img.size
    arr = np.asarray(img, np.float32)
    angle = rng.uniform(-HARD["rotation_deg"], HARD["rotation_deg"])
    homography = tilted(rng, w, h, angle, HARD["skew"])
    arr = cv2.warpPerspective(arr, homography, (w, h), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
    sigma = rng.uniform(*HARD["blur_sigma"])
    arr = cv2.GaussianBlur(arr, (0, 0), sigma)
    noise = rng.uniform(*HARD["noise_sigma"])
    arr = arr + np.random.default_rng(rng.getrandbits(63)).normal(0, noise, arr.shape)
    quality = rng.randint(*HARD["jpeg_quality"])
    degr = {"rotation_deg": round(angle, 3), "blur_sigma": round(sigma, 3),
            "noise_sigma": round(noise, 3), "jpeg_quality": float(quality)}
    return np.clip(arr, 0, 255).astype(np.uint8), homography, degr


def make_item(seed: int, index: int, out: Path, *, hard: bool = False,
              legal: bool = False) -> BenchItem:
    pair = index // 2
    wrong = index % 2 == 1
    name = "lookalike-legal" if legal else "lookalike-hard" if hard else "lookalike"
    rng = random.Random(f"{name}:{seed}:{pair}")
    if legal:
        sub_index = LEGAL_PAIRS[(pair * 3 + seed) % len(LEGAL_PAIRS)]
        target = "small"
    else:
        sub_index = (pair * 7 + seed) % len(SUBSTITUTIONS)
        target = _ROLES[(pair + seed) % len(_ROLES)]
    language, good, bad = SUBSTITUTIONS[sub_index]
    fillers = rng.sample(_FILLER[language], 2)
    texts = {}
    k = 0
    for role in _ROLES:
        if role == target:
            texts[role] = (good, bad if wrong else good)
        else:
            texts[role] = (fillers[k], fillers[k])
            k += 1
    bg, fg = _BACKGROUNDS[rng.randrange(len(_BACKGROUNDS))]
    face_k = rng.randrange(3)
    img = Image.new("RGB", SIZE, bg)
    draw = ImageDraw.Draw(img)
    w, h = SIZE
    bench_texts = []
    script = "cjk" if language != "en" else "latin"
    faces = ({role: _unseen_face(rng, script, pair_texts) for role, pair_texts in texts.items()}
             if hard else {})
    for role, (expected, drawn) in texts.items():
        path = faces.get(role) or _face(script, face_k if role != "small" else 1)
        lo, hi = LEGAL_PX if legal and role == target else _SIZE_PX[role]
        px = rng.randint(lo, hi)
        x, y, bw, bh = _BOXES[role]
        fit = fit_text(drawn, bw * w, bh * h, font_path=path, max_size=px,
                       min_size=min(px, MIN_LEGIBLE_PX))
        if fit is None:
            raise RuntimeError(f"{drawn!r} does not fit its {role} box")
        font: ImageFont.FreeTypeFont = load_font(path, fit.size)
        ty = y * h + (bh * h - fit.height) / 2
        for line in fit.lines:
            lw = font.getlength(line)
            draw.text((x * w + (bw * w - lw) / 2, ty), line, font=font, fill=fg)
            ty += fit.size * 1.2
        bench_texts.append(BenchText(id=role, text=expected, box=(x, y, bw, bh),
                                     language=language, role=role))
    degr: dict[str, float] = {}
    if hard:
        # the same draws for a pair's two posters: they differ in the one character only
        pixels, homography, degr = _degrade(img, random.Random(f"{name}:{seed}:{pair}:d"))
        bench_texts = [t.model_copy(update={"box": warp_box(t.box, homography, w, h)})
                       for t in bench_texts]
        buf = io.BytesIO()
        Image.fromarray(pixels, "RGB").save(buf, "JPEG", quality=int(degr["jpeg_quality"]))
        item_id, ext, data = f"{'LL' if legal else 'LH'}{seed}-{index:04d}", "jpg", buf.getvalue()
    else:
        buf = io.BytesIO()
        img.save(buf, "PNG")
        item_id, ext, data = f"L{seed}-{index:04d}", "png", buf.getvalue()
    rel = f"images/{item_id}.{ext}"
    (Path(out) / rel).write_bytes(data)
    return BenchItem(id=item_id, file=rel, expected=[t.text for t in bench_texts],
                     texts=bench_texts, correct=not wrong,
                     error_kind=(f"lookalike-{language}-{target}" if wrong else None),
                     error_region=target if wrong else None, rendered=bad if wrong else None,
                     language=language, width=w, height=h, degradations=degr,
                     sha256=hashlib.sha256(data).hexdigest())
