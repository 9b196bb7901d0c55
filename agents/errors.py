"""Errors of the pipeline layer (``agents``).

::

    SignwriterError
     ├── BriefError          a brief file is malformed: names the file, the field and the fix
     ├── SpecError           a visual spec is invalid (size, boxes, text that cannot fit)
     │    └── TextDoesNotFit region text too long to set legibly in its box
     ├── PlannerError        the planner could not produce a valid spec
     │    └── CopyNotVerbatim the LLM paraphrased, dropped or translated given copy
     ├── RunNotFound         no run with that id under the runs folder
     ├── RunStopped          an error stopped a run early (``cause``); resume continues it
     ├── BudgetExceeded      the next paid attempt would exceed --max-cost
     └── ReviewError         a review decision that does not apply (wrong asset, not waiting)

Image-backend failures are :mod:`generation.errors`; QA failures are values, not errors.
Only the CLI and the web app turn these into exit codes or HTTP statuses.
"""

from __future__ import annotations


class SignwriterError(Exception):
    """Base class for pipeline errors."""


class BriefError(SignwriterError):
    """A brief is malformed. ``problems`` lists ``(location, message)`` pairs."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = [f"{source}: invalid brief"] + [f"  {loc}: {msg}" for loc, msg in problems]
        super().__init__("\n".join(lines))


class SpecError(SignwriterError):
    """A visual spec is invalid."""


class TextDoesNotFit(SpecError):
    """A region's text cannot be set at a legible size in its box."""

    def __init__(self, asset_id: str, region_id: str, text: str, detail: str) -> None:
        self.asset_id = asset_id
        self.region_id = region_id
        self.text = text
        super().__init__(
            f"{asset_id}: region '{region_id}' cannot fit its text at a legible size ({detail}). "
            f"Shorten the copy, or choose a larger or differently shaped format."
        )


class PlannerError(SignwriterError):
    """The planner could not produce a valid spec."""


class CopyNotVerbatim(PlannerError):
    """The planner's spec does not carry the brief's copy exactly."""


class RunNotFound(SignwriterError):
    """No run with that id."""


class RunStopped(SignwriterError):
    """A run stopped before every asset finished: ``cause`` (a refused key, an exhausted
    balance...) says why. Everything done so far is kept; resuming the run continues it."""

    def __init__(self, run_id: str, cause: Exception) -> None:
        self.run_id = run_id
        self.cause = cause
        super().__init__(f"run {run_id} stopped: {cause}. Resume it with "
                         f"`signwriter resume {run_id}` once that is fixed")


class BudgetExceeded(SignwriterError):
    """The run budget would be exceeded by the next paid attempt."""


class ReviewError(SignwriterError):
    """A review decision that does not apply."""
