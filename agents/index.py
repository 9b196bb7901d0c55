"""The run index: runs, assets, attempts, reviews, decisions, users and sessions in SQL.

The run folders stay the truth (every artifact, the ledger, the checkpoints); the index is
what the CLI and the web app *query*, so nothing scans run folders to answer a question.
The library writes it as a run goes (:meth:`Index.sync_asset` when an asset finishes or
waits for a person, :meth:`Index.sync_run` when a run is created or ends), and
``signwriter index rebuild`` fills it from the folders after the fact.

SQLite at ``<runs_dir>/index.sqlite`` by default; PostgreSQL when
``SIGNWRITER_DATABASE_URL`` is set (``postgresql://user@host:5432/db``; a schema can be
chosen with ``?options=-csearch_path%3Dname``). Schema changes are the named, append-only
migrations in :mod:`agents.migrations`.

Plain DB-API (the stdlib ``sqlite3`` and psycopg 3) rather than SQLAlchemy: the index is a
dozen statements in the SQL both databases share (``?`` placeholders become ``%s`` for
psycopg), so a query layer would be more code to read than it saves.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from filelock import FileLock

from agents.errors import Conflict, IndexUnavailable
from agents.status import RunStatus, run_status
from agents.store import RunStore, read_json



def _migrations() -> list[tuple[str, str]]:
    files = resources.files("agents.migrations")
    return sorted((f.name.removesuffix(".sql"), f.read_text(encoding="utf-8"))
                  for f in files.iterdir() if f.name.endswith(".sql"))


def _statements(sql: str) -> list[str]:
    lines = [ln for ln in sql.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


class Index:
    """One run index (SQLite file or PostgreSQL database). Thread-safe, so it can be
    shared by the asset threads of a run and a web server: SQLite opens a connection per
    transaction; PostgreSQL takes one from a pool per process (``SIGNWRITER_DB_POOL_SIZE``)."""

    def __init__(self, url: str, *, pool_size: int = 8) -> None:
        self.url = url
        self.pool_size = pool_size
        """PostgreSQL: connections this process keeps open to the index's database."""
        self.postgres = url.startswith(("postgresql://", "postgres://"))
        self._lock = threading.Lock()  # SQLite: one writer at a time within the process
        self._migrate_lock = threading.Lock()
        self._migrated = False

    @classmethod
    def for_settings(cls, settings: Any) -> "Index":
        """The index the settings name (migrated, ready to use)."""
        url = settings.database_url or f"sqlite:///{Path(settings.runs_dir) / 'index.sqlite'}"
        idx = _cache_get(url, settings.db_pool_size)
        if not idx.postgres and not Path(url.removeprefix("sqlite:///")).exists():
            idx._migrated = False  # the file was removed (a fresh start): create it again
        idx.migrate()
        return idx

    # --- connections --------------------------------------------------------------------
    @contextmanager
    def tx(self, *, durable: bool = False) -> Iterator["_Tx"]:
        """One transaction: committed when the block ends, rolled back on an error.
        ``durable`` (decisions, the audit): on disk before it returns, power cut included."""
        if self.postgres:
            import psycopg
            with self._pg_connection() as conn:
                try:
                    with conn.transaction():
                        yield _Tx(conn, postgres=True)
                except psycopg.errors.UniqueViolation as e:
                    raise Conflict(str(e).splitlines()[0]) from None
            return
        path = Path(self.url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        try:
            # The file is in WAL mode from its migration on (the mode is stored in the file):
            # switching a connection's mode needs the whole file to itself and fails at once,
            # busy timeout or not, when another connection is open — so it is never done
            # here. NORMAL sync, like the checkpoints: a commit survives the process being
            # killed; a power cut can lose the last few, which `index rebuild` restores.
            # Decisions are not rebuilt from anywhere: they are written FULL.
            conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            with self._lock:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield _Tx(conn, postgres=False)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
        except sqlite3.IntegrityError as e:
            raise Conflict(str(e)) from None
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) and "busy" not in str(e):
                raise
            raise IndexUnavailable(f"the run index {path} stayed locked by another process "
                                   f"for over 30 s ({e}); try again when it is done") from None
        finally:
            conn.close()

    @contextmanager
    def _pg_connection(self) -> Iterator[Any]:
        """A connection from this process's pool for the index's database (checked before
        it is handed out, so one the server dropped is replaced). A transaction opened
        while this thread already holds one gets a connection of its own, as before the
        pool: nested transactions can never wait on each other for the pool's last one."""
        import psycopg
        from psycopg.rows import dict_row
        if getattr(_pg_held, "n", 0):
            try:
                conn = psycopg.connect(self.url, row_factory=dict_row)
            except psycopg.OperationalError as e:
                raise IndexUnavailable(f"cannot reach the run index database "
                                       f"(SIGNWRITER_DATABASE_URL): {str(e).splitlines()[0]}"
                                       ) from None
            with conn:
                yield conn
            return
        _pg_held.n = 1
        try:
            with _pg_pool(self.url, self.pool_size).connection() as conn:
                yield conn
        finally:
            _pg_held.n = 0

    def migrate(self) -> list[str]:
        """Apply the migrations not applied yet; returns their names."""
        if self._migrated:
            return []
        if self.postgres:
            return self._migrate()
        # SQLite: one migration at a time, across the threads of this process and across
        # processes (two batch threads, or a worker and the web app, opening a new index at
        # the same moment), and WAL set once, before anything else uses the file.
        path = Path(self.url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._migrate_lock, FileLock(f"{path}.migrate.lock", timeout=60):
            if self._migrated:
                return []
            conn = sqlite3.connect(path, timeout=30, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
            finally:
                conn.close()
            return self._migrate()

    def _migrate(self) -> list[str]:
        applied: list[str] = []
        with self.tx() as t:
            if self.postgres:  # two processes starting at once: one migrates
                t.execute("SELECT pg_advisory_xact_lock(812412)")
            t.execute("CREATE TABLE IF NOT EXISTS migrations "
                      "(name TEXT PRIMARY KEY, applied DOUBLE PRECISION NOT NULL)")
            done = {r["name"] for r in t.all("SELECT name FROM migrations")}
            for name, sql in _migrations():
                if name in done:
                    continue
                for stmt in _statements(sql):
                    t.execute(stmt)
                t.execute("INSERT INTO migrations (name, applied) VALUES (?, ?)",
                          (name, time.time()))
                applied.append(name)
        self._migrated = True
        return applied

    def applied_migrations(self) -> list[str]:
        with self.tx() as t:
            return [r["name"] for r in t.all("SELECT name FROM migrations ORDER BY name")]

    # --- writing: from the run folder ----------------------------------------------------
    def sync_run(self, store: RunStore) -> None:
        """Record a run and every asset of it (after creating, resuming or ending a run)."""
        for aid in store.asset_ids():
            self.sync_asset(store, aid)
        self._sync_run_row(store)

    def _sync_run_row(self, store: RunStore) -> None:
        meta = read_json(store.root / "run.json")
        with self.tx() as t:
            statuses = [r["status"] for r in t.all(
                "SELECT status FROM assets WHERE run_id = ?", (store.run_id,))]
            process = (RunStatus.STOPPED if meta.get("process") == RunStatus.STOPPED
                       else RunStatus.RUNNING)
            status = run_status(statuses, process)
            t.execute(
                "INSERT INTO runs (run_id, name, brief, status, backend, review_policy, created,"
                " updated, cost_usd, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (run_id) DO UPDATE SET status = excluded.status,"
                " updated = excluded.updated, cost_usd = excluded.cost_usd,"
                " error = excluded.error, review_policy = excluded.review_policy",
                (store.run_id, meta.get("name"), meta.get("brief"), status, meta.get("backend"),
                 meta.get("review_policy", "failures"), meta.get("created"), time.time(),
                 store.spent_usd(uncertain=False), meta.get("error")))

    def sync_asset(self, store: RunStore, asset_id: str) -> None:
        """Record one asset, its attempts and (when it waits for a person) its review."""
        spec = read_json(store.spec_path(asset_id))
        st = store.asset_status(asset_id)
        attempts = store.attempts(asset_id)
        by_n = {a["n"]: a for a in attempts}
        shown = by_n.get(st.get("accepted_attempt") or st.get("best_attempt") or 0) or (
            attempts[-1] if attempts else None)
        qa = (shown or {}).get("qa") or {}
        now = time.time()
        with self.tx() as t:
            t.execute(
                "INSERT INTO assets (run_id, asset_id, format, width, height, language, status,"
                " reason, best_attempt, accepted_attempt, final_image, findings, attempt_count,"
                " passed, score, image, overlay, cost_usd, updated)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (run_id, asset_id) DO UPDATE SET status = excluded.status,"
                " reason = excluded.reason, best_attempt = excluded.best_attempt,"
                " accepted_attempt = excluded.accepted_attempt,"
                " final_image = excluded.final_image, findings = excluded.findings,"
                " attempt_count = excluded.attempt_count, passed = excluded.passed,"
                " score = excluded.score, image = excluded.image, overlay = excluded.overlay,"
                " cost_usd = excluded.cost_usd, updated = excluded.updated,"
                " width = excluded.width, height = excluded.height",
                (store.run_id, asset_id, spec.get("format"), spec.get("width"),
                 spec.get("height"), spec.get("language"), st.get("status", "pending"),
                 st.get("reason"), st.get("best_attempt"), st.get("accepted_attempt"),
                 st.get("final_image"), json.dumps(st.get("findings") or []), len(attempts),
                 _bool(qa.get("passed")), qa.get("score"), (shown or {}).get("image"),
                 qa.get("overlay"), round(sum(a.get("cost_usd", 0.0) for a in attempts), 6),
                 st.get("updated", now)))
            for a in attempts:
                aqa = a.get("qa") or {}
                dec = a.get("decision") or {}
                t.execute(
                    "INSERT INTO attempts (run_id, asset_id, n, action, why, image, overlay,"
                    " prompt, passed, score, cost_usd, regions, decision, decision_why)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (run_id, asset_id, n) DO UPDATE SET passed = excluded.passed,"
                    " score = excluded.score, overlay = excluded.overlay,"
                    " regions = excluded.regions, decision = excluded.decision,"
                    " decision_why = excluded.decision_why",
                    (store.run_id, asset_id, a["n"], a.get("action"), a.get("why"),
                     a.get("image"), aqa.get("overlay"), a.get("prompt"),
                     _bool(aqa.get("passed")), aqa.get("score"), a.get("cost_usd", 0.0),
                     json.dumps(aqa.get("regions", []) + aqa.get("unexpected", []),
                                ensure_ascii=False),
                     dec.get("action"), dec.get("why")))
            request = st.get("review_request")
            if request:
                t.execute(
                    "INSERT INTO reviews (run_id, asset_id, round, requested, reason,"
                    " best_attempt, payload) VALUES (?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (run_id, asset_id, round) DO NOTHING",
                    (store.run_id, asset_id, request["round"], request.get("requested", now),
                     request.get("reason"), request.get("best_attempt"),
                     json.dumps(request, ensure_ascii=False)))

    def rebuild(self, runs_dir: Path) -> int:
        """Fill the index from every run folder (after an upgrade, or a lost index file)."""
        n = 0
        for meta in sorted(Path(runs_dir).glob("*/run.json")):
            self.sync_run(RunStore(meta.parent))
            n += 1
        return n

    # --- reading ------------------------------------------------------------------------
    def queue(self, *, run_id: str | None = None, fmt: str | None = None,
              language: str | None = None, verdict: str | None = None,
              sort: str = "oldest", limit: int = 500) -> list[dict[str, Any]]:
        """Assets waiting for a person, joined with their run and their open review."""
        where = ["a.status = 'needs_review'"]
        args: list[Any] = []
        for col, val in (("a.run_id", run_id), ("a.format", fmt), ("a.language", language)):
            if val:
                where.append(f"{col} = ?")
                args.append(val)
        if verdict == "passed":
            where.append("a.passed = 1")
        elif verdict == "failed":
            where.append("(a.passed = 0 OR a.passed IS NULL)")
        order = {"oldest": "a.updated ASC", "newest": "a.updated DESC",
                 "score": "a.score ASC", "run": "a.run_id ASC, a.asset_id ASC"}.get(
                     sort, "a.updated ASC")
        sql = ("SELECT a.*, r.name AS run_name, r.brief AS brief, r.review_policy AS policy"
               " FROM assets a JOIN runs r ON r.run_id = a.run_id"
               f" WHERE {' AND '.join(where)} ORDER BY {order}, a.run_id, a.asset_id LIMIT ?")
        with self.tx() as t:
            return [_asset_row(r) for r in t.all(sql, (*args, limit))]

    def queue_counts(self) -> dict[str, Any]:
        with self.tx() as t:
            by = t.all("SELECT passed, format, language, COUNT(*) AS n FROM assets"
                       " WHERE status = 'needs_review' GROUP BY passed, format, language")
        out: dict[str, Any] = {"total": 0, "passed": 0, "failed": 0, "formats": {},
                               "languages": {}}
        for r in by:
            out["total"] += r["n"]
            out["passed" if r["passed"] else "failed"] += r["n"]
            out["formats"][r["format"]] = out["formats"].get(r["format"], 0) + r["n"]
            out["languages"][r["language"]] = out["languages"].get(r["language"], 0) + r["n"]
        return out

    def runs(self, limit: int = 200) -> list[dict[str, Any]]:
        with self.tx() as t:
            return [dict(r) for r in t.all(
                "SELECT * FROM runs ORDER BY created DESC LIMIT ?", (limit,))]

    def run(self, run_id: str) -> dict[str, Any] | None:
        with self.tx() as t:
            r = t.one("SELECT * FROM runs WHERE run_id = ?", (run_id,))
        return dict(r) if r else None

    def assets(self, run_id: str) -> list[dict[str, Any]]:
        with self.tx() as t:
            return [_asset_row(r) for r in t.all(
                "SELECT * FROM assets WHERE run_id = ? ORDER BY asset_id", (run_id,))]

    def asset(self, run_id: str, asset_id: str) -> dict[str, Any] | None:
        with self.tx() as t:
            r = t.one("SELECT * FROM assets WHERE run_id = ? AND asset_id = ?",
                      (run_id, asset_id))
        return _asset_row(r) if r else None

    def attempts(self, run_id: str, asset_id: str) -> list[dict[str, Any]]:
        with self.tx() as t:
            rows = t.all("SELECT * FROM attempts WHERE run_id = ? AND asset_id = ? ORDER BY n",
                         (run_id, asset_id))
        out = []
        for r in rows:
            d = dict(r)
            d["regions"] = json.loads(d["regions"] or "[]")
            d["passed"] = None if d["passed"] is None else bool(d["passed"])
            out.append(d)
        return out

    def open_review(self, run_id: str, asset_id: str) -> dict[str, Any] | None:
        """The latest review request of an asset (its payload), if any."""
        with self.tx() as t:
            r = t.one("SELECT payload FROM reviews WHERE run_id = ? AND asset_id = ?"
                      " ORDER BY round DESC LIMIT 1", (run_id, asset_id))
        return json.loads(r["payload"]) if r else None

    # --- decisions (the audit) ------------------------------------------------------------
    def claim_decision(self, *, run_id: str, asset_id: str, interrupt_id: str,
                       round_: int | None, answer: dict[str, Any], reviewer: str,
                       via: str) -> dict[str, Any]:
        """Store a decision once per (run, asset, interrupt). Raises :class:`Conflict`
        when that interrupt was already decided (see :meth:`decision_for`)."""
        row = {"id": uuid.uuid4().hex, "run_id": run_id, "asset_id": asset_id,
               "interrupt_id": interrupt_id, "round": round_,
               "decision": answer["decision"], "attempt": answer.get("attempt"),
               "region": answer.get("region"), "text": answer.get("text"),
               "note": answer.get("note"), "reviewer": reviewer, "via": via,
               "created": time.time()}
        cols = ", ".join(row)
        with self.tx(durable=True) as t:
            t.execute(f"INSERT INTO decisions ({cols}) VALUES ({', '.join('?' * len(row))})",
                      tuple(row.values()))
        return row

    def decision_for(self, run_id: str, asset_id: str, interrupt_id: str
                     ) -> dict[str, Any] | None:
        with self.tx() as t:
            r = t.one("SELECT * FROM decisions WHERE run_id = ? AND asset_id = ?"
                      " AND interrupt_id = ?", (run_id, asset_id, interrupt_id))
        return dict(r) if r else None

    def mark_applied(self, decision_id: str, outcome: str) -> None:
        with self.tx(durable=True) as t:
            t.execute("UPDATE decisions SET applied = ?, outcome = ? WHERE id = ?"
                      " AND applied IS NULL", (time.time(), outcome, decision_id))

    def decisions(self, run_id: str | None = None, asset_id: str | None = None
                  ) -> list[dict[str, Any]]:
        where, args = [], []
        if run_id:
            where.append("run_id = ?")
            args.append(run_id)
        if asset_id:
            where.append("asset_id = ?")
            args.append(asset_id)
        sql = "SELECT * FROM decisions" + (f" WHERE {' AND '.join(where)}" if where else "")
        with self.tx() as t:
            return [dict(r) for r in t.all(sql + " ORDER BY created", tuple(args))]

    def unapplied_decisions(self, run_id: str | None = None) -> list[dict[str, Any]]:
        """Decisions stored but not (yet) applied, oldest first; of one run, or of all."""
        where = "applied IS NULL" + (" AND run_id = ?" if run_id else "")
        with self.tx() as t:
            return [dict(r) for r in t.all(
                f"SELECT * FROM decisions WHERE {where} ORDER BY created",
                (run_id,) if run_id else ())]

    # --- users and sessions ---------------------------------------------------------------
    def add_user(self, name: str, role: str, password_hash: str) -> None:
        with self.tx() as t:
            t.execute("INSERT INTO users (name, role, password_hash, created) VALUES (?, ?, ?, ?)",
                      (name, role, password_hash, time.time()))

    def set_password_hash(self, name: str, password_hash: str) -> None:
        with self.tx() as t:
            t.execute("UPDATE users SET password_hash = ? WHERE name = ?", (password_hash, name))

    def user(self, name: str) -> dict[str, Any] | None:
        with self.tx() as t:
            r = t.one("SELECT * FROM users WHERE name = ?", (name,))
        return dict(r) if r else None

    def users(self) -> list[dict[str, Any]]:
        with self.tx() as t:
            return [dict(r) for r in t.all("SELECT name, role, created FROM users ORDER BY name")]

    def remove_user(self, name: str) -> bool:
        """Remove an account and end its sessions (its decisions stay in the audit)."""
        with self.tx() as t:
            t.execute("DELETE FROM sessions WHERE user_name = ?", (name,))
            return t.execute("DELETE FROM users WHERE name = ?", (name,)) > 0

    def add_session(self, token_hash: str, user: str, csrf: str, ttl_s: float) -> None:
        now = time.time()
        with self.tx() as t:
            t.execute("DELETE FROM sessions WHERE expires < ?", (now,))
            t.execute("INSERT INTO sessions (token_hash, user_name, csrf_token, created, expires)"
                      " VALUES (?, ?, ?, ?, ?)", (token_hash, user, csrf, now, now + ttl_s))

    def session(self, token_hash: str) -> dict[str, Any] | None:
        """The live session and its user (None when unknown, expired or the user is gone)."""
        with self.tx() as t:
            r = t.one("SELECT s.csrf_token, s.expires, u.name, u.role FROM sessions s"
                      " JOIN users u ON u.name = s.user_name WHERE s.token_hash = ?"
                      " AND s.expires > ?", (token_hash, time.time()))
        return dict(r) if r else None

    def end_session(self, token_hash: str) -> None:
        with self.tx() as t:
            t.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))


class _Tx:
    """A cursor-like wrapper: ``?`` placeholders on both databases, rows as dicts."""

    def __init__(self, conn: Any, *, postgres: bool) -> None:
        self.conn = conn
        self.postgres = postgres

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.postgres else sql

    def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        cur = self.conn.execute(self._sql(sql), tuple(args))
        return cur.rowcount

    def all(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute(self._sql(sql), tuple(args)).fetchall()]

    def one(self, sql: str, args: Sequence[Any] = ()) -> dict[str, Any] | None:
        r = self.conn.execute(self._sql(sql), tuple(args)).fetchone()
        return dict(r) if r is not None else None


def _bool(v: Any) -> int | None:
    return None if v is None else int(bool(v))


def _asset_row(r: dict[str, Any]) -> dict[str, Any]:
    d = dict(r)
    d["findings"] = json.loads(d.get("findings") or "[]")
    d["passed"] = None if d.get("passed") is None else bool(d["passed"])
    return d


_CACHE: dict[str, Index] = {}
_CACHE_LOCK = threading.Lock()


def _cache_get(url: str, pool_size: int = 8) -> Index:
    with _CACHE_LOCK:
        if url not in _CACHE:
            _CACHE[url] = Index(url, pool_size=pool_size)
        return _CACHE[url]


_PG_POOLS: dict[tuple[int, str], Any] = {}
_PG_POOLS_LOCK = threading.Lock()
_pg_held = threading.local()
"""``n``: 1 while this thread holds a pooled connection of the index."""


def _pg_pool(url: str, size: int) -> Any:
    """This process's pool for ``url`` (made on first use, and again after a fork: a pool
    never crosses processes)."""
    from psycopg_pool import ConnectionPool

    from agents.pgpool import open_pool
    key = (os.getpid(), url)
    with _PG_POOLS_LOCK:
        p = _PG_POOLS.get(key)
        if p is None:
            p = open_pool(url, size, name="signwriter-index", what="the run index database",
                          check=ConnectionPool.check_connection)
            _PG_POOLS[key] = p
        return p


def close_pools(containing: str = "") -> None:
    """Close this process's index pools whose database URL contains ``containing`` (all by
    default): a test dropping its schema, a process ending."""
    with _PG_POOLS_LOCK:
        for key in [k for k in _PG_POOLS if k[0] == os.getpid() and containing in k[1]]:
            _PG_POOLS.pop(key).close()
