"""Planners: a brief → one :class:`~agents.spec.VisualSpec` per format.

``rules`` lays the copy out from presets with no LLM; ``llm`` asks any OpenAI-compatible
chat model and checks what it says; ``auto`` picks ``llm`` when one is configured.
"""

from __future__ import annotations

from typing import Literal

from agents.errors import PlannerError
from agents.planner.base import Planner
from agents.planner.llm import LLMPlanner
from agents.planner.rules import RulesPlanner
from agents.settings import Settings

__all__ = ["LLMPlanner", "Planner", "RulesPlanner", "make_planner"]


def make_planner(settings: Settings, kind: Literal["auto", "rules", "llm"] | None = None
                 ) -> Planner:
    """The planner ``kind`` names (default ``settings.planner``); ``auto`` → ``llm`` when
    ``settings.llm_configured``, else ``rules``."""
    chosen = kind or settings.planner
    if chosen == "auto":
        chosen = "llm" if settings.llm_configured else "rules"
    if chosen == "llm":
        return LLMPlanner(settings)
    if chosen == "rules":
        return RulesPlanner(settings)
    raise PlannerError(f"unknown planner {chosen!r}: use auto, rules or llm")
