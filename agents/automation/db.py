"""Where automation keeps its rows: the run index (:mod:`agents.index`; SQLite under the
runs folder, or PostgreSQL with ``SIGNWRITER_DATABASE_URL``), migration
``agents/migrations/0003_automation.sql``::

    schedule_ticks     one row per (job, wall-clock tick): the unique key that makes a tick
                       fire once across restarts; status running | done | failed
    webhook_outbox     one row per event and receiver (the id is the webhook-id)
    webhook_endpoints  receivers, their signing secrets, whether one was disabled (410)
    api_tokens         /v1 API tokens: name, role and the SHA-256 of the token (never it)
    api_jobs           jobs posted to /v1/jobs (unique per token and Idempotency-Key)

Every statement runs in :func:`tx`: one transaction, ``?`` placeholders on both databases,
rows as dicts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from agents.index import Index
from agents.settings import Settings


@contextmanager
def tx(settings: Settings) -> Iterator[Any]:
    """One transaction on the run index (committed at the end, rolled back on an error)."""
    with Index.for_settings(settings).tx() as t:
        yield t
