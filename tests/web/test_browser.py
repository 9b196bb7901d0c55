"""The review web app in a real browser: Debian's chromium, headless, driven by Playwright,
against ``signwriter serve``'s app on 127.0.0.1 with the run index in PostgreSQL.

Log in, open the queue, open an asset, reject one with a reason (keyboard: R), edit
another's text and watch it regenerate and pass (E), approve a third (1, A), then check
the manifest and the index. Screenshots of the queue and an asset page are kept under
``test-artifacts/`` (the README's pictures are taken from there).
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from agents.accounts import add_user
from agents.index import Index
from agents.settings import Settings
from agents.store import RunStore
from agents.web.app import create_app
from tests.databases import postgres_schema
from tests.web.conftest import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(prepared_runs: Path, tmp_path: Path) -> Iterator[tuple[str, Settings]]:
    runs = tmp_path / "runs"
    shutil.copytree(prepared_runs, runs)
    (runs / "index.sqlite").unlink()  # this test's index is PostgreSQL
    with postgres_schema() as url:
        settings = Settings(runs_dir=runs, database_url=url, _env_file=None)
        index = Index.for_settings(settings)
        for run in runs.iterdir():  # the 'always' run joins the index later, while watched
            if run.is_dir() and "always-test" not in run.name:
                index.sync_run(RunStore(run))
        add_user(index, "rex", "reviewer", PASSWORD)
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1",
                                               port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        try:
            yield f"http://127.0.0.1:{port}", settings
        finally:
            server.should_exit = True
            thread.join(timeout=30)


def _eventually(check, timeout_s: float = 60.0) -> None:  # noqa: ANN001
    """Decisions are applied after the response (a background task): wait for it."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "the decision was not applied in time"
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.timeout(900)  # several processes, OCR included, on a busy 2-core host
def test_review_in_a_real_browser(served: tuple[str, Settings]) -> None:
    from playwright.sync_api import expect, sync_playwright
    assert CHROMIUM.exists(), "apt-get install chromium (scripts/setup.sh does)"
    base, settings = served
    index = Index.for_settings(settings)
    run_id = next(p.name for p in Path(settings.runs_dir).iterdir()
                  if p.is_dir() and "review-test" in p.name)
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

        page.goto(base + "/")
        expect(page).to_have_url(f"{base}/login?next=%2F")
        page.fill("input[name=username]", "rex")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        expect(page).to_have_url(base + "/")
        expect(page.locator(".grid .tile")).to_have_count(3)
        # a run reaches review while the queue is open: its item appears without a reload
        always = next(p for p in Path(settings.runs_dir).iterdir() if "always-test" in p.name)
        index.sync_run(RunStore(always))
        expect(page.locator(".grid .tile")).to_have_count(4, timeout=15_000)
        expect(page.locator("[data-count=total]")).to_have_text("4")
        page.screenshot(path=str(ARTIFACTS / "queue.png"))

        # open an asset from the queue; the QA overlay toggles with O
        page.click(f"[data-asset='{run_id}/poster-portrait'] a.name")
        expect(page).to_have_url(f"{base}/reviews/{run_id}/poster-portrait")
        expect(page.locator("#decide")).to_be_visible()
        expect(page.locator("td.text .d-missing, td.text .d-extra").first).to_be_visible()
        page.keyboard.press("o")
        expect(page.locator("#stage")).to_have_class("images with-overlay")
        page.keyboard.press("o")
        page.screenshot(path=str(ARTIFACTS / "asset.png"))

        # reject it: R asks for the reason first, then rejects
        page.keyboard.press("r")
        expect(page.locator("#note")).to_be_focused()
        page.keyboard.type("the headline is cut off")
        page.keyboard.press("Escape")
        page.keyboard.press("r")
        page.wait_for_url(lambda url: "poster-portrait" not in url)
        _eventually(lambda: index.asset(run_id, "poster-portrait")["status"] == "rejected")

        # edit another's headline (E) and watch it regenerate and pass
        page.goto(f"{base}/reviews/{run_id}/card-small")
        page.keyboard.press("e")
        expect(page.locator("#text")).to_be_focused()
        page.select_option("#region", "headline")
        expect(page.locator("#text")).to_have_value("Launch Week")
        page.fill("#text", "Launch Day")
        page.click("#edit")
        expect(page).to_have_url(f"{base}/reviews/{run_id}/card-small")
        expect(page.locator(".status .badge").first).to_have_text("accepted", timeout=180_000)
        expect(page.locator(".attempts li")).to_have_count(2)
        expect(page.locator(".attempts li.passed")).to_have_count(1)
        page.screenshot(path=str(ARTIFACTS / "asset-after-edit.png"), full_page=True)

        # approve a third: attempt 1 (key 1), then A
        page.goto(f"{base}/reviews/{run_id}/social-square")
        page.keyboard.press("1")
        page.keyboard.press("a")
        page.wait_for_url(lambda url: "social-square" not in url)
        _eventually(lambda: index.asset(run_id, "social-square")["status"]
                    == "approved_with_findings")
        page.goto(base + "/")
        expect(page.locator(".grid .tile")).to_have_count(1)
        page.goto(f"{base}/reviews/{run_id}/social-square")
        expect(page.locator(".audit")).to_contain_text("approve")
        browser.close()
    assert not errors, errors  # no script error, no CSP violation, no failed request

    manifest = json.loads((Path(settings.runs_dir) / run_id / "manifest.json").read_text())
    status = {a["asset_id"]: a for a in manifest["assets"]}
    assert status["poster-portrait"]["status"] == "rejected"
    assert status["poster-portrait"]["review"]["note"] == "the headline is cut off"
    assert status["card-small"]["status"] == "accepted"
    assert status["card-small"]["review"]["text"] == "Launch Day"
    assert status["social-square"]["status"] == "approved_with_findings"
    assert manifest["status"] == "failed"  # one rejected
    assert {a["asset_id"]: a["status"] for a in index.assets(run_id)} == {
        "card-small": "accepted", "poster-portrait": "rejected",
        "social-square": "approved_with_findings"}
    rows = index.decisions(run_id)
    assert sorted((d["asset_id"], d["decision"], d["reviewer"], d["via"]) for d in rows) == [
        ("card-small", "edit", "rex", "web"), ("poster-portrait", "reject", "rex", "web"),
        ("social-square", "approve", "rex", "web")]
    assert all(d["applied"] for d in rows)
