"""The /v1 JSON API: Bearer tokens on every route, jobs from a brief or CSV (Idempotency-Key
honoured), status/counts/cost, assets and images, review decisions, pagination, RFC 9457
problems, the per-token rate limit — and schemathesis against the app served on 127.0.0.1.
Every test runs on both index databases: SQLite and the real PostgreSQL
(:mod:`tests.databases`)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from agents.automation.jobs import create_token
from agents.settings import Settings
from agents.web.app import create_app
from tests.databases import database_url

BRIEF = {"name": "api", "brand": {"name": "Acme", "colors": ["#0b3d91", "#ffffff", "#fc3d21"]},
         "copy": {"headline": "Spring Sale", "price": "Only $19.99"}, "formats": ["512x512"]}
PROBLEM = "application/problem+json"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    """The index database: None (SQLite under the runs folder) or a PostgreSQL URL."""
    with database_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def api_settings(tmp_path: Path, db_url: str | None) -> Settings:
    return Settings(runs_dir=tmp_path / "runs", database_url=db_url, _env_file=None)


def _client(settings: Settings) -> TestClient:
    return TestClient(create_app(settings), base_url="http://testserver")


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _routes(client: TestClient) -> list[tuple[str, str]]:
    doc = client.get("/v1/openapi.json").json()
    return [(m.upper(), re.sub(r"\{[^}]+\}", "x", path))
            for path, ops in doc["paths"].items() for m in ops]


def test_every_route_refuses_a_missing_or_wrong_token(api_settings: Settings) -> None:
    create_token("real", "admin", api_settings)
    with _client(api_settings) as c:
        routes = _routes(c)
        assert len(routes) == 7
        for method, path in routes:
            for headers in ({}, _auth("sw_wrong"), {"Authorization": "Basic dXNlcjpwYXNz"}):
                r = c.request(method, path, headers=headers, json={})
                assert r.status_code == 401, (method, path, headers, r.text)
                assert r.headers["content-type"] == PROBLEM
                assert r.headers["www-authenticate"].startswith("Bearer")
                body = r.json()
                assert body["status"] == 401 and body["title"] == "Unauthorized"
                assert "sw_wrong" not in r.text


def test_a_job_from_a_brief_runs_and_reports(api_settings: Settings) -> None:
    token = create_token("ci", "creator", api_settings)
    with _client(api_settings) as c:
        r = c.post("/v1/jobs", json={"brief": BRIEF},
                   headers={**_auth(token), "Idempotency-Key": "k-1"})
        assert r.status_code == 202
        job_id = r.json()["id"]
        assert r.headers["location"] == f"/v1/jobs/{job_id}"
        again = c.post("/v1/jobs", json={"brief": BRIEF},
                       headers={**_auth(token), "Idempotency-Key": "k-1"})
        assert again.status_code == 202 and again.json() == {"id": job_id}
        job = c.get(f"/v1/jobs/{job_id}", headers=_auth(token)).json()
        assert job["status"] == "completed" and job["counts"] == {"accepted": 1}
        assert job["cost_usd"] == 0.0
        (asset,) = c.get(f"/v1/jobs/{job_id}/assets", headers=_auth(token)).json()["items"]
        assert asset["status"] == "accepted" and asset["format"] == "512x512"
        one = c.get(f"/v1/assets/{asset['id']}", headers=_auth(token)).json()
        assert one == asset
        img = c.get(asset["image_url"], headers=_auth(token))
        assert img.status_code == 200 and img.content[:8] == b"\x89PNG\r\n\x1a\n"
        # a different key: a new job, but the same asset is not generated again
        (ledger,) = Path(api_settings.runs_dir).glob("*/ledger.jsonl")
        before = ledger.read_text()
        other = c.post("/v1/jobs", json={"brief": BRIEF}, headers=_auth(token)).json()["id"]
        assert other != job_id
        assert list(Path(api_settings.runs_dir).glob("*/ledger.jsonl")) == [ledger]
        assert ledger.read_text() == before
        assert c.get(f"/v1/jobs/{other}", headers=_auth(token)).json()["status"] == "completed"


def test_csv_jobs_report_bad_rows_and_pages_follow_cursors(api_settings: Settings) -> None:
    token = create_token("ci", "admin", api_settings)
    csv = "headline,price\nSpring Sale,$5\nSummer Deals,\n"
    with _client(api_settings) as c:
        job_id = c.post("/v1/jobs", json={"brief": BRIEF, "csv": csv},
                        headers=_auth(token)).json()["id"]
        job = c.get(f"/v1/jobs/{job_id}", headers=_auth(token)).json()
        assert job["status"] == "failed"  # a bad row: the job did not do all it was asked
        assert job["counts"] == {"accepted": 1}
        assert job["bad_input"][0]["row"] == 3 and "'price' is empty" in job["bad_input"][0][
            "message"]
        bad = c.post("/v1/jobs", json={"brief": {"name": "x"}}, headers=_auth(token)).json()
        assert c.get(f"/v1/jobs/{bad['id']}", headers=_auth(token)).json()["status"] == "failed"
        unknown = c.post("/v1/jobs", json={"brief": BRIEF, "csv": "headlin\nx\n"},
                         headers=_auth(token)).json()
        view = c.get(f"/v1/jobs/{unknown['id']}", headers=_auth(token)).json()
        assert view["status"] == "failed" and "headlin" in view["error"]

        first = c.get("/v1/jobs?limit=2", headers=_auth(token)).json()
        assert len(first["items"]) == 2 and first["next"] == "2"
        second = c.get(f"/v1/jobs?limit=2&cursor={first['next']}", headers=_auth(token)).json()
        assert len(second["items"]) == 1 and second["next"] is None
        ids = [j["id"] for j in first["items"] + second["items"]]
        assert sorted(ids) == sorted({job_id, bad["id"], unknown["id"]})
        r = c.get("/v1/jobs?cursor=abc", headers=_auth(token))
        assert r.status_code == 400 and r.headers["content-type"] == PROBLEM
        # a digit int() refuses (schemathesis found '²' answered 500)
        for odd in ("²", "١٢", "3\u2075"):
            r = c.get("/v1/jobs", params={"cursor": odd}, headers=_auth(token))
            assert r.status_code == 400 and r.headers["content-type"] == PROBLEM, odd
        r = c.get("/v1/jobs/job_nope", headers=_auth(token))
        assert r.status_code == 404 and r.json()["detail"].startswith("no job")
        r = c.post("/v1/jobs", json={"brief": BRIEF, "extra": 1}, headers=_auth(token))
        assert r.status_code == 422 and r.headers["content-type"] == PROBLEM


def test_review_decisions_through_the_api(tmp_path: Path, db_url: str | None) -> None:
    settings = Settings(runs_dir=tmp_path / "runs", simulate_errors=1.0, max_attempts=1,
                        database_url=db_url, _env_file=None)
    creator = create_token("ci", "creator", settings)
    viewer = create_token("dash", "viewer", settings)
    reviewer = create_token("ana", "reviewer", settings)
    with _client(settings) as c:
        job_id = c.post("/v1/jobs", json={"brief": BRIEF}, headers=_auth(creator)).json()["id"]
        assert c.get(f"/v1/jobs/{job_id}", headers=_auth(viewer)).json()["status"] == \
            "needs_review"
        (asset,) = c.get(f"/v1/jobs/{job_id}/assets", headers=_auth(viewer)).json()["items"]
        url = f"/v1/reviews/{asset['run_id']}/{asset['asset_id']}/decision"
        assert c.post(url, json={"decision": "approve"}, headers=_auth(viewer)).status_code == 403
        assert c.post("/v1/jobs", json={"brief": BRIEF},
                      headers=_auth(viewer)).status_code == 403
        wrong = c.post(url, json={"decision": "approve", "attempt": 9}, headers=_auth(reviewer))
        assert wrong.status_code == 400 and wrong.headers["content-type"] == PROBLEM
        ok = c.post(url, json={"decision": "approve"}, headers=_auth(reviewer))
        assert ok.status_code == 200, ok.text
        assert ok.json()["status"] == "approved_with_findings"
        twice = c.post(url, json={"decision": "approve"}, headers=_auth(reviewer))
        assert twice.status_code == 409 and twice.json()["title"] in ("Already decided",
                                                                      "Not waiting for review")
        assert c.get(f"/v1/jobs/{job_id}", headers=_auth(viewer)).json()["status"] == "completed"


def test_each_token_has_its_rate_limit(tmp_path: Path, db_url: str | None) -> None:
    settings = Settings(runs_dir=tmp_path / "runs", api_rate_limit=3, database_url=db_url,
                        _env_file=None)
    a = create_token("a", "viewer", settings)
    b = create_token("b", "viewer", settings)
    with _client(settings) as c:
        assert [c.get("/v1/jobs", headers=_auth(a)).status_code for _ in range(3)] == [200] * 3
        r = c.get("/v1/jobs", headers=_auth(a))
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert r.headers["content-type"] == PROBLEM
        assert c.get("/v1/jobs", headers=_auth(b)).status_code == 200  # its own bucket


def test_tokens_create_prints_only_the_token_and_stores_its_hash(tmp_path: Path,
                                                                 db_url: str | None) -> None:
    import hashlib
    import os

    from agents.automation.db import tx
    env = {**os.environ, "SIGNWRITER_DATABASE_URL": db_url or ""}
    proc = subprocess.run([sys.executable, "-m", "agents.cli", "tokens", "create", "ci",
                           "--role", "creator", "--out", str(tmp_path / "runs")],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    token = proc.stdout.strip()
    assert re.fullmatch(r"sw_[A-Za-z0-9_-]{40,}", token) and proc.stdout == token + "\n"
    digest = hashlib.sha256(token.encode()).hexdigest()
    if db_url is None:
        files = list((tmp_path / "runs").glob("index.sqlite*"))  # the index, its WAL
        assert files and all(token.encode() not in f.read_bytes() for f in files)
        assert any(digest.encode() in f.read_bytes() for f in files)
    settings = Settings(runs_dir=tmp_path / "runs", database_url=db_url, _env_file=None)
    with tx(settings) as t:
        rows = t.all("SELECT * FROM api_tokens")
    assert [(r["name"], r["role"], r["hash"]) for r in rows] == [("ci", "creator", digest)]
    assert token not in repr(rows)
    dup = subprocess.run([sys.executable, "-m", "agents.cli", "tokens", "create", "ci",
                          "--out", str(tmp_path / "runs")], capture_output=True, text=True,
                         env=env)
    assert dup.returncode == 2 and dup.stdout == "" and "exists" in dup.stderr


# --- schemathesis against the app served by uvicorn on 127.0.0.1 ---------------------------
@pytest.fixture
def served(tmp_path: Path, db_url: str | None) -> Iterator[tuple[str, str]]:
    import uvicorn
    api_settings = Settings(runs_dir=tmp_path / "runs", api_rate_limit=100_000,
                            database_url=db_url, _env_file=None)
    token = create_token("fuzz", "admin", api_settings)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(api_settings), host="127.0.0.1",
                                           port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", token
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.slow
def test_schemathesis_finds_no_server_error(served: tuple[str, str]) -> None:
    """Property-based cases from the OpenAPI document, every operation, sent over real HTTP
    with the token and without it: no 5xx, and no answer without a token but 401."""
    import schemathesis
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hsettings
    base, token = served
    schema = schemathesis.openapi.from_url(f"{base}/v1/openapi.json")
    failures: list[str] = []
    seen: set[tuple[str, str]] = set()

    @hsettings(max_examples=300, deadline=None, database=None,
               suppress_health_check=list(HealthCheck))
    @given(case=schema.as_strategy())
    def check(case) -> None:  # noqa: ANN001
        seen.add((case.method, case.path))
        for headers in (_auth(token), {}):
            r = case.call(base_url=base, headers=headers)
            if r.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {r.status_code}")
            if not headers:
                assert r.status_code == 401, (case.method, case.formatted_path, r.status_code)

    check()
    assert failures == []
    assert len(seen) == 7  # every operation was exercised
    assert httpx.get(f"{base}/healthz").status_code == 200
