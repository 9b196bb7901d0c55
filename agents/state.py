"""Graph state and run-time context.

State is what the checkpointer saves: ids, paths, hashes and QA summaries — never image
bytes. Context is injected at run time (settings, backend, planner, OCR reader, budget,
progress sink) and never checkpointed.
"""

from __future__ import annotations

import operator
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypedDict

from agents.errors import BudgetExceeded
from agents.settings import Settings
from agents.status import AssetStatus
from agents.store import RunStore
from generation.base import Backend
from qa.ocr import OCREngine
from qa.vision import VisionReader


class AttemptSummary(TypedDict, total=False):
    n: int
    action: str            # generate | regenerate | repair
    why: str
    image: str             # path relative to the run folder
    sha256: str
    seed: int
    prompt: str            # path of prompt.txt
    cost_usd: float
    qa: dict[str, Any]     # passed, score, word_accuracy, ned, regions, unexpected, report, overlay
    repaired: list[str]


class AssetState(TypedDict, total=False):
    run_id: str
    asset_id: str
    spec_path: str
    spec_sha256: str
    attempts: Annotated[list[AttemptSummary], operator.add]
    current: AttemptSummary | None
    next: dict[str, Any]
    status: AssetStatus
    final_image: str | None
    review: dict[str, Any] | None
    review_request: dict[str, Any] | None   # agents.review.ReviewRequest, as JSON
    error: str | None


class Budget:
    """A run's spending limit, shared by concurrent assets: reserve before paying."""

    def __init__(self, limit: float | None, spent: float = 0.0) -> None:
        self.limit = limit
        self.spent = spent
        self._reserved = 0.0
        self._lock = threading.Lock()

    def reserve(self, amount: float, what: str) -> None:
        with self._lock:
            if self.limit is not None and amount > 0 and (
                    self.spent + self._reserved + amount > self.limit + 1e-9):
                raise BudgetExceeded(
                    f"{what} would cost ${amount:.4f}; spent ${self.spent:.4f} of the "
                    f"${self.limit:.4f} budget (--max-cost)")
            self._reserved += amount

    def settle(self, reserved: float, actual: float) -> None:
        with self._lock:
            self._reserved -= reserved
            self.spent += actual


@dataclass
class Event:
    """A progress event for displays (CLI progress bars, web UI, logs)."""

    kind: str              # planned | generating | generated | checked | decided | done
    asset_id: str
    attempt: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)
    """When it happened (seconds since the epoch)."""


@dataclass
class Context:
    settings: Settings
    store: RunStore
    backend: Backend
    reader: OCREngine | None = None
    """The OCR judge (None: the library's default)."""
    recheck: OCREngine | None = None
    """The engine that judges again, at full precision, an image the judge did not pass."""
    vision: VisionReader | None = None
    """The optional blind vision reader for illegible regions."""
    budget: Budget = field(default_factory=lambda: Budget(None))
    on_event: Callable[[Event], None] | None = None
    seed: int = 0
    slots: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(64))
    """Bounds the backend calls in flight (``settings.concurrency``)."""
    submitted: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    """Released once per backend call started (the runner staggers asset starts on it)."""
    payments: Any = None
    """Workers (:class:`agents.workers.payments.ClusterPayments`): the intent row before a
    paid submit, the task handle once accepted, the job's shared budget. ``None`` on one
    machine (the run folder's ledger and ``budget`` do it)."""

    def emit(self, kind: str, asset_id: str, attempt: int | None = None, **detail: Any) -> None:
        if self.on_event:
            self.on_event(Event(kind, asset_id, attempt, detail))
