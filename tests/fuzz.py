"""Malformed input generators for the fuzz tests (``tests/agents/test_fuzz.py``).

Deterministic (seeded ``random.Random``) so a failure names a seed that reproduces it.
Briefs start from the example briefs and a minimal one, then are damaged structurally
(wrong types, unknown and huge fields, deep nesting, hostile names and paths, control
characters and lone surrogates, absurd sizes and counts) and at the byte level (cut,
flipped, NUL, invalid UTF-8, BOM, CRLF, YAML tags, anchors and alias bombs). Images start
from small real PNG/JPEG/GIF/WebP files and are damaged in their headers, chunks and
bodies, or replaced by bombs, slivers and animations.
"""

from __future__ import annotations

import io
import json
import random
import struct
import zlib
from pathlib import Path
from typing import Any

import yaml
from PIL import Image, ImageDraw

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "briefs"

MINIMAL = {"name": "fuzz", "copy": {"headline": "Summer Sale", "price": "$9.99"},
           "formats": ["card-small"]}

HOSTILE_STRINGS = [
    "", " ", "[/]", "[bold red]x[/]", "[link=file:///etc/passwd]x[/link]", "\x1b[31mred",
    "../../etc/passwd", "/etc/passwd", "/dev/zero", "/proc/self/environ", "~/.ssh/id_rsa",
    "a/b", "..", ".", "C:\\Windows\\win.ini", "\\\\server\\share", "file:///etc/passwd",
    "x" * 300, "é" * 200, "\u202eevil", "\u200b", "\ufeff", "\ud800", "\udfff", "a\x00b",
    "a\rb", "a\u2029b", "a\u2028b", "\x85", "\x07\x08", "%s%s%n", "{0}{1}", "${HOME}",
    "$(rm -rf /)", "<script>", "💥" * 50, "\U0010ffff", "𝕊𝕦𝕞𝕞𝕖𝕣", "Ｓｕｍｍｅｒ", "夏季大促",
    "ﷺ" * 30, "null", "~", "yes", "0x10", "1e309", "NaN", "-0", "9" * 5000,
]
HOSTILE_VALUES: list[Any] = [
    None, True, False, 0, -1, 2 ** 63, -(2 ** 63), 1.5, float("inf"), float("-inf"),
    float("nan"), [], {}, [[]], [{}], {"": ""}, {"text": None}, {"text": []},
]
FORMAT_STRINGS = ["0x0", "1x1", "99999x99999", "-1024x1024", "1024x", "x1024", "1024X1536",
                  "1024×1536", "1024 x 1536", "1e3x1e3", "poster", "poster-portrait ",
                  "POSTER-PORTRAIT", "512x512", "2048x2048", "2049x2048", "4096x4096",
                  "1024x1536\n", "card-small"]


def _example_briefs() -> list[dict[str, Any]]:
    out = [MINIMAL]
    for f in sorted(EXAMPLES.glob("*.y*ml")):
        data = yaml.safe_load(f.read_text(encoding="utf-8"))
        if isinstance(data, dict):
            out.append(data)
    return out


def _random_leaf(rng: random.Random) -> Any:
    r = rng.random()
    if r < 0.45:
        return rng.choice(HOSTILE_STRINGS)
    if r < 0.75:
        return rng.choice(HOSTILE_VALUES)
    if r < 0.85:
        return "".join(chr(rng.randrange(0, 0x3000)) for _ in range(rng.randrange(1, 40)))
    if r < 0.95:
        return rng.choice(["A", "Sale ", "価"]) * rng.choice([1_000, 6_000, 120_000])
    return rng.choice(FORMAT_STRINGS)


def _deep(rng: random.Random, depth: int) -> Any:
    v: Any = "x"
    for _ in range(depth):
        v = [v] if rng.random() < 0.5 else {"k": v}
    return v


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


def _get(obj: Any, path: tuple) -> Any:
    for p in path:
        obj = obj[p]
    return obj


def mutate_structure(rng: random.Random, data: dict[str, Any]) -> Any:
    """One to four structural damages to a copy of ``data``."""
    data = json.loads(json.dumps(data))
    for _ in range(rng.randint(1, 4)):
        paths = _paths(data)
        path = rng.choice(paths)
        kind = rng.random()
        if not path:  # the whole brief
            choice = rng.random()
            if choice < 0.3:
                return rng.choice([[], "just a string", 42, None, [MINIMAL]])
            if choice < 0.6:
                data[rng.choice(HOSTILE_STRINGS[:30]) or "x"] = _random_leaf(rng)
            else:
                data["formats"] = [rng.choice(FORMAT_STRINGS)
                                   for _ in range(rng.choice([0, 1, 40, 300, 5000]))]
            continue
        parent = _get(data, path[:-1])
        key = path[-1]
        if kind < 0.35:
            parent[key] = _random_leaf(rng)
        elif kind < 0.5 and isinstance(parent, dict):
            del parent[key]
        elif kind < 0.6:
            parent[key] = _deep(rng, rng.choice([5, 20, 60, 400]))
        elif kind < 0.75 and isinstance(parent, dict):
            new = rng.choice(HOSTILE_STRINGS[:40])
            parent[new] = parent.pop(key)
        elif kind < 0.85:
            target = rng.choice(["brand", "copy", "formats", "render_policy"])
            if target == "brand":
                data["brand"] = {"logo": rng.choice(HOSTILE_STRINGS[6:20]),
                                 "fonts": {"headline": rng.choice(HOSTILE_STRINGS[6:20])},
                                 "colors": [rng.choice(["#fff", "red", "#12345g", "#ffffff"])]}
            elif target == "copy":
                data["copy"] = {rng.choice(["headline", "legal", "[x]", "a b", "价格"]):
                                _random_leaf(rng) for _ in range(rng.randint(1, 3))}
            elif target == "formats":
                data["formats"] = [{"name": rng.choice(HOSTILE_STRINGS[:30]) or "n",
                                    "width": rng.choice([0, 1024, 99999, -5, "1024", 1.5]),
                                    "height": rng.choice([1024, 512, None])}]
            else:
                data["render_policy"] = {rng.choice(["legal", "price", "x"]):
                                         rng.choice(["overlay", "model", "paint", 1])}
        else:
            parent[key] = [parent[key]] * rng.choice([2, 100])
    return data


def serialize(rng: random.Random, data: Any) -> tuple[str, bytes]:
    """(suffix, bytes) of ``data`` as YAML or JSON."""
    if rng.random() < 0.5:
        try:
            text = json.dumps(data, ensure_ascii=rng.random() < 0.5, allow_nan=True)
        except (ValueError, RecursionError):
            text = "{}"
        return ".json", text.encode("utf-8", "surrogatepass")
    try:
        text = yaml.safe_dump(data, allow_unicode=rng.random() < 0.5)
    except (yaml.YAMLError, RecursionError):
        text = "name: x\n"
    return ".yaml", text.encode("utf-8", "surrogatepass")


YAML_SPECIALS = [
    b"!!python/object/apply:os.system ['echo pwned']\n",
    b"name: !!binary aGVsbG8=\ncopy: {headline: hi}\n",
    b"---\nname: a\n---\nname: b\n",
    b"<<: *missing\n",
    b"copy: &a {headline: hi}\nbrand: *a\nformats: *a\n",
    b"copy: {headline: hi, headline: ho}\n",
    b"copy: {? [a, b] : c}\n",
    b"name: 0o777\ncopy: {headline: 1_000}\n",
    b"copy: {headline: !!float 1e400}\n",
    b"formats: [{name: a, width: !!int 99999999999999999999999, height: 1}]\ncopy: {h: x}\n",
    b"%YAML 9.9\n---\nname: x\n",
    b"\t\tname: x\n",
    b"copy:\n  headline: |\n    line one\r\n    line two\n",
]


def alias_bomb(levels: int = 9, width: int = 9) -> bytes:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    lines.append(f"copy: {{headline: *a{levels - 1}}}")
    return "\n".join(lines).encode()


def mutate_bytes(rng: random.Random, raw: bytes) -> bytes:
    """Byte-level damage."""
    r = rng.random()
    if r < 0.2 and raw:
        return raw[:rng.randrange(len(raw))]
    if r < 0.35 and raw:
        b = bytearray(raw)
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        return bytes(b)
    if r < 0.45:
        i = rng.randrange(len(raw) + 1)
        return raw[:i] + rng.choice([b"\x00", b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b"\x80"]) \
            + raw[i:]
    if r < 0.55:
        return rng.choice([b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"]) + raw
    if r < 0.65:
        return raw.replace(b"\n", rng.choice([b"\r\n", b"\r", b"\n\n\n", b"\n\t"]))
    if r < 0.8:
        return rng.choice(YAML_SPECIALS)
    if r < 0.85:
        return alias_bomb(rng.randint(3, 10), rng.randint(3, 12))
    if r < 0.9:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4096)))
    if r < 0.95:
        return rng.choice([b"[" * 50_000, b"{a: " * 20_000, b"- " * 30_000, b"a:\n  " * 5000])
    return raw * rng.randint(2, 50)


def brief_cases(seed: int, n: int) -> list[tuple[str, bytes]]:
    """``n`` malformed briefs as (suffix, bytes)."""
    rng = random.Random(seed)
    bases = _example_briefs()
    out = []
    for _ in range(n):
        data = mutate_structure(rng, rng.choice(bases))
        suffix, raw = serialize(rng, data)
        if rng.random() < 0.35:
            raw = mutate_bytes(rng, raw)
        out.append((suffix, raw))
    return out


# --- images -------------------------------------------------------------------------------
def _base_images() -> dict[str, bytes]:
    im = Image.new("RGB", (96, 64), "white")
    ImageDraw.Draw(im).text((8, 24), "Sale", fill="black")
    out = {}
    for fmt, ext in (("PNG", "png"), ("JPEG", "jpg"), ("GIF", "gif"), ("WEBP", "webp"),
                     ("BMP", "bmp"), ("TIFF", "tiff")):
        buf = io.BytesIO()
        im.save(buf, fmt)
        out[ext] = buf.getvalue()
    return out


def _png(w: int, h: int, body: bytes, *, bad_crc: bool = False, color: int = 0,
         depth: int = 8) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", crc ^ (1 if bad_crc else 0))
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(
        b"IEND", b"")


def image_cases(seed: int, n: int) -> list[tuple[str, bytes]]:
    """``n`` malformed images as (suffix, bytes)."""
    rng = random.Random(seed)
    bases = _base_images()
    fixed: list[tuple[str, bytes]] = [
        ("png", _png(100_000, 100_000, zlib.compress(b"\0" * 1000))),   # bomb by header
        ("png", _png(1, 20000, zlib.compress(b"\0\0" * 20000))),        # sliver
        ("png", _png(0, 0, b"")), ("png", _png(64, 64, b"junk")),
        ("png", _png(64, 64, zlib.compress(b"\0" * 65 * 64), bad_crc=True)),
        ("png", _png(64, 64, zlib.compress(b"\0" * 10), color=3)),        # palette, no PLTE
        ("png", _png(64, 64, zlib.compress(b"\0" * 10), depth=3)),        # invalid depth
        ("png", b""), ("png", b"\x89PNG\r\n\x1a\n"), ("jpg", b"\xff\xd8\xff"),
        ("gif", b"GIF89a" + struct.pack("<HH", 65535, 65535) + b"\x00" * 10),
        ("webp", b"RIFF\xff\xff\xff\xffWEBPVP8 "), ("svg", b"<svg xmlns='x'/>"),
    ]
    anim = io.BytesIO()
    frames = [Image.new("RGB", (64, 64), c) for c in ("white", "black", "red")]
    frames[0].save(anim, "GIF", save_all=True, append_images=frames[1:])
    fixed.append(("gif", anim.getvalue()))
    out = list(fixed)
    while len(out) < n:
        ext = rng.choice(list(bases))
        raw = bytearray(bases[ext])
        r = rng.random()
        if r < 0.3:
            raw = raw[:rng.randrange(1, max(2, len(raw) // 2))]
        elif r < 0.6:
            for _ in range(rng.randint(1, 6)):  # flips in the header, where decoders look
                i = rng.randrange(min(len(raw), 64))
                raw[i] = rng.randrange(256)
        elif r < 0.75:
            raw = bytearray(raw[:16]) + bytearray(rng.randrange(256) for _ in range(300))
        elif r < 0.85:
            raw = bytearray(rng.randrange(256) for _ in range(rng.randrange(1, 2000)))
        else:
            w, h = rng.choice([(0, 10), (70_000, 70_000), (5, 90_000), (2 ** 31 - 1, 1),
                               (64, 3), (1, 1)])
            raw = bytearray(_png(w, h, zlib.compress(b"\0" * rng.randrange(1, 5000))))
        out.append((ext, bytes(raw)))
    return out[:n]
