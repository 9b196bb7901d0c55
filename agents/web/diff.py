"""Character differences between what a region should say and what OCR read."""

from __future__ import annotations

from difflib import SequenceMatcher


def char_diff(expected: str | None, read: str | None) -> list[tuple[str, str]]:
    """``[(op, text)]`` with op ``same``, ``missing`` (expected, not read), ``extra`` (read,
    not expected): what the asset page highlights letter by letter."""
    a, b = expected or "", read or ""
    out: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(("same", a[i1:i2]))
            continue
        if i2 > i1:
            out.append(("missing", a[i1:i2]))
        if j2 > j1:
            out.append(("extra", b[j1:j2]))
    return out
