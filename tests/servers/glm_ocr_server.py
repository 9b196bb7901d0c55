"""A local GLM-OCR: the three ways Z.ai's GLM-OCR (0.9 B) is served, with their failures.

Routes (scripted and logged as in :class:`~tests.servers.provider_server.ProviderServer`):

``chat``     POST /v1/chat/completions — vLLM / SGLang (``--served-model-name glm-ocr``)
             and Ollama's OpenAI-compatible API. The request must be GLM-OCR's: one user
             message whose content is an ``image_url`` data URL and the task prompt
             ``Text Recognition:``; anything else is vLLM's 400 error object.
``generate`` POST /api/generate — Ollama's native API: ``prompt``, ``images`` (base64),
             ``stream: false``; answers ``{"response": ..., "done": true}``.
``layout``   POST /api/paas/v4/layout_parsing — Z.ai's hosted layout-parsing API:
             ``{"model": "glm-ocr", "file": <data URL>}`` with a Bearer key; answers
             ``md_results`` and ``layout_details`` (text regions in reading order).

What the "model" reads is :attr:`GlmOcrServer.reads` — a string, or a function of the
decoded image (a PIL image) — so a test decides the transcription while the server still
checks that a real, decodable image of at least GLM-OCR's minimum size arrived.

Faults (``server.script(route, fault, ...)``), besides the generic ``"500"``, ``"503"``,
``"429"``, ``"timeout"``, ``"drop"``, ``"badjson"``:
``"auth"`` (401: vLLM's ``{"error": "Unauthorized"}``, Z.ai's code 1002),
``"no-model"`` (404 model not found, in each server's shape),
``"429-balance"`` (Z.ai 429 code 1113), ``"429-concurrency"`` (Z.ai 429 code 1302),
``"ollama-error"`` (Ollama's 200 with an ``error`` field), ``"empty"`` (a reply that
carries no text: an empty completion / no text regions).
"""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Callable
from typing import Any

from PIL import Image

from tests.servers.provider_server import ProviderServer, Recorded, Reply

GLM_OCR_PROMPT = "Text Recognition:"
MIN_PIXELS = 112 * 112
ZAI_PREFIX = "/api/paas/v4"


class GlmOcrServer(ProviderServer):
    """Speaks GLM-OCR's serving protocols; ``chat_url``/``ollama_url``/``zai_url`` are
    what ``SIGNWRITER_VISION_BASE_URL`` should be for each."""

    def __init__(self, *, api_key: str | None = None, model: str = "glm-ocr") -> None:
        super().__init__()
        self.api_key = api_key
        self.model = model
        self.reads: str | Callable[[Image.Image], str] = ""
        self.images_seen: list[Image.Image] = []

    @property
    def chat_url(self) -> str:
        return self.url + "/v1"

    @property
    def ollama_url(self) -> str:
        return self.url

    @property
    def zai_url(self) -> str:
        return self.url + ZAI_PREFIX

    def classify(self, method: str, path: str) -> str:
        if method == "POST" and path == "/v1/chat/completions":
            return "chat"
        if method == "POST" and path == "/api/generate":
            return "generate"
        if method == "POST" and path == f"{ZAI_PREFIX}/layout_parsing":
            return "layout"
        return super().classify(method, path)

    def _provider_429(self, fault: str) -> bool:
        return fault in ("429-balance", "429-concurrency")

    # --- the routes ------------------------------------------------------------------
    def route(self, route: str, rec: Recorded, fault: str | None) -> Reply:
        if route == "chat":
            return self._chat(rec, fault)
        if route == "generate":
            return self._generate(rec, fault)
        if route == "layout":
            return self._layout(rec, fault)
        return super().route(route, rec, fault)

    def _chat(self, rec: Recorded, fault: str | None) -> Reply:
        if fault == "auth" or (self.api_key and not self._authorised(rec)):
            return Reply(401, {"error": "Unauthorized"})
        body = _json(rec)
        if fault == "no-model" or (isinstance(body, dict) and body.get("model") != self.model):
            return _vllm_error(404, f"The model `{(body or {}).get('model')}` does not exist.",
                               "NotFoundError")
        messages = body.get("messages") if isinstance(body, dict) else None
        if not (isinstance(messages, list) and len(messages) == 1
                and messages[0].get("role") == "user"):
            return _vllm_error(400, "GLM-OCR takes one user message", "BadRequestError")
        parts = messages[0].get("content")
        texts = [p.get("text") for p in parts or [] if p.get("type") == "text"]
        urls = [p.get("image_url", {}).get("url", "") for p in parts or []
                if p.get("type") == "image_url"]
        if texts != [GLM_OCR_PROMPT] or len(urls) != 1:
            return _vllm_error(400, "expected one image and the prompt 'Text Recognition:'",
                               "BadRequestError")
        image = self._decode(urls[0].split(",", 1)[-1] if urls[0].startswith("data:") else "")
        if isinstance(image, Reply):
            return image
        text = "" if fault == "empty" else self._read(image)
        return Reply(200, {
            "id": f"chatcmpl-{time.time_ns()}", "object": "chat.completion",
            "created": int(time.time()), "model": self.model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 300, "completion_tokens": 8, "total_tokens": 308}})

    def _generate(self, rec: Recorded, fault: str | None) -> Reply:
        body = _json(rec)
        if not isinstance(body, dict):
            return Reply(400, {"error": "invalid JSON body"})
        if fault == "no-model" or body.get("model") != self.model:
            return Reply(404, {"error": f"model \"{body.get('model')}\" not found, try "
                                        f"pulling it first"})
        if fault == "ollama-error":
            return Reply(200, {"error": "an error was encountered while running the model"})
        if body.get("stream") is not False or not body.get("prompt"):
            return Reply(400, {"error": "expected stream false and a prompt"})
        images = body.get("images")
        if not (isinstance(images, list) and len(images) == 1):
            return Reply(400, {"error": "expected one image"})
        image = self._decode(images[0])
        if isinstance(image, Reply):
            return image
        text = "" if fault == "empty" else self._read(image)
        return Reply(200, {"model": self.model, "created_at": "2026-12-01T00:00:00Z",
                           "response": text, "done": True, "done_reason": "stop"})

    def _layout(self, rec: Recorded, fault: str | None) -> Reply:
        if fault == "auth" or not self._authorised(rec):
            return _zai_error(401, 1002, "Authorization Token非法，请确认Authorization Token正确传递。")
        if fault == "429-balance":
            return _zai_error(429, 1113, "Your account is in arrears; please recharge.")
        if fault == "429-concurrency":
            return _zai_error(429, 1302, "High concurrency usage of this API, please reduce "
                                         "concurrency or contact customer service")
        body = _json(rec)
        if not isinstance(body, dict) or body.get("model") != "glm-ocr" \
                or not str(body.get("file", "")).startswith("data:image/"):
            return _zai_error(400, 1214, "Invalid request parameters: model and file required")
        image = self._decode(str(body["file"]).split(",", 1)[-1])
        if isinstance(image, Reply):
            return image
        text = "" if fault == "empty" else self._read(image)
        lines = [t for t in text.split("\n") if t.strip()]
        w, h = image.size
        regions = [{"index": k + 1, "label": "text", "content": line,
                    "bbox_2d": [0.05, 0.1 + 0.8 * k / max(1, len(lines)), 0.95,
                                0.1 + 0.8 * (k + 1) / max(1, len(lines))],
                    "width": w, "height": h} for k, line in enumerate(lines)]
        # a picture region (no text) first, to show it is not taken for text
        regions.insert(0, {"index": 0, "label": "image", "content": "",
                           "bbox_2d": [0, 0, 0.1, 0.1], "width": w, "height": h})
        return Reply(200, {
            "id": f"task_{time.time_ns()}", "created": int(time.time()), "model": "GLM-OCR",
            "md_results": "\n\n".join(f"## {line}" if k == 0 else line
                                      for k, line in enumerate(lines)),
            "layout_details": [regions] if lines else [[]],
            "data_info": {"num_pages": 1, "pages": [{"width": w, "height": h}]},
            "usage": {"prompt_tokens": 300, "completion_tokens": 8, "total_tokens": 308},
            "request_id": f"req_{time.time_ns()}"})

    # --- helpers ---------------------------------------------------------------------
    def _authorised(self, rec: Recorded) -> bool:
        return rec.headers.get("authorization") == f"Bearer {self.api_key}"

    def _decode(self, b64: str) -> Image.Image | Reply:
        try:
            image = Image.open(io.BytesIO(base64.b64decode(b64, validate=True)))
            image.load()
        except Exception:  # noqa: BLE001 — any undecodable payload is the client's error
            return Reply(400, {"error": {"code": "1210", "message": "image cannot be decoded"}})
        if image.width * image.height < MIN_PIXELS:
            return Reply(400, {"error": {"code": "1210", "message":
                                         f"image smaller than {MIN_PIXELS} pixels"}})
        self.images_seen.append(image)
        return image

    def _read(self, image: Image.Image) -> str:
        return self.reads(image) if callable(self.reads) else self.reads


def _json(rec: Recorded) -> Any:
    try:
        return rec.json
    except ValueError:
        return None


def _vllm_error(status: int, message: str, kind: str) -> Reply:
    return Reply(status, {"object": "error", "message": message, "type": kind,
                          "param": None, "code": status})


def _zai_error(status: int, code: int, message: str) -> Reply:
    headers = {"Retry-After": "0"} if status == 429 else {}
    return Reply(status, json.loads(json.dumps({"error": {"code": str(code),
                                                          "message": message}})), headers)
