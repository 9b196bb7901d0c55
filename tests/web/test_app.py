"""Every route of the review web app through httpx's ASGI transport (no server): sessions,
CSRF and role refusals, the queue, the asset page, decisions (validated before the graph
resumes, stored once), files confined to the runs folder, security headers."""

from __future__ import annotations

import io
import json
import re
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from agents.index import Index
from agents.settings import Settings
from agents.web.app import create_app
from tests.web.conftest import PASSWORD

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Forms(HTMLParser):
    """Every form of a page with its inputs (the HTML parsed, not grepped)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.tags: list[tuple[str, dict]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "form":
            self.forms.append({"action": a.get("action"), "method": a.get("method"),
                               "inputs": {}})
        elif tag in ("input", "textarea", "select", "button") and self.forms and a.get("name"):
            self.forms[-1]["inputs"].setdefault(a["name"], a.get("value"))

    def form(self, action: str) -> dict:
        return next(f for f in self.forms if f["action"] == action)


def client(settings: Settings, base: str = "http://testserver") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(settings)),
                             base_url=base)


async def login(c: httpx.AsyncClient, name: str, password: str = PASSWORD) -> httpx.Response:
    page = await c.get("/login")
    token = Forms(page.text).form("/login")["inputs"]["csrf_token"]
    return await c.post("/login", data={"username": name, "password": password,
                                         "csrf_token": token})


async def csrf(c: httpx.AsyncClient, path: str = "/") -> str:
    return Forms((await c.get(path)).text).form("/logout")["inputs"]["csrf_token"]


async def test_only_login_healthz_and_static_without_a_session(web_settings: Settings,
                                                               run_id: str) -> None:
    async with client(web_settings) as c:
        assert (await c.get("/healthz")).status_code == 200
        assert (await c.get("/static/htmx.min.js")).status_code == 200
        assert (await c.get("/login")).status_code == 200
        for path in ("/", f"/reviews/{run_id}/card-small", "/runs", f"/runs/{run_id}",
                     "/audit", "/users", f"/runs/{run_id}/approved.zip",
                     f"/reviews/{run_id}/card-small/status"):
            r = await c.get(path)
            assert r.status_code == 303, path
            assert r.headers["location"].startswith("/login?next=")
        img = next((Path(web_settings.runs_dir) / run_id / "images").iterdir()).name
        assert (await c.get(f"/files/{run_id}/images/{img}")).status_code == 303
        r = await c.post(f"/reviews/{run_id}/card-small/decision",
                         data={"decision": "approve", "csrf_token": "x"})
        assert r.status_code == 403


async def test_login_sets_a_safe_cookie_and_refuses_bad_tries(web_settings: Settings) -> None:
    async with client(web_settings) as c:
        page = await c.get("/login")
        form = Forms(page.text).form("/login")
        assert form["method"] == "post" and form["inputs"]["csrf_token"]
        assert {"username", "password", "csrf_token"} <= set(form["inputs"])
        # no CSRF token, or another one: 403
        r = await c.post("/login", data={"username": "rex", "password": PASSWORD})
        assert r.status_code == 403
        r = await c.post("/login", data={"username": "rex", "password": PASSWORD,
                                         "csrf_token": "forged"})
        assert r.status_code == 403
        bad = await login(c, "rex", "wrong password")
        assert bad.status_code == 401 and "Wrong user name or password" in bad.text
        ok = await login(c, "rex")
        assert ok.status_code == 303 and ok.headers["location"] == "/"
        cookie = ok.headers["set-cookie"]
        assert "sw_session=" in cookie and "HttpOnly" in cookie
        assert "SameSite=strict" in cookie and "Secure" not in cookie
        assert (await c.get("/")).status_code == 200
    async with client(web_settings, base="https://review.example") as c:
        assert "Secure" in (await login(c, "rex")).headers["set-cookie"]


async def test_login_is_rate_limited(web_settings: Settings) -> None:
    async with client(web_settings) as c:
        for _ in range(5):
            assert (await login(c, "rex", "guess")).status_code == 401
        r = await login(c, "rex")  # even the right password waits now
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
        assert "Too many failed logins" in r.text


async def test_the_queue_html_htmx_and_json(web_settings: Settings, run_id: str) -> None:
    async with client(web_settings) as c:
        await login(c, "vera")
        r = await c.get("/")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        tags = Forms(r.text).tags
        tiles = [a for t, a in tags if t == "li" and "tile" in (a.get("class") or "")]
        assert len(tiles) == 4
        assert {a["data-asset"] for a in tiles} >= {f"{run_id}/card-small",
                                                    f"{run_id}/poster-portrait"}
        assert any(t == "div" and a.get("hx-trigger", "").startswith("every")
                   for t, a in tags), "the queue refreshes itself"
        assert re.search(r'data-count="total">4<', r.text)
        part = await c.get("/", headers={"HX-Request": "true"})
        assert "<html" not in part.text and "tile" in part.text
        data = (await c.get("/?verdict=failed", headers={"Accept": "application/json"})).json()
        assert data["counts"]["total"] == 4 and data["counts"]["passed"] == 1
        assert len(data["items"]) == 3 and all(i["passed"] is False for i in data["items"])
        only = (await c.get(f"/?fmt=poster-portrait", headers={"Accept": "application/json"}))
        assert [i["asset_id"] for i in only.json()["items"]] == ["poster-portrait"]


async def test_the_asset_page(web_settings: Settings, run_id: str) -> None:
    async with client(web_settings) as c:
        await login(c, "rex")
        r = await c.get(f"/reviews/{run_id}/card-small")
        assert r.status_code == 200
        page = Forms(r.text)
        decide = page.form(f"/reviews/{run_id}/card-small/decision")
        assert decide["inputs"]["csrf_token"] and decide["inputs"]["round"] == "1"
        assert {"decision", "attempt", "note", "region", "text"} <= set(decide["inputs"])
        assert all(f["inputs"].get("csrf_token") for f in page.forms if f["method"] == "post")
        imgs = [a["src"] for t, a in page.tags if t == "img"]
        assert any(s.endswith("overlay.jpg") for s in imgs)
        assert any(t == "input" and a.get("id") == "overlay-toggle" for t, a in page.tags)
        # the character difference of the misspelt region is marked up
        assert re.search(r'class="d-(missing|extra)"', r.text)
        assert "Spec" in r.text and '"asset_id": "card-small"' in r.text.replace("&#34;", '"')
        assert "Attempt 1" in r.text
        viewer = client(web_settings)
        async with viewer as v:
            await login(v, "vera")
            seen = Forms((await v.get(f"/reviews/{run_id}/card-small")).text)
            assert not any(f["action"].endswith("/decision") for f in seen.forms)
        missing = await c.get(f"/reviews/{run_id}/nope")
        assert missing.status_code == 404


async def test_decisions_are_checked_before_the_graph_resumes(web_settings: Settings,
                                                              run_id: str) -> None:
    index = Index.for_settings(web_settings)
    url = f"/reviews/{run_id}/social-square/decision"
    async with client(web_settings) as c:
        await login(c, "vera")
        token = await csrf(c)
        r = await c.post(url, data={"decision": "approve", "csrf_token": token})
        assert r.status_code == 403 and "reviewer role" in r.text  # viewers cannot decide
    async with client(web_settings) as c:
        await login(c, "rex")
        token = await csrf(c)
        r = await c.post(url, data={"decision": "approve", "attempt": "1"})
        assert r.status_code == 403  # no CSRF token
        r = await c.post(url, data={"decision": "approve", "attempt": "9", "csrf_token": token})
        assert r.status_code == 400 and "has no attempt 9" in r.text
        r = await c.post(url, data={"decision": "approve", "attempt": "x", "csrf_token": token})
        assert r.status_code == 400
        r = await c.post(url, data={"decision": "reject", "csrf_token": token})
        assert r.status_code == 400 and "needs a reason" in r.text
        r = await c.post(url, data={"decision": "publish", "csrf_token": token})
        assert r.status_code == 400
        r = await c.post(url, data={"decision": "edit", "region": "headline",
                                    "text": "W" * 400, "csrf_token": token})
        assert r.status_code == 400 and "does not work" in r.text
        assert index.decisions(run_id) == []
        assert index.asset(run_id, "social-square")["status"] == "needs_review"
        # now a good one: stored once, applied, the next item follows
        r = await c.post(url, data={"decision": "approve", "attempt": "1", "round": "1",
                                    "note": "typo is tolerable", "csrf_token": token})
        assert r.status_code == 303 and r.headers["location"].startswith("/reviews/")
        asset = index.asset(run_id, "social-square")
        assert asset["status"] == "approved_with_findings" and asset["findings"]
        manifest = json.loads((Path(web_settings.runs_dir) / run_id / "manifest.json")
                              .read_text())
        square = next(a for a in manifest["assets"] if a["asset_id"] == "social-square")
        assert square["status"] == "approved_with_findings"
        # a double click: refused, told who decided and when
        again = await c.post(url, data={"decision": "reject", "note": "no", "round": "1",
                                        "csrf_token": token})
        assert again.status_code == 409 and "already decided: approve by rex at" in again.text
        rows = index.decisions(run_id, "social-square")
        assert len(rows) == 1 and rows[0]["via"] == "web" and rows[0]["applied"]
        audit = await c.get("/audit")
        assert "typo is tolerable" in audit.text and "rex" in audit.text


async def test_reject_and_edit_through_the_web(web_settings: Settings, run_id: str) -> None:
    index = Index.for_settings(web_settings)
    async with client(web_settings) as c:
        await login(c, "rex")
        token = await csrf(c)
        r = await c.post(f"/reviews/{run_id}/poster-portrait/decision",
                         data={"decision": "reject", "note": "off brand", "csrf_token": token})
        assert r.status_code == 303
        assert index.asset(run_id, "poster-portrait")["status"] == "rejected"
        r = await c.post(f"/reviews/{run_id}/card-small/decision",
                         data={"decision": "edit", "region": "headline", "text": "Launch Day",
                               "csrf_token": token})
        assert r.status_code == 303 and r.headers["location"] == f"/reviews/{run_id}/card-small"
        # the ASGI call returns after the background decision ran: regenerated, QA passed
        asset = index.asset(run_id, "card-small")
        assert asset["status"] == "accepted" and asset["attempt_count"] == 2
        attempts = index.attempts(run_id, "card-small")
        assert attempts[1]["passed"] and any(f["expected"] == "Launch Day"
                                             for f in attempts[1]["regions"])
        page = await c.get(f"/reviews/{run_id}/card-small")
        assert "accepted" in page.text and "Launch Day" in page.text
        status = await c.get(f"/reviews/{run_id}/card-small/status")
        assert "data-final=\"accepted\"" in status.text


async def test_bulk_approve_only_qa_passed_items_under_always(web_settings: Settings,
                                                              run_id: str,
                                                              always_run_id: str) -> None:
    index = Index.for_settings(web_settings)
    async with client(web_settings) as c:
        await login(c, "rex")
        token = await csrf(c)
        r = await c.post("/bulk-approve", headers={"Accept": "application/json"},
                         data={"csrf_token": token, "item": [f"{always_run_id}/card-small",
                                                             f"{run_id}/card-small"]})
        assert r.status_code == 200
        assert r.json() == {"approved": [f"{always_run_id}/card-small"],
                            "refused": [f"{run_id}/card-small"]}
        assert index.asset(always_run_id, "card-small")["status"] == "accepted"
        assert index.asset(run_id, "card-small")["status"] == "needs_review"
        r = await c.post("/bulk-approve", data={"item": f"{run_id}/card-small"})
        assert r.status_code == 403


async def test_runs_zip_audit_and_users(web_settings: Settings, run_id: str,
                                        always_run_id: str) -> None:
    async with client(web_settings) as c:
        await login(c, "rex")
        token = await csrf(c)
        await c.post(f"/reviews/{run_id}/social-square/decision",
                     data={"decision": "approve", "csrf_token": token})
        runs = await c.get("/runs")
        assert run_id in runs.text and always_run_id in runs.text
        page = await c.get(f"/runs/{run_id}")
        assert page.status_code == 200 and "approved.zip" in page.text
        z = await c.get(f"/runs/{run_id}/approved.zip")
        assert z.headers["content-type"] == "application/zip"
        names = zipfile.ZipFile(io.BytesIO(z.content)).namelist()
        assert names == ["social-square.png"]
        assert (await c.get("/runs/nope")).status_code == 404
        assert (await c.get("/users")).status_code == 403  # admins only
    async with client(web_settings) as c:
        await login(c, "ada")
        users = await c.get("/users")
        assert users.status_code == 200 and "vera" in users.text and "argon2" not in users.text


async def test_files_only_from_the_runs_folder(web_settings: Settings, run_id: str,
                                               tmp_path: Path) -> None:
    (tmp_path / "secret.png").write_bytes(b"\x89PNG not yours")
    async with client(web_settings) as c:
        await login(c, "vera")
        img = next((Path(web_settings.runs_dir) / run_id / "images").iterdir()).name
        ok = await c.get(f"/files/{run_id}/images/{img}")
        assert ok.status_code == 200 and ok.headers["content-type"] == "image/png"
        for path in (f"/files/{run_id}/../secret.png", f"/files/{run_id}/%2e%2e/%2e%2e/secret.png",
                     f"/files/{run_id}/..%2f..%2fsecret.png", f"/files/..%2f/secret.png",
                     f"/files/{run_id}/specs/card-small.json", f"/files/{run_id}/run.json",
                     f"/files/nope/images/{img}", f"/files/{run_id}/%2Fetc%2Fpasswd"):
            r = await c.get(path, follow_redirects=True)
            assert r.status_code == 404, path
            assert b"not yours" not in r.content


async def test_security_headers_and_logout(web_settings: Settings) -> None:
    async with client(web_settings) as c:
        login_page = await c.get("/login")
        csp = login_page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert login_page.headers["x-frame-options"] == "DENY"
        await login(c, "vera")
        token = await csrf(c)
        assert (await c.post("/logout", data={})).status_code == 403
        r = await c.post("/logout", data={"csrf_token": token})
        assert r.status_code == 303
        assert (await c.get("/")).status_code == 303  # the session is gone


async def test_an_open_redirect_is_not_possible(web_settings: Settings) -> None:
    async with client(web_settings) as c:
        page = await c.get("/login?next=//evil.example/")
        token = Forms(page.text).form("/login")["inputs"]["csrf_token"]
        r = await c.post("/login", data={"username": "vera", "password": PASSWORD,
                                         "csrf_token": token, "next": "//evil.example/"})
        assert r.status_code == 303 and r.headers["location"] == "/"


async def test_a_stored_decision_whose_process_died_is_finished(web_settings: Settings,
                                                                run_id: str) -> None:
    """Claimed (stored) but never applied, as when the server is killed in between:
    finish_decisions (run by `signwriter serve` as it starts) applies it, once."""
    from agents import api
    api.claim_review(run_id, "poster-portrait", "reject", web_settings, reviewer="rex",
                     via="web", note="killed before applying")
    index = Index.for_settings(web_settings)
    assert index.asset(run_id, "poster-portrait")["status"] == "needs_review"
    async with client(web_settings) as c:
        await login(c, "rex")
        page = await c.get(f"/reviews/{run_id}/poster-portrait")
        assert "applying it" in page.text and 'id="decide"' not in page.text
    assert api.finish_decisions(web_settings, older_than_s=60) == []  # too recent: maybe live
    assert api.finish_decisions(web_settings) == [f"{run_id}/poster-portrait"]
    assert index.asset(run_id, "poster-portrait")["status"] == "rejected"
    assert api.finish_decisions(web_settings) == []  # once
    assert [d["outcome"] for d in index.decisions(run_id, "poster-portrait")] == ["rejected"]
