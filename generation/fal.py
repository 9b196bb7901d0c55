"""GLM-Image on fal's queue API (``backend = "fal"``).

Protocol (docs.fal.ai, Model APIs → queue), ``Authorization: Key <key>``:

1. submit ``POST {base}/fal-ai/glm-image`` (or ``…/glm-image/image-to-image`` with
   ``image_urls``) → ``{request_id, status_url, response_url, cancel_url}``;
2. poll ``GET status_url`` → ``{status: IN_QUEUE | IN_PROGRESS | COMPLETED}``;
3. fetch ``GET response_url`` → ``{images: [{url, width, height, content_type}], seed,
   has_nsfw_concepts, timings}`` — or the model's error (``{detail: [{type, msg, …}]}``).

A request carrying the brief's pictures as reference images (``request.references``, at
most :data:`MAX_INPUT_IMAGES`) goes to the image-to-image endpoint with them as PNG data
URIs in ``image_urls`` (GLM-Image's multi-image conditioning: products, logo, background).

``on_submit`` gets ``{backend, request_id, status_url, response_url, model}`` right after
fal accepted the request; ``request.resume`` with that handle polls it instead of paying
again. Result images are downloaded at once.

Errors: the ``X-Fal-Retryable`` response header decides when present ("true" → retried,
"false" → never); otherwise the status does (429/5xx retried). A 422 whose ``detail`` type
is ``content_policy_violation`` — or a result flagged ``has_nsfw_concepts`` — is
``ContentRejected``. fal bills per megapixel (≈ $0.15/MP for GLM-Image).
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
from generation.images import png_data_uri, reference_pngs
from generation.errors import (
    AuthError, BackendError, ContentRejected, InvalidRequest, QuotaExceeded, RateLimited,
    TransientError,
)
from generation.limits import GLM_IMAGE_LIMITS
from generation.remote import ProviderBackend, ProviderOptions

NAME = "fal"
KEY_SETTING = "SIGNWRITER_FAL_API_KEY"
COST_PER_MEGAPIXEL_USD = 0.15
LIMITS = GLM_IMAGE_LIMITS
"""fal runs GLM-Image as it is: 512–2048 px per side, multiples of 32."""
MAX_INPUT_IMAGES = 4
"""Reference images sent with one request (``image_urls``)."""

ImageSizePreset = Literal["square_hd", "square", "portrait_4_3", "portrait_16_9",
                          "landscape_4_3", "landscape_16_9"]
CONTENT_TYPES = frozenset({"content_policy_violation", "nsfw_content_detected",
                           "content_moderation"})


class FalOptions(ProviderOptions):
    """Options of the ``fal`` backend."""

    key_setting: ClassVar[str] = KEY_SETTING

    api_key: SecretStr | None = Field(None, description=f"fal key ({KEY_SETTING}).")
    base_url: str = Field("https://queue.fal.run", description="fal queue base URL.")
    poll_timeout_s: float = Field(900.0, gt=0, description="Give up polling after this.")
    model: str = Field("fal-ai/glm-image", description="Text-to-image endpoint id.")
    edit_model: str = Field("fal-ai/glm-image/image-to-image",
                            description="Image-to-image endpoint id.")
    image_size: ImageSizePreset | None = Field(
        None, description="A fal preset; None sends the request's exact {width, height}.")
    num_inference_steps: int | None = Field(None, ge=1, le=100, description="Diffusion steps.")
    guidance_scale: float = Field(1.5, ge=0, description="Classifier-free guidance.")
    num_images: int = Field(1, ge=1, le=4, description="Images per request (first is used).")
    enable_safety_checker: bool = Field(True, description="fal's NSFW checker.")
    output_format: Literal["png", "jpeg", "webp"] = Field("png", description="Result format.")
    cost_per_megapixel_usd: float = Field(COST_PER_MEGAPIXEL_USD, ge=0,
                                          description="For budgets.")


def _detail_types(body: Any) -> list[str]:
    if isinstance(body, dict) and isinstance(body.get("detail"), list):
        return [str(d.get("type", "")) for d in body["detail"] if isinstance(d, dict)]
    return []


def _detail_text(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    detail = body.get("detail")
    if isinstance(detail, list):
        parts = []
        for d in detail:
            if isinstance(d, dict):
                loc = ".".join(str(x) for x in d.get("loc") or [])
                parts.append(f"{d.get('type', '')}: {d.get('msg', '')}" + (f" ({loc})" if loc
                                                                          else ""))
        return "; ".join(parts)
    if detail is not None:
        return str(detail)
    return str(body.get("error") or body.get("message") or "")


def error_from_response(response: httpx.Response, *, attempt: str | None,
                        api_key: SecretStr | None = None) -> BackendError | None:
    """Map a fal error response, honouring ``X-Fal-Retryable``."""
    status = response.status_code
    if status < 400:
        return None
    try:
        body = response.json()
    except ValueError:
        body = None
    text = http.redact(_detail_text(body), api_key)[: http.ERROR_BODY_CHARS]
    if not text:
        text = http.body_excerpt(response, api_key)
    error_type = response.headers.get("x-fal-error-type") or (
        body.get("error_type") if isinstance(body, dict) else None)
    label = f"HTTP {status}" + (f" {error_type}" if error_type else "")
    msg = f"{label}: {text}" if text else label
    kw: dict[str, Any] = {"backend": NAME, "attempt": attempt}
    types = set(_detail_types(body))
    if types & CONTENT_TYPES:
        return ContentRejected(f"content policy: {msg}", **kw)
    retryable = (response.headers.get("x-fal-retryable") or "").strip().lower()
    if retryable == "true":
        if status == 429:
            return RateLimited(msg, retry_after=http.parse_retry_after(response.headers), **kw)
        return TransientError(msg, **kw)
    lowered = text.lower()
    if status in (401, 403) and ("balance" in lowered or "locked" in lowered
                                  or "billing" in lowered):
        return QuotaExceeded(f"{msg} (top up the fal balance)", **kw)
    if status in (401, 403):
        return AuthError(f"the provider refused the credential ({msg}); check {KEY_SETTING}",
                         **kw)
    if retryable == "false" and (status == 429 or status >= 500):
        return BackendError(f"{msg} (fal marked it not retryable)", **kw)
    if status == 422:
        return InvalidRequest(msg, **kw)
    return http.map_status(response, NAME, attempt, setting=KEY_SETTING, detail=msg,
                           secrets=(api_key,))


CAPABILITIES = Capabilities(
    edit=True, paid=True, limits=LIMITS, reference_images=MAX_INPUT_IMAGES,
    cost_per_image_usd=round(COST_PER_MEGAPIXEL_USD * 1024 * 1024 / 1e6, 6))

class FalBackend(ProviderBackend, name=NAME, options=FalOptions, declared=CAPABILITIES,
                 auth_scheme="Key"):
    """GLM-Image on fal. ``FalBackend(**options)``; see :class:`FalOptions`."""


    def price(self, width: int, height: int) -> float:
        """fal bills GLM-Image per megapixel of output."""
        o = self.options
        return round(o.cost_per_megapixel_usd * width * height / 1e6 * max(1, o.num_images), 6)

    # --- public ----------------------------------------------------------------------
    def generate(self, request: GenerationRequest, *,
                 on_submit: OnSubmit | None = None) -> GeneratedImage:
        """Submit to the queue (or resume), poll, fetch the result, download the image.
        With reference images, the image-to-image endpoint gets them in ``image_urls``."""
        payload = self._payload(request.prompt, request.width, request.height, request.seed)
        if request.negative_prompt:
            payload["negative_prompt"] = request.negative_prompt
        model = self.options.model
        if request.references and not request.resume:
            refs = request.references[:MAX_INPUT_IMAGES]
            payload["image_urls"] = [png_data_uri(png) for png in reference_pngs(
                refs, backend=NAME, attempt=request.attempt_id)]
            model = self.options.edit_model
        return self._run(model, payload, request.width, request.height,
                         request.seed, request.attempt_id, request.resume, on_submit)

    def edit(self, request: EditRequest, *, on_submit: OnSubmit | None = None) -> GeneratedImage:
        """Image-to-image: the input goes inline as a data URI in ``image_urls``."""
        payload = self._payload(request.prompt, request.width, request.height, request.seed)
        if not request.resume:
            try:
                payload["image_urls"] = [http.data_uri(request.image_path)]
            except OSError as exc:
                raise InvalidRequest(f"cannot read input image: {exc.strerror}",
                                     backend=NAME, attempt=request.attempt_id) from exc
        return self._run(self.options.edit_model, payload, request.width, request.height,
                         request.seed, request.attempt_id, request.resume, on_submit)

    # --- steps -----------------------------------------------------------------------
    def _payload(self, prompt: str, width: int, height: int, seed: int) -> dict[str, Any]:
        opts = self.options
        payload: dict[str, Any] = {
            "prompt": prompt,
            "image_size": opts.image_size or {"width": width, "height": height},
            "guidance_scale": opts.guidance_scale,
            "seed": seed,
            "num_images": opts.num_images,
            "enable_safety_checker": opts.enable_safety_checker,
            "output_format": opts.output_format,
        }
        if opts.num_inference_steps is not None:
            payload["num_inference_steps"] = opts.num_inference_steps
        return payload

    def _run(self, model: str, payload: dict[str, Any], width: int, height: int, seed: int,
             attempt: str | None, resume: dict[str, Any] | None,
             on_submit: OnSubmit | None) -> GeneratedImage:
        key = self._key(attempt)
        started = time.monotonic()
        return http.with_charges(self.price(width, height), lambda charges: self._submit_and_fetch(
            model, payload, width, height, seed, attempt, resume, on_submit, key, started,
            charges))

    def _submit_and_fetch(self, model: str, payload: dict[str, Any], width: int, height: int,
                          seed: int, attempt: str | None, resume: dict[str, Any] | None,
                          on_submit: OnSubmit | None, key: SecretStr, started: float,
                          charges: http.UncertainCharges) -> GeneratedImage:
        opts = self.options
        if resume:  # accepted before a crash: polled, not sent again
            charges.accept()
            handle = self._handle(resume, attempt)
        else:
            if opts.image_size is None:
                opts.limits.require(width, height, backend=NAME, attempt=attempt)
            submitted = self._call(key, "POST", f"{opts.base_url.rstrip('/')}/{model}", attempt,
                                   json=payload, on_retry=charges.on_retry)
            charges.accept()
            handle = self._handle({**submitted, "model": model}, attempt)
            if on_submit is not None:
                on_submit(dict(handle))
        self._wait(key, handle, attempt)
        result = self._call(key, "GET", handle["response_url"], attempt)
        return self._image(result, handle, width, height, seed, started, attempt)

    @staticmethod
    def _handle(data: dict[str, Any], attempt: str | None) -> dict[str, Any]:
        missing = [k for k in ("request_id", "status_url", "response_url")
                   if not isinstance(data.get(k), str) or not data.get(k)]
        if missing:
            raise InvalidRequest(f"fal request handle lacks {', '.join(missing)}",
                                 backend=NAME, attempt=attempt)
        return {"backend": NAME, "request_id": data["request_id"],
                "status_url": data["status_url"], "response_url": data["response_url"],
                "model": data.get("model")}

    def _error(self, response: httpx.Response, attempt: str | None,
               key: SecretStr) -> BackendError | None:
        return error_from_response(response, attempt=attempt, api_key=key)

    def _wait(self, key: SecretStr, handle: dict[str, Any], attempt: str | None) -> None:
        def check() -> bool | None:
            body = self._call(key, "GET", handle["status_url"], attempt)
            status = str(body.get("status") or "").upper()
            if status == "COMPLETED":
                return True
            if status in ("IN_QUEUE", "IN_PROGRESS"):
                return None
            raise TransientError(f"unexpected queue status {status!r} for request "
                                 f"{handle['request_id']}", backend=NAME, attempt=attempt)

        self._poll(check, attempt, f"fal request {handle['request_id']}")

    def _image(self, result: dict[str, Any], handle: dict[str, Any],
               width: int, height: int, seed: int, started: float,
               attempt: str | None) -> GeneratedImage:
        opts = self.options
        images = result.get("images") or []
        nsfw = result.get("has_nsfw_concepts") or []
        if nsfw and nsfw[0]:
            raise ContentRejected("fal's safety checker flagged the result (has_nsfw_concepts)",
                                  backend=NAME, attempt=attempt)
        if not images or not isinstance(images[0], dict) or not images[0].get("url"):
            raise TransientError(f"fal result for {handle['request_id']} has no image",
                                 backend=NAME, attempt=attempt)
        first = images[0]
        data, media = self._download(str(first["url"]), attempt)
        out_w = int(first.get("width") or width)
        out_h = int(first.get("height") or height)
        used_seed = result.get("seed")
        metadata: dict[str, Any] = {
            "request_id": handle["request_id"],
            "endpoint": handle.get("model"),
            "result_url": http.safe_url(str(first["url"])),
            "has_nsfw_concepts": list(nsfw),
            "timings": result.get("timings") or {},
            "images_returned": len(images),
        }
        return GeneratedImage(
            data=data, media_type=media, width=out_w, height=out_h,
            seed=int(used_seed) if isinstance(used_seed, int) else seed, backend=NAME,
            model=str(handle.get("model") or opts.model), elapsed_s=time.monotonic() - started,
            cost_usd=round(opts.cost_per_megapixel_usd * out_w * out_h / 1e6 * len(images), 6),
            metadata=metadata)


BACKEND = BackendSpec(
    name=NAME, summary="GLM-Image on fal's queue API: fal-ai/glm-image, and "
    "/image-to-image for edits and reference images",
    factory=FalBackend, options=FalOptions, capabilities=CAPABILITIES,
    settings=("api_key", "base_url"), key="api_key", key_required=True, url="base_url")
