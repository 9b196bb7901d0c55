"""PostgreSQL for workers: one connection pool per process, LangGraph's PostgreSQL
checkpointer on it, and ``signwriter db upgrade``.

The pool (``psycopg_pool``; autocommit connections, no prepared statements, rows as dicts:
what ``langgraph-checkpoint-postgres`` asks for) serves the checkpointer, leases, payment
intents and job rows of every thread of the process; ``SIGNWRITER_DB_POOL_SIZE`` bounds it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from agents.errors import IndexUnavailable
from agents.settings import Settings

_POOLS: dict[tuple[int, str], Any] = {}
_POOLS_LOCK = threading.Lock()


def require_postgres(settings: Settings) -> str:
    """The PostgreSQL URL, or a clear error naming the setting."""
    if not settings.database_url:
        raise IndexUnavailable("workers, leases and PostgreSQL checkpoints need "
                               "SIGNWRITER_DATABASE_URL=postgresql://…")
    return settings.database_url


def pool(settings: Settings) -> Any:
    """This process's pool for the settings' database (made on first use, after a fork
    too: a pool never crosses processes)."""
    from agents.pgpool import open_pool
    url = require_postgres(settings)
    key = (os.getpid(), url)
    with _POOLS_LOCK:
        p = _POOLS.get(key)
        if p is None:
            p = open_pool(url, settings.db_pool_size, name="signwriter", what="PostgreSQL",
                          autocommit=True, prepare_threshold=0)
            _POOLS[key] = p
        return p


@contextmanager
def tx(settings: Settings) -> Iterator[Any]:
    """One transaction on a pooled connection (``%s`` placeholders; rows as dicts)."""
    with pool(settings).connection() as conn:
        with conn.transaction():
            yield conn


def now_sql() -> str:
    """The database's clock in seconds: every lease compares against one clock."""
    return "EXTRACT(EPOCH FROM clock_timestamp())::double precision"


def checkpointer(settings: Settings) -> Any:
    """LangGraph's PostgreSQL checkpointer on this process's pool (tables made by
    :func:`upgrade`)."""
    from langgraph.checkpoint.postgres import PostgresSaver
    return PostgresSaver(pool(settings))


def upgrade(settings: Settings) -> list[str]:
    """Create or migrate every table: the run index's migrations (runs, reviews, schedules,
    the webhook outbox, jobs, leases, payment intents) and the checkpointer's own
    (``setup()``). Returns what was applied (the checkpointer's as ``langgraph``)."""
    from pathlib import Path

    from agents.index import Index
    url = settings.database_url or f"sqlite:///{Path(settings.runs_dir) / 'index.sqlite'}"
    applied = Index(url).migrate()
    if settings.database_url:
        saver = checkpointer(settings)
        with tx(settings) as conn:
            before = _checkpoint_version(conn)
        saver.setup()
        with tx(settings) as conn:
            after = _checkpoint_version(conn)
        if after != before:
            applied.append(f"langgraph checkpoints v{after}")
    return applied


def _checkpoint_version(conn: Any) -> int:
    row = conn.execute("SELECT to_regclass('checkpoint_migrations') AS t").fetchone()
    if row["t"] is None:
        return -1
    r = conn.execute("SELECT max(v) AS v FROM checkpoint_migrations").fetchone()
    return -1 if r["v"] is None else int(r["v"])


def close_pools() -> None:
    """Close this process's pools (a worker shutting down)."""
    with _POOLS_LOCK:
        for key in [k for k in _POOLS if k[0] == os.getpid()]:
            _POOLS.pop(key).close()
