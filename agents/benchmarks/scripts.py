"""``signwriter bench scripts``: how well each language's judge verifies its own script.

For every language in the set (Japanese, Traditional Chinese, Korean, with Simplified
Chinese and English as controls) it renders posters of 1024×1024 with Pillow in that
language's own Noto CJK face (JP, KR, SC, TC face of ``NotoSansCJK-*.ttc``; DejaVu for
English): a headline (~96 px type), a body line (~40 px) and a small line (~18 px), on a
light ground. Each poster is checked in spec mode (every region has its box) by the
pipeline's judge — :func:`qa.scripts.judge_for` picks it from the copy's scripts — twice:

* as drawn: a failing check is a **false reject**;
* with one region misspelt (a character of its script replaced by another character of
  the same script from the language's copy, or dropped): a passing check is a **miss**
  (``catch`` = caught / wrong).

Figures are per language and per size class, with the time per check. The copy below is
the measured set; a change to it changes the figures.
"""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from qa.check import check_image
from qa.models import ExpectedText
from qa.ocr import get_engine, resolve_recheck_runtime
from qa.scripts import LATIN, judges, script_of

NOTO_CJK = "/usr/share/fonts/opentype/noto/NotoSansCJK-{weight}.ttc"
FACE_INDEX = {"ja": 0, "ko": 1, "zh": 2, "zh-Hant": 3}
"""The face of each language inside Noto Sans CJK's collection (0 JP, 1 KR, 2 SC, 3 TC)."""
DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans{weight}.ttf"

SIZES = {"headline": 96, "body": 40, "small": 18}
"""Type size (px) of each size class on a 1024×1024 poster."""

COPY: dict[str, dict[str, list[str]]] = {
    "ja": {
        "headline": ["夏のセール", "新メニュー登場", "コーヒーフェア", "ラーメン祭り", "スーパーセール",
                     "春のケーキ", "ビールフェス"],
        "body": ["期間限定「春のフェア」開催中。", "全品20%オフ・送料無料", "ご来店ありがとうございます！",
                 "コーヒー豆、ロースト仕立て", "メニューは季節ごとに変わります", "チーズケーキ、ショートケーキ"],
        "small": ["※一部商品を除きます。", "価格はすべて税込です。", "セール期間：7月1日〜7月31日",
                  "お一人様3点まで。", "ポイントカードをご提示ください。"],
    },
    "zh-Hant": {
        "headline": ["中秋節快樂", "週年慶典", "歡迎光臨", "新品上市", "夏日特賣", "會員專屬"],
        "body": ["限時優惠「買一送一」", "全館八折，滿千送百！", "臺北 · 信義區", "精選禮盒，預購從速。",
                 "數量有限，售完為止！", "門市地址：臺北市大安區"],
        "small": ["＊活動詳情以門市公告為準。", "本公司保留修改活動之權利。", "優惠不得與其他活動併用。",
                  "圖片僅供參考，以實物為準。"],
    },
    "ko": {
        "headline": ["여름 세일", "신제품 출시", "오픈 기념", "감사 세일", "가을 특가", "회원 전용"],
        "body": ["최대 50% 할인, 지금 구매하세요", "서울 강남점 오픈!", "회원 전용 특별 혜택",
                 "신선한 커피를 매일 아침", "두 개 사면 하나 더", "온라인 단독 이벤트"],
        "small": ["*7월 31일까지. 일부 품목 제외.", "가격은 부가세 포함입니다.", "재고 소진 시 조기 종료될 수 있습니다.",
                  "자세한 내용은 매장에 문의하세요."],
    },
    "zh": {
        "headline": ["中秋快乐", "新店开业", "夏日特惠", "会员专享"],
        "body": ["全场八折，满千减百！", "限时优惠「买一送一」", "上海静安 · 南京西路"],
        "small": ["*活动详情以门店公告为准。", "图片仅供参考，以实物为准。"],
    },
    "en": {
        "headline": ["Summer Sale", "Grand Opening", "New Menu", "Members Only"],
        "body": ["Up to 50% off everything", "Free delivery on orders over $49", "Visit us today!"],
        "small": ["*Offer valid 1-31 July 2025.", "Prices include VAT. While stocks last."],
    },
}

BOXES = {"headline": (0.06, 0.12, 0.88, 0.16), "body": (0.06, 0.45, 0.88, 0.08),
         "small": (0.06, 0.86, 0.88, 0.05)}


@dataclass
class LanguageResult:
    language: str
    correct: int = 0
    false_rejects: int = 0
    wrong: int = 0
    caught: int = 0
    by_size: dict[str, list[int]] = field(default_factory=dict)
    """size class → [correct, false rejects, wrong, caught] (false rejects counted per
    failing region)."""
    seconds: list[float] = field(default_factory=list)
    engine: str = ""
    examples: list[str] = field(default_factory=list)


def _font(language: str, size_class: str, px: int) -> ImageFont.FreeTypeFont:
    weight = "Bold" if size_class == "headline" else "Regular"
    if language in FACE_INDEX:
        return ImageFont.truetype(NOTO_CJK.format(weight=weight), px, index=FACE_INDEX[language])
    return ImageFont.truetype(DEJAVU.format(weight="-Bold" if weight == "Bold" else ""), px)


def render_poster(texts: dict[str, str], language: str, *, size: int = 1024,
                  ground: tuple[int, int, int] = (246, 240, 228)) -> np.ndarray:
    """A poster with each size class's text centred in its box, in the language's face."""
    img = Image.new("RGB", (size, size), ground)
    draw = ImageDraw.Draw(img)
    for cls, text in texts.items():
        x, y, w, h = BOXES[cls]
        px = SIZES[cls]
        font = _font(language, cls, px)
        while font.getlength(text) > w * size and px > 10:
            px -= 2
            font = _font(language, cls, px)
        tw = font.getlength(text)
        draw.text((x * size + (w * size - tw) / 2, y * size + (h * size - px * 1.2) / 2), text,
                  font=font, fill=(24, 24, 32))
    return np.asarray(img)


def misspell(text: str, language: str, rng: random.Random) -> str:
    """``text`` with one letter of its script replaced by another from the language's
    copy, or dropped (one error; never ー↔一 or another identical-glyph pair)."""
    letters = [i for i, ch in enumerate(text) if script_of(ch) is not None]
    i = rng.choice(letters)
    if rng.random() < 0.25 and len(letters) > 2:
        return text[:i] + text[i + 1:]
    script = script_of(text[i])
    pool = sorted({ch for texts in COPY[language].values() for t in texts for ch in t
                   if script_of(ch) == script and ch not in (text[i], "ー", "一")})
    if script == LATIN:
        pool = [c for c in pool if c.lower() != text[i].lower()
                and {c, text[i]} not in ({"l", "I"}, {"O", "0"})]
    return text[:i] + rng.choice(pool) + text[i + 1:]


def run_scripts_bench(posters: int = 6, seed: int = 0, languages: list[str] | None = None,
                      progress=None) -> list[LanguageResult]:
    """Check ``posters`` correct and ``posters`` misspelt posters per language."""
    rng = random.Random(seed)
    reader = get_engine("rapidocr")
    recheck = get_engine("rapidocr", runtime=resolve_recheck_runtime())
    results = []
    langs = languages or list(COPY)
    for li, language in enumerate(langs):
        res = LanguageResult(language)
        res.by_size = {cls: [0, 0, 0, 0] for cls in SIZES}
        for k in range(posters):
            texts = {cls: rng.choice(COPY[language][cls]) for cls in SIZES}
            expected = [ExpectedText(id=cls, text=t, box=BOXES[cls], language=language)
                        for cls, t in texts.items()]
            res.engine = judges(reader, None, expected)[0].name
            for wrong_cls in (None, rng.choice(list(SIZES))):
                drawn = dict(texts)
                if wrong_cls:
                    drawn[wrong_cls] = misspell(texts[wrong_cls], language, rng)
                arr = render_poster(drawn, language)
                t0 = time.perf_counter()
                report = check_image(f"{language}-{k}{'-wrong' if wrong_cls else ''}", expected,
                                     reader=reader, recheck=recheck, pixels=arr)
                res.seconds.append(time.perf_counter() - t0)
                if wrong_cls is None:
                    res.correct += 1
                    res.false_rejects += not report.passed
                    for f in report.regions:
                        res.by_size[f.region_id][0] += 1
                        res.by_size[f.region_id][1] += f.kind != "ok"
                        if f.kind != "ok":
                            res.examples.append(f"false reject {f.region_id}: {f.expected!r} "
                                                f"read {f.read!r} ({f.kind})")
                    for f in report.unexpected:
                        res.examples.append(f"false reject: unexpected {f.read!r}")
                else:
                    res.wrong += 1
                    res.caught += not report.passed
                    res.by_size[wrong_cls][2] += 1
                    res.by_size[wrong_cls][3] += not report.passed
                    if report.passed:
                        res.examples.append(f"missed {wrong_cls}: {drawn[wrong_cls]!r} passed as "
                                            f"{texts[wrong_cls]!r}")
            if progress:
                progress(language, k + 1, posters)
        results.append(res)
    return results


def format_results(results: list[LanguageResult], seed: int) -> str:
    lines = [f"bench scripts (seed {seed}; 1024x1024 posters, headline {SIZES['headline']} px, "
             f"body {SIZES['body']} px, small {SIZES['small']} px type)"]
    lines.append(f"{'language':9} {'judge':24} {'false rejects':>14} {'catch':>10}   per size "
                 "(false rejects by region | caught)   median s")
    for r in results:
        per = "  ".join(f"{cls} {v[1]}/{v[0]}|{v[3]}/{v[2]}" for cls, v in r.by_size.items())
        lines.append(f"{r.language:9} {r.engine:24} {r.false_rejects:>7}/{r.correct:<6} "
                     f"{r.caught:>4}/{r.wrong:<5}   {per}   "
                     f"{statistics.median(r.seconds):.2f}")
    for r in results:
        for ex in r.examples:
            lines.append(f"  {r.language}: {ex}")
    tot_c = sum(r.correct for r in results)
    tot_fr = sum(r.false_rejects for r in results)
    tot_w = sum(r.wrong for r in results)
    tot_k = sum(r.caught for r in results)
    lines.append(f"all: false rejects {tot_fr}/{tot_c} ({100 * tot_fr / max(1, tot_c):.1f} %), "
                 f"catch {tot_k}/{tot_w} ({100 * tot_k / max(1, tot_w):.1f} %)")
    return "\n".join(lines)

