"""Many machines: Celery workers on a Redis broker, every piece of state in PostgreSQL.

With ``SIGNWRITER_DATABASE_URL=postgresql://…`` and ``SIGNWRITER_BROKER_URL=redis://…`` set,
``signwriter run`` and ``batch`` plan their runs (the run folders go to the shared runs
folder, as on one machine), then *enqueue* one task per asset for ``signwriter worker``
processes instead of running them in-process; they wait for the job and print the same
summary (``--no-wait`` prints the job id).

::

    db.py        the PostgreSQL connection pool of a process; LangGraph's PostgreSQL
                 checkpointer on it; ``signwriter db upgrade`` (index migrations + the
                 checkpointer's ``setup()``); checkpoint retention
    leases.py    one executor per asset at a time: a lease row (owner, token, expiry) kept
                 alive by the worker's heartbeat; a take-over bumps the token (fencing);
                 the sweep that re-queues assets whose worker died
    payments.py  pay once across machines: an intent row per (run, asset, attempt) before a
                 paid submit, the provider's task handle recorded when it is accepted (a
                 re-picked attempt polls it), and the job's budget shared by every worker
    jobs.py      the producer's side: job and item rows, enqueueing, waiting, ``status``
    app.py       the Celery app (queues ``signwriter.generate`` and ``signwriter.check``),
                 its one task (a thin call into :func:`agents.api.advance_asset`) and
                 ``signwriter worker``

An asset's graph thread runs in *stages*: a generate task runs it up to the ``check`` node
(waiting on the provider: thread pool workers), a check task runs the OCR check and the QA
decision up to the next ``generate`` (CPU-bound: one process per core), so a slow provider
never starves QA and OCR never blocks submissions. Between stages the thread's checkpoint
is in PostgreSQL, so any worker on any machine can take the next stage.
"""
