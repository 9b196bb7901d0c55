"""GLM-Image through Z.ai's own API (``backend = "zai"``).

Protocol (docs.z.ai, API reference → Image API), ``Authorization: Bearer <key>``:

- sync:  ``POST {base}/images/generations`` ``{model, prompt, size: "WxH", quality,
  watermark_enabled, user_id}`` → ``{created, data: [{url}], content_filter: [{role, level}]}``
- async: ``POST {base}/async/images/generations`` (same body) → ``{id, task_status:
  "PROCESSING", ...}``; then ``GET {base}/async-result/{id}`` until ``task_status`` is
  ``SUCCESS`` (``image_result: [{url}]``) or ``FAIL``.

The async mode (default) calls ``on_submit({"backend": "zai", "task_id": ...})`` as soon as
Z.ai accepted the task, and ``request.resume`` polls that task instead of paying again.
Result URLs expire, so the image is downloaded at once.

Errors are told apart by the body's ``error.code``, not only by HTTP status: a 429 is either
a rate/concurrency limit (1302/1303/1305, retried) or an exhausted balance (1113, stops the
run). ``content_filter`` levels (0 = most severe … 3 = minor) go into metadata; a blocked
prompt or image (1301) is ``ContentRejected(level)``. Z.ai has no GLM-Image edit endpoint:
:meth:`ZaiBackend.edit` raises ``Unsupported``; and its image API takes no input image (Z.ai's
GLM-Image guide gives its input modality as text; the API reference's body is model,
prompt, quality, size, user_id, watermark_enabled), so the
spec declares no reference images and the brief's pictures are composited after
generation (:mod:`generation.compose`).
"""

from __future__ import annotations

import time
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field, SecretStr

from generation import http
from generation.base import (
    BackendSpec, Capabilities, EditRequest, GeneratedImage, GenerationRequest, OnSubmit,
)
from generation.errors import (
    AuthError, BackendError, ContentRejected, InvalidRequest, QuotaExceeded, RateLimited,
    TransientError, Unsupported,
)
from generation.limits import GLM_IMAGE_LIMITS, SizeLimits
from generation.remote import ProviderBackend, ProviderOptions

NAME = "zai"
KEY_SETTING = "SIGNWRITER_ZAI_API_KEY"
COST_PER_IMAGE_USD = 0.015
LIMITS = GLM_IMAGE_LIMITS
"""Z.ai's GLM-Image guide: 512–2048 px per side in multiples of 32, at most 2^22 pixels
(recommended 1280×1280, 1568×1056, 1056×1568, 1472×1088, 1088×1472, 1728×960, 960×1728).
Another platform behind ``base_url`` that documents other limits sets ``limits``."""

AUTH_CODES = frozenset({1000, 1001, 1002, 1003, 1004})
QUOTA_CODES = frozenset({1112, 1113, 1304, 1308, 1310})
RATE_CODES = frozenset({1302, 1303, 1305})
CONTENT_CODES = frozenset({1301})
INVALID_CODES = frozenset({1210, 1211, 1212, 1213, 1214, 1215, 1220, 1221, 1222})
TRANSIENT_CODES = frozenset({500, 1200, 1230, 1231, 1234})


class ZaiOptions(ProviderOptions):
    """Options of the ``zai`` backend."""

    key_setting: ClassVar[str] = KEY_SETTING

    api_key: SecretStr | None = Field(None, description=f"Z.ai API key ({KEY_SETTING}).")
    base_url: str = Field("https://api.z.ai/api/paas/v4", description="API base URL.")
    limits: SizeLimits = Field(LIMITS, description="The sizes the endpoint at base_url "
                               "accepts (Z.ai's GLM-Image guide by default).")
    poll_interval_s: float = Field(2.0, ge=0, description="Seconds between result polls.")
    model: str = Field("glm-image", description="Model code.")
    mode: Literal["async", "sync"] = Field(
        "async", description="async: submit then poll (resumable, pays once); sync: one call.")
    quality: Literal["hd", "standard"] = Field("hd", description="glm-image supports hd.")
    watermark_enabled: bool | None = Field(
        None, description="False needs a signed disclaimer at Z.ai; None = provider default.")
    user_id: str | None = Field(None, min_length=6, max_length=128,
                                description="End-user id for abuse handling.")
    cost_per_image_usd: float = Field(COST_PER_IMAGE_USD, ge=0, description="For budgets.")


def error_from_response(response: httpx.Response, *, attempt: str | None,
                        api_key: SecretStr | None = None) -> BackendError | None:
    """Map a Z.ai error response (business ``error.code`` first, HTTP status second)."""
    if response.status_code < 400:
        return None
    code: int | None = None
    message = ""
    levels: list[int] = []
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            try:
                code = int(err.get("code"))
            except (TypeError, ValueError):
                code = None
            message = str(err.get("message") or "")
        levels = content_filter_levels(body)
    message = http.redact(message, api_key)[: http.ERROR_BODY_CHARS]
    kw: dict[str, Any] = {"backend": NAME, "attempt": attempt}
    label = f"Z.ai error {code} (HTTP {response.status_code})" if code is not None else ""
    text = f"{label}: {message}" if message else label
    if code in AUTH_CODES:
        return AuthError(f"{text}; check {KEY_SETTING}", **kw)
    if code in QUOTA_CODES:
        return QuotaExceeded(f"{text} (balance, arrears or quota; top up before retrying)",
                             **kw)
    if code in RATE_CODES:
        return RateLimited(f"{text} (rate or concurrency limit)",
                           retry_after=http.parse_retry_after(response.headers), **kw)
    if code in CONTENT_CODES:
        return ContentRejected(f"{text} (content filter)",
                               level=min(levels) if levels else None, **kw)
    if code in INVALID_CODES:
        return InvalidRequest(text, **kw)
    if code in TRANSIENT_CODES:
        return TransientError(text, **kw)
    return http.map_status(response, NAME, attempt, setting=KEY_SETTING,
                           detail=text or None, secrets=(api_key,))


def content_filter_levels(body: dict[str, Any]) -> list[int]:
    """The ``content_filter[].level`` values of a Z.ai body (0 most severe … 3 minor)."""
    levels = []
    for item in body.get("content_filter") or []:
        if isinstance(item, dict) and isinstance(item.get("level"), int):
            levels.append(item["level"])
    return levels


CAPABILITIES = Capabilities(edit=False, paid=True, cost_per_image_usd=COST_PER_IMAGE_USD,
                            limits=LIMITS, reference_images=0)

class ZaiBackend(ProviderBackend, name=NAME, options=ZaiOptions, declared=CAPABILITIES):
    """GLM-Image on Z.ai. ``ZaiBackend(**options)``; see :class:`ZaiOptions`."""


    # --- public ----------------------------------------------------------------------
    def generate(self, request: GenerationRequest, *,
                 on_submit: OnSubmit | None = None) -> GeneratedImage:
        """Draw one image (async submit + poll by default), download it at once."""
        key = self._key(request.attempt_id)
        started = time.monotonic()
        return http.with_charges(self.options.cost_per_image_usd, lambda charges: (
            self._generate(request, key, started, charges, on_submit)))

    def _generate(self, request: GenerationRequest, key: SecretStr, started: float,
                  charges: http.UncertainCharges, on_submit: OnSubmit | None) -> GeneratedImage:
        opts = self.options
        attempt = request.attempt_id
        if request.resume:  # accepted before a crash: polled, not sent again
            charges.accept()
            task_id = self._task_id(request.resume, attempt)
            body = self._wait(key, task_id, attempt)
        else:
            opts.limits.require(request.width, request.height, backend=NAME, attempt=attempt)
            payload = self._payload(request)
            if opts.mode == "sync":
                task_id = None
                body = self._call(key, "POST", self._url("images/generations"), attempt,
                                  json=payload, on_retry=charges.on_retry)
                charges.accept()
            else:
                submitted = self._call(key, "POST", self._url("async/images/generations"),
                                       attempt, json=payload, on_retry=charges.on_retry)
                charges.accept()
                task_id = str(submitted.get("id") or submitted.get("task_id") or "")
                if not task_id:
                    raise TransientError("async submit answered without a task id",
                                         backend=NAME, attempt=attempt)
                if on_submit is not None:
                    on_submit({"backend": NAME, "task_id": task_id,
                               "request_id": submitted.get("request_id")})
                body = self._wait(key, task_id, attempt)
        return self._image(body, request, task_id, started, attempt)

    def edit(self, request: EditRequest, *, on_submit: OnSubmit | None = None) -> GeneratedImage:
        """Z.ai offers no GLM-Image editing endpoint."""
        raise Unsupported("Z.ai has no image-to-image endpoint for GLM-Image; use a backend "
                          "that can edit (see `signwriter backends`)", backend=NAME,
                          attempt=request.attempt_id)

    # --- steps -----------------------------------------------------------------------
    def _url(self, path: str) -> str:
        return f"{self.options.base_url.rstrip('/')}/{path}"

    def _error(self, response: httpx.Response, attempt: str | None,
               key: SecretStr) -> BackendError | None:
        return error_from_response(response, attempt=attempt, api_key=key)

    def _payload(self, request: GenerationRequest) -> dict[str, Any]:
        opts = self.options
        payload: dict[str, Any] = {
            "model": opts.model,
            "prompt": request.prompt,
            "size": f"{request.width}x{request.height}",
            "quality": opts.quality,
        }
        if opts.watermark_enabled is not None:
            payload["watermark_enabled"] = opts.watermark_enabled
        if opts.user_id:
            payload["user_id"] = opts.user_id
        return payload

    @staticmethod
    def _task_id(resume: dict[str, Any], attempt: str | None) -> str:
        task_id = resume.get("task_id")
        if not isinstance(task_id, str) or not task_id:
            raise InvalidRequest(f"resume handle has no task_id (keys: {sorted(resume)})",
                                 backend=NAME, attempt=attempt)
        return task_id

    def _wait(self, key: SecretStr, task_id: str, attempt: str | None) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            body = self._call(key, "GET", self._url(f"async-result/{task_id}"), attempt)
            status = str(body.get("task_status") or "").upper()
            if status == "SUCCESS":
                return body
            if status in ("FAIL", "FAILED"):
                levels = content_filter_levels(body)
                err = body.get("error") if isinstance(body.get("error"), dict) else {}
                msg = http.redact(str(err.get("message") or body.get("message") or ""), key)
                if levels and min(levels) <= 1:
                    raise ContentRejected(f"task {task_id} blocked by the content filter"
                                          f" (level {min(levels)}) {msg}".rstrip(),
                                          backend=NAME, attempt=attempt, level=min(levels))
                raise TransientError(f"task {task_id} failed at Z.ai {msg}".rstrip(),
                                     backend=NAME, attempt=attempt)
            return None

        return self._poll(check, attempt, f"Z.ai task {task_id}")

    def _image(self, body: dict[str, Any], request: GenerationRequest,
               task_id: str | None, started: float, attempt: str | None) -> GeneratedImage:
        opts = self.options
        levels = content_filter_levels(body)
        items = body.get("image_result") or body.get("data") or []
        url = None
        if isinstance(items, list) and items and isinstance(items[0], dict):
            url = items[0].get("url")
        if not url:
            if levels:
                raise ContentRejected(f"no image returned; content filter level {min(levels)}",
                                      backend=NAME, attempt=attempt, level=min(levels))
            raise TransientError("response has no image URL", backend=NAME, attempt=attempt)
        data, media = self._download(str(url), attempt)
        metadata: dict[str, Any] = {
            "result_url": http.safe_url(str(url)),
            "content_filter": [{"role": c.get("role"), "level": c.get("level")}
                               for c in body.get("content_filter") or [] if isinstance(c, dict)],
            "size": f"{request.width}x{request.height}",
            "quality": opts.quality,
            "mode": opts.mode if not request.resume else "resume",
            "seed_sent": False,  # Z.ai's image API takes no seed
        }
        if task_id:
            metadata["task_id"] = task_id
        if body.get("request_id"):
            metadata["request_id"] = body["request_id"]
        return GeneratedImage(
            data=data, media_type=media, width=request.width, height=request.height,
            seed=request.seed, backend=NAME, model=opts.model,
            elapsed_s=time.monotonic() - started, cost_usd=opts.cost_per_image_usd,
            metadata=metadata)


BACKEND = BackendSpec(
    name=NAME, summary="GLM-Image through Z.ai's images API (sync, or async with polling); "
    "business error codes mapped",
    factory=ZaiBackend, options=ZaiOptions, capabilities=CAPABILITIES,
    settings=("api_key", "base_url", "mode"), key="api_key", key_required=True, url="base_url")
