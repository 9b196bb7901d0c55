"""Aligning what was read with what was expected: reading order, similarity, character diffs.

Similarity is Levenshtein similarity on normalised keys (0..100). It ranks and explains;
it never decides a pass — a region passes only on an exact read after normalisation.
"""

from __future__ import annotations

from collections.abc import Sequence

from rapidfuzz.distance import Levenshtein

from qa.models import CharDiff, OCRLine

PixelBox = tuple[int, int, int, int]


def similarity(expected: str, read: str) -> float:
    """0..100: 100 − normalised Levenshtein distance × 100 (100 only for identical keys)."""
    if not expected and not read:
        return 100.0
    return float(Levenshtein.normalized_similarity(expected, read) * 100.0)


def char_diff(expected: str, read: str) -> list[CharDiff]:
    """The character edits turning ``expected`` into ``read`` (positions index ``expected``);
    adjacent edits of one kind are merged, so a dropped word is one ``delete``."""
    diffs: list[CharDiff] = []
    for op in Levenshtein.opcodes(expected, read):
        if op.tag == "equal":
            continue
        diffs.append(CharDiff(op=op.tag, expected=expected[op.src_start:op.src_end],
                              read=read[op.dest_start:op.dest_end], position=op.src_start))
    return diffs


def rows(lines: Sequence[OCRLine]) -> list[list[OCRLine]]:
    """Group lines into visual rows (vertical overlap ≥ half the shorter line), each row
    sorted left to right, rows top to bottom."""
    out: list[list[OCRLine]] = []
    spans: list[tuple[int, int]] = []
    for ln in sorted(lines, key=lambda l: (l.box[1] + l.box[3]) / 2):
        y0, y1 = ln.box[1], ln.box[3]
        for i, (r0, r1) in enumerate(spans):
            overlap = min(y1, r1) - max(y0, r0)
            if overlap >= 0.5 * min(y1 - y0, r1 - r0):
                out[i].append(ln)
                spans[i] = (min(r0, y0), max(r1, y1))
                break
        else:
            out.append([ln])
            spans.append((y0, y1))
    order = sorted(range(len(out)), key=lambda i: spans[i][0])
    return [sorted(out[i], key=lambda l: l.box[0]) for i in order]


def in_reading_order(lines: Sequence[OCRLine]) -> list[OCRLine]:
    return [ln for row in rows(lines) for ln in row]


def join(lines: Sequence[OCRLine]) -> str:
    """The text of ``lines`` in reading order; a line break reads as a space (normalisation
    drops it where spaces do not matter)."""
    return " ".join(ln.text.strip() for ln in in_reading_order(lines) if ln.text.strip())


def union_box(lines: Sequence[OCRLine]) -> PixelBox | None:
    if not lines:
        return None
    return (min(l.box[0] for l in lines), min(l.box[1] for l in lines),
            max(l.box[2] for l in lines), max(l.box[3] for l in lines))


def mean_confidence(lines: Sequence[OCRLine]) -> float:
    """Character-weighted mean confidence of ``lines`` (0 when empty)."""
    total = sum(max(len(l.text), 1) for l in lines)
    if not total:
        return 0.0
    return sum(l.confidence * max(len(l.text), 1) for l in lines) / total


def inside(line: PixelBox, box: PixelBox, *, min_cover: float = 0.5) -> bool:
    """True when at least ``min_cover`` of ``line``'s area lies within ``box``."""
    ix = max(0, min(line[2], box[2]) - max(line[0], box[0]))
    iy = max(0, min(line[3], box[3]) - max(line[1], box[1]))
    area = max(1, (line[2] - line[0]) * (line[3] - line[1]))
    return ix * iy >= min_cover * area
