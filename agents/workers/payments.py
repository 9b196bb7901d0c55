"""Pay once, across machines; one budget for every worker of a job.

Before a paid submit, :meth:`ClusterPayments.begin` (in one transaction, with the asset's
lease row locked and checked: fencing) finds or creates the attempt's row in
``paid_intents`` — primary key (run, asset, attempt):

- no row: the job's budget is reserved (``cluster_jobs``: an atomic conditional update, so
  ``--max-cost`` and ``--max-attempts-total`` hold across all workers) and the intent is
  written; the caller submits.
- a row with the provider's task handle: the attempt was accepted before (its worker died
  or its task was handed out again): the caller *polls that task*, it never pays again.
- a row without a handle, and no ``submitted`` line in the run folder's ledger: its worker
  died after the intent, before the provider's answer was recorded: the submit is sent
  again. It may have been sent the first time, so the job's budget reserves the price a
  second time and counts it as possibly charged, and the run folder's ledger records it
  (a ``failed`` line with ``possibly_charged_usd``), as one machine does for a submit sent
  again after no answer.

The moment the provider's answer arrives, the handle goes first to the run folder's ledger
(a ``submitted`` line, fsynced), then to the intent row (:meth:`accepted`, which never
raises: the worker goes on polling a task it paid for). A worker that takes the attempt
over reads both (``known``). What is left is the window between the provider acting on
the submit and its answer being read — the time one HTTP response takes on the wire plus
the ledger's fsync: a worker killed there leaves a task the provider runs (and may bill)
and nobody knows about, and the attempt is sent again, counted as possibly charged
(``tests/workers/test_cluster.py::test_a_worker_killed_while_the_providers_answer_is_on_the_wire_sends_again``).
Only a provider that takes a client-chosen task id or an idempotency key could close it.

:meth:`finish` settles the reservation with what was paid, once (a replay after a crash
settles nothing twice). The run folder's ledger (``ledger.jsonl``) records the same as on
one machine.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from agents.errors import BudgetExceeded
from agents.settings import Settings
from agents.workers.db import now_sql, tx
from agents.workers.leases import Lease, check

NOW = now_sql()
log = logging.getLogger("signwriter.workers")


class ClusterPayments:
    """The ``payments`` of a worker's :class:`~agents.state.Context` for one leased asset."""

    def __init__(self, settings: Settings, lease: Lease, job_id: str | None,
                 backend: str) -> None:
        self.resending = False
        self.settings = settings
        self.lease = lease
        self.job_id = job_id
        self.backend = backend

    def check(self) -> None:
        """Raise :class:`~agents.errors.LeaseLost` unless the lease is still ours."""
        with tx(self.settings) as c:
            check(c, self.lease)

    def begin(self, asset_id: str, attempt: int, price: float, what: str, *,
              known: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Before a paid submit: the accepted task to poll, or ``None`` to submit (then
        :attr:`resending` says whether an earlier worker may already have sent it).
        ``known``: a handle the run folder's ledger has (recorded here if the row lacks
        it). Raises :class:`~agents.errors.BudgetExceeded` (nothing reserved) or
        :class:`~agents.errors.LeaseLost`."""
        run_id = self.lease.run_id
        self.resending = False
        with tx(self.settings) as c:
            check(c, self.lease)
            row = c.execute("SELECT handle, job_id FROM paid_intents WHERE run_id = %s"
                            " AND asset_id = %s AND attempt = %s FOR UPDATE",
                            (run_id, asset_id, attempt)).fetchone()
            if row is not None:
                handle = json.loads(row["handle"]) if row["handle"] else known
                if handle is None and row["job_id"] is not None:
                    # its worker died after the intent, before the provider's answer was
                    # recorded: it may have been sent (and billed); sent again, the budget
                    # holds the price twice and counts it as possibly charged
                    self._reserve(c, price, what, row["job_id"])
                    self.resending = True
                c.execute("UPDATE paid_intents SET owner = %s, lease_token = %s,"
                          " takeovers = takeovers + 1, price_usd = price_usd + %s,"
                          " handle = COALESCE(handle, %s) WHERE run_id = %s AND asset_id = %s"
                          " AND attempt = %s",
                          (self.lease.owner, self.lease.token, price if self.resending else 0.0,
                           json.dumps(known, default=str) if known else None, run_id,
                           asset_id, attempt))
                return handle
            if self.job_id is not None:
                self._reserve(c, price, what)
            c.execute(f"INSERT INTO paid_intents (run_id, asset_id, attempt, job_id, owner,"
                      f" lease_token, backend, price_usd, state, created_at) VALUES"
                      f" (%s, %s, %s, %s, %s, %s, %s, %s, 'reserved', {NOW})",
                      (run_id, asset_id, attempt, self.job_id, self.lease.owner,
                       self.lease.token, self.backend, price))
        return None

    def _reserve(self, c: Any, price: float, what: str, job_id: str | None = None) -> None:
        job_id = job_id or self.job_id
        ok = c.execute(
            "UPDATE cluster_jobs SET reserved_usd = reserved_usd + %s, attempts = attempts + 1"
            " WHERE id = %s AND (max_attempts IS NULL OR attempts < max_attempts)"
            " AND (max_cost IS NULL OR %s <= 0 OR spent_usd + reserved_usd + %s <= max_cost"
            " + 1e-9) RETURNING id", (price, job_id, price, price)).fetchone()
        if ok:
            return
        job = c.execute("SELECT * FROM cluster_jobs WHERE id = %s", (job_id,)).fetchone()
        if job is None:
            return  # a job removed meanwhile: no budget to hold
        if job["max_attempts"] is not None and job["attempts"] >= job["max_attempts"]:
            raise BudgetExceeded(f"{what}: the job used its {job['max_attempts']} attempts "
                                 "(--max-attempts-total)")
        raise BudgetExceeded(f"{what} would cost ${price:.4f}; the job's workers spent "
                             f"${job['spent_usd']:.4f} (and hold ${job['reserved_usd']:.4f} "
                             f"for attempts in flight) of its ${job['max_cost']:.4f} budget "
                             "(--max-cost)")

    def accepted(self, asset_id: str, attempt: int, handle: dict[str, Any]) -> None:
        """The provider accepted the task: record its handle at once (the first one wins;
        recorded even by a worker that lost its lease, so nobody pays for it again).

        Never raises: the task is paid for and this worker goes on polling it. The caller
        wrote the handle to the run folder's ledger first, so if the database cannot take
        it now, a worker that takes the attempt over still polls the task
        (:meth:`begin` with ``known``) instead of paying again."""
        try:
            with tx(self.settings) as c:
                c.execute(f"UPDATE paid_intents SET handle = %s, state = 'submitted',"
                          f" accepted_at = {NOW} WHERE run_id = %s AND asset_id = %s"
                          " AND attempt = %s AND handle IS NULL",
                          (json.dumps(handle, default=str), self.lease.run_id, asset_id,
                           attempt))
        except Exception:  # noqa: BLE001 - the ledger holds the handle; polling goes on
            log.exception("%s/%s attempt %s: could not record the provider's task %s in "
                          "PostgreSQL (the run folder's ledger has it)", self.lease.run_id,
                          asset_id, attempt, handle)

    def finish(self, asset_id: str, attempt: int, cost_usd: float,
               price: float | None = None) -> None:
        """The attempt ended (an image, or a failure that may have cost ``cost_usd``):
        release its reservation and count what it cost, once — plus, for an attempt sent
        again after a take-over, what the first send may have cost (the reservation beyond
        one ``price``)."""
        with tx(self.settings) as c:
            row = c.execute(f"UPDATE paid_intents SET state = 'settled', settled_at = {NOW},"
                            " cost_usd = %s WHERE run_id = %s AND asset_id = %s"
                            " AND attempt = %s AND state <> 'settled'"
                            " RETURNING job_id, price_usd",
                            (cost_usd, self.lease.run_id, asset_id, attempt)).fetchone()
            if row is not None and row["job_id"] is not None:
                extra = max(0.0, row["price_usd"] - price) if price is not None else 0.0
                c.execute("UPDATE cluster_jobs SET reserved_usd = GREATEST(0, reserved_usd - %s),"
                          " spent_usd = spent_usd + %s WHERE id = %s",
                          (row["price_usd"], cost_usd + extra, row["job_id"]))
