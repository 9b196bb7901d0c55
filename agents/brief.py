"""The brief: what a user asks for. YAML or JSON, validated by pydantic.

A structured brief names the brand, the copy (named text items, placed verbatim),
the formats and the style. A free-text brief gives ``prompt:`` with the exact copy in
quotes. Errors name the file, the field and the fix; unknown fields are errors.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, ValidationError,
                      field_validator, model_validator)

from agents.errors import BriefError, PathNotAllowed
from agents.formats import PRESETS
from agents.paths import (FONT_SUFFIXES, IMAGE_SUFFIXES, asset_roots, confine, looks_like_path,
                          read_limited)
from agents.settings import Settings
from agents.spec import CANVAS, HEX, TEXT_ROLES
from generation.errors import ImageAssetError
from generation.images import load_image as probe_image
from qa.models import Strictness
from qa.scripts import UnsupportedLanguage, require_language, require_scripts

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
    case: Literal["exact", "any"] | None = Field(
        None, description="Letter case: exact (an error when it differs) or any (set in "
        "capitals or any case, passes with a note). Default: the role's case_policy, else any.")

    @field_validator("text")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("text is empty")
        return v


NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
"""Brief, format and copy item names: they become file and folder names."""

MAX_NODES = 100_000
"""Most mappings, lists and values a brief may hold (YAML aliases are counted each time
they are used, so an alias bomb is refused instead of expanded)."""

MAX_FREE_TEXT_CHARS = 8_000
"""Longest ``prompt``, ``style`` or ``background`` text."""


class OutputFile(BaseModel):
    """The type of the delivered file; JPEG and WebP take a quality (60–100)."""

    model_config = ConfigDict(extra="forbid")

    file_type: Literal["png", "jpeg", "jpg", "webp"] = "png"
    quality: int = Field(90, ge=60, le=100)

    @field_validator("file_type")
    @classmethod
    def _jpg(cls, v: str) -> str:
        return "jpeg" if v == "jpg" else v


class Format(BaseModel):
    model_config = ConfigDict(extra="forbid")

    output: OutputFile | None = Field(None, description="This format's file type and quality "
                                      "(else the brief's 'output').")
    name: str = Field(pattern=NAME_PATTERN, description="Letters, digits, _ . - (up to 64); "
                      "it names the asset's folder.")
    width: int
    height: int

    @model_validator(mode="after")
    def _valid(self) -> "Format":
        problem = CANVAS.problem(self.width, self.height)
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


class ImageFile(BaseModel):
    """One image file a brief brings: ``file`` (relative to the brief), how it is fitted and
    the point a crop keeps in view. A plain string is the file."""

    model_config = ConfigDict(extra="forbid")

    file: Path
    fit: Literal["cover", "contain"] | None = Field(None, description="contain: whole image "
                                                    "(default for products); cover: fill and "
                                                    "crop (default for the background).")
    focus: tuple[float, float] = Field((0.5, 0.5), description="(x, y) fractions of the image "
                                       "a cover crop keeps in view.")

    @field_validator("focus")
    @classmethod
    def _focus(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not all(0 <= c <= 1 for c in v):
            raise ValueError("focus is [x, y], each a fraction of the image from 0 to 1")
        return v


def _image_input(value: Any) -> Any:
    return {"file": value} if isinstance(value, (str, Path)) else value


ImageField = Annotated[ImageFile, BeforeValidator(_image_input)]


class Images(BaseModel):
    """The brief's own pictures: a background and product photos (PNG, JPEG or WebP)."""

    model_config = ConfigDict(extra="forbid")

    background: ImageField | None = Field(None, description="Fills the canvas behind the text "
                                          "(typeset); remote backends draw their own.")
    products: list[ImageField] = Field(default_factory=list, description="Placed in the "
                                       "layout's picture area, side by side.")

    @field_validator("products")
    @classmethod
    def _few(cls, v: list[ImageFile]) -> list[ImageFile]:
        if len(v) > 4:
            raise ValueError(f"{len(v)} product images: at most 4 fit one layout")
        return v


class Brief(BaseModel):
    """A marketing brief."""

    name: str = Field("brief", pattern=NAME_PATTERN, description="Short id for run names.")
    brand: Brand = Field(default_factory=Brand)
    copy_: dict[str, CopyItem] = Field(default_factory=dict, alias="copy",
                                       description="Named copy items, placed verbatim.")
    formats: list[FormatField] = Field(default_factory=lambda: [parse_format("social-square")])
    style: str = Field("", description="Style notes: mood, imagery, palette words.")
    background: str | None = Field(None, description="What the picture behind the text shows.")
    language: str = Field("en", description="The copy's language: en, zh (Simplified), zh-Hant, "
                          "ja, ko, de, fr, es, it, pt, nl (`qa.scripts` lists them).")
    prompt: str | None = Field(None, description="Free-text brief; exact copy in quotes.")
    review: Literal["failures", "always", "never"] | None = Field(
        None, description="Who sees an asset before it is final: failures (default), always, "
        "never.")
    render_policy: dict[str, Literal["model", "overlay"]] = Field(
        default_factory=dict, description="Per-role render policy, e.g. {legal: overlay}.")
    case_policy: dict[str, Literal["exact", "any"]] = Field(
        default_factory=dict, description="Per-role letter case, e.g. {headline: any, "
        "legal: exact}; an item's own 'case' wins; unset roles: any.")
    images: Images = Field(default_factory=Images, description="The brief's own pictures.")
    output: OutputFile = Field(default_factory=OutputFile, description="File type and quality "
                               "of every format's final image (a format may override it).")

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
            if not re.match(NAME_PATTERN, k):
                raise ValueError(f"copy item name {_cut(k, 40)!r} may use letters, digits, "
                                 f"_ . - only (up to 64, not starting with . _ -)")
        return v

    @field_validator("formats", mode="before")
    @classmethod
    def _formats(cls, v: Any) -> Any:
        return [v] if isinstance(v, (str, dict)) else v

    @field_validator("language")
    @classmethod
    def _language(cls, v: str) -> str:
        try:  # refused before anything is generated: no judge could verify it
            require_language(v)
        except UnsupportedLanguage as e:
            raise ValueError(str(e)) from None
        return v

    @model_validator(mode="after")
    def _has_copy(self) -> "Brief":
        if not self.copy_ and not self.prompt:
            raise ValueError("a brief needs 'copy' (named text items) or a free-text 'prompt'")
        if not self.formats:
            raise ValueError("'formats' is empty: name at least one, e.g. social-square")
        names = [f.name for f in self.formats]
        if len(set(names)) != len(names):
            raise ValueError(f"format names repeat: {names}")
        try:  # e.g. Hangul copy without tesseract's Korean data, or Cyrillic copy
            require_scripts(item.text for item in self.copy_items().values())
        except UnsupportedLanguage as e:
            raise ValueError(str(e)) from None
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


def _cut(text: str, limit: int = 200) -> str:
    """``text`` at most ``limit`` characters long (messages never echo huge values)."""
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit - 20]}… ({len(text):,} characters)"


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
            out += ("." if out else "") + _cut(str(part), 60)
    return out or "(top level)"


def _message(err: dict[str, Any]) -> str:
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        return "unknown field (check its spelling; unknown fields are not ignored)"
    if err["type"] == "missing":
        return "required field is missing"
    if err["type"] == "string_pattern_mismatch":
        return "use letters, digits, _ . - only (up to 64 characters, starting with a letter " \
               "or digit)"
    return _cut(msg.removeprefix("Value error, "), 300)


_NEWLINES = str.maketrans({"\u2028": "\n", "\u2029": "\n", "\x85": "\n"})


def _clean_text(value: str, where: str, problems: list[tuple[str, str]]) -> str:
    """Line breaks of every kind as ``\\n``; control characters and lone surrogates refused."""
    text = value.replace("\r\n", "\n").replace("\r", "\n").translate(_NEWLINES)
    for i, ch in enumerate(text):
        cat = unicodedata.category(ch)
        if cat == "Cs":
            problems.append((where, f"has a lone surrogate U+{ord(ch):04X} at character {i} "
                                    "(broken UTF-16): retype that character"))
            break
        if (cat == "Cc" and ch not in "\n\t") or cat == "Co" or ch in "\ufffe\uffff":
            problems.append((where, f"has a control character U+{ord(ch):04X} at character "
                                    f"{i}: remove it"))
            break
    return text


def _check_tree(data: Any, settings: Settings, problems: list[tuple[str, str]]) -> Any:
    """Walk the parsed brief without recursion: depth and size limits, text cleaned.
    Returns the data with its strings cleaned (the same structure otherwise)."""
    nodes = 0

    def where(path: tuple[Any, ...]) -> str:
        return _loc(path)

    def walk(value: Any, path: tuple[Any, ...]) -> Any:
        nonlocal nodes
        # iterative over siblings, recursive over depth only up to brief_max_depth
        nodes += 1
        if nodes > MAX_NODES:
            raise _TooBig(f"has more than {MAX_NODES:,} values (YAML aliases count each time "
                          "they are used)")
        if len(path) > settings.brief_max_depth:
            raise _TooBig(f"is nested deeper than {settings.brief_max_depth} levels at "
                          f"{where(path[:6])}… (SIGNWRITER_BRIEF_MAX_DEPTH)")
        if isinstance(value, str):
            return _clean_text(value, where(path), problems)
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                if not isinstance(k, str):
                    problems.append((where(path), f"field name {_cut(repr(k), 40)} is not text"))
                    k = str(k)
                elif any(unicodedata.category(c) in ("Cc", "Cs", "Co") for c in k):
                    problems.append((where(path), f"field name {_cut(ascii(k), 40)} has control "
                                                  "characters"))
                out[k] = walk(v, (*path, k))
            return out
        if isinstance(value, list):
            return [walk(v, (*path, i)) for i, v in enumerate(value)]
        if isinstance(value, float) and value != value:  # NaN
            problems.append((where(path), "is NaN, not a number"))
        return value

    return walk(data, ())


class _TooBig(Exception):
    pass


def _limits(data: dict[str, Any], settings: Settings, problems: list[tuple[str, str]]) -> None:
    """Counts and lengths a brief may not exceed (checked before validating the fields)."""
    fmts = data.get("formats")
    if isinstance(fmts, list) and len(fmts) > settings.brief_max_formats:
        problems.append(("formats", f"{len(fmts):,} formats; at most "
                                    f"{settings.brief_max_formats} (each is a paid asset; "
                                    "SIGNWRITER_BRIEF_MAX_FORMATS raises it)"))
    copy = data.get("copy")
    if isinstance(copy, dict):
        if len(copy) > settings.brief_max_copy_items:
            problems.append(("copy", f"{len(copy):,} copy items; at most "
                                     f"{settings.brief_max_copy_items} "
                                     "(SIGNWRITER_BRIEF_MAX_COPY_ITEMS)"))
        for k, v in copy.items():
            text = v.get("text") if isinstance(v, dict) else v
            if isinstance(text, str) and len(text) > settings.brief_max_copy_chars:
                problems.append((f"copy.{_cut(str(k), 60)}",
                                 f"{len(text):,} characters; at most "
                                 f"{settings.brief_max_copy_chars} "
                                 "(SIGNWRITER_BRIEF_MAX_COPY_CHARS): shorten the copy"))
    for key in ("prompt", "style", "background"):
        v = data.get(key)
        if isinstance(v, str) and len(v) > MAX_FREE_TEXT_CHARS:
            problems.append((key, f"{len(v):,} characters; at most {MAX_FREE_TEXT_CHARS:,}"))


def parse_brief(data: Any, source: str = "<brief>", settings: Settings | None = None) -> Brief:
    """Validate brief data, raising :class:`BriefError` that names each bad field."""
    settings = settings or Settings()
    if not isinstance(data, dict):
        raise BriefError(source, [("(top level)", "a brief is a mapping of fields (YAML/JSON "
                                                  f"object), not {type(data).__name__}")])
    problems: list[tuple[str, str]] = []
    try:
        data = _check_tree(data, settings, problems)
    except _TooBig as e:
        raise BriefError(source, [("(structure)", str(e))]) from None
    _limits(data, settings, problems)
    if problems:
        raise BriefError(source, problems[:10])
    try:
        return Brief.model_validate(data)
    except ValidationError as e:
        for err in e.errors():
            item = (_loc(tuple(err["loc"])), _message(err))
            if item not in problems:
                problems.append(item)
        raise BriefError(source, problems[:10]) from None


def _decode(raw: bytes, source: str) -> str:
    if b"\x00" in raw[:8192]:
        raise BriefError(source, [("(file)", "is a binary file, not a YAML or JSON brief")])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise BriefError(source, [("(file)", f"is not UTF-8 text (byte 0x{raw[e.start]:02x} at "
                                             f"offset {e.start}): save the brief as UTF-8")]
                         ) from None


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when PyYAML was built with it (ten times faster), else PyYAML's."""


def _parse_text(text: str, source: str, as_json: bool) -> Any:
    try:
        return json.loads(text) if as_json else yaml.load(text, Loader=_YAML_LOADER)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise BriefError(source, [("(syntax)", _cut(str(e).replace("\n", " "), 300))]) from None
    except RecursionError:
        raise BriefError(source, [("(structure)", "is nested too deeply to read")]) from None
    except (ValueError, OverflowError) as e:  # an integer of 5,000 digits, say
        raise BriefError(source, [("(syntax)", _cut(str(e), 200))]) from None


def _resolve_files(brief: Brief, source: str, roots: list[Path]) -> None:
    """Logo and font files: only from the brief's folder or the allowed assets folders."""
    problems: list[tuple[str, str]] = []
    if brief.brand.logo is not None:
        try:
            brief.brand.logo = confine(brief.brand.logo, roots, field="brand.logo",
                                       kinds=IMAGE_SUFFIXES + (".svg",), what="logo")
            probe_image(brief.brand.logo)
        except PathNotAllowed as e:
            problems.append((e.field, f"{e.problem}; {e.fix}"))
        except ImageAssetError as e:
            problems.append(("brand.logo", e.detail))
    named = ([("images.background", brief.images.background)] if brief.images.background
             else []) + [(f"images.products[{i}]", img)
                         for i, img in enumerate(brief.images.products)]
    for field, img in named:
        try:
            img.file = confine(img.file, roots, field=field, kinds=IMAGE_SUFFIXES,
                               what="image")
            probe_image(img.file)
        except PathNotAllowed as e:
            problems.append((e.field, f"{e.problem}; {e.fix}"))
        except ImageAssetError as e:
            problems.append((field, e.detail))
    for role in ("headline", "body"):
        value = getattr(brief.brand.fonts, role)
        if value is None:
            continue
        field = f"brand.fonts.{role}"
        try:
            if looks_like_path(value):
                setattr(brief.brand.fonts, role, str(confine(value, roots, field=field,
                                                             kinds=FONT_SUFFIXES, what="font")))
            elif len(value) > 100 or any(not c.isprintable() for c in value):
                problems.append((field, f"font family {_cut(ascii(value), 40)} is not a font "
                                        "name: give a family such as 'DejaVu Sans' or a font "
                                        "file next to the brief"))
        except PathNotAllowed as e:
            problems.append((e.field, f"{e.problem}; {e.fix}"))
    if problems:
        raise BriefError(source, problems)


def read_brief_data(path: str | Path, settings: Settings | None = None) -> Any:
    """A brief file's parsed YAML or JSON, read within the limits (not validated yet): a
    base brief that CSV rows fill in (:mod:`agents.automation.batch`)."""
    settings = settings or Settings()
    p = Path(path)
    source = _cut(str(p), 200)
    try:
        raw = read_limited(p, what="brief", max_bytes=settings.brief_max_bytes,
                           setting="SIGNWRITER_BRIEF_MAX_BYTES")
    except PathNotAllowed as e:
        raise BriefError(source, [(e.field, f"{e.problem}; {e.fix}")]) from None
    return _parse_text(_decode(raw, source), source, p.suffix.lower() == ".json")


def brief_from_data(data: Any, source: str, folder: Path, settings: Settings | None = None
                    ) -> Brief:
    """Validate brief data whose logo and font files are resolved inside ``folder`` (or
    ``settings.assets_dirs``), as if it were a brief file in that folder."""
    settings = settings or Settings()
    brief = parse_brief(data, source, settings)
    _resolve_files(brief, source, asset_roots(folder, settings.assets_dirs))
    return brief


def load_brief(path: str | Path, settings: Settings | None = None) -> Brief:
    """Read and validate a YAML or JSON brief file (limits from ``settings``); logo and font
    files are resolved inside the brief's folder or ``settings.assets_dirs``."""
    settings = settings or Settings()
    p = Path(path)
    return brief_from_data(read_brief_data(p, settings), _cut(str(p), 200), p.parent, settings)
