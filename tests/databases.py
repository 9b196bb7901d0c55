"""The run index's databases for tests: a fresh SQLite file, or a fresh schema in the real
PostgreSQL at 127.0.0.1:5432 (trust auth, db ``test``; ``SIGNWRITER_TEST_POSTGRES`` points
elsewhere). A schema per test, dropped afterwards, so tests never see each other's rows."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

POSTGRES = os.environ.get("SIGNWRITER_TEST_POSTGRES",
                          "postgresql://postgres@127.0.0.1:5432/test")


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A database URL whose search_path is a new, empty schema (dropped on exit)."""
    import psycopg
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield f"{POSTGRES}?options=-csearch_path%3D{name}"
    finally:
        from agents.index import close_pools
        close_pools(name)  # the index's pooled connections to the schema
        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{name}" CASCADE')


@contextmanager
def database_url(kind: str, tmp_path: Path) -> Iterator[str | None]:
    """``None`` for SQLite (the index under the runs folder), else a PostgreSQL URL."""
    if kind == "sqlite":
        yield None
    else:
        with postgres_schema() as url:
            yield url
