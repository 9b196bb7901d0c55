"""A local vLLM-Omni server: GLM-Image through ``POST /v1/chat/completions``, with failures.

The diffusion parameters arrive as top-level JSON fields (``height``, ``width``,
``num_inference_steps``, ``guidance_scale``, ``seed``); an edit sends the source image
as an ``image_url`` data-URL part of the user message. The answer is an assistant
message whose content is a list with one ``image_url`` part (``content_style="parts"``,
as vLLM-Omni documents) or the data URL as a plain string (``content_style="string"``).

Provider faults (plus the generic ones of
:class:`~tests.servers.provider_server.ProviderServer`): ``"badb64"`` (a data URL whose
payload is not base64), ``"text"`` (the assistant answers with text, no image),
``"nochoices"`` (200 with an empty ``choices`` list), ``"invalid"`` (400, vLLM's
``{"error": {"message"}}`` shape).
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any, Literal

from PIL import Image

from tests.servers.openai_images_server import InFlight
from tests.servers.provider_server import ProviderServer, Recorded, Reply, image_from_data_uri


class VllmOmniServer(ProviderServer):
    """Speaks vLLM-Omni's chat-completions image generation; ``url`` is the base URL."""

    def __init__(self, work_s: float = 0.0,
                 content_style: Literal["parts", "string"] = "parts") -> None:
        super().__init__()
        self.work_s = work_s
        self.content_style = content_style
        self.in_flight = InFlight()
        self.received_images: list[Image.Image] = []
        self.request_images: list[list[Image.Image]] = []
        """Per request with a list content, its decoded ``image_url`` parts."""

    @property
    def max_in_flight(self) -> int:
        return self.in_flight.max

    def classify(self, method: str, path: str) -> str:
        if method == "POST" and path == "/v1/chat/completions":
            return "chat"
        return super().classify(method, path)

    def route(self, route: str, rec: Recorded, fault: str | None) -> Reply:
        if route != "chat":
            return super().route(route, rec, fault)
        with self.in_flight:
            if self.work_s:
                time.sleep(self.work_s)
            try:
                body = json.loads(rec.body)
                content = body["messages"][-1]["content"]
            except (ValueError, KeyError, IndexError, TypeError):
                return Reply(400, {"error": {"message": "messages are required",
                                             "type": "BadRequestError", "code": 400}})
            return self._answer(body, content, fault)

    def _answer(self, body: dict[str, Any], content: Any, fault: str | None) -> Reply:
        if fault == "invalid":
            return Reply(400, {"error": {"message": "height must be divisible by 32",
                                         "type": "BadRequestError", "code": 400}})
        if isinstance(content, list):
            images = []
            for part in content:
                if not isinstance(part, dict) or part.get("type") not in ("text", "image_url"):
                    return Reply(400, {"error": {"message": "unknown content part",
                                                 "type": "BadRequestError", "code": 400}})
                if part["type"] != "image_url":
                    continue
                im = image_from_data_uri((part.get("image_url") or {}).get("url", ""))
                if im is None:
                    return Reply(400, {"error": {"message": "image_url is not a base64 "
                                                 "data URL of an image",
                                                 "type": "BadRequestError", "code": 400}})
                images.append(im)
            self.received_images.extend(images)
            self.request_images.append(images)
        width, height = int(body.get("width", 1024)), int(body.get("height", 1024))
        if fault == "text":
            message: Any = "I am a language model and cannot draw."
        else:
            if fault == "badb64":
                payload = "%%% not base64 %%%"
            else:
                prompt = content if isinstance(content, str) else " ".join(
                    p.get("text", "") for p in content if isinstance(p, dict))
                payload = base64.b64encode(self.paint(width, height, f"seed {body.get('seed')}",
                                                      prompt)).decode()
            data_url = f"data:image/png;base64,{payload}"
            if self.content_style == "string":
                message = data_url
            else:
                message = [{"type": "image_url", "image_url": {"url": data_url}}]
        choices = [] if fault == "nochoices" else [{
            "index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": message}}]
        return Reply(200, {"id": "chatcmpl-1", "object": "chat.completion",
                           "created": int(time.time()), "model": body.get("model", ""),
                           "choices": choices, "usage": {}})
