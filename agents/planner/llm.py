"""The LLM planner: any OpenAI-compatible chat model designs the layout, signwriter checks it.

For each format the model is asked (``prompts/planner_system.j2`` + ``planner_user.j2``,
with the spec's JSON schema and the brief) for one JSON object. The reply is checked, and
anything wrong is sent back with the problems named (``prompts/planner_repair.j2``), up to
``settings.llm_max_repairs`` times, then :class:`~agents.errors.PlannerError`:

* not JSON / not an object; schema errors (:class:`~agents.spec.VisualSpec`);
* copy not verbatim: every copy item's exact text must be exactly one region's text — a
  paraphrase, translation, dropped item or invented extra text is never accepted
  (:class:`~agents.errors.CopyNotVerbatim` when the bound is reached);
* overlapping text regions; text that cannot be set legibly (:func:`agents.fitting.fit_spec`).

Size, format and asset id always come from the brief (what the model says is overridden),
as do the brand, logo, render policy and strictness of each copy item. When the brief
gives no copy, the first format's copy (written by the model) becomes the exact copy of
every later format.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from difflib import SequenceMatcher
from typing import Any

from pydantic import ValidationError

from agents.brief import Brief, CopyItem, Format
from agents.errors import CopyNotVerbatim, PlannerError, TextDoesNotFit
from agents.fitting import fit_spec
from agents.layouts import shape_of
from agents.llm_client import ChatClient
from agents.planner.base import CopyEntry, copy_entries, output_of, render_policy, strictness
from agents.prompting import render
from agents.settings import Settings
from agents.spec import ImageRef, VisualSpec
from generation.fonts import MIN_LEGIBLE_PX

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


class _Rejected(Exception):
    """One reply that cannot be used: the problems to send back."""

    def __init__(self, problems: list[str], *, copy: bool = False) -> None:
        self.problems = problems
        self.copy = copy
        super().__init__("; ".join(problems))


class LLMPlanner:
    """Plans with a chat model; never accepts a spec whose copy is not the brief's."""

    name = "llm"

    def __init__(self, settings: Settings, *, client: ChatClient | None = None) -> None:
        if client is None and not settings.llm_configured:
            raise PlannerError("the llm planner needs an OpenAI-compatible endpoint: set "
                               "SIGNWRITER_LLM_BASE_URL (and SIGNWRITER_LLM_API_KEY)")
        self.settings = settings
        self._client = client

    def plan(self, brief: Brief) -> list[VisualSpec]:
        entries = copy_entries(brief)
        if self._client is not None:
            return self._plan_all(self._client, brief, entries)
        with ChatClient.from_settings(self.settings) as client:
            return self._plan_all(client, brief, entries)

    def _plan_all(self, client: ChatClient, brief: Brief,
                  entries: list[CopyEntry]) -> list[VisualSpec]:
        specs: list[VisualSpec] = []
        for fmt in brief.formats:
            spec = self.plan_format(client, brief, fmt, entries)
            specs.append(spec)
            if not entries:  # the model wrote the copy: later formats carry the same copy
                entries = [CopyEntry(r.id, r.role, CopyItem(text=r.text or ""))
                           for r in spec.text_regions]
        return specs

    def plan_format(self, client: ChatClient, brief: Brief, fmt: Format,
                    entries: list[CopyEntry]) -> VisualSpec:
        """One spec for ``fmt``, re-asking with the problems until it is valid."""
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": render(
                "planner_system.j2", schema=json.dumps(VisualSpec.model_json_schema(),
                                                       ensure_ascii=False, separators=(",", ":")),
                min_px=MIN_LEGIBLE_PX)},
            {"role": "user", "content": _user_prompt(brief, fmt, entries)},
        ]
        tries = self.settings.llm_max_repairs + 1
        last: _Rejected | None = None
        for _ in range(tries):
            reply = client.chat(messages, response_format={"type": "json_object"})
            try:
                return check_reply(reply, brief, fmt, entries)
            except _Rejected as rejected:
                last = rejected
                messages.append({"role": "assistant", "content": reply})
                messages.append({"role": "user", "content": render(
                    "planner_repair.j2", errors=rejected.problems)})
        assert last is not None
        detail = "\n".join(f"  - {p}" for p in last.problems)
        cls = CopyNotVerbatim if last.copy else PlannerError
        raise cls(f"{fmt.name}: the planner LLM gave no usable spec in {tries} attempt"
                  f"{'s' if tries != 1 else ''}; the last reply's problems:\n{detail}")


def _user_prompt(brief: Brief, fmt: Format, entries: list[CopyEntry]) -> str:
    brief_json = json.dumps(brief.model_dump(mode="json", by_alias=True, exclude_none=True,
                                             exclude={"formats"}), ensure_ascii=False, indent=1)
    copy = [{"name": e.name, "role": e.role, "json": json.dumps(e.text, ensure_ascii=False)}
            for e in entries]
    return render("planner_user.j2", format_name=fmt.name, width=fmt.width, height=fmt.height,
                  shape=shape_of(fmt.width, fmt.height), brief_json=brief_json, copy=copy,
                  language=brief.language, style=brief.style,
                  brand_colors=list(brief.brand.colors))


def _parse(reply: str) -> dict[str, Any]:
    text = reply.strip()
    m = _FENCE.match(text)
    if m:
        text = m.group(1)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise _Rejected([f"the reply is not valid JSON ({e.msg} at line {e.lineno} column "
                         f"{e.colno}); reply with one JSON object only"]) from None
    if isinstance(data, dict) and "regions" not in data and len(data) == 1:
        inner = next(iter(data.values()))
        if isinstance(inner, dict) and "regions" in inner:
            data = inner  # {"spec": {...}}
    if not isinstance(data, dict):
        raise _Rejected([f"the reply is JSON but not an object (got {type(data).__name__})"])
    return data


def _schema_problems(e: ValidationError) -> list[str]:
    out = []
    for err in e.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(spec)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field (not in the schema)"
        out.append(f"{loc}: {msg}")
    return out


def copy_problems(spec: VisualSpec, entries: list[CopyEntry]) -> list[str]:
    """Every way ``spec``'s text differs from the brief's exact copy (empty when verbatim)."""
    have = Counter(r.text for r in spec.text_regions)
    missing: list[CopyEntry] = []
    for e in entries:
        if have[e.text] > 0:
            have[e.text] -= 1
        else:
            missing.append(e)
    extras = []
    for r in spec.text_regions:  # regions whose text no copy item accounts for
        if have[r.text] > 0:
            have[r.text] -= 1
            extras.append(r)
    problems: list[str] = []
    for e in missing:
        near = max(extras, key=lambda r: SequenceMatcher(None, r.text, e.text).ratio(),
                   default=None)
        if near is not None and SequenceMatcher(None, near.text, e.text).ratio() >= 0.5:
            extras.remove(near)
            problems.append(
                f"region '{near.id}' has the text {json.dumps(near.text, ensure_ascii=False)} "
                f"but copy item '{e.name}' must appear exactly as "
                f"{json.dumps(e.text, ensure_ascii=False)}: the copy is not verbatim "
                f"(changed, paraphrased or translated); use the exact text, character for "
                f"character")
        else:
            problems.append(
                f"copy item '{e.name}' ({json.dumps(e.text, ensure_ascii=False)}) is missing: "
                f"add a text region whose text is exactly that")
    for r in extras:
        problems.append(
            f"region '{r.id}' carries the text {json.dumps(r.text, ensure_ascii=False)}, "
            f"which is not in the brief's copy: remove it; only the given copy may appear")
    return problems


def _overlaps(spec: VisualSpec) -> list[str]:
    texts = spec.text_regions
    out = []
    for i, a in enumerate(texts):
        for b in texts[i + 1:]:
            if a.box.overlaps(b.box):
                out.append(f"text regions '{a.id}' and '{b.id}' overlap: move or shrink them "
                           f"so no two text boxes share any area")
    return out


def check_reply(reply: str, brief: Brief, fmt: Format, entries: list[CopyEntry]) -> VisualSpec:
    """The spec in ``reply`` for ``fmt``, checked against the brief; raises ``_Rejected``."""
    data = _parse(reply)
    bg = brief.images.background
    data.update(asset_id=fmt.name, format=fmt.name, width=fmt.width, height=fmt.height,
                brand=brief.brand.name, logo=str(brief.brand.logo) if brief.brand.logo else None,
                background_image={"file": str(bg.file), "fit": bg.fit or "cover",
                                  "focus": list(bg.focus)} if bg else None,
                output=output_of(brief, fmt).model_dump())
    for region in data.get("regions") or []:  # only the brief names image files
        if isinstance(region, dict):
            region.pop("image", None)
    data.setdefault("language", brief.language)
    try:
        spec = VisualSpec.model_validate(data)
    except ValidationError as e:
        raise _Rejected(_schema_problems(e)) from None
    if not spec.text_regions:
        raise _Rejected(["the spec has no text regions: every piece of copy needs one"],
                        copy=True)
    if entries:
        problems = copy_problems(spec, entries)
        if problems:
            raise _Rejected(problems, copy=True)
        spec = _apply_brief_policy(spec, brief, entries)
    products = brief.images.products
    if products:
        picture_regions = [r for r in spec.regions if r.role == "image"]
        if len(picture_regions) < len(products):
            raise _Rejected([f"the brief brings {len(products)} product image(s): plan "
                             f"{len(products)} regions with role image (you planned "
                             f"{len(picture_regions)})"])
        placed = {r.id: p for r, p in zip(picture_regions, products)}
        spec = spec.model_copy(update={"regions": [
            r.model_copy(update={"image": ImageRef(file=str(placed[r.id].file),
                                                   fit=placed[r.id].fit or "contain",
                                                   focus=placed[r.id].focus)})
            if r.id in placed else r for r in spec.regions]})
    overlaps = _overlaps(spec)
    if overlaps:
        raise _Rejected(overlaps)
    try:
        return fit_spec(spec)
    except TextDoesNotFit as e:
        raise _Rejected([f"region '{e.region_id}' is too small for its text at a legible size "
                         f"(at least {MIN_LEGIBLE_PX} px): make its box larger or wider"]
                        ) from None


def _apply_brief_policy(spec: VisualSpec, brief: Brief, entries: list[CopyEntry]) -> VisualSpec:
    """Render policy and strictness come from the brief, whatever the model said."""
    by_text: dict[str, list[CopyEntry]] = {}
    for e in entries:
        by_text.setdefault(e.text, []).append(e)
    regions = []
    for r in spec.regions:
        if r.is_text and by_text.get(r.text or ""):
            e = by_text[r.text or ""].pop(0)
            r = r.model_copy(update={"render": render_policy(brief, e),
                                     "strictness": strictness(e, brief)})
        regions.append(r)
    return spec.model_copy(update={"regions": regions})
