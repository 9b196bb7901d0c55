"""Errors of the pipeline layer (``agents``).

::

    SignwriterError
     ├── BriefError          a brief file is malformed: names the file, the field and the fix
     ├── PathNotAllowed      a file a brief or command names is outside the allowed folders,
     │                       not a regular file, or too large (refused before it is opened)
     ├── SpecError           a visual spec is invalid (size, boxes, text that cannot fit)
     │    └── TextDoesNotFit region text too long to set legibly in its box
     ├── PlannerError        the planner could not produce a valid spec
     │    └── CopyNotVerbatim the LLM paraphrased, dropped or translated given copy
     ├── RunNotFound         no run with that id under the runs folder
     ├── RunStopped          an error stopped a run early (``cause``); resume continues it
     ├── BudgetExceeded      the next paid attempt would exceed --max-cost (or a batch's
     │                       attempt cap)
     ├── BatchInputError     a batch's inputs cannot be used at all (no such path, a CSV
     │                       column that names no copy item); bad *rows* are values
     ├── ScheduleError       a jobs file is invalid (cron expression, time zone, job fields)
     ├── DestinationError    approved assets could not be copied (no such bucket, refused)
     ├── ReviewError         a review decision that does not apply (wrong asset, not waiting)
     │    ├── InvalidDecision  the answer does not fit the review (no such attempt, no reason)
     │    └── AlreadyDecided   someone decided first: says who and when
     ├── RunBusy             another process owns the run (its pid, host and since when)
     ├── RunIncomplete       a run folder lacks specs its brief asks for (never "completed")
     ├── StorageError        the runs folder is not writable, or the disk filled up mid-run
     ├── IndexUnavailable    the run index database cannot be reached
     ├── Conflict            a row that must be unique exists already (index)
     ├── LeaseLost           a worker's lease on an asset expired or was taken over (fencing):
     │                       it stops before paying or writing anything more
     └── AccountError        a user account that cannot be added, found or used

Image-backend failures are :mod:`generation.errors`; QA failures are values, not errors.
Only the CLI and the web app turn these into exit codes or HTTP statuses.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any


class SignwriterError(Exception):
    """Base class for pipeline errors."""


class BriefError(SignwriterError):
    """A brief is malformed. ``problems`` lists ``(location, message)`` pairs."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = [f"{source}: invalid brief"] + [f"  {loc}: {msg}" for loc, msg in problems]
        super().__init__("\n".join(lines))


class PathNotAllowed(SignwriterError):
    """A file named by a brief or a command may not be used; refused before opening it."""

    def __init__(self, field: str, problem: str, fix: str) -> None:
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(f"{field}: {problem}; {fix}")


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


class BatchInputError(SignwriterError):
    """A batch's inputs cannot be used at all (a bad row is reported and skipped instead)."""


class ScheduleError(SignwriterError):
    """A jobs file is invalid: its message names the job and the field."""


class DestinationError(SignwriterError):
    """Approved assets could not be copied to a job's destination."""


class ReviewError(SignwriterError):
    """A review decision that does not apply."""


class InvalidDecision(ReviewError):
    """A decision that does not fit the review it answers; the asset stays reviewable."""


class AlreadyDecided(ReviewError):
    """The review was decided already (a double click, or two reviewers)."""

    def __init__(self, run_id: str, asset_id: str, decision: dict[str, Any]) -> None:
        self.decision = decision
        when = _dt.datetime.fromtimestamp(decision["created"], _dt.timezone.utc)
        super().__init__(
            f"{run_id}/{asset_id} was already decided: {decision['decision']} by "
            f"{decision['reviewer']} at {when:%Y-%m-%d %H:%M:%S} UTC")


class IndexUnavailable(SignwriterError):
    """The run index database cannot be reached."""


class Conflict(SignwriterError):
    """A row that must be unique exists already."""


class LeaseLost(SignwriterError):
    """This worker no longer holds the asset's lease (it expired, another worker took it
    over): it must not pay for or write anything more of that asset."""


class AccountError(SignwriterError):
    """A user account that cannot be added, found or used."""


class RunBusy(SignwriterError):
    """Another process holds the run's lock; ``owner`` says who (pid, host, since)."""

    def __init__(self, run_id: str, owner: dict[str, object] | None) -> None:
        self.run_id = run_id
        self.owner = owner or {}
        o = self.owner
        who = (f"pid {o.get('pid')} on {o.get('host')} ({o.get('command') or 'signwriter'}) "
               f"since {o.get('since_iso') or '?'}") if o else "another process"
        super().__init__(f"run {run_id} is in use by {who}; wait for it, or pass --wait")


class RunIncomplete(SignwriterError):
    """A run folder does not hold everything its brief asks for."""


class StorageError(SignwriterError):
    """The runs folder cannot be written (read-only, missing) or the disk is full."""
