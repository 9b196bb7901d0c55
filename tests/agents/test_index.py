"""The run index on SQLite and on the real PostgreSQL: migrations, sync from run folders,
the review queue, decisions stored once, users and sessions."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.errors import Conflict
from agents.index import Index
from agents.settings import Settings
from agents.store import RunStore, write_json
from tests.databases import database_url


@pytest.fixture(params=["sqlite", "postgres"])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Index]:
    with database_url(request.param, tmp_path) as url:
        settings = Settings(runs_dir=tmp_path / "runs", database_url=url, _env_file=None)
        yield Index.for_settings(settings)


def _store(root: Path, run_id: str, status: str, passed: bool) -> RunStore:
    s = RunStore.create(root, run_id)
    write_json(s.root / "run.json", {"run_id": run_id, "name": "b", "backend": "typeset",
                                     "created": 1.0, "status": "finished",
                                     "review_policy": "failures"})
    write_json(s.spec_path("card"), {"asset_id": "card", "format": "card-small", "width": 768,
                                     "height": 768, "language": "en", "regions": []})
    adir = s.attempt_dir("card", 1)
    write_json(adir / "attempt.json", {
        "n": 1, "action": "generate", "image": "images/x.png", "cost_usd": 0.01,
        "qa": {"passed": passed, "score": 0.8, "overlay": "assets/card/attempt-01/overlay.jpg",
               "regions": [{"region_id": "headline", "kind": "ok" if passed else "misspelt",
                            "expected": "Sale", "read": "Sale" if passed else "Sael"}]}})
    s.set_asset_status("card", status=status, best_attempt=1, reason="why",
                       review_request={"round": 1, "reason": "why", "best_attempt": 1})
    return s


def test_migrations_are_named_recorded_and_applied_once(index: Index) -> None:
    assert index.applied_migrations() == ["0001_initial", "0002_users", "0003_automation",
                                         "0004_cluster", "0005_cluster_received"]
    fresh = Index(index.url)  # another process starting on the same database
    assert fresh.migrate() == []


def test_sync_and_queue(index: Index, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    a = _store(runs, "run-a", "needs_review", passed=False)
    b = _store(runs, "run-b", "needs_review", passed=True)
    c = _store(runs, "run-c", "accepted", passed=True)
    for s in (a, b, c):
        index.sync_run(s)
    queue = index.queue()
    assert [(q["run_id"], q["asset_id"]) for q in queue] == [("run-a", "card"), ("run-b", "card")]
    assert queue[0]["passed"] is False and queue[0]["overlay"].endswith("overlay.jpg")
    assert [q["run_id"] for q in index.queue(verdict="passed")] == ["run-b"]
    assert index.queue(run_id="run-c") == []
    assert index.queue_counts()["total"] == 2
    assert index.run("run-c")["status"] == "succeeded"
    assert index.run("run-a")["status"] == "needs_review"
    assert index.attempts("run-a", "card")[0]["regions"][0]["read"] == "Sael"
    assert index.open_review("run-a", "card")["round"] == 1
    # a later sync updates in place
    a.set_asset_status("card", status="rejected")
    index.sync_asset(a, "card")
    assert [q["run_id"] for q in index.queue()] == ["run-b"]


def test_a_decision_is_stored_once_per_interrupt_even_when_raced(index: Index) -> None:
    answer = {"decision": "approve", "attempt": 1}
    wins, losses = [], []
    barrier = threading.Barrier(4)

    def decide(who: str) -> None:
        barrier.wait()
        try:
            wins.append(index.claim_decision(run_id="r", asset_id="a", interrupt_id="i1",
                                             round_=1, answer=answer, reviewer=who, via="web"))
        except Conflict:
            losses.append(who)

    threads = [threading.Thread(target=decide, args=(f"u{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1 and len(losses) == 3
    stored = index.decision_for("r", "a", "i1")
    assert stored["reviewer"] == wins[0]["reviewer"] and stored["applied"] is None
    index.mark_applied(stored["id"], "accepted")
    assert index.decisions("r", "a")[0]["outcome"] == "accepted"
    assert index.unapplied_decisions("r") == []


def test_users_and_sessions(index: Index) -> None:
    index.add_user("ana", "reviewer", "hash")
    with pytest.raises(Conflict):
        index.add_user("ana", "admin", "hash2")
    index.add_session("tok", "ana", "csrf", ttl_s=60)
    index.add_session("old", "ana", "csrf", ttl_s=-1)
    assert index.session("tok")["role"] == "reviewer"
    assert index.session("old") is None
    assert [u["name"] for u in index.users()] == ["ana"]
    assert index.remove_user("ana") and index.session("tok") is None
    assert not index.remove_user("ana")



def test_a_new_sqlite_index_opened_at_once_by_many_threads(tmp_path: Path) -> None:
    """A batch's threads all opening an index file that does not exist yet. While every
    connection switched the file to WAL, one in a dozen such starts failed with 'database is
    locked' (CI saw it end a batch as an internal error); 300 starts make the race certain."""
    for trial in range(300):
        idx = Index(f"sqlite:///{tmp_path / f'new{trial}' / 'index.sqlite'}")
        start = threading.Barrier(6)
        errors: list[BaseException] = []

        def use() -> None:
            start.wait()
            try:
                idx.migrate()
                with idx.tx() as t:
                    t.all("SELECT name FROM migrations")
            except BaseException as e:  # noqa: BLE001 - collected for the assert
                errors.append(e)

        threads = [threading.Thread(target=use) for _ in range(6)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert errors == [], f"start {trial}: {errors[0]!r}"


def test_two_processes_creating_the_index_at_once(tmp_path: Path) -> None:
    """The web app and a worker starting on a new runs folder together: the file lock makes
    one of them create and migrate the file, the other finds it ready."""
    import subprocess
    import sys
    code = ("import sys\nfrom agents.index import Index\nidx = Index(sys.argv[1])\n"
            "idx.migrate()\nprint(','.join(idx.applied_migrations()))")
    url = f"sqlite:///{tmp_path / 'runs' / 'index.sqlite'}"
    procs = [subprocess.Popen([sys.executable, "-c", code, url], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e for _, e in outs]
    assert {o.strip() for o, _ in outs} == {
        "0001_initial,0002_users,0003_automation,0004_cluster,0005_cluster_received"}


def test_postgresql_transactions_share_a_pool_that_replaces_dropped_connections() -> None:
    import uuid

    import psycopg

    from tests.databases import POSTGRES, postgres_schema
    app = f"sw-index-{uuid.uuid4().hex[:8]}"  # this test's connections
    with postgres_schema() as url:
        index = Index(f"{url}&application_name={app}", pool_size=2)
        index.migrate()
        pids: set[int] = set()

        def work() -> None:
            for _ in range(10):
                with index.tx() as t:
                    pids.add(t.one("SELECT pg_backend_pid() AS pid")["pid"])
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # the server drops them (a restart, an idle timeout): the next transaction works
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            dropped = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM"
                                    " pg_stat_activity WHERE application_name = %s",
                                    (app,)).fetchone()[0]
        with index.tx() as t:
            after = t.one("SELECT count(*) AS n FROM migrations")["n"]
        # a transaction opened inside another, on a pool of one, does not wait for it
        one = Index(f"{url}&application_name={app}-1", pool_size=1)
        with one.tx() as outer:
            with one.tx() as inner:
                inner.execute("INSERT INTO users (name, role, password_hash, created)"
                              " VALUES (?, ?, ?, ?)", ("ana", "viewer", "x", 1.0))
            seen = outer.one("SELECT count(*) AS n FROM users")["n"]
    assert 1 <= len(pids) <= 2  # 40 transactions, two connections
    assert dropped >= 1 and after >= 1
    assert seen == 1
