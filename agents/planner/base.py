"""The planner contract, and what every planner reads from a brief the same way.

A planner turns a :class:`~agents.brief.Brief` into one :class:`~agents.spec.VisualSpec`
per format of the brief (``asset_id`` = the format's name). Whatever a planner designs,
the brief's copy reaches the spec verbatim, and its render policy and strictness win.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from agents.brief import Brief, CopyItem
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


def strip_quotes(prompt: str, entries: list[CopyEntry]) -> str:
    """A free-text prompt with its quoted copy replaced by the role it plays."""
    out = prompt
    for e in entries:
        for left, right in (('"', '"'), ("“", "”"), ("「", "」"), ("『", "』")):
            out = out.replace(f"{left}{e.text}{right}", f"the {e.role}")
    return " ".join(out.split())
