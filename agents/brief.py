"""The brief: what a user asks for. YAML or JSON, validated by pydantic.

A structured brief names the brand, the copy (named text items, placed verbatim),
the formats and the style. A free-text brief gives ``prompt:`` with the exact copy in
quotes. Errors name the file, the field and the fix; unknown fields are errors.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, ValidationError,
                      field_validator, model_validator)

from agents.errors import BriefError
from agents.formats import PRESETS
from agents.spec import HEX, TEXT_ROLES, size_problem
from qa.models import Strictness

SIZE_RE = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")
QUOTE_RE = re.compile(r'"([^"]+)"|“([^”]+)”|「([^」]+)」|『([^』]+)』')

ROLE_ALIASES = {
    "title": "headline", "heading": "headline", "tagline": "subheadline", "subtitle": "subheadline",
    "subhead": "subheadline", "button": "cta", "call_to_action": "cta", "offer": "price",
    "disclaimer": "legal", "terms": "legal", "fine_print": "legal", "date": "label",
    "dates": "label", "url": "label", "website": "label", "badge": "label", "text": "body",
    "description": "body",
}


def role_for(name: str) -> str:
    """The layout role a copy item plays, from its name (``headline``, ``legal``…)."""
    key = name.lower().strip().replace("-", "_").replace(" ", "_")
    if key in TEXT_ROLES:
        return key
    base = re.sub(r"_?\d+$", "", key)
    if base in TEXT_ROLES:
        return base
    return ROLE_ALIASES.get(key, ROLE_ALIASES.get(base, "body"))


class Fonts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    headline: str | None = Field(None, description="Font family or file for headlines.")
    body: str | None = Field(None, description="Font family or file for everything else.")


class Brand(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    colors: list[str] = Field(default_factory=list, description="Brand palette, #rrggbb.")
    fonts: Fonts = Field(default_factory=Fonts)
    logo: Path | None = Field(None, description="Logo image file, relative to the brief.")

    @field_validator("colors", mode="before")
    @classmethod
    def _colors(cls, v: Any) -> Any:
        if isinstance(v, dict):  # {primary: "#..", accent: "#.."} keeps its order
            v = list(v.values())
        return v

    @field_validator("colors")
    @classmethod
    def _hex(cls, v: list[str]) -> list[str]:
        for i, c in enumerate(v):
            if not isinstance(c, str) or not HEX.match(c):
                raise ValueError(f"colors[{i}] {c!r} is not a #rrggbb hex colour (e.g. '#e63946')")
        return [c.lower() for c in v]


class CopyItem(BaseModel):
    """One named piece of copy. Its text is placed verbatim, never paraphrased."""

    model_config = ConfigDict(extra="forbid")

    text: str
    role: Literal["headline", "subheadline", "body", "cta", "price", "legal", "label"] | None = None
    render: Literal["model", "overlay"] | None = None
    strictness: Strictness | None = None

    @field_validator("text")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("text is empty")
        return v


class Format(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    width: int
    height: int

    @model_validator(mode="after")
    def _valid(self) -> "Format":
        problem = size_problem(self.width, self.height)
        if problem:
            raise ValueError(problem)
        return self


def _format_input(value: Any) -> Any:
    """Turn a preset name or ``WIDTHxHEIGHT`` into format fields (validated per item)."""
    if isinstance(value, str):
        if value in PRESETS:
            p = PRESETS[value]
            return {"name": p.name, "width": p.width, "height": p.height}
        m = SIZE_RE.match(value)
        if m:
            w, h = int(m.group(1)), int(m.group(2))
            return {"name": f"{w}x{h}", "width": w, "height": h}
        raise ValueError(f"unknown format {value!r}: use a preset ({', '.join(PRESETS)}) "
                         f"or WIDTHxHEIGHT such as 1024x1536")
    return value


FormatField = Annotated[Format, BeforeValidator(_format_input)]


def parse_format(value: Any) -> Format:
    """A format from a preset name, ``WIDTHxHEIGHT`` or a mapping."""
    if isinstance(value, Format):
        return value
    if isinstance(value, dict):
        return Format(**value)
    if isinstance(value, str):
        if value in PRESETS:
            p = PRESETS[value]
            return Format(name=p.name, width=p.width, height=p.height)
        m = SIZE_RE.match(value)
        if m:
            w, h = int(m.group(1)), int(m.group(2))
            return Format(name=f"{w}x{h}", width=w, height=h)
        raise ValueError(f"unknown format {value!r}: use a preset ({', '.join(PRESETS)}) "
                         f"or WIDTHxHEIGHT such as 1024x1536")
    raise ValueError(f"a format is a preset name, WIDTHxHEIGHT or {{name, width, height}}, "
                     f"not {type(value).__name__}")


class Brief(BaseModel):
    """A marketing brief."""

    name: str = Field("brief", pattern=r"^[A-Za-z0-9_.-]+$", description="Short id for run names.")
    brand: Brand = Field(default_factory=Brand)
    copy_: dict[str, CopyItem] = Field(default_factory=dict, alias="copy",
                                       description="Named copy items, placed verbatim.")
    formats: list[FormatField] = Field(default_factory=lambda: [parse_format("social-square")])
    style: str = Field("", description="Style notes: mood, imagery, palette words.")
    background: str | None = Field(None, description="What the picture behind the text shows.")
    language: str = Field("en", description="en, zh, … (the copy's language).")
    prompt: str | None = Field(None, description="Free-text brief; exact copy in quotes.")
    review: Literal["failures", "always", "never"] | None = Field(
        None, description="Who sees an asset before it is final: failures (default), always, "
        "never.")
    render_policy: dict[str, Literal["model", "overlay"]] = Field(
        default_factory=dict, description="Per-role render policy, e.g. {legal: overlay}.")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @field_validator("copy_", mode="before")
    @classmethod
    def _copy(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: ({"text": x} if isinstance(x, (str, int, float)) and not isinstance(x, bool)
                        else x) for k, x in v.items()}
        return v

    @field_validator("copy_", mode="after")
    @classmethod
    def _copy_text_str(cls, v: dict[str, CopyItem]) -> dict[str, CopyItem]:
        for k in v:
            if not re.match(r"^[A-Za-z0-9_.-]+$", k):
                raise ValueError(f"copy item name {k!r} may use letters, digits, _ . - only")
        return v

    @field_validator("formats", mode="before")
    @classmethod
    def _formats(cls, v: Any) -> Any:
        return [v] if isinstance(v, (str, dict)) else v

    @model_validator(mode="after")
    def _has_copy(self) -> "Brief":
        if not self.copy_ and not self.prompt:
            raise ValueError("a brief needs 'copy' (named text items) or a free-text 'prompt'")
        if not self.formats:
            raise ValueError("'formats' is empty: name at least one, e.g. social-square")
        names = [f.name for f in self.formats]
        if len(set(names)) != len(names):
            raise ValueError(f"format names repeat: {names}")
        return self

    def copy_items(self) -> dict[str, CopyItem]:
        """The exact copy: named items, or the quoted strings of a free-text prompt."""
        if self.copy_:
            return dict(self.copy_)
        return {f"text{i + 1}": CopyItem(text=t) for i, t in enumerate(quoted_strings(self.prompt))}

    def role_of(self, name: str, item: CopyItem) -> str:
        return item.role or role_for(name)


def quoted_strings(text: str | None) -> list[str]:
    """Every quoted string in ``text`` ("…", “…”, 「…」, 『…』), in order."""
    if not text:
        return []
    return [next(g for g in m.groups() if g is not None) for m in QUOTE_RE.finditer(text)]


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if part == "copy_":
            part = "copy"
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after[_valid()]", "function-before", ) or str(part).startswith(
                ("function-", "json-or-python", "str", "int", "float", "bool", "dict[", "list[")):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _message(err: dict[str, Any]) -> str:
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        return "unknown field (check its spelling; unknown fields are not ignored)"
    if err["type"] == "missing":
        return "required field is missing"
    return msg.removeprefix("Value error, ")


def parse_brief(data: Any, source: str = "<brief>") -> Brief:
    """Validate brief data, raising :class:`BriefError` that names each bad field."""
    if not isinstance(data, dict):
        raise BriefError(source, [("(top level)", "a brief is a mapping of fields (YAML/JSON "
                                                  f"object), not {type(data).__name__}")])
    try:
        return Brief.model_validate(data)
    except ValidationError as e:
        problems: list[tuple[str, str]] = []
        for err in e.errors():
            item = (_loc(tuple(err["loc"])), _message(err))
            if item not in problems:
                problems.append(item)
        raise BriefError(source, problems) from None


def load_brief(path: str | Path) -> Brief:
    """Read and validate a YAML or JSON brief file."""
    p = Path(path)
    if not p.exists():
        raise BriefError(str(p), [("(file)", "no such file")])
    text = p.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise BriefError(str(p), [("(syntax)", str(e).replace("\n", " "))]) from None
    brief = parse_brief(data, str(p))
    if brief.brand.logo is not None and not brief.brand.logo.is_absolute():
        brief.brand.logo = (p.parent / brief.brand.logo).resolve()
    if brief.brand.logo is not None and not brief.brand.logo.exists():
        raise BriefError(str(p), [("brand.logo", f"file {brief.brand.logo} does not exist")])
    return brief
