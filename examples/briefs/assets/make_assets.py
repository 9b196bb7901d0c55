"""Makes the small example pictures the asset brief uses (run from the repository root):

    python examples/briefs/assets/make_assets.py

``product.png`` a coffee bag cut out on a transparent ground, ``background.jpg`` a soft,
photo-like morning scene, and ``logo.svg`` (written by hand, kept as text). Everything is
drawn with Pillow from fixed numbers, so the files are the same on every machine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

HERE = Path(__file__).resolve().parent


def product() -> Image.Image:
    """A kraft-paper coffee bag with a label, on transparency (RGBA)."""
    w, h = 360, 480
    img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((40, 60, 320, 460), 22, fill=(150, 104, 64, 255))      # the bag
    d.polygon([(40, 60), (180, 20), (320, 60)], fill=(128, 86, 50, 255))        # folded top
    for x in range(60, 310, 14):                                               # paper texture
        d.line((x, 70, x - 10, 450), fill=(160, 114, 72, 255), width=3)
    d.rounded_rectangle((80, 190, 280, 360), 14, fill=(245, 236, 220, 255))    # label
    d.ellipse((150, 225, 210, 285), fill=(180, 60, 40, 255))                    # a bean mark
    d.line((180, 230, 180, 280), fill=(245, 236, 220, 255), width=5)
    d.rectangle((110, 305, 250, 318), fill=(120, 80, 50, 255))
    d.rectangle((130, 330, 230, 340), fill=(170, 130, 95, 255))
    shade = Image.new("L", (w, h), 0)
    ImageDraw.Draw(shade).rectangle((250, 60, 320, 460), fill=70)              # side shadow
    dark = Image.new("RGBA", (w, h), (40, 25, 15, 255))
    img = Image.composite(dark, img, Image.composite(shade, Image.new("L", (w, h), 0),
                                                     img.getchannel("A")).filter(
        ImageFilter.GaussianBlur(18)))
    return img


def background() -> Image.Image:
    """A warm, softly lit tabletop scene: sky-to-cream light, a wooden table, bokeh."""
    w, h = 960, 720
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    top, mid = np.array([236, 208, 170], np.float32), np.array([250, 238, 215], np.float32)
    arr = top * (1 - y) + mid * y
    arr = np.repeat(arr, w, axis=1)
    table = (y[:, 0, 0] > 0.68)
    grain = np.sin(np.linspace(0, 90, w)[None, :] + np.linspace(0, 7, h)[:, None] * 3) * 8
    wood = np.stack([118 + grain, 78 + grain * 0.7, 48 + grain * 0.4], axis=2)
    arr[table] = wood[table]
    img = Image.fromarray(arr.clip(0, 255).astype(np.uint8), "RGB")
    glow = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    g = ImageDraw.Draw(glow)
    for cx, cy, r, a in ((160, 140, 70, 90), (760, 110, 90, 80), (620, 300, 50, 70),
                         (300, 330, 40, 60), (860, 380, 60, 70)):
        g.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(255, 246, 224, a))
    img = Image.alpha_composite(img.convert("RGBA"),
                                glow.filter(ImageFilter.GaussianBlur(22))).convert("RGB")
    return img.filter(ImageFilter.GaussianBlur(1.2))


if __name__ == "__main__":
    product().save(HERE / "product.png", optimize=True)
    background().save(HERE / "background.jpg", quality=82, optimize=True)
    print("wrote", HERE / "product.png", HERE / "background.jpg")
