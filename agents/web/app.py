"""The review web app: routes.

::

    GET  /healthz                          200 without a session
    GET  /login, POST /login, POST /logout
    GET  /                                 the queue (htmx: the grid alone; JSON on Accept)
    GET  /reviews/{run_id}/{asset_id}      an asset: image, overlay, regions, attempts, audit
    GET  /reviews/{run_id}/{asset_id}/status   its status line (htmx polling)
    POST /reviews/{run_id}/{asset_id}/decision decision, attempt, note, region, text, round
    POST /bulk-approve                     QA-passed items only (review policy 'always')
    GET  /runs, /runs/{run_id}, /runs/{run_id}/approved.zip
    GET  /audit                            every decision, newest first
    GET  /users                            accounts (admin)
    GET  /files/{run_id}/{path}            images of a run (only under the runs folder)
    GET  /static/...                       htmx, CSS, the keyboard script
    /v1/...                                the JSON API for automations (agents/web/api_v1.py)

Pages are Jinja2 with autoescape; the routes read the run index and call the library API
(:mod:`agents.api`), never the run folders' internals.
"""

from __future__ import annotations

import io
import logging
import mimetypes
import time
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import BackgroundTasks, Depends, FastAPI, Request
from fastapi.responses import (FileResponse, HTMLResponse, JSONResponse, RedirectResponse,
                               Response)
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from agents import api
from agents.accounts import (authenticate, can, end_session, list_users, session_user,
                             start_session)
from agents.errors import AlreadyDecided, InvalidDecision, ReviewError, RunNotFound
from agents.index import Index
from agents.settings import Settings
from agents.web.diff import char_diff
from agents.web.security import (HEADERS, LOGIN_COOKIE, SESSION_COOKIE, SESSION_TTL_S,
                                 Forbidden, LoginLimiter, LoginRequired, check_csrf,
                                 current_user, is_tls, new_token, require, same, token_hash)

HERE = Path(__file__).parent
log = logging.getLogger("signwriter.web")
IMAGE_TYPES = {".png", ".jpg", ".jpeg", ".webp"}
SORTS = ("oldest", "newest", "score", "run")


def create_app(settings: Settings) -> FastAPI:
    """The app for ``settings`` (runs folder, index database)."""
    app = FastAPI(title="signwriter review", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.index = Index.for_settings(settings)  # accounts and sessions
    app.state.limiter = LoginLimiter()
    env = Environment(loader=FileSystemLoader(str(HERE / "templates")),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    env.filters["age"] = _age
    env.filters["when"] = _when
    env.globals["char_diff"] = char_diff
    templates = Jinja2Templates(env=env)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        for k, v in HEADERS.items():
            response.headers.setdefault(k, v)
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if request.method in ("GET", "HEAD"):
            nxt = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?{urlencode({'next': nxt})}", status_code=303)
        return _error(request, 403, "log in first")

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return _error(request, 403, exc.message)

    def page(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        user = current_user(request)
        return templates.TemplateResponse(request, name, {"user": user, **ctx},
                                          status_code=status)

    def _error(request: Request, status: int, message: str) -> Response:
        if _wants_json(request):
            return JSONResponse({"error": message}, status_code=status)
        return page(request, "error.html", status=status, message=message, code=status)

    # --- no session needed ----------------------------------------------------------------
    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"ok": True}

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/login")
    def login_form(request: Request, next: str = "/") -> Response:
        token = new_token()
        response = page(request, "login.html", csrf_token=token, next=_safe_next(next),
                        error=None)
        response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict",
                            secure=is_tls(request), max_age=3600, path="/login")
        return response

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        name = str(form.get("username") or "").strip()
        password = str(form.get("password") or "")
        nxt = _safe_next(str(form.get("next") or "/"))
        if not same(str(form.get("csrf_token") or ""), request.cookies.get(LOGIN_COOKIE)):
            return _error(request, 403, "missing or wrong CSRF token: reload the login page")
        client = request.client.host if request.client else "?"
        keys = (f"ip:{client}", f"user:{name.lower()}")
        limiter: LoginLimiter = app.state.limiter
        wait = limiter.retry_after(*keys)
        if wait:
            r = page(request, "login.html", status=429, csrf_token=form.get("csrf_token"),
                     next=nxt, error=f"Too many failed logins: try again in {wait} s.")
            r.headers["Retry-After"] = str(wait)
            return r
        user = authenticate(app.state.index, name, password)
        if user is None:
            limiter.failed(*keys)
            return page(request, "login.html", status=401, csrf_token=form.get("csrf_token"),
                        next=nxt, error="Wrong user name or password.")
        limiter.succeeded(*keys)
        token = new_token()
        start_session(app.state.index, user["name"], token_hash(token), new_token(),
                      SESSION_TTL_S)
        response = RedirectResponse(nxt, status_code=303)
        response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict",
                            secure=is_tls(request), max_age=SESSION_TTL_S, path="/")
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        return response

    @app.post("/logout")
    async def logout(request: Request, user: dict = Depends(require("viewer"))) -> Response:
        await check_csrf(request, user)
        end_session(app.state.index, token_hash(request.cookies.get(SESSION_COOKIE, "")))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # --- the queue ----------------------------------------------------------------------
    @app.get("/")
    def queue(request: Request, run: str | None = None, fmt: str | None = None,
              language: str | None = None, verdict: str | None = None, sort: str = "oldest",
              done: str | None = None, user: dict = Depends(require("viewer"))) -> Response:
        filters = {"run_id": run or None, "fmt": fmt or None, "language": language or None,
                   "verdict": verdict if verdict in ("passed", "failed") else None,
                   "sort": sort if sort in SORTS else "oldest"}
        items = [i.model_dump(mode="json")
                 for i in api.list_reviews(app.state.settings, **filters)]
        counts = api.review_counts(app.state.settings)
        if _wants_json(request):
            return JSONResponse({"items": items, "counts": counts})
        query = urlencode({k: v for k, v in (("run", run), ("fmt", fmt), ("language", language),
                                             ("verdict", verdict), ("sort", sort)) if v})
        ctx = {"items": items, "counts": counts, "filters": filters, "query": query,
               "now": time.time(), "done": done, "sorts": SORTS,
               "bulk": any(i.get("policy") == "always" and i.get("passed") for i in items)}
        if request.headers.get("HX-Request"):
            return page(request, "_queue_items.html", **ctx)
        return page(request, "queue.html", **ctx)

    # --- an asset -----------------------------------------------------------------------
    def _asset(run_id: str, asset_id: str) -> dict[str, Any]:
        try:
            return api.get_asset(run_id, asset_id, app.state.settings)
        except (RunNotFound, ReviewError) as e:
            raise _NotFound(str(e)) from None

    @app.exception_handler(_NotFound)
    async def not_found(request: Request, exc: _NotFound) -> Response:
        return _error(request, 404, str(exc))

    def _queue_keys() -> list[tuple[str, str]]:
        return [(q.run_id, q.asset_id) for q in api.list_reviews(app.state.settings)]

    def _asset_context(run_id: str, asset_id: str, user: dict) -> dict[str, Any]:
        ctx = _asset(run_id, asset_id)
        queue_ids = _queue_keys()
        here = (run_id, asset_id)
        prev_item = next_item = None
        if here in queue_ids:
            i = queue_ids.index(here)
            prev_item = queue_ids[i - 1] if i > 0 else None
            next_item = queue_ids[i + 1] if i + 1 < len(queue_ids) else None
        elif queue_ids:
            next_item = queue_ids[0]
        return {**ctx, "prev_item": prev_item, "next_item": next_item,
                "can_decide": can(user["role"], "reviewer"), "now": time.time()}

    @app.get("/reviews/{run_id}/{asset_id}")
    def asset_page(request: Request, run_id: str, asset_id: str, error: str | None = None,
                   user: dict = Depends(require("viewer"))) -> Response:
        ctx = _asset_context(run_id, asset_id, user)
        if _wants_json(request):
            return JSONResponse({k: ctx[k] for k in ("asset", "attempts", "review",
                                                     "decisions")})
        return page(request, "asset.html", error=error, **ctx)

    @app.get("/reviews/{run_id}/{asset_id}/status")
    def asset_status(request: Request, run_id: str, asset_id: str,
                     user: dict = Depends(require("viewer"))) -> Response:
        ctx = _asset(run_id, asset_id)
        return page(request, "_status.html", asset=ctx["asset"], pending=ctx["pending"])

    @app.post("/reviews/{run_id}/{asset_id}/decision")
    async def decide(request: Request, run_id: str, asset_id: str, background: BackgroundTasks,
                     user: dict = Depends(require("reviewer"))) -> Response:
        form = await check_csrf(request, user)
        _asset(run_id, asset_id)
        decision = str(form.get("decision") or "")
        try:
            attempt = int(form["attempt"]) if str(form.get("attempt") or "").strip() else None
            round_ = int(form["round"]) if str(form.get("round") or "").strip() else None
        except ValueError:
            return _decision_error(request, run_id, asset_id, 400,
                                   "attempt must be a number (1, 2, …)")
        try:
            claim = api.claim_review(
                run_id, asset_id, decision, app.state.settings, reviewer=user["name"],
                via="web", attempt=attempt, note=_opt(form.get("note")),
                region=_opt(form.get("region")), text=_opt(form.get("text")), round_=round_)
        except AlreadyDecided as e:
            return _decision_error(request, run_id, asset_id, 409, str(e))
        except (InvalidDecision, ReviewError, RunNotFound) as e:
            return _decision_error(request, run_id, asset_id, 400, str(e))
        background.add_task(_apply, claim)
        if _wants_json(request):
            return JSONResponse({"decision": claim.row}, status_code=202,
                                background=background)
        if decision in ("approve", "reject"):
            nxt = [k for k in _queue_keys() if k != (run_id, asset_id)]
            target = f"/reviews/{nxt[0][0]}/{nxt[0][1]}" if nxt else \
                f"/?{urlencode({'done': f'{run_id}/{asset_id}'})}"
        else:  # regenerating: stay and watch it
            target = f"/reviews/{run_id}/{asset_id}"
        return RedirectResponse(target, status_code=303, background=background)

    def _apply(claim: api.Claim) -> None:
        try:
            api.apply_review(claim, app.state.settings)
        except Exception:  # noqa: BLE001 - stored, not lost: `signwriter resume` finishes it
            log.exception("applying %s/%s's decision failed; `signwriter resume %s` finishes "
                          "it", claim.run_id, claim.asset_id, claim.run_id)

    def _decision_error(request: Request, run_id: str, asset_id: str, status: int,
                        message: str) -> Response:
        if _wants_json(request):
            return JSONResponse({"error": message}, status_code=status)
        user = current_user(request)
        ctx = _asset_context(run_id, asset_id, user or {"role": "viewer"})
        return page(request, "asset.html", status=status, error=message, **ctx)

    @app.post("/bulk-approve")
    async def bulk_approve(request: Request, background: BackgroundTasks,
                           user: dict = Depends(require("reviewer"))) -> Response:
        form = await request.form()
        await check_csrf(request, user)
        chosen = {str(v) for k, v in form.multi_items() if k == "item"}
        approved, refused = [], []
        for q in api.list_reviews(app.state.settings):
            key = f"{q.run_id}/{q.asset_id}"
            if key not in chosen:
                continue
            if not (q.passed and q.policy == "always"):
                refused.append(key)
                continue
            try:
                claim = api.claim_review(q.run_id, q.asset_id, "approve", app.state.settings,
                                         reviewer=user["name"], via="web-bulk",
                                         attempt=q.best_attempt)
            except ReviewError:
                refused.append(key)
                continue
            background.add_task(_apply, claim)
            approved.append(key)
        if _wants_json(request):
            return JSONResponse({"approved": approved, "refused": refused},
                                background=background)
        return RedirectResponse(f"/?{urlencode({'done': f'{len(approved)} approved'})}",
                                status_code=303, background=background)

    # --- runs, audit, users -------------------------------------------------------------------
    def _run(run_id: str) -> dict[str, Any]:
        try:
            return api.get_run(run_id, app.state.settings)
        except RunNotFound as e:
            raise _NotFound(str(e)) from None

    @app.get("/runs")
    def runs_page(request: Request, user: dict = Depends(require("viewer"))) -> Response:
        runs = [r.model_dump(mode="json") for r in reversed(api.list_runs(app.state.settings))]
        if _wants_json(request):
            return JSONResponse({"runs": runs})
        return page(request, "runs.html", runs=runs, now=time.time())

    @app.get("/runs/{run_id}")
    def run_page(request: Request, run_id: str,
                 user: dict = Depends(require("viewer"))) -> Response:
        view = _run(run_id)
        run, assets = view["run"], view["assets"]
        if _wants_json(request):
            return JSONResponse({"run": run, "assets": assets})
        approved = [a for a in assets if a["status"] in ("accepted", "approved_with_findings")]
        return page(request, "run.html", run=run, assets=assets, approved=approved,
                    now=time.time())

    @app.get("/runs/{run_id}/approved.zip")
    def approved_zip(run_id: str, user: dict = Depends(require("viewer"))) -> Response:
        _run(run_id)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
            for asset_id, image in api.approved_images(run_id, app.state.settings):
                path = _confined(run_id, str(image.relative_to(
                    Path(app.state.settings.runs_dir) / run_id)))
                if path is not None:
                    z.write(path, f"{asset_id}{path.suffix}")
        return Response(buf.getvalue(), media_type="application/zip", headers={
            "Content-Disposition": f'attachment; filename="{run_id}-approved.zip"'})

    @app.get("/audit")
    def audit(request: Request, user: dict = Depends(require("viewer"))) -> Response:
        rows = list(reversed(api.decisions(app.state.settings)))
        if _wants_json(request):
            return JSONResponse({"decisions": rows})
        return page(request, "audit.html", decisions=rows)

    @app.get("/users")
    def users_page(request: Request, user: dict = Depends(require("admin"))) -> Response:
        return page(request, "users.html", users=list_users(app.state.index))

    # --- files --------------------------------------------------------------------------
    def _confined(run_id: str, rel: str) -> Path | None:
        root = Path(app.state.settings.runs_dir).resolve()
        path = (root / run_id / rel).resolve()
        run_root = (root / run_id).resolve()
        if (run_root.parent != root or not path.is_relative_to(run_root)
                or path.suffix.lower() not in IMAGE_TYPES or not path.is_file()):
            return None
        return path

    @app.get("/files/{run_id}/{rel:path}")
    def files(run_id: str, rel: str, user: dict = Depends(require("viewer"))) -> Response:
        path = _confined(run_id, rel)
        if path is None:
            raise _NotFound("no such image")
        _run(run_id)
        return FileResponse(path, media_type=mimetypes.guess_type(path.name)[0],
                            headers={"Cache-Control": "private, max-age=3600"})

    from agents.web.api_v1 import mount
    mount(app, settings)  # the /v1 JSON API (Bearer tokens): agents/web/api_v1.py
    return app


class _NotFound(Exception):
    pass


def _opt(v: Any) -> str | None:
    s = str(v).strip() if v is not None else ""
    return s or None


def _safe_next(nxt: str) -> str:
    """Only a path on this site (never //host or a scheme): no open redirect."""
    return nxt if nxt.startswith("/") and not nxt.startswith("//") and "\\" not in nxt else "/"


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def _age(ts: float | None, now: float | None = None) -> str:
    if not ts:
        return ""
    s = int((now or time.time()) - ts)
    if s < 120:
        return f"{max(s, 0)} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{s // 3600} h" if s < 172800 else f"{s // 86400} d"


def _when(ts: float | None) -> str:
    if not ts:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


__all__ = ["create_app"]
