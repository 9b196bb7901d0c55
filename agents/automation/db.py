"""The automation database: schedule ticks, the webhook outbox and endpoints — SQLite with
named, append-only migrations (applied once each, in order, recorded in ``_migrations``).

It lives at ``<runs>/automation.sqlite``. When the run index (``agents/index.py``) lands,
these tables move into it under the same names (its migrations take these statements).

::

    schedule_ticks     one row per (job, wall-clock tick): the unique key that makes a tick
                       fire once across restarts; status running | done | failed | missed
    webhook_outbox     one row per event, written in the same transaction as the state
                       change it reports; the sender delivers and retries from here
    webhook_endpoints  receivers, their signing secrets, and whether one was disabled (it
                       answered 410 Gone)
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agents.settings import Settings

MIGRATIONS: list[tuple[str, str]] = [
    ("m001_schedule_ticks", """
        CREATE TABLE schedule_ticks (
            job TEXT NOT NULL,
            tick TEXT NOT NULL,             -- wall-clock time in the job's zone, ISO, no offset
            scheduled_at TEXT NOT NULL,     -- the same instant in UTC, ISO
            status TEXT NOT NULL,           -- running | done | failed | missed
            owner TEXT,                     -- host:pid:token of the scheduler running it
            started_at TEXT,
            finished_at TEXT,
            result TEXT,                    -- JSON: batch id, counts, exit code, error
            PRIMARY KEY (job, tick)
        )"""),
    ("m002_webhook_outbox", """
        CREATE TABLE webhook_outbox (
            id TEXT PRIMARY KEY,            -- the webhook-id: derived from the event
            type TEXT NOT NULL,
            url TEXT NOT NULL,
            payload TEXT NOT NULL,          -- JSON body, as signed
            created_at REAL NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_at REAL NOT NULL,
            status TEXT NOT NULL,           -- pending | delivered | failed | disabled
            last_error TEXT,
            delivered_at REAL
        )"""),
    ("m003_webhook_outbox_due", "CREATE INDEX webhook_outbox_due ON webhook_outbox (status, next_at)"),
    ("m004_webhook_endpoints", """
        CREATE TABLE webhook_endpoints (
            url TEXT PRIMARY KEY,
            secret TEXT NOT NULL,           -- whsec_…: what deliveries are signed with
            disabled_at REAL,
            reason TEXT
        )"""),
]

_lock = threading.Lock()


def db_path(settings: Settings) -> Path:
    return Path(settings.runs_dir) / "automation.sqlite"


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply the migrations not applied yet; returns their names."""
    conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, "
                 "applied_at TEXT DEFAULT CURRENT_TIMESTAMP)")
    done = {r[0] for r in conn.execute("SELECT name FROM _migrations")}
    applied = []
    for name, sql in MIGRATIONS:
        if name in done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone():
                conn.execute("ROLLBACK")  # another process applied it meanwhile
                continue
            conn.execute(sql)
            conn.execute("INSERT INTO _migrations (name) VALUES (?)", (name,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied


@contextmanager
def connect(settings: Settings) -> Iterator[sqlite3.Connection]:
    """A connection in autocommit mode (transactions are explicit: ``BEGIN IMMEDIATE``),
    migrated, WAL, waiting up to 30 s for another writer."""
    path = db_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=30000")
        with _lock:
            migrate(conn)
        yield conn
    finally:
        conn.close()


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on any error)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
