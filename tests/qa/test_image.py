"""Images QA can trust: bombs, slivers, huge, animated and transparent images are refused
or flattened with a message — through :func:`qa.image.load_image` and ``signwriter qa``."""

from __future__ import annotations

import os
import struct
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from agents.cli import app
from generation.fonts import find_font, load_font
from qa.errors import BadImage
from qa.image import load_image

runner = CliRunner()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(path: Path, w: int, h: int) -> Path:
    """A real decompression bomb: a valid greyscale PNG of w x h zero pixels, a few hundred
    KB on disk, w*h bytes once decoded."""
    comp = zlib.compressobj(9)
    row = b"\x00" * (w + 1)  # filter byte + pixels
    parts = []
    block = row * max(1, (1 << 20) // len(row))
    rows_per_block = len(block) // len(row)
    left = h
    while left > 0:
        n = min(left, rows_per_block)
        parts.append(comp.compress(row * n if n < rows_per_block else block))
        left -= n
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
                     + _chunk(b"IDAT", b"".join(parts)) + _chunk(b"IEND", b""))
    return path


def text_image(path: Path, text: str = "Summer Sale", *, alpha: int = 255) -> Path:
    im = Image.new("RGBA", (640, 200), (255, 255, 255, alpha))
    ImageDraw.Draw(im).text((30, 60), text, font=load_font(find_font("latin", "bold"), 64),
                            fill=(0, 0, 0, alpha))
    im.save(path)
    return path


def test_a_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    f = bomb_png(tmp_path / "bomb.png", 30000, 30000)  # 900 MP
    assert f.stat().st_size < 2_000_000
    tracemalloc.start()
    t0 = time.monotonic()
    with pytest.raises(BadImage, match="decompression bomb.*refused before decoding"):
        load_image(f)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert time.monotonic() - t0 < 2 and peak < 50_000_000


def test_a_huge_image_is_refused_and_the_limit_is_a_setting(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    f = bomb_png(tmp_path / "huge.png", 12000, 12000)
    r = runner.invoke(app, ["qa", str(f), "--expect", "x"])
    assert r.exit_code == 2 and "12000x12000 = 144.0 MP" in r.output
    assert "SIGNWRITER_MAX_IMAGE_PIXELS" in r.output and "Traceback" not in r.output
    small = bomb_png(tmp_path / "small.png", 3000, 2000)
    monkeypatch.setenv("SIGNWRITER_MAX_IMAGE_PIXELS", "5000000")
    r = runner.invoke(app, ["qa", str(small), "--expect", "x"])
    assert r.exit_code == 2 and "6.0 MP; at most 5.0 MP" in r.output


@pytest.mark.parametrize("size", [(1, 20000), (20000, 1), (8, 8), (40, 4000)])
def test_slivers_and_specks_are_refused(tmp_path: Path, size: tuple[int, int]) -> None:
    f = tmp_path / "thin.png"
    Image.new("RGB", size, "white").save(f)
    r = runner.invoke(app, ["qa", str(f), "--expect", "x"])
    assert r.exit_code == 2 and f"{size[0]}x{size[1]}" in r.output, r.output
    assert "Traceback" not in r.output


def test_an_animated_image_is_refused_not_judged_on_frame_one(tmp_path: Path) -> None:
    frames = [Image.open(text_image(tmp_path / f"f{i}.png", t)).convert("RGB")
              for i, t in enumerate(["Summer Sale", "Winter Sale"])]
    for ext in ("gif", "webp", "png"):
        f = tmp_path / f"anim.{ext}"
        frames[0].save(f, save_all=True, append_images=frames[1:], duration=100, loop=0)
        with pytest.raises(BadImage, match="animated \\(2 frames\\).*export the frame"):
            load_image(f)
    one = tmp_path / "still.gif"
    frames[0].save(one)
    assert load_image(one).shape == (200, 640, 3)


def test_transparency_is_composited_so_invisible_text_is_not_found(tmp_path: Path) -> None:
    visible = load_image(text_image(tmp_path / "v.png"))
    assert visible.min() < 50  # black text on white
    hidden = text_image(tmp_path / "h.png", alpha=0)  # text in the colour channels only
    assert np.asarray(Image.open(hidden))[..., :3].min() < 50
    flat = load_image(hidden)
    assert flat.min() == 255  # what a viewer sees: nothing
    r = runner.invoke(app, ["qa", str(hidden), "--expect", "Summer Sale"])
    assert r.exit_code == 1, r.output  # not "found" in an image that shows nothing
    r = runner.invoke(app, ["qa", str(text_image(tmp_path / "ok.png")), "--expect",
                            "Summer Sale"])
    assert r.exit_code == 0, r.output


def test_modes_that_are_not_rgb_still_load(tmp_path: Path) -> None:
    im = Image.new("I;16", (64, 64))
    im.putpixel((3, 3), 60000)
    im.save(tmp_path / "16.png")
    assert load_image(tmp_path / "16.png").shape == (64, 64, 3)
    Image.new("CMYK", (64, 64), (0, 0, 0, 255)).save(tmp_path / "cmyk.jpg")
    assert load_image(tmp_path / "cmyk.jpg").max() < 30
    p = Image.new("P", (64, 64), 0)
    p.info["transparency"] = 0
    p.save(tmp_path / "p.png", transparency=0)
    assert load_image(tmp_path / "p.png").min() == 255


def test_files_that_are_not_images(tmp_path: Path) -> None:
    good = text_image(tmp_path / "g.png").read_bytes()
    cases = {"empty.png": b"", "text.png": b"hello, not an image\n",
             "trunc.png": good[:200], "noise.png": os.urandom(5000),
             "jpeghead.jpg": b"\xff\xd8\xff\xe0" + os.urandom(300)}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(BadImage):
            load_image(tmp_path / name)
    os.mkfifo(tmp_path / "fifo.png")
    with pytest.raises(BadImage, match="a FIFO"):
        load_image(tmp_path / "fifo.png")
    with pytest.raises(BadImage, match="a device"):
        load_image("/dev/zero")
    with pytest.raises(BadImage, match="a folder"):
        load_image(tmp_path)
    with pytest.raises(BadImage, match="no such image file"):
        load_image(tmp_path / "missing.png")
