"""GLM-Image on Runware (``backend = "runware"``).

Protocol (runware.ai/docs): ``POST {base}`` with a JSON *array* of tasks and
``Authorization: Bearer <key>``. One ``imageInference`` task per image::

    {taskType: "imageInference", taskUUID: <uuid4>, model: "runware:glm-image@0",
     positivePrompt, width, height, seed, steps?, CFGScale?, numberResults: 1,
     outputType: "base64Data", outputFormat: "PNG", includeCost: true,
     deliveryMethod: "async", inputs?: {referenceImages: [<data URI>]}}

The answer is ``{data: [...], errors: [...]}``. With ``deliveryMethod: "async"`` (default)
the first answer only acknowledges the task; ``on_submit({"backend", "taskUUID"})`` is
called then, and ``[{taskType: "getResponse", taskUUID}]`` is polled until the generation's
``status`` is ``success`` (``imageBase64Data``, ``seed``, ``cost``) or it appears in
``errors``. ``request.resume`` polls the recorded taskUUID without submitting again.

A request carrying the brief's pictures (``request.references``, at most
:data:`MAX_REFERENCE_IMAGES`) sends them as PNG data URIs in ``inputs.referenceImages``
of the same ``imageInference`` task (the ``inputs.referenceImages`` list Runware's own SDK
sends; each item a URL, data URI or uploaded image UUID): GLM-Image on Runware is one
model for text-to-image and image-to-image.

``errors[]`` items (``code``, ``message``, ``parameter``) are mapped by code: invalid key →
AuthError, insufficient credits → QuotaExceeded, moderation → ContentRejected, rate limits →
RateLimited, timeouts/server errors → TransientError, invalid/unsupported parameters →
InvalidRequest. A result flagged ``NSFWContent`` is ContentRejected.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field, SecretStr

from generation import http
from generation.base import (
    BackendSpec, Capabilities, EditRequest, GeneratedImage, GenerationRequest, OnSubmit,
)
from generation.images import png_data_uri, reference_pngs
from generation.errors import (
    AuthError, BackendError, ContentRejected, InvalidRequest, QuotaExceeded, RateLimited,
    TransientError,
)
from generation.limits import GLM_IMAGE_LIMITS
from generation.remote import ProviderBackend, ProviderOptions

NAME = "runware"
KEY_SETTING = "SIGNWRITER_RUNWARE_API_KEY"
MODEL_AIR = "runware:glm-image@0"
COST_PER_IMAGE_USD = 0.0225  # at 1024x1024, Runware's model page
LIMITS = GLM_IMAGE_LIMITS
MAX_REFERENCE_IMAGES = 4
"""Reference images sent with one task (``inputs.referenceImages``)."""

_AUTH_WORDS = ("apikey", "unauthori", "authentication", "forbidden")
_QUOTA_WORDS = ("insufficientcredit", "insufficientfund", "credit", "balance", "payment",
                "quota")
_CONTENT_WORDS = ("moderation", "nsfw", "safety", "contentpolicy", "inappropriate")
_RATE_WORDS = ("ratelimit", "toomanyrequests", "concurrency", "throttl")
_TRANSIENT_WORDS = ("timeout", "timedout", "servererror", "internal", "unavailable",
                    "overload", "busy", "retry", "inferenceerror", "workerfailure")
_INVALID_WORDS = ("invalid", "unsupported", "missing", "notfound", "unknown", "conflict",
                  "exceed", "outofrange", "notallowed")


class RunwareOptions(ProviderOptions):
    """Options of the ``runware`` backend."""

    key_setting: ClassVar[str] = KEY_SETTING

    api_key: SecretStr | None = Field(None, description=f"Runware key ({KEY_SETTING}).")
    base_url: str = Field("https://api.runware.ai/v1", description="Runware REST endpoint.")
    model: str = Field(MODEL_AIR, description="AIR id of GLM-Image on Runware.")
    delivery: Literal["async", "sync"] = Field(
        "async", description="async: acknowledge + poll (resumable); sync: one long call.")
    steps: int | None = Field(None, ge=1, le=100, description="Diffusion steps.")
    cfg_scale: float | None = Field(None, ge=0, le=50, description="CFGScale.")
    output_format: Literal["PNG", "JPG", "WEBP"] = Field("PNG", description="Result format.")
    cost_per_image_usd: float = Field(COST_PER_IMAGE_USD, ge=0,
                                      description="Estimate when the API reports no cost.")


def error_from_item(item: dict[str, Any], *, attempt: str | None, status: int | None = None,
                    retry_after: float | None = None,
                    api_key: SecretStr | None = None) -> BackendError:
    """Map one Runware ``errors[]`` item to the error tree (by ``code``, then message)."""
    code = str(item.get("code") or "")
    message = http.redact(str(item.get("message") or ""), api_key)[: http.ERROR_BODY_CHARS]
    param = item.get("parameter")
    text = f"{code}: {message}" if code else message or "unknown error"
    if param:
        text += f" (parameter {param})"
    if status is not None:
        text = f"HTTP {status} {text}"
    kw: dict[str, Any] = {"backend": NAME, "attempt": attempt}
    probe = (code + " " + str(item.get("message") or "")).lower().replace(" ", "")
    low_code = code.lower()

    def has(words: tuple[str, ...], s: str) -> bool:
        return any(w in s for w in words)

    if has(_AUTH_WORDS, low_code) or status in (401, 403):
        return AuthError(f"{text}; check {KEY_SETTING}", **kw)
    if has(_QUOTA_WORDS, low_code) or status == 402:
        return QuotaExceeded(f"{text} (top up Runware credits)", **kw)
    if has(_CONTENT_WORDS, low_code) or (not code and has(_CONTENT_WORDS, probe)):
        return ContentRejected(text, **kw)
    if has(_RATE_WORDS, low_code) or status == 429:
        return RateLimited(text, retry_after=retry_after, **kw)
    if has(_TRANSIENT_WORDS, low_code) or (status is not None and status >= 500):
        return TransientError(text, **kw)
    if has(_INVALID_WORDS, low_code) or param or status in (400, 404, 422):
        return InvalidRequest(text, **kw)
    return TransientError(text, **kw)


CAPABILITIES = Capabilities(edit=True, paid=True, cost_per_image_usd=COST_PER_IMAGE_USD,
                            limits=LIMITS, reference_images=MAX_REFERENCE_IMAGES)

class RunwareBackend(ProviderBackend, name=NAME, options=RunwareOptions, declared=CAPABILITIES):
    """GLM-Image on Runware. ``RunwareBackend(**options)``; see :class:`RunwareOptions`."""


    # --- public ----------------------------------------------------------------------
    def generate(self, request: GenerationRequest, *,
                 on_submit: OnSubmit | None = None) -> GeneratedImage:
        """One imageInference task (async + getResponse polling by default)."""
        task = self._task(request.prompt, request.width, request.height, request.seed)
        if request.negative_prompt:
            task["negativePrompt"] = request.negative_prompt
        if request.references and not request.resume:
            refs = request.references[:MAX_REFERENCE_IMAGES]
            task["inputs"] = {"referenceImages": [png_data_uri(png) for png in reference_pngs(
                refs, backend=NAME, attempt=request.attempt_id)]}
        return self._run(task, request.width, request.height, request.seed,
                         request.attempt_id, request.resume, on_submit)

    def edit(self, request: EditRequest, *, on_submit: OnSubmit | None = None) -> GeneratedImage:
        """Image-to-image: the input goes inline in ``inputs.referenceImages``."""
        task = self._task(request.prompt, request.width, request.height, request.seed)
        if not request.resume:
            try:
                task["inputs"] = {"referenceImages": [http.data_uri(request.image_path)]}
            except OSError as exc:
                raise InvalidRequest(f"cannot read input image: {exc.strerror}",
                                     backend=NAME, attempt=request.attempt_id) from exc
        return self._run(task, request.width, request.height, request.seed,
                         request.attempt_id, request.resume, on_submit)

    # --- steps -----------------------------------------------------------------------
    def _task(self, prompt: str, width: int, height: int, seed: int) -> dict[str, Any]:
        opts = self.options
        task: dict[str, Any] = {
            "taskType": "imageInference",
            "taskUUID": str(uuid.uuid4()),
            "model": opts.model,
            "positivePrompt": prompt,
            "width": width,
            "height": height,
            "numberResults": 1,
            "outputType": "base64Data",
            "outputFormat": opts.output_format,
            "includeCost": True,
        }
        if seed > 0:
            task["seed"] = seed
        if opts.steps is not None:
            task["steps"] = opts.steps
        if opts.cfg_scale is not None:
            task["CFGScale"] = opts.cfg_scale
        if opts.delivery == "async":
            task["deliveryMethod"] = "async"
        return task

    def _run(self, task: dict[str, Any], width: int, height: int, seed: int,
             attempt: str | None, resume: dict[str, Any] | None,
             on_submit: OnSubmit | None) -> GeneratedImage:
        key = self._key(attempt)
        started = time.monotonic()
        return http.with_charges(self.options.cost_per_image_usd, lambda charges: (
            self._submit_and_fetch(task, width, height, seed, attempt, resume, on_submit, key,
                                   started, charges)))

    def _submit_and_fetch(self, task: dict[str, Any], width: int, height: int, seed: int,
                          attempt: str | None, resume: dict[str, Any] | None,
                          on_submit: OnSubmit | None, key: SecretStr, started: float,
                          charges: http.UncertainCharges) -> GeneratedImage:
        opts = self.options
        if resume:  # accepted before a crash: polled, not sent again
            charges.accept()
            task_uuid = resume.get("taskUUID")
            if not isinstance(task_uuid, str) or not task_uuid:
                raise InvalidRequest(f"resume handle has no taskUUID (keys: "
                                     f"{sorted(resume)})", backend=NAME, attempt=attempt)
            item = self._wait(key, task_uuid, attempt)
        else:
            opts.limits.require(width, height, backend=NAME, attempt=attempt)
            task_uuid = task["taskUUID"]
            body = self._tasks(key, [task], attempt, on_retry=charges.on_retry)
            charges.accept()
            item = self._find(body, task_uuid, attempt)
            if item is None or not self._done(item):
                if on_submit is not None:
                    on_submit({"backend": NAME, "taskUUID": task_uuid, "model": opts.model})
                item = self._wait(key, task_uuid, attempt)
        return self._image(item, task_uuid, width, height, seed, started, attempt)

    def _tasks(self, key: SecretStr, tasks: list[dict[str, Any]], attempt: str | None,
               on_retry: Callable[[BackendError], None] | None = None) -> dict[str, Any]:
        """POST a task array with retries; raises the first mapped ``errors[]`` item."""
        opts = self.options
        headers = {"Authorization": f"Bearer {http.secret(key)}"}

        def once() -> dict[str, Any]:
            try:
                response = self._client.post(opts.base_url, json=tasks, headers=headers)
            except httpx.HTTPError as exc:
                raise http.map_httpx_error(exc, NAME, attempt, key) from exc
            status = response.status_code
            if status >= 400:
                try:
                    body = response.json()
                except ValueError:
                    body = None
                errors = body.get("errors") if isinstance(body, dict) else None
                if isinstance(errors, list) and errors and isinstance(errors[0], dict):
                    raise error_from_item(errors[0], attempt=attempt, status=status,
                                          retry_after=http.parse_retry_after(response.headers),
                                          api_key=key)
                err = http.map_status(response, NAME, attempt, setting=KEY_SETTING,
                                      secrets=(key,))
                raise err if err is not None else TransientError(
                    f"HTTP {status}", backend=NAME, attempt=attempt)
            body = http.parse_json(response, NAME, attempt, key)
            if not isinstance(body, dict):
                raise TransientError("unexpected response shape (not an object)",
                                     backend=NAME, attempt=attempt)
            errors = body.get("errors")
            if isinstance(errors, list) and errors and isinstance(errors[0], dict):
                raise error_from_item(errors[0], attempt=attempt, api_key=key)
            return body

        return http.call_with_retries(once, backend=NAME, attempt=attempt, policy=self.retry,
                                      secrets=(key,), on_retry=on_retry)

    @staticmethod
    def _find(body: dict[str, Any], task_uuid: str, attempt: str | None) -> dict[str, Any] | None:
        data = body.get("data")
        if not isinstance(data, list):
            raise TransientError("response has no data array", backend=NAME, attempt=attempt)
        for item in data:
            if isinstance(item, dict) and item.get("taskUUID") == task_uuid:
                return item
        return None

    @staticmethod
    def _done(item: dict[str, Any]) -> bool:
        return bool(item.get("imageBase64Data")) or str(item.get("status", "")) == "success"

    def _wait(self, key: SecretStr, task_uuid: str, attempt: str | None) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            body = self._tasks(key, [{"taskType": "getResponse", "taskUUID": task_uuid}],
                               attempt)
            item = self._find(body, task_uuid, attempt)
            if item is None:
                return None
            status = str(item.get("status") or "")
            if status == "error":
                raise error_from_item(item, attempt=attempt, api_key=key)
            return item if self._done(item) else None

        return self._poll(check, attempt, f"Runware task {task_uuid}")

    def _image(self, item: dict[str, Any], task_uuid: str, width: int, height: int,
               seed: int, started: float, attempt: str | None) -> GeneratedImage:
        opts = self.options
        if item.get("NSFWContent"):
            raise ContentRejected("Runware flagged the result as NSFW content", backend=NAME,
                                  attempt=attempt)
        data, media = http.decode_image_b64(str(item.get("imageBase64Data") or ""),
                                            backend=NAME, attempt=attempt,
                                            what="imageBase64Data")
        cost = item.get("cost")
        used_seed = item.get("seed")
        return GeneratedImage(
            data=data, media_type=media, width=width, height=height,
            seed=int(used_seed) if isinstance(used_seed, int) else seed, backend=NAME,
            model=opts.model, elapsed_s=time.monotonic() - started,
            cost_usd=float(cost) if isinstance(cost, int | float) else opts.cost_per_image_usd,
            metadata={"taskUUID": task_uuid, "imageUUID": item.get("imageUUID"),
                      "cost_reported": isinstance(cost, int | float),
                      "delivery": opts.delivery})


BACKEND = BackendSpec(
    name=NAME, summary="GLM-Image on Runware: imageInference tasks (text-to-image, "
    "edit, reference images)",
    factory=RunwareBackend, options=RunwareOptions, capabilities=CAPABILITIES,
    settings=("api_key", "base_url"), key="api_key", key_required=True, url="base_url")
