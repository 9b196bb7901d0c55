"""Real workers for tests: ``signwriter worker`` processes on the real Redis and a fresh
PostgreSQL schema, a run folder in tmp, and the Z.ai protocol spoken by a local server that
counts submits (its "model" draws what the prompt asks for: the typeset renderer)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.automation.batch import BatchItem, collect_csv
from agents.planner import make_planner
from agents.settings import Settings
from agents.workers.db import close_pools, tx, upgrade
from tests.agents.test_pipeline_remote import KEY, Model
from tests.databases import postgres_schema
from tests.servers.zai_server import ZaiServer

REDIS = os.environ.get("SIGNWRITER_TEST_REDIS", "redis://127.0.0.1:6379/0")

BASE = """\
name: scale
brand: {name: Northwind, colors: ["#12355b", "#ffffff", "#d72638"]}
copy:
  headline: Autumn Deals
  price: Only $29.99
formats: [social-square]
style: clean, modern retail
"""

WORDS = ["Autumn", "Winter", "Spring", "Summer", "Harvest", "Frost", "Bloom", "Sunny",
         "Crisp", "Golden", "Silver", "Cosy", "Bright", "Fresh", "Velvet", "Amber",
         "Coral", "Maple", "Cedar", "Ivory"]


@dataclass
class Cluster:
    env: dict[str, str]
    settings: Settings
    root: Path
    server: ZaiServer
    workers: dict[str, subprocess.Popen] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)

    def start_worker(self, name: str, concurrency: int = 3, queues: str = "generate,check",
                     extra_env: dict[str, str] | None = None,
                     pool: str = "threads") -> subprocess.Popen:
        log = self.root / f"worker-{name}.log"
        self.logs[name] = log
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "agents.cli", "worker", "-c", str(concurrency),
                 "--queues", queues, "--pool", pool, "--loglevel", "INFO"],
                env={**self.env, **(extra_env or {})}, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True)
        self.workers[name] = proc
        return proc

    def kill9(self, name: str) -> None:
        proc = self.workers[name]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def hold_provider_slots(self, n: int) -> list[str]:
        """Take ``n`` of the provider account's request slots (``SIGNWRITER_PROVIDER_MAX_IN_FLIGHT``)
        for as long as the test likes: workers then stop after an attempt's intent, before
        its submit (a worker holds a slot around the provider call). Returns the tokens for
        :meth:`release_provider_slots`."""
        import redis
        tokens = [f"test-hold-{i}" for i in range(n)]
        r = redis.Redis.from_url(REDIS)
        r.zadd(self._slots_key, {t: time.time() + 3600 for t in tokens})
        r.close()
        return tokens

    def release_provider_slots(self, tokens: list[str]) -> None:
        import redis
        r = redis.Redis.from_url(REDIS)
        r.zrem(self._slots_key, *tokens)
        r.close()

    @property
    def _slots_key(self) -> str:
        return f"{self.settings.queue_prefix}:limit:{self.settings.backend}:inflight"

    def owned_by(self, name: str) -> str:
        """A LIKE pattern for the ``owner`` of leases and intents held by worker ``name``."""
        return f"%:{self.workers[name].pid}:%"

    def log(self, name: str) -> str:
        return self.logs[name].read_text(errors="replace")

    def rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with tx(self.settings) as c:
            return [dict(r) for r in c.execute(sql, args)]

    def items(self, n: int) -> list[BatchItem]:
        """``n`` assets (CSV rows of one 512x512 format), planned for the server's model."""
        base = self.root / "base.yaml"
        base.write_text(BASE)
        rows = self.root / "rows.csv"
        lines = ["headline,price,formats"] + [
            f"{WORDS[i % len(WORDS)]} Deals {i},Only ${10 + i}.99,512x512" for i in range(n)]
        rows.write_text("\n".join(lines) + "\n")
        items, bad = collect_csv(base, rows, self.settings)
        assert not bad and len(items) == n
        planner = make_planner(self.settings, "rules")
        specs = [s for it in items for s in planner.plan(it.brief)]
        self.server.painter = Model(specs, wrong=0)
        return items


def wait_for(what: str, predicate: Callable[[], Any], timeout_s: float, poll_s: float = 0.02,
             on_timeout: Callable[[], str] | None = None) -> Any:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        got = predicate()
        if got:
            return got
        time.sleep(poll_s)
    raise AssertionError(f"timed out waiting for {what}"
                         + (f"\n{on_timeout()}" if on_timeout else ""))


@contextmanager
def cluster(tmp_path: Path, **env: str) -> Iterator[Cluster]:
    import redis
    prefix = f"t{uuid.uuid4().hex[:10]}"
    with postgres_schema() as url, ZaiServer(queue_polls=0) as server:
        base_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SIGNWRITER_")},
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
            "SIGNWRITER_DATABASE_URL": url, "SIGNWRITER_BROKER_URL": REDIS,
            "SIGNWRITER_QUEUE_PREFIX": prefix, "SIGNWRITER_RUNS_DIR": str(tmp_path / "runs"),
            "SIGNWRITER_BACKEND": "zai", "SIGNWRITER_ZAI_API_KEY": KEY,
            "SIGNWRITER_ZAI_BASE_URL": server.base_url, "SIGNWRITER_POLL_INTERVAL_S": "0.05",
            "SIGNWRITER_RETRY_BACKOFF_S": "0.01", "SIGNWRITER_PLANNER": "rules",
            "SIGNWRITER_LEASE_TTL_S": "2", "SIGNWRITER_OCR_WORKERS": "1", **env}
        settings = Settings(_env_file=None, **{
            k.removeprefix("SIGNWRITER_").lower(): v for k, v in base_env.items()
            if k.startswith("SIGNWRITER_") and not k.startswith("SIGNWRITER_ZAI_")})
        upgrade(settings)
        c = Cluster(base_env, settings, tmp_path, server)
        try:
            yield c
        finally:
            for proc in c.workers.values():
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
            close_pools()
            r = redis.Redis.from_url(REDIS)
            for key in r.scan_iter(f"*{prefix}*"):
                r.delete(key)
            r.close()
