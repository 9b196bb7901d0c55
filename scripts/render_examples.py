"""Re-render the small example images the README shows (examples/rendered/*.jpg):

    python scripts/render_examples.py

Each is one format of an example brief, planned by the rules planner and drawn by the
typeset backend (seed 1), scaled to 512 px on its long side.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from agents.brief import load_brief
from agents.planner.rules import RulesPlanner
from agents.prompting import compile_prompt, layout_for
from generation.base import GenerationRequest
from generation.typeset import TypesetBackend

ROOT = Path(__file__).resolve().parent.parent
SHOWN = [("roastery-assets", "social-square"), ("autumn-sweets-ja", "poster-portrait"),
         ("beauty-popup-zh-hant", "story-vertical"), ("winter-sale-ko", "social-square"),
         ("mid-autumn", "poster-portrait"), ("winter-sale-ko", "banner-wide")]


def main() -> None:
    out = ROOT / "examples" / "rendered"
    out.mkdir(parents=True, exist_ok=True)
    for brief_name, fmt in SHOWN:
        brief = load_brief(ROOT / "examples" / "briefs" / f"{brief_name}.yaml")
        spec = next(s for s in RulesPlanner().plan(brief) if s.asset_id == fmt)
        image = TypesetBackend().generate(GenerationRequest(
            prompt=compile_prompt(spec), width=spec.width, height=spec.height, seed=1,
            layout=layout_for(spec)))
        with Image.open(io.BytesIO(image.data)) as im:
            small = im.convert("RGB")
            small.thumbnail((512, 512), Image.Resampling.LANCZOS)
            small.save(out / f"{brief_name}-{fmt}.jpg", quality=80, optimize=True,
                       progressive=True)
        if brief_name == "roastery-assets":
            (out / f"{brief_name}-{fmt}.prompt.txt").write_text(compile_prompt(spec) + "\n",
                                                                  encoding="utf-8")
        print(out / f"{brief_name}-{fmt}.jpg")


if __name__ == "__main__":
    main()
