"""The status words: one enum for assets, one for runs, and the exit codes derived from them.

Every status that ``run.json``, ``manifest.json``, ``status.json``, the CLI and the library
API show comes from here, so they can never disagree::

    asset:  pending → running → accepted | needs_review → (accepted | approved_with_findings
            | rejected | running again after edit/regenerate/repair) | failed
    run:    running → succeeded | failed | needs_review       (stopped: resume continues it)

A run's status is *derived* from its assets by :func:`run_status` (only "running" and
"stopped" — whether the process finished — is the runner's own to say).

Exit codes (``signwriter run``, ``resume``, ``review approve|reject``):

====  ==================================================================
0     succeeded: every asset accepted
1     failed: every asset finished, at least one failed or was rejected
2     bad input or configuration (the message names the problem)
3     needs_review: some assets wait for a person, none is still running
4     stopped (or still running): resume it with ``signwriter resume RUN_ID``
====  ==================================================================
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class AssetStatus(StrEnum):
    """Where one asset stands."""

    PENDING = "pending"
    RUNNING = "running"
    ACCEPTED = "accepted"
    APPROVED_WITH_FINDINGS = "approved_with_findings"
    """A person approved it although QA found text problems (listed in ``findings``)."""
    NEEDS_REVIEW = "needs_review"
    REJECTED = "rejected"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        """Nothing more will happen to it (accepted, approved, rejected or failed)."""
        return self in (AssetStatus.ACCEPTED, AssetStatus.APPROVED_WITH_FINDINGS,
                        AssetStatus.REJECTED, AssetStatus.FAILED)

    @property
    def approved(self) -> bool:
        """Final and usable: accepted by QA or approved by a person."""
        return self in (AssetStatus.ACCEPTED, AssetStatus.APPROVED_WITH_FINDINGS)


class RunStatus(StrEnum):
    """Where a run stands."""

    RUNNING = "running"
    STOPPED = "stopped"
    NEEDS_REVIEW = "needs_review"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def exit_code(self) -> int:
        """The CLI's exit code for a run that ends in this status (see the module doc)."""
        return EXIT_CODES[self]


class Decision(StrEnum):
    """A person's decision on an asset waiting for review."""

    APPROVE = "approve"
    REJECT = "reject"
    EDIT = "edit"              # change a region's text, then generate again
    REGENERATE = "regenerate"  # generate again, the reviewer's note added to the prompt
    REPAIR = "repair"          # an image edit of one region of an attempt


EXIT_CODES: dict[RunStatus, int] = {
    RunStatus.SUCCEEDED: 0,
    RunStatus.FAILED: 1,
    RunStatus.NEEDS_REVIEW: 3,
    RunStatus.STOPPED: 4,
    RunStatus.RUNNING: 4,
}
EXIT_BAD_INPUT = 2
"""Bad input or configuration: not a run status, the command never got that far."""


def run_status(assets: Iterable[AssetStatus | str],
               process: RunStatus = RunStatus.RUNNING) -> RunStatus:
    """The run's status from its assets' statuses.

    ``process`` is what the runner knows that the assets do not: ``RUNNING`` while it
    works, ``STOPPED`` once it stopped early (an error, an interrupt). It only counts while
    some asset is unfinished; once every asset is final or waits for a person, the assets
    alone decide.
    """
    statuses = [AssetStatus(s) for s in assets]
    if not statuses or any(s in (AssetStatus.PENDING, AssetStatus.RUNNING) for s in statuses):
        return RunStatus.STOPPED if process is RunStatus.STOPPED else RunStatus.RUNNING
    if AssetStatus.NEEDS_REVIEW in statuses:
        return RunStatus.NEEDS_REVIEW
    if all(s.approved for s in statuses):
        return RunStatus.SUCCEEDED
    return RunStatus.FAILED
