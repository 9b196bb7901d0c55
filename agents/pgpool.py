"""Opening a psycopg connection pool on PostgreSQL (the run index's and the workers'),
with one clear error when the database cannot be reached."""

from __future__ import annotations

from typing import Any

from agents.errors import IndexUnavailable


def open_pool(url: str, size: int, *, name: str, what: str, check: Any = None,
              **conn_kwargs: Any) -> Any:
    """An open ``psycopg_pool.ConnectionPool`` on ``url`` (1 to ``size`` connections, rows
    as dicts, ``conn_kwargs`` for each connection); ``IndexUnavailable`` naming ``what``
    when it cannot be opened within 15 s."""
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool
    p = ConnectionPool(url, min_size=1, max_size=size, open=False,
                       kwargs={**conn_kwargs, "row_factory": dict_row}, name=name, check=check)
    try:
        p.open(wait=True, timeout=15)
    except Exception as e:  # noqa: BLE001 - psycopg_pool.PoolTimeout and friends
        p.close()
        raise IndexUnavailable(f"cannot reach {what} (SIGNWRITER_DATABASE_URL): "
                               f"{str(e).splitlines()[0] if str(e) else type(e).__name__}"
                               ) from None
    return p
