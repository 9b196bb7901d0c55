"""Briefs: what users write, and the messages they get when it is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from agents.brief import Brief, load_brief, parse_brief, quoted_strings, role_for
from agents.errors import BriefError


def _problems(data: dict) -> dict[str, str]:
    with pytest.raises(BriefError) as exc:
        parse_brief(data, "poster.yaml")
    assert str(exc.value).startswith("poster.yaml: invalid brief")
    return dict(exc.value.problems)


def test_size_not_multiple_of_32_names_index_and_nearest_sizes() -> None:
    p = _problems({"copy": {"headline": "Hi"}, "formats": ["social-square", "1000x1000"]})
    assert p == {"formats[1]": "1000x1000 is not a multiple of 32; nearest valid sizes are "
                               "992x992 and 1024x1024"}


def test_oversized_format_is_refused_with_a_valid_alternative() -> None:
    p = _problems({"copy": {"headline": "Hi"}, "formats": [{"name": "huge", "width": 4096,
                                                            "height": 4096}]})
    assert "formats[0]" in p
    assert "more than 4194304" in p["formats[0]"] and "2048x2048" in p["formats[0]"]


def test_unknown_fields_are_errors_not_dropped() -> None:
    p = _problems({"copy": {"headline": "Hi"}, "colour": "red", "brand": {"nmae": "X"}})
    assert set(p) == {"colour", "brand.nmae"}
    assert all("unknown field" in m for m in p.values())


def test_unknown_preset_lists_the_presets() -> None:
    p = _problems({"copy": {"headline": "Hi"}, "formats": ["poster"]})
    assert "poster-portrait" in p["formats[0]"] and "WIDTHxHEIGHT" in p["formats[0]"]


def test_bad_colour_and_empty_copy() -> None:
    p = _problems({"copy": {"headline": "  "}, "brand": {"colors": ["#fff"]}})
    assert p["copy.headline.text"] == "text is empty"
    assert "#rrggbb" in p["brand.colors"]


def test_brief_without_copy_or_prompt() -> None:
    p = _problems({"formats": ["social-square"]})
    assert "needs 'copy'" in next(iter(p.values()))


def test_copy_is_kept_verbatim_with_roles() -> None:
    b = parse_brief({"copy": {"headline": "Summer Sale!", "price": "$49.99",
                              "fine_print": "*Terms apply.", "cta": {"text": "Shop now"}},
                     "formats": "poster-portrait"})
    items = b.copy_items()
    assert items["headline"].text == "Summer Sale!"
    assert [b.role_of(k, v) for k, v in items.items()] == ["headline", "price", "legal", "cta"]
    assert (b.formats[0].width, b.formats[0].height) == (1024, 1536)


def test_free_text_prompt_yields_quoted_copy_in_order() -> None:
    b = parse_brief({"prompt": 'A poster: "Summer Sale" and “50% off”, in Chinese 「夏季大促」'})
    assert [i.text for i in b.copy_items().values()] == ["Summer Sale", "50% off", "夏季大促"]
    assert quoted_strings(None) == []


def test_role_aliases() -> None:
    assert role_for("tagline") == "subheadline"
    assert role_for("disclaimer") == "legal"
    assert role_for("body_2") == "body"
    assert role_for("something-else") == "body"


def test_yaml_syntax_error_names_the_file(tmp_path: Path) -> None:
    f = tmp_path / "b.yaml"
    f.write_text("copy: {headline: [unclosed\n")
    with pytest.raises(BriefError) as exc:
        load_brief(f)
    assert str(f) in str(exc.value) and "(syntax)" in str(exc.value)


def test_json_brief_and_relative_logo(tmp_path: Path) -> None:
    Image.new("RGBA", (40, 20), (200, 30, 30, 255)).save(tmp_path / "logo.png")
    f = tmp_path / "b.json"
    f.write_text(json.dumps({"brand": {"name": "Acme", "logo": "logo.png"},
                             "copy": {"headline": "Hi"}}))
    b = load_brief(f)
    assert isinstance(b, Brief) and b.brand.logo == (tmp_path / "logo.png").resolve()
    f.write_text(json.dumps({"brand": {"logo": "nope.png"}, "copy": {"headline": "Hi"}}))
    with pytest.raises(BriefError, match="brand.logo"):
        load_brief(f)


def test_missing_file() -> None:
    with pytest.raises(BriefError, match="no such file"):
        load_brief("does-not-exist.yaml")


def test_example_briefs_all_validate(examples: Path) -> None:
    files = sorted(examples.glob("*.y*ml")) + sorted(examples.glob("*.json"))
    assert len(files) >= 4
    langs = {load_brief(f).language for f in files}
    assert {"en", "zh"} <= langs
