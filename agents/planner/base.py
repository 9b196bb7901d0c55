"""The planner contract, and what every planner reads from a brief the same way.

A planner turns a :class:`~agents.brief.Brief` into one :class:`~agents.spec.VisualSpec`
per format of the brief (``asset_id`` = the format's name). Whatever a planner designs,
the brief's copy reaches the spec verbatim, and its render policy and strictness win.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from agents.brief import Brief, CopyItem, Format
from agents.spec import Output
from agents.spec import VisualSpec
from generation.fonts import script_of
from qa.models import Strictness

CJK_LANGUAGES = ("zh", "ja", "ko")

_PRICE_RE = re.compile(
    r"^\W{0,3}(?:[$€£¥￥₩]\s?\d[\d,.]*|\d[\d,.]*\s?(?:%|％)(?:\s*off)?|\d[\d,.]*\s?(?:元|折|块|円|"
    r"EUR|USD|GBP|RMB|CNY)|(?:US|HK|S|A|C)?\$\s?\d[\d,.]*)(?:\W.{0,14})?$", re.IGNORECASE)
_LEGAL_MARKERS = ("terms", "conditions", "t&c", "*", "条款", "细则", "规则", "解释权")
_CTA_PHRASES = ("shop now", "buy now", "order now", "book now", "learn more", "sign up",
                "register", "join now", "get started", "get yours", "try it free", "download",
                "立即购买", "立即抢购", "马上抢购", "立即预订", "立即报名", "了解更多", "立即下单")


@runtime_checkable
class Planner(Protocol):
    """Brief → one visual spec per format."""

    name: str

    def plan(self, brief: Brief) -> list[VisualSpec]:
        """Plan every format of ``brief``; raises :class:`agents.errors.PlannerError`
        (or :class:`agents.errors.TextDoesNotFit`) when it cannot."""
        ...


@dataclass(frozen=True)
class CopyEntry:
    """One piece of the brief's exact copy, with the role it plays."""

    name: str
    role: str
    item: CopyItem

    @property
    def text(self) -> str:
        return self.item.text


def looks_like_price(text: str) -> bool:
    """``$19.99``, ``¥99``, ``50% off``, ``99元``, ``8折``: short text led by a price."""
    return len(text) <= 24 and bool(_PRICE_RE.match(text.strip()))


def looks_like_legal(text: str) -> bool:
    """A longish line of terms: ``*Terms and conditions apply…``, ``活动细则…``."""
    long_enough = len(text) >= (10 if script_of(text) == "cjk" else 24)
    return long_enough and any(m in text.lower() for m in _LEGAL_MARKERS)


def looks_like_cta(text: str) -> bool:
    low = text.lower().strip(" !.→>»")
    return len(text) <= 24 and any(low == p or low.startswith(p + " ") for p in _CTA_PHRASES)


def free_text_roles(texts: list[str]) -> list[str]:
    """Roles for the quoted strings of a free-text brief, by content then order.

    Prices (``$19.99``, ``50% off``) → price; a long last string with terms/``*``/条款 →
    legal; a short call to action (``Shop now``) → cta; of the rest, the first is the
    headline, the second the subheadline and the others body text.
    """
    roles: list[str | None] = [None] * len(texts)
    for i, t in enumerate(texts):
        if looks_like_price(t):
            roles[i] = "price"
        elif i == len(texts) - 1 and i > 0 and looks_like_legal(t):
            roles[i] = "legal"
        elif i > 0 and looks_like_cta(t):
            roles[i] = "cta"
    order = iter(["headline", "subheadline"])
    return [r or next(order, "body") for r in roles]


def copy_entries(brief: Brief) -> list[CopyEntry]:
    """The brief's exact copy in brief order, each with its role."""
    items = brief.copy_items()
    if brief.copy_:
        return [CopyEntry(name, brief.role_of(name, item), item) for name, item in items.items()]
    names = list(items)
    roles = free_text_roles([items[n].text for n in names])
    return [CopyEntry(n, r, items[n]) for n, r in zip(names, roles)]


DEFAULT_RENDER_POLICY: dict[str, Literal["model", "overlay"]] = {"legal": "overlay"}
"""Small legal text is the highest-stakes text and the hardest for OCR to verify on a
generated picture, so by default signwriter sets it itself (``overlay``); the image model
draws everything else. A brief overrides this per role (``render_policy``) or per item."""


def render_policy(brief: Brief, entry: CopyEntry) -> Literal["model", "overlay"]:
    """How a copy item is drawn: the item's own ``render``, else the brief's per-role
    policy, else :data:`DEFAULT_RENDER_POLICY`."""
    return (entry.item.render or brief.render_policy.get(entry.role)
            or DEFAULT_RENDER_POLICY.get(entry.role, "model"))


def output_of(brief: Brief, fmt: Format) -> Output:
    """The delivered file type of one format: its own ``output``, else the brief's."""
    chosen = fmt.output or brief.output
    return Output(file_type=chosen.file_type, quality=chosen.quality)  # type: ignore[arg-type]


def strictness(entry: CopyEntry, brief: Brief | None = None) -> Strictness:
    """How strictly a copy item is checked: the item's ``strictness``, with letter case set
    by the item's ``case``, else the brief's per-role ``case_policy`` (``exact`` | ``any``;
    unset: :class:`~qa.models.Strictness`'s default, case not judged)."""
    base = entry.item.strictness or Strictness()
    case = entry.item.case or (brief.case_policy.get(entry.role) if brief is not None else None)
    return base.model_copy(update={"case": case == "exact"}) if case else base


def language_of(brief: Brief, text: str) -> str:
    """The language of one piece of copy: the brief's, unless the script says otherwise
    (a Latin price on a Chinese poster is ``en``; Chinese on an English brief is ``zh``)."""
    lang = brief.language.lower()
    is_cjk_lang = lang.split("-")[0] in CJK_LANGUAGES
    if script_of(text) == "cjk":
        return lang if is_cjk_lang else "zh"
    return "en" if is_cjk_lang and any(c.isalpha() for c in text) else lang


_LABEL_WORDS = (
    "the", "a", "an", "its", "with", "and", "then", "plus", "followed", "by", "reading",
    "reads", "saying", "says", "that", "which", "text", "words", "word", "line", "lines",
    "headline", "heading", "title", "subheadline", "subheading", "subtitle", "tagline",
    "slogan", "caption", "price", "offer", "small", "print", "fine", "legal", "disclaimer",
    "terms", "cta", "button", "call", "to", "action", "label", "badge", "copy", "of", "as",
    "under", "it", "below", "above", "beneath", "over", "on", "in", "main", "big", "large",
    "bold", "short", "second", "first", "third", "final", "last", "another", "one", "is",
    "for", "says:", "reading:",
    "标题", "文字", "写着", "和", "以及", "价格")
_SEPARATOR = re.compile(r"^[\s,;:.!?()\-–—]*$")


def strip_quotes(prompt: str, entries: list[CopyEntry]) -> str:
    """What a free-text prompt describes, with its quoted copy taken out *together with the
    words that only introduce it*: ``A cosy cafe poster with warm browns, headline "X",
    then "Y" and the price "$4"`` → ``A cosy cafe poster with warm browns``. Words that
    describe the scene stay as written (``a neon sign reading "OPEN" above the door`` →
    ``a neon sign above the door``)."""
    texts = {e.text for e in entries}
    pieces = re.split(r'"([^"]+)"|“([^”]+)”|「([^」]+)」|『([^』]+)』', prompt)
    # re.split gives: text, 4 groups, text, 4 groups, …
    segments = [pieces[0]]
    for i in range(1, len(pieces), 5):
        quoted = next((g for g in pieces[i:i + 4] if g is not None), "")
        if quoted in texts:
            segments.append("\0")
        else:
            segments.append(quoted)
        segments.append(pieces[i + 4])
    out: list[str] = []
    for k, seg in enumerate(segments):
        if seg == "\0":
            continue
        before_copy = k + 1 < len(segments) and segments[k + 1] == "\0"
        after_copy = k > 0 and segments[k - 1] == "\0"
        words = seg.split(" ")
        if before_copy:  # drop the label words that introduce the copy
            while words and (words[-1].strip(",;:.").lower() in _LABEL_WORDS
                             or _SEPARATOR.match(words[-1])):
                words.pop()
        if after_copy:  # and connectors or punctuation left right after it
            while words and (_SEPARATOR.match(words[0]) or (
                    words[0].strip(",;:").lower() in ("and", "then", "plus", "with")
                    and len(words) > 1 and words[1].strip(",;:").lower() in _LABEL_WORDS)):
                words.pop(0)
        kept = " ".join(words).strip()
        if kept and not _SEPARATOR.match(kept):
            out.append(kept)
    text = ""
    for kept in out:  # a piece that starts a sentence keeps the full stop before it
        if text and kept[:1].isupper() and not text.endswith((".", "!", "?")):
            text = text.rstrip(" ,;:") + "."
        text += (" " if text else "") + kept
    text = re.sub(r"\s+([,;.])", r"\1", " ".join(text.split()))
    return text.strip(" ,;:-–—")
