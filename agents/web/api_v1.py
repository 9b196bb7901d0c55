"""The ``/v1`` JSON API (mounted in the review app, :mod:`agents.web.app`): thin routes over
:mod:`agents.automation.jobs` and the library API.

::

    POST /v1/jobs                          a brief (JSON) or a base brief + CSV text; 202 {"id"}
                                           (Idempotency-Key: the same key returns the same job)
    GET  /v1/jobs?limit=&cursor=           newest first, paginated
    GET  /v1/jobs/{id}                     status (queued | running | completed |
                                           needs_review | failed), counts, cost
    GET  /v1/jobs/{id}/assets              its assets, paginated
    GET  /v1/assets/{id}                   one asset (its id is its run id)
    GET  /v1/assets/{id}/image             its final image
    POST /v1/reviews/{run_id}/{asset_id}/decision   approve | reject | edit | regenerate | repair
    GET  /v1/openapi.json                  this API's OpenAPI document

Every route needs ``Authorization: Bearer <token>`` (``signwriter tokens create``); roles:
viewer reads, creator also posts jobs, reviewer also decides, admin does all. Errors are
RFC 9457 ``application/problem+json``. Each token may make ``SIGNWRITER_API_RATE_LIMIT``
requests a minute (then 429 with ``Retry-After``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from agents import api
from agents.automation import jobs
from agents.errors import (AlreadyDecided, BatchInputError, InvalidDecision, ReviewError,
                           RunNotFound)
from agents.settings import Settings

PROBLEM = "application/problem+json"
log = logging.getLogger("signwriter.api")


class Problem(Exception):
    """An RFC 9457 problem: ``status``, a short ``title`` and a ``detail`` for this case."""

    def __init__(self, status: int, title: str, detail: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.headers = status, title, detail, headers


class ProblemBody(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None


def problem_response(request: Request, p: Problem) -> JSONResponse:
    body = ProblemBody(title=p.title, status=p.status, detail=p.detail,
                       instance=request.url.path).model_dump()
    return JSONResponse(body, status_code=p.status, media_type=PROBLEM, headers=p.headers)


class RateLimiter:
    """A token bucket per API token: ``per_minute`` requests, refilled continuously."""

    def __init__(self, per_minute: int) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self.buckets: dict[str, tuple[float, float]] = {}
        self.lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 if allowed, else the seconds until the next request is."""
        now = time.monotonic()
        with self.lock:
            tokens, at = self.buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - at) * self.rate)
            if tokens >= 1:
                self.buckets[key] = (tokens - 1, now)
                return 0.0
            self.buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate


class JobCreated(BaseModel):
    id: str


class Page(BaseModel):
    next: str | None = Field(None, description="Pass as ?cursor= for the next page.")


class JobPage(Page):
    items: list[jobs.JobView]


class AssetPage(Page):
    items: list[jobs.AssetView]


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject", "edit", "regenerate", "repair"]
    attempt: int | None = Field(None, ge=1, le=100)
    note: str | None = Field(None, max_length=2000)
    region: str | None = Field(None, max_length=64)
    text: str | None = Field(None, max_length=5000)


class DecisionOut(BaseModel):
    run_id: str
    asset_id: str
    status: str
    run_status: str


ERRORS: tuple[tuple[type[Exception], int, str], ...] = (
    (RunNotFound, 404, "Not Found"), (InvalidDecision, 400, "Invalid decision"),
    (AlreadyDecided, 409, "Already decided"), (ReviewError, 409, "Not waiting for review"),
    (BatchInputError, 400, "Bad input"))
"""Library errors as HTTP problems (the first that matches: subclasses come first)."""


@contextmanager
def problems() -> Iterator[None]:
    """Turn the library's errors into RFC 9457 problems."""
    try:
        yield
    except Problem:
        raise
    except Exception as e:
        for err, status, title in ERRORS:
            if isinstance(e, err):
                raise Problem(status, title, str(e).splitlines()[0][:500]) from None
        raise


def _cursor(cursor: str | None) -> int:
    if cursor is None:
        return 0
    # ASCII digits only: str.isdigit() is true of '²' and other digits int() refuses
    if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 9:
        raise Problem(400, "Bad cursor", "cursor is the 'next' value of the previous page")
    return int(cursor)


def router(settings: Settings) -> APIRouter:
    """The ``/v1`` routes for ``settings``."""
    limiter = RateLimiter(settings.api_rate_limit)
    r = APIRouter(prefix="/v1", tags=["v1"])

    def auth(permission: str):  # noqa: ANN202 - a dependency factory
        def check(authorization: str | None = Header(None)) -> dict[str, Any]:
            scheme, _, token = (authorization or "").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Problem(401, "Unauthorized", "send Authorization: Bearer <token> "
                              "(signwriter tokens create NAME --role …)",
                              {"WWW-Authenticate": "Bearer"})
            who = jobs.check_token(token.strip(), settings)
            if who is None:
                raise Problem(401, "Unauthorized", "unknown or revoked token",
                              {"WWW-Authenticate": 'Bearer error="invalid_token"'})
            wait = limiter.take(who["id"])
            if wait:
                raise Problem(429, "Too Many Requests", f"at most {settings.api_rate_limit} "
                              "requests a minute per token", {"Retry-After": str(int(wait) + 1)})
            if permission not in jobs.PERMISSIONS.get(who["role"], set()):
                raise Problem(403, "Forbidden", f"a {who['role']} token may not {permission}")
            return who
        return check

    @r.post("/jobs", status_code=202, response_model=JobCreated)
    def create_job(body: jobs.JobRequest, background: BackgroundTasks,
                   idempotency_key: str | None = Header(None, max_length=200),
                   who: dict = Depends(auth("create"))) -> Any:
        with problems():
            job, new = jobs.submit_job(body, settings, token_id=who["id"],
                                       idempotency_key=idempotency_key)
        if new:
            background.add_task(jobs.run_job_now, job["id"], settings)
        return JSONResponse({"id": job["id"]}, status_code=202,
                            headers={"Location": f"/v1/jobs/{job['id']}"})

    @r.get("/jobs", response_model=JobPage)
    def list_jobs(limit: int = Query(20, ge=1, le=100), cursor: str | None = Query(None),
                  who: dict = Depends(auth("read"))) -> Any:
        offset = _cursor(cursor)
        rows = jobs.list_jobs(settings, limit=limit + 1, offset=offset)
        items = [jobs.job_view(j["id"], settings) for j in rows[:limit]]
        return JobPage(items=items, next=str(offset + limit) if len(rows) > limit else None)

    @r.get("/jobs/{job_id}", response_model=jobs.JobView)
    def get_job(job_id: str, who: dict = Depends(auth("read"))) -> Any:
        with problems():
            return jobs.job_view(job_id, settings)

    @r.get("/jobs/{job_id}/assets", response_model=AssetPage)
    def job_assets(job_id: str, limit: int = Query(20, ge=1, le=100),
                   cursor: str | None = Query(None), who: dict = Depends(auth("read"))) -> Any:
        offset = _cursor(cursor)
        with problems():
            assets = jobs.job_assets(jobs.get_job(job_id, settings), settings)
        page = assets[offset:offset + limit]
        return AssetPage(items=page, next=str(offset + limit)
                         if offset + limit < len(assets) else None)

    @r.get("/assets/{asset_id}", response_model=jobs.AssetView)
    def get_asset(asset_id: str, who: dict = Depends(auth("read"))) -> Any:
        with problems():
            return jobs.asset_view(asset_id, settings)

    @r.get("/assets/{asset_id}/image", response_class=FileResponse,
           responses={200: {"content": {"image/png": {}}}})
    def asset_image(asset_id: str, who: dict = Depends(auth("read"))) -> Any:
        with problems():
            path = jobs.asset_image(asset_id, settings)
        if path is None or not path.is_file():
            raise Problem(404, "Not Found", f"asset {asset_id[:80]} has no final image (yet)")
        return FileResponse(path, media_type="image/png")

    @r.post("/reviews/{run_id}/{asset_id}/decision", response_model=DecisionOut)
    def decide(run_id: str, asset_id: str, body: DecisionIn,
               who: dict = Depends(auth("decide"))) -> Any:
        with problems():
            result = api.decide_review(run_id, asset_id, body.decision, settings,
                                       reviewer=f"token:{who['name']}", via="api",
                                       note=body.note, attempt=body.attempt,
                                       region=body.region, text=body.text)
        a = next(x for x in result.manifest["assets"] if x["asset_id"] == asset_id)
        return DecisionOut(run_id=run_id, asset_id=asset_id, status=str(a["status"]),
                           run_status=str(result.status))

    return r


def mount(app: FastAPI, settings: Settings) -> None:
    """Add the ``/v1`` routes, their problem+json errors and ``/v1/openapi.json``; at
    startup, jobs an earlier server left queued or running are picked up again in the
    background (:func:`agents.automation.jobs.resume_jobs`)."""
    r = router(settings)
    app.include_router(r)

    def resume_left_jobs() -> None:
        started = time.time()

        def work() -> None:
            try:
                jobs.resume_jobs(settings, created_before=started)
            except Exception:  # noqa: BLE001 - a background thread: logged, never fatal
                log.exception("could not resume the jobs left by an earlier server")
        threading.Thread(target=work, name="resume-jobs", daemon=True).start()

    app.router.add_event_handler("startup", resume_left_jobs)

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        return problem_response(request, exc)

    previous = app.exception_handlers.get(RequestValidationError)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if not request.url.path.startswith("/v1/") and previous is not None:
            return await previous(request, exc)
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return problem_response(request, Problem(
            422, "Unprocessable Content", f"{where}: {first.get('msg', 'invalid')}"[:500]))

    schema: dict[str, Any] = {}

    @app.get("/v1/openapi.json", include_in_schema=False)
    def openapi() -> JSONResponse:
        if not schema:
            schema.update(get_openapi(title="signwriter API", version="1", routes=r.routes))
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer"}}
            schema["security"] = [{"bearer": []}]
        return JSONResponse(schema)
