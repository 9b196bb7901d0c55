"""``vllm-omni``: GLM-Image served by vLLM-Omni (``vllm serve zai-org/GLM-Image --omni``).

vLLM-Omni generates images through the chat endpoint, ``POST {url}/v1/chat/completions``:

- the prompt is the user message; for an edit the message content is a list with a
  ``text`` part and an ``image_url`` part holding the source image as a base64 data URL
  (as vLLM-Omni's GLM-Image guide documents for image-to-image);
- reference images: a new picture that carries the brief's pictures
  (``request.references``, at most :data:`MAX_REFERENCE_IMAGES`) sends each as one more
  ``image_url`` part (a PNG data URL) after the text part — GLM-Image conditions on every
  input image of the message;
- the diffusion parameters (``height``, ``width``, ``num_inference_steps``,
  ``guidance_scale``, ``seed``, ``negative_prompt``) are top-level fields of the JSON body
  — what the OpenAI SDK's ``extra_body=`` produces, which the server accepts;
- the image comes back in ``choices[0].message.content``: a list of parts with
  ``{"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}}``, or (older
  servers) the data URL as a plain string. Both are read; an ``http(s)`` URL is fetched.

Requests go through a :class:`~generation.pool.ServerPool` over ``urls``
(``SIGNWRITER_VLLM_OMNI_URLS``), with the same retries and fail-over as ``openai-images``.
"""

from __future__ import annotations

import base64
import time
from typing import Any, ClassVar

import httpx

from generation.base import (
    BackendSpec, Capabilities, EditRequest, GLM_IMAGE_LIMITS, GeneratedImage, GenerationRequest,
    OnSubmit,
)
from generation.errors import TransientError
from generation.http import decode_image_b64, parse_json, sniff_media_type
from generation.images import png_data_uri, reference_pngs
from generation.pool import PooledBackend, PooledServerOptions

NAME = "vllm-omni"

CHAT_PATH = "/v1/chat/completions"
MAX_REFERENCE_IMAGES = 4
"""Reference images sent with one request (``image_url`` parts)."""


class VllmOmniOptions(PooledServerOptions):
    """Options of the ``vllm-omni`` backend."""

    urls_setting: ClassVar[str] = "SIGNWRITER_VLLM_OMNI_URLS"
    key_setting: ClassVar[str] = "SIGNWRITER_VLLM_OMNI_API_KEY"


def find_image_url(content: Any) -> str | None:
    """The image URL in an assistant message's ``content`` (list of parts or a string)."""
    if isinstance(content, str):
        text = content.strip()
        return text if text.startswith(("data:image/", "http://", "https://")) else None
    if isinstance(content, list):
        for part in content:
            if not isinstance(part, dict):
                continue
            image_url = part.get("image_url")
            if isinstance(image_url, dict) and isinstance(image_url.get("url"), str):
                return image_url["url"]
            if isinstance(image_url, str):
                return image_url
    return None


class VllmOmniBackend(PooledBackend):
    """GLM-Image on a pool of vLLM-Omni servers (text-to-image and image-to-image)."""

    name: ClassVar[str] = NAME
    options_class: ClassVar[type[PooledServerOptions]] = VllmOmniOptions
    capabilities: ClassVar[Capabilities] = Capabilities(
        edit=True, limits=GLM_IMAGE_LIMITS, reference_images=MAX_REFERENCE_IMAGES)

    def _body(self, content: str | list[dict[str, Any]], width: int, height: int, seed: int,
              negative_prompt: str | None) -> dict[str, Any]:
        return {"model": self.options.model,
                "messages": [{"role": "user", "content": content}],
                "height": height, "width": width, "seed": seed,
                **self._tuning(negative_prompt)}

    def generate(self, request: GenerationRequest, *,
                 on_submit: OnSubmit | None = None) -> GeneratedImage:
        """Draw a new image on the least-loaded healthy server."""
        attempt = request.attempt_id
        self._check_size(request.width, request.height, attempt)
        pngs = reference_pngs(request.references[:MAX_REFERENCE_IMAGES], backend=self.name,
                              attempt=attempt)
        content: str | list[dict[str, Any]] = request.prompt
        extra: dict[str, Any] = {"mode": "text_to_image"}
        if pngs:
            content = [{"type": "text", "text": request.prompt},
                       *({"type": "image_url", "image_url": {"url": png_data_uri(png)}}
                         for png in pngs)]
            extra["reference_images"] = len(pngs)
        body = self._body(content, request.width, request.height, request.seed,
                          request.negative_prompt)
        return self._chat(body, request.seed, request.width, request.height, attempt, extra)

    def edit(self, request: EditRequest, *, on_submit: OnSubmit | None = None) -> GeneratedImage:
        """Image-to-image: the source image goes in as an ``image_url`` data-URL part."""
        attempt = request.attempt_id
        self._check_size(request.width, request.height, attempt)
        source = self._read_source(request.image_path, attempt)
        media = sniff_media_type(source) or "image/png"
        data_url = f"data:{media};base64,{base64.b64encode(source).decode('ascii')}"
        content = [{"type": "text", "text": request.prompt},
                   {"type": "image_url", "image_url": {"url": data_url}}]
        body = self._body(content, request.width, request.height, request.seed, None)
        extra: dict[str, Any] = {"mode": "edit"}
        if request.region is not None:
            extra["region_ignored"] = True
        return self._chat(body, request.seed, request.width, request.height, attempt, extra)

    def _chat(self, body: dict[str, Any], seed: int, width: int, height: int,
              attempt: str | None, extra: dict[str, Any]) -> GeneratedImage:
        started = time.monotonic()

        def send(client: httpx.Client, base_url: str) -> httpx.Response:
            return client.post(base_url + CHAT_PATH, json=body, headers=self._headers())

        def parse(response: httpx.Response, base_url: str) -> tuple[bytes, str, str]:
            answer = parse_json(response, self.name, attempt, self.options.api_key)
            try:
                content = answer["choices"][0]["message"]["content"]
            except (KeyError, IndexError, TypeError) as exc:
                raise TransientError("response has no choices[0].message.content",
                                     backend=self.name, attempt=attempt) from exc
            url = find_image_url(content)
            if url is None:
                shown = content[:80] if isinstance(content, str) else type(content).__name__
                raise TransientError(f"the assistant message holds no image ({shown!r})",
                                     backend=self.name, attempt=attempt)
            if url.startswith("data:"):
                data, media = decode_image_b64(url, backend=self.name, attempt=attempt,
                                               what="the image data URL")
            else:
                data, media = self._download(url, attempt)
            return data, media, base_url

        data, media, server = self._request(send, parse, attempt=attempt)
        return self._result(data, media, seed=seed, started=started, server=server,
                            width=width, height=height, extra=extra)


BACKEND = BackendSpec(
    name=NAME, summary="GLM-Image on self-hosted vLLM-Omni servers "
    "(/v1/chat/completions), a pool of servers",
    factory=VllmOmniBackend, options=VllmOmniOptions, capabilities=VllmOmniBackend.capabilities,
    settings=("urls", "api_key"), key="api_key", url="urls", health_path="/v1/models")
