"""Fixtures for QA tests: a factory of real rendered posters."""

from __future__ import annotations

import pytest

from tests.qa.images import Block, render


@pytest.fixture

def poster(tmp_path):
    """A small poster factory: ``poster(blocks, name=..., **kw) -> (path, expected)``."""
    def make(blocks: list[Block], name: str = "poster.png", **kw):
        return render(tmp_path / name, blocks, **kw)
    return make
