"""The whole pipeline against each remote GLM-Image provider's protocol, spoken by a real
HTTP server of our own on 127.0.0.1.

The servers' "model" draws what the prompt asks for: it finds the planned spec whose
quoted texts the prompt carries and renders it with the typeset renderer — except the
regions whose render policy is ``overlay`` (a real model is told to leave them clear;
signwriter sets them itself). Its first image misspells the headline, like GLM-Image
does about one time in ten, so every run exercises check → decide → repair/regenerate.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from agents.brief import load_brief
from agents.planner import make_planner
from agents.prompting import glyph_texts, layout_for
from agents.api import start_run
from agents.errors import RunStopped
from agents.settings import Settings
from agents.spec import VisualSpec
from agents.store import RunStore
from generation.base import Fault, GenerationRequest
from generation.errors import QuotaExceeded
from generation.typeset import TypesetBackend
from tests.servers.fal_server import FalServer
from tests.servers.openai_images_server import OpenAIImagesServer
from tests.servers.runware_server import RunwareServer
from tests.servers.vllm_omni_server import VllmOmniServer
from tests.servers.zai_server import ZaiServer

KEY = "sk-test-SECRET-9f8e7d"

BRIEF = """\
name: remote-e2e
brand: {name: Northwind, colors: ["#12355b", "#ffffff", "#d72638"]}
copy:
  headline: Autumn Deals
  price: Only $29.99
  legal: {text: "Offer ends 30 November. Terms apply.", render: overlay}
formats: [social-square]
style: clean, modern retail
"""


class Model:
    """Draws the spec a prompt describes; the first ``wrong`` pictures misspell the
    headline."""

    def __init__(self, specs: list[VisualSpec], wrong: int = 1) -> None:
        self.specs = specs
        self.wrong = wrong
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, prompt: str, width: int, height: int) -> bytes:
        with self._lock:
            self.calls += 1
            first = self.calls <= self.wrong
        quoted = set(glyph_texts(prompt))
        spec = max(self.specs, key=lambda s: len(quoted & set(s.copy_texts().values())))
        layout = layout_for(spec)
        layout = layout.model_copy(update={"texts": [t for t in layout.texts
                                                     if t.render == "model"]})
        faults = [Fault(kind="wrong_letter", region_id="headline")] if first else []
        result = TypesetBackend(faults=faults).generate(GenerationRequest(
            prompt="", width=width, height=height, seed=1, layout=layout))
        return result.data


def _specs(brief: Path, settings: Settings) -> list[VisualSpec]:
    return make_planner(settings, "rules").plan(load_brief(brief))


PROVIDERS: dict[str, tuple[Callable[[], object], Callable[[object], dict]]] = {
    "zai": (lambda: ZaiServer(queue_polls=1),
            lambda s: {"API_KEY": KEY, "BASE_URL": s.base_url}),
    "fal": (lambda: FalServer(queue_polls=2),
            lambda s: {"API_KEY": KEY, "BASE_URL": s.url}),
    "runware": (lambda: RunwareServer(queue_polls=1),
                lambda s: {"API_KEY": KEY, "BASE_URL": s.base_url}),
    "openai-images": (lambda: OpenAIImagesServer(),
                      lambda s: {"URLS": json.dumps([s.url]), "API_KEY": KEY}),
    "vllm-omni": (lambda: VllmOmniServer(),
                  lambda s: {"URLS": json.dumps([s.url]), "API_KEY": KEY}),
}
"""Each backend's own settings, as SIGNWRITER_<BACKEND>_<OPTION> variables."""


@pytest.fixture
def backend_env(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Sets a backend's own settings in the environment, as a user would."""
    def setenv(backend: str, **options: str) -> None:
        prefix = f"SIGNWRITER_{backend.upper().replace('-', '_')}_"
        for name, value in options.items():
            monkeypatch.setenv(prefix + name.upper(), value)
    return setenv


def _zai(mp: pytest.MonkeyPatch, tmp_path: Path, server: ZaiServer,
         **extra: object) -> Settings:
    """Settings for the zai backend pointed at ``server`` (its key and URL from the env)."""
    mp.setenv("SIGNWRITER_ZAI_API_KEY", KEY)
    mp.setenv("SIGNWRITER_ZAI_BASE_URL", server.base_url)
    return _settings(tmp_path, "zai", **extra)


def _settings(tmp_path: Path, backend: str, **extra: object) -> Settings:
    base: dict[str, object] = dict(runs_dir=tmp_path / "runs", backend=backend, max_attempts=3,
                                   poll_interval_s=0.01, retry_backoff_s=0.01,
                                   http_timeout_s=10)
    return Settings(_env_file=None, **{**base, **extra})


@pytest.mark.parametrize("backend", list(PROVIDERS))
def test_pipeline_end_to_end(tmp_path: Path, backend: str, backend_env: Callable[..., None]
                             ) -> None:
    brief = tmp_path / "brief.yaml"
    brief.write_text(BRIEF)
    make_server, options = PROVIDERS[backend]
    with make_server() as server:
        backend_env(backend, **options(server))
        settings = _settings(tmp_path, backend)
        model = Model(_specs(brief, settings))
        server.painter = model
        result = start_run(brief, settings, seed=3)

    asset = result.manifest["assets"][0]
    assert asset["status"] == "accepted", json.dumps(asset, indent=1)[:3000]
    first, second = asset["attempts"]
    failing = [r for r in first["qa"]["regions"] if r["kind"] != "ok"]
    assert [r["region_id"] for r in failing] == ["headline"]
    assert second["qa"]["passed"] and second["action"] in ("repair", "regenerate")
    assert model.calls == 2, "each attempt was paid for exactly once"
    # the legal line was typeset by signwriter (overlay policy) and verified like the rest
    assert second["overlaid"] == ["legal"]
    legal = next(r for r in second["qa"]["regions"] if r["region_id"] == "legal")
    assert legal["kind"] == "ok"
    # every paid image is on disk and in the ledger, with its cost
    store = RunStore(result.run_dir)
    done = [e for e in store.ledger() if e.get("kind") == "done"]
    assert len(done) == 2 and all(store.abs(e["image"]).is_file() for e in done)
    assert result.manifest["cost_usd"] == pytest.approx(sum(e["cost_usd"] for e in done))
    if backend in ("zai", "fal", "runware"):
        assert result.manifest["cost_usd"] > 0
    # the key never reaches a run artifact
    for f in result.run_dir.rglob("*"):
        if f.is_file():
            assert KEY.encode() not in f.read_bytes(), f


def test_budget_is_never_exceeded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    brief = tmp_path / "brief.yaml"
    brief.write_text(BRIEF)
    with ZaiServer() as server:
        settings = _zai(monkeypatch, tmp_path, server, max_cost=0.02)
        server.painter = Model(_specs(brief, settings))
        result = start_run(brief, settings, seed=3)
        submits = len(server.calls("submit"))
    asset = result.manifest["assets"][0]
    assert asset["status"] == "failed" and "budget" in asset["reason"]
    assert submits == 1 and result.manifest["cost_usd"] == pytest.approx(0.015)
    assert result.manifest["cost_usd"] <= 0.02


def test_a_resent_unanswered_submit_counts_against_the_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first submit reaches Z.ai and is answered too late; it is sent again. Z.ai may
    have charged both: the ledger, the manifest and the budget count both."""
    brief = tmp_path / "brief.yaml"
    brief.write_text(BRIEF)
    with ZaiServer() as server:
        # the lost answer comes 6 s late; every other answer has 2 s, plenty even on a
        # loaded CI host (0.3 s made this test fail whenever the CPU was busy)
        server.slow_s = 6.0
        server.script("submit", "timeout")
        settings = _zai(monkeypatch, tmp_path, server, max_cost=0.04, http_timeout_s=2.0)
        # both pictures drawn are misspelt: the one whose answer was lost, and the one paid
        server.painter = Model(_specs(brief, settings), wrong=2)
        result = start_run(brief, settings, seed=3)
        submits = len(server.calls("submit"))
    ledger = [json.loads(line)
              for line in (result.run_dir / "ledger.jsonl").read_text().splitlines()]
    done = [e for e in ledger if e["kind"] == "done"]
    assert submits == 2 and len(done) == 1
    assert done[0]["cost_usd"] == 0.015 and done[0]["possibly_charged_usd"] == 0.015
    assert result.manifest["cost_usd"] == pytest.approx(0.015)
    assert result.manifest["possibly_charged_usd"] == pytest.approx(0.015)
    # 0.03 counted as spent: a second attempt (0.015 more) would pass the 0.04 budget
    # (had the lost send been taken as free, 0.015 + 0.015 would have fitted)
    asset = result.manifest["assets"][0]
    assert asset["status"] == "failed" and "budget" in asset["reason"]
    assert asset["attempts"][0]["possibly_charged_usd"] == 0.015


def test_exhausted_balance_stops_the_run_and_keeps_what_was_done(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    brief = tmp_path / "brief.yaml"
    brief.write_text(BRIEF)
    with ZaiServer() as server:
        settings = _zai(monkeypatch, tmp_path, server)
        server.script("submit", "429-balance")
        with pytest.raises(RunStopped) as exc:
            start_run(brief, settings, seed=3)
    assert isinstance(exc.value.cause, QuotaExceeded)
    assert "zai" in str(exc.value) and KEY not in str(exc.value)
    run_dir = next(p for p in (tmp_path / "runs").iterdir() if p.is_dir())
    assert exc.value.run_id == run_dir.name and "signwriter resume" in str(exc.value)
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "stopped" and "arrears" in meta["error"].lower()
    assert (run_dir / "specs" / "social-square.json").is_file()
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "stopped"


def test_content_rejection_fails_the_asset_with_the_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    brief = tmp_path / "brief.yaml"
    brief.write_text(BRIEF)
    with ZaiServer() as server:
        settings = _zai(monkeypatch, tmp_path, server)
        server.script("submit", "filter")
        result = start_run(brief, settings, seed=3)
        assert len(server.calls("submit")) == 1, "a content rejection is never retried"
    asset = result.manifest["assets"][0]
    assert asset["status"] == "failed" and "zai" in asset["reason"]


def test_the_readme_banner_runs_on_zai_at_its_own_size(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    brief = tmp_path / "brief.yaml"
    brief.write_text(BRIEF.replace("[social-square]", "[banner-wide]"))
    with ZaiServer() as server:
        settings = _zai(monkeypatch, tmp_path, server)
        server.painter = Model(_specs(brief, settings), wrong=0)
        result = start_run(brief, settings, seed=3)
        sizes = {c.json["size"] for c in server.calls("submit")}
    assert sizes == {"1920x768"}, "Z.ai's GLM-Image guide: 512-2048 px, multiples of 32"
    assert result.manifest["assets"][0]["status"] == "accepted"


def test_sizes_are_snapped_to_the_endpoint_or_refused(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    brief = tmp_path / "brief.yaml"
    brief.write_text(BRIEF.replace("[social-square]", "[card-small]"))
    # an endpoint that documents narrower limits than Z.ai's guide: they are its own
    monkeypatch.setenv("SIGNWRITER_ZAI_LIMITS", '{"min_side": 1024}')
    with ZaiServer() as server:
        settings = _zai(monkeypatch, tmp_path, server)
        server.painter = Model(_specs(brief, settings))
        result = start_run(brief, settings, seed=3)
        sizes = {c.json["size"] for c in server.calls("submit")}
    assert sizes == {"1024x1024"}, "768x768 is below this endpoint's 1024 minimum: snapped up"
    assert (result.manifest["assets"][0]["width"], result.manifest["assets"][0]["height"]) == (
        1024, 1024)
    from agents.errors import SpecError
    brief.write_text(BRIEF.replace("[social-square]", "[banner-leaderboard]"))
    with pytest.raises(SpecError, match="distorted"):
        start_run(brief, settings, seed=3)
