"""Real test images, rendered with Pillow and the fonts the typeset renderer uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw

from generation.fonts import find_font, fit_text, load_font, script_of
from qa.models import ExpectedText, Strictness


@dataclass
class Block:
    """One piece of text to draw: ``drawn`` goes into ``box``; ``expected`` (default:
    the same text) is what the spec asks for. ``drawn=None`` leaves the box empty."""

    id: str
    expected: str
    box: tuple[float, float, float, float]
    drawn: str | None = "__same__"
    weight: str = "bold"
    fill: tuple[int, int, int] = (20, 20, 20)
    max_size: int | None = None
    draw_box: tuple[float, float, float, float] | None = None
    language: str = "en"
    strictness: Strictness = field(default_factory=Strictness)

    def text_to_draw(self) -> str | None:
        return self.expected if self.drawn == "__same__" else self.drawn


def draw_text(img: Image.Image, text: str, box: tuple[float, float, float, float], *,
              weight: str = "bold", fill=(20, 20, 20), max_size: int | None = None) -> None:
    """Fit ``text`` into ``box`` (fractions) like the typeset renderer and draw it centred."""
    w, h = img.size
    bw, bh = box[2] * w, box[3] * h
    font_path = find_font(script_of(text), weight)
    fit = fit_text(text, bw, bh, font_path=font_path, max_size=max_size)
    assert fit is not None, f"{text!r} does not fit"
    font = load_font(font_path, fit.size)
    draw = ImageDraw.Draw(img)
    y = box[1] * h + (bh - fit.height) / 2
    for line in fit.lines:
        lw = font.getlength(line)
        draw.text((box[0] * w + (bw - lw) / 2, y), line, font=font, fill=fill)
        y += fit.size * 1.2


def render(path: Path, blocks: list[Block], *, size=(1024, 1536), background=(250, 246, 236),
           extra: list[tuple[str, tuple[float, float, float, float]]] = ()) -> tuple[Path, list[ExpectedText]]:
    img = Image.new("RGB", size, background)
    for b in blocks:
        text = b.text_to_draw()
        if text:
            draw_text(img, text, b.draw_box or b.box, weight=b.weight, fill=b.fill,
                      max_size=b.max_size)
    for text, box in extra:
        draw_text(img, text, box, weight="regular")
    img.save(path)
    expected = [ExpectedText(id=b.id, text=b.expected, box=b.box, language=b.language,
                             strictness=b.strictness) for b in blocks]
    return path, expected


def line_image(folder: Path, text: str, *, size: int = 72, face: str | None = None,
               width: int = 1000, at: tuple[int, int] = (60, 70)):
    """``text`` drawn on one line (dark on a light ground) and saved in ``folder``: the
    image as the checks read it (RGB array) and the ink's box in pixels, padded."""
    import numpy as np

    from qa.image import load_image

    font = load_font(str(face or find_font(script_of(text), "regular")), size)
    img = Image.new("RGB", (width, 240), (244, 240, 232))
    ImageDraw.Draw(img).text(at, text, font=font, fill=(30, 30, 40))
    img.save(folder / "line.png")
    arr = load_image(folder / "line.png")
    ink = np.argwhere(arr.min(axis=2) < 128)
    (y0, x0), (y1, x1) = ink.min(axis=0), ink.max(axis=0)
    return arr, (int(x0) - 6, int(y0) - 6, int(x1) + 7, int(y1) + 7)


def degraded_line(path: Path, text: str, face: str, px: int, *, size: tuple[int, int],
                  at: tuple[int, int], angle: float, blur: float,
                  ground: tuple[int, int, int] = (250, 246, 236),
                  ink: tuple[int, int, int] = (25, 25, 25), quality: int | None = None):
    """``text`` in the installed font file ``face`` at ``px``, drawn at ``at`` on a ``size``
    ground, rotated ``angle`` degrees about the centre, blurred (Gaussian σ ``blur``) and saved
    to ``path`` — as JPEG at ``quality`` when given — as a generator hands a line over: the
    path and the text's box in pixels before the rotation."""
    import cv2
    import numpy as np

    font = load_font(str(next(Path("/usr/share/fonts").rglob(face))), px)
    img = Image.new("RGB", size, ground)
    draw = ImageDraw.Draw(img)
    draw.text(at, text, font=font, fill=ink)
    bbox = draw.textbbox(at, text, font=font)
    img = img.rotate(angle, resample=Image.BICUBIC, fillcolor=ground)
    arr = cv2.GaussianBlur(np.asarray(img, np.float32), (0, 0), blur)
    out = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    if quality is None:
        out.save(path)
    else:
        out.save(path, quality=quality)
    return path, bbox
