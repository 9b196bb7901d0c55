"""The example briefs a new user meets first — a brief with its own logo, product photo and
background, and one each in Japanese, Traditional Chinese and Korean — run end to end on
the embedded ``typeset`` backend and pass OCR QA (real rapidocr / tesseract judges)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.api import start_run
from agents.settings import Settings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "briefs"


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("brief", [
    "roastery-assets", "autumn-sweets-ja",
    "beauty-popup-zh-hant", "winter-sale-ko"])
def test_example_brief_passes_qa_on_typeset(tmp_path: Path, brief: str) -> None:
    settings = Settings(_env_file=None, runs_dir=tmp_path / "runs", max_attempts=3)
    result = start_run(EXAMPLES / f"{brief}.yaml", settings, seed=0)
    statuses = {a["asset_id"]: a["status"] for a in result.manifest["assets"]}
    assert set(statuses.values()) == {"accepted"}, result.manifest["assets"]
