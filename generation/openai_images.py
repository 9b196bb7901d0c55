"""``openai-images``: GLM-Image on self-hosted servers speaking the OpenAI Images API
(SGLang's diffusion server, ``sglang serve --model-path zai-org/GLM-Image``).

- text-to-image: ``POST {url}/v1/images/generations`` with JSON ``model, prompt,
  size "WxH", n=1, response_format "b64_json", seed`` plus SGLang's extensions
  ``num_inference_steps``, ``guidance_scale`` and ``negative_prompt``;
- edit: ``POST {url}/v1/images/edits`` as multipart form data: the source ``image`` file
  and the same fields as form values;
- reference images: a new picture that carries the brief's pictures
  (``request.references``, at most :data:`MAX_REFERENCE_IMAGES`) goes to
  ``/v1/images/edits`` with one ``image`` file part per picture (PNG), the way SGLang's
  diffusion server takes several input images (``image`` as a list of files);
- the answer is ``{"data": [{"b64_json": ...}]}`` (a ``url`` item is fetched at once).

Requests go through a :class:`~generation.pool.ServerPool` over every URL in ``urls``
(``SIGNWRITER_OPENAI_IMAGES_URLS``): at most ``per_server_concurrency`` requests per
server, least-loaded first, fail-over when a server cannot be reached. Transient
failures (timeouts, 5xx, 429 with ``Retry-After``, dropped connections, malformed JSON or
base64) are retried with backoff; the key, if any, never appears in errors or metadata.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import httpx

from generation.base import (
    BackendSpec, Capabilities, EditRequest, GLM_IMAGE_LIMITS, GeneratedImage, GenerationRequest,
    OnSubmit,
)
from generation.errors import TransientError
from generation.http import decode_image_b64, parse_json
from generation.images import reference_pngs
from generation.pool import PooledBackend, PooledServerOptions

NAME = "openai-images"

GENERATIONS_PATH = "/v1/images/generations"
EDITS_PATH = "/v1/images/edits"
MAX_REFERENCE_IMAGES = 4
"""Reference images sent with one request (``image`` file parts)."""


class OpenAIImagesOptions(PooledServerOptions):
    """Options of the ``openai-images`` backend (SGLang and other OpenAI-Images servers)."""

    urls_setting: ClassVar[str] = "SIGNWRITER_OPENAI_IMAGES_URLS"
    key_setting: ClassVar[str] = "SIGNWRITER_OPENAI_IMAGES_API_KEY"


class OpenAIImagesBackend(PooledBackend):
    """GLM-Image on a pool of OpenAI-Images-compatible servers (text-to-image and edit)."""

    name: ClassVar[str] = NAME
    options_class: ClassVar[type[PooledServerOptions]] = OpenAIImagesOptions
    capabilities: ClassVar[Capabilities] = Capabilities(
        edit=True, limits=GLM_IMAGE_LIMITS, reference_images=MAX_REFERENCE_IMAGES)

    def _fields(self, prompt: str, width: int, height: int, seed: int,
                negative_prompt: str | None) -> dict[str, Any]:
        return {"model": self.options.model, "prompt": prompt, "size": f"{width}x{height}",
                "n": 1, "response_format": "b64_json", "seed": seed,
                **self._tuning(negative_prompt)}

    def generate(self, request: GenerationRequest, *,
                 on_submit: OnSubmit | None = None) -> GeneratedImage:
        """Draw a new image on the least-loaded healthy server."""
        attempt = request.attempt_id
        self._check_size(request.width, request.height, attempt)
        body = self._fields(request.prompt, request.width, request.height, request.seed,
                            request.negative_prompt)
        refs = request.references[:MAX_REFERENCE_IMAGES]
        pngs = reference_pngs(refs, backend=self.name, attempt=attempt)
        started = time.monotonic()

        def send(client: httpx.Client, base_url: str) -> httpx.Response:
            if pngs:  # the brief's pictures as input images of an edit
                files = [("image", (f"reference-{i + 1}.png", png, "image/png"))
                         for i, png in enumerate(pngs)]
                return client.post(base_url + EDITS_PATH, files=files, headers=self._headers(),
                                   data={k: str(v) for k, v in body.items()})
            return client.post(base_url + GENERATIONS_PATH, json=body, headers=self._headers())

        data, media, server, extra = self._request(send, self._parser(attempt),
                                                   attempt=attempt)
        extra["mode"] = "text_to_image"
        if pngs:
            extra["reference_images"] = len(pngs)
        return self._result(data, media, seed=request.seed, started=started, server=server,
                            width=request.width, height=request.height, extra=extra)

    def edit(self, request: EditRequest, *, on_submit: OnSubmit | None = None) -> GeneratedImage:
        """Image-to-image through ``/v1/images/edits`` (the region hint is not sent)."""
        attempt = request.attempt_id
        self._check_size(request.width, request.height, attempt)
        source = self._read_source(request.image_path, attempt)
        fields = self._fields(request.prompt, request.width, request.height, request.seed,
                              None)
        form = {k: str(v) for k, v in fields.items()}
        started = time.monotonic()

        def send(client: httpx.Client, base_url: str) -> httpx.Response:
            files = {"image": ("image.png", source, "image/png")}
            return client.post(base_url + EDITS_PATH, data=form, files=files,
                               headers=self._headers())

        data, media, server, extra = self._request(send, self._parser(attempt),
                                                   attempt=attempt)
        extra["mode"] = "edit"
        if request.region is not None:
            extra["region_ignored"] = True
        return self._result(data, media, seed=request.seed, started=started, server=server,
                            width=request.width, height=request.height, extra=extra)

    def _parser(self, attempt: str | None):
        def parse(response: httpx.Response,
                  base_url: str) -> tuple[bytes, str, str, dict[str, Any]]:
            body = parse_json(response, self.name, attempt, self.options.api_key)
            items = body.get("data") if isinstance(body, dict) else None
            if not isinstance(items, list) or not items or not isinstance(items[0], dict):
                raise TransientError("response has no data[0] image item",
                                     backend=self.name, attempt=attempt)
            item = items[0]
            extra: dict[str, Any] = {}
            if isinstance(body.get("inference_time_s"), int | float):
                extra["server_inference_s"] = body["inference_time_s"]
            if item.get("b64_json"):
                data, media = decode_image_b64(item["b64_json"], backend=self.name,
                                               attempt=attempt, what="data[0].b64_json")
            elif item.get("url"):
                data, media = self._download(str(item["url"]), attempt)
            else:
                raise TransientError("data[0] has neither b64_json nor url",
                                     backend=self.name, attempt=attempt)
            return data, media, base_url, extra

        return parse


BACKEND = BackendSpec(
    name=NAME, summary="GLM-Image on self-hosted servers speaking the OpenAI "
    "/v1/images API (SGLang): generations and edits, a pool of servers",
    factory=OpenAIImagesBackend, options=OpenAIImagesOptions, capabilities=OpenAIImagesBackend.capabilities,
    settings=("urls", "api_key"), key="api_key", url="urls", health_path="/v1/models")
