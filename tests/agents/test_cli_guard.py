"""Every door answers bad input with one line and exit 2, never a traceback: the cases an
adversarial probe found, each through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agents.cli import app, one_line

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


def _plan(path: Path | str, *extra: str):  # noqa: ANN202
    return runner.invoke(app, [*extra, "plan", str(path)])


def _refused(result, *words: str) -> str:  # noqa: ANN001
    """Exit 2, one line starting with 'error:', no traceback, naming ``words``."""
    out = result.output
    assert result.exit_code == 2, out
    assert result.exception is None or isinstance(result.exception, SystemExit), out
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), out
    assert "Traceback" not in out and "internal error" not in out, out
    for w in words:
        assert w in out, (w, out)
    return lines[0]


def _yaml(tmp_path: Path, text: str | bytes, name: str = "b.yaml") -> Path:
    f = tmp_path / name
    f.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return f


GOOD = {"name": "t", "copy": {"headline": "Summer Sale"}, "formats": ["social-square"]}


def _json(tmp_path: Path, data: object, name: str = "b.json") -> Path:
    f = tmp_path / name
    f.write_text(json.dumps(data, ensure_ascii=True))
    return f


def test_invalid_utf8_and_binary_briefs(tmp_path: Path) -> None:
    _refused(_plan(_yaml(tmp_path, b"name: t\ncopy: {headline: \xff\xfe}\n")), "not UTF-8",
             "offset")
    _refused(_plan(_yaml(tmp_path, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")), "binary file")


def test_format_name_with_a_slash_is_a_field_error(tmp_path: Path) -> None:
    line = _refused(_plan(_json(tmp_path, {**GOOD, "formats": [
        {"name": "a/b", "width": 1024, "height": 1024}]})), "formats[0].name")
    assert "pydantic" not in line and "errors.pydantic.dev" not in line


@pytest.mark.parametrize("name", ["..", ".hidden", "x" * 300])
def test_format_names_that_would_be_bad_folders(tmp_path: Path, name: str) -> None:
    _refused(_plan(_json(tmp_path, {**GOOD, "formats": [
        {"name": name, "width": 1024, "height": 1024}]})), "formats[0].name")


@pytest.mark.parametrize("text,suffix", [("[" * 5000 + "]" * 5000, ".json"),
                                         ("a: " + "[" * 5000, ".yaml"),
                                         ("copy:\n" + "".join("  " * i + f"k{i}:\n"
                                                              for i in range(1, 60)), ".yaml")])
def test_deep_nesting(tmp_path: Path, text: str, suffix: str) -> None:
    line = _refused(_plan(_yaml(tmp_path, text, "deep" + suffix)))
    assert "nested" in line or "nesting depth" in line, line


def test_yaml_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    lines.append("copy: {headline: hi}")
    t0 = time.monotonic()
    _refused(_plan(_yaml(tmp_path, "\n".join(lines))), "more than")
    assert time.monotonic() - t0 < 10


def test_field_name_with_rich_markup_is_printed_not_interpreted(tmp_path: Path) -> None:
    _refused(_plan(_json(tmp_path, {**GOOD, "copy": {"[/]": "x"}})), "'[/]'")
    _refused(_plan(_json(tmp_path, {**GOOD, "copy": {"[bold]a": "y"}})), "'[bold]a'")
    _refused(_plan(_json(tmp_path, {**GOOD, "[/red]": 1})), "[/red]", "unknown field")


def test_lone_surrogate_and_control_characters(tmp_path: Path) -> None:
    _refused(_plan(_json(tmp_path, {"copy": {"headline": "a\ud800b"}})), "copy.headline",
             "surrogate")
    _refused(_plan(_yaml(tmp_path, 'copy: {headline: "a\\ud800b"}\n')), "Unicode")
    _refused(_plan(_yaml(tmp_path, 'copy: {headline: "a\\x07b"}\n')), "copy.headline",
             "control character U+0007")


@pytest.mark.parametrize("sep", ["\\r", "\\r\\n", "\\u2029", "\\u2028"])
def test_carriage_returns_and_separators_in_copy_are_line_breaks(tmp_path: Path,
                                                                 sep: str) -> None:
    r = _plan(_yaml(tmp_path, f'copy: {{headline: "Summer{sep}Sale"}}\n'
                              "formats: [social-square]\n"))
    assert r.exit_code == 0, r.output
    specs = json.loads(r.stdout)
    head = next(x for x in specs[0]["regions"] if x["id"] == "headline")
    assert head["text"] == "Summer\nSale"


def test_fifo_and_dev_zero_do_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "brief.yaml"
    os.mkfifo(fifo)
    t0 = time.monotonic()
    _refused(_plan(fifo), "FIFO")
    _refused(_plan("/dev/zero"), "device")
    _refused(_plan(tmp_path), "folder")
    _refused(_plan(tmp_path / "missing.yaml"), "no such file")
    assert time.monotonic() - t0 < 5


def test_five_thousand_formats_are_refused_at_once(tmp_path: Path) -> None:
    t0 = time.monotonic()
    _refused(_plan(_json(tmp_path, {**GOOD, "formats": [f"{512 + 32 * (i % 40)}x1024"
                                                         for i in range(5000)]})),
             "5,000 formats", "SIGNWRITER_BRIEF_MAX_FORMATS")
    assert time.monotonic() - t0 < 5


def test_a_million_character_headline_is_refused_not_fitted(tmp_path: Path) -> None:
    line = _refused(_plan(_json(tmp_path, {**GOOD, "copy": {"headline": "A" * 900_000}})),
                    "copy.headline", "900,000 characters")
    assert len(line) < 700
    _refused(_plan(_json(tmp_path, {**GOOD, "copy": {"headline": "A" * 2_000_000}})),
             "at most 1,000,000", "SIGNWRITER_BRIEF_MAX_BYTES")


def test_limits_are_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    brief = _json(tmp_path, {**GOOD, "formats": ["social-square", "card-small",
                                                 "poster-portrait"]})
    monkeypatch.setenv("SIGNWRITER_BRIEF_MAX_FORMATS", "2")
    _refused(_plan(brief), "3 formats; at most 2")
    monkeypatch.setenv("SIGNWRITER_BRIEF_MAX_FORMATS", "3")
    assert _plan(brief).exit_code == 0


def test_huge_values_are_not_echoed_back(tmp_path: Path) -> None:
    big = "Z" * 100_000
    for data in ({**GOOD, "brand": {"colors": [big]}}, {**GOOD, "formats": [big]},
                 {**GOOD, big: 1}, {**GOOD, "language": {"x": big}},
                 {**GOOD, "copy": {big: "x"}}):
        line = _refused(_plan(_json(tmp_path, data)))
        assert len(line) <= 700 and "Z" * 300 not in line


def test_huge_integer_is_a_syntax_error(tmp_path: Path) -> None:
    _refused(_plan(_json(tmp_path / "..", {}, "x.json").parent / "x.json"))  # {} -> no copy
    f = tmp_path / "int.json"
    f.write_text('{"copy": {"headline": "x"}, "formats": [{"name": "a", "width": '
                 + "9" * 6000 + ', "height": 1024}]}')
    _refused(_plan(f))


def test_debug_prints_the_traceback_too(tmp_path: Path) -> None:
    r = _plan(_yaml(tmp_path, b"\xff"), "--debug")
    assert r.exit_code == 2 and "Traceback" in r.output and "not UTF-8" in r.output


def test_an_unexpected_error_is_one_line_that_says_it_is_a_bug(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import agents.api

    def broken(*a, **k):  # noqa: ANN002, ANN003, ANN202
        raise KeyError("boom")
    monkeypatch.setattr(agents.api, "plan_brief", broken)
    r = _plan(_json(tmp_path, GOOD))
    assert r.exit_code == 2 and "internal error (KeyError" in r.output and "bug" in r.output
    assert "Traceback" not in r.output


def test_bad_run_ids_are_not_paths(tmp_path: Path) -> None:
    for rid in ("../../etc", "/etc", "a/b", ""):
        _refused(runner.invoke(app, ["resume", rid, "--out", str(tmp_path)]), "run")


def test_one_line_cuts_and_flattens() -> None:
    assert one_line("a\nb\r\n  c") == "a b c"
    assert one_line("\x1b[31mred") == "?[31mred"
    assert len(one_line("x" * 10_000)) <= 600


def test_subprocess_plan_of_a_binary_brief_exits_2_without_traceback(tmp_path: Path) -> None:
    f = _yaml(tmp_path, os.urandom(4096))
    r = subprocess.run([sys.executable, "-m", "agents.cli", "plan", str(f)], cwd=ROOT,
                       capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and r.stderr.startswith("error:")
    assert len(r.stderr.strip().splitlines()) == 1
