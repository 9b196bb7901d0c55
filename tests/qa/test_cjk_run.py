"""Without boxes, a Chinese text must not be found hidden inside a longer read."""

from __future__ import annotations

import pytest

from qa import check_image
from qa.models import ExpectedText
from tests.qa.images import Block, render


@pytest.mark.parametrize(("drawn", "passes"), [
    ("好物推荐", True),
    ("好好物推荐", False),   # a doubled first ideograph
    ("好物推荐荐", False),   # a doubled last ideograph
    ("【好物推荐】", True),  # CJK brackets around it are punctuation, not an extra character
])
def test_unboxed_cjk_needs_a_whole_run(tmp_path, drawn, passes):
    path, _ = render(tmp_path / "p.png", [Block("h", drawn, (0.1, 0.1, 0.8, 0.1), max_size=72,
                                                language="zh")], size=(800, 600))
    report = check_image(path, [ExpectedText(id="h", text="好物推荐", language="zh")])
    assert report.passed is passes, report.regions
