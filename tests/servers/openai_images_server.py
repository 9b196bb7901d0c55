"""A local OpenAI-Images server (what SGLang's diffusion server speaks), with failures.

Routes: ``generations`` POST /v1/images/generations (JSON), ``edits`` POST
/v1/images/edits (multipart: one or more ``image`` files + form fields; every part must
be an image file, kept decoded in :attr:`edit_images`), ``image`` GET /files/<name>.
Answers ``{"data": [{"b64_json": <PNG of the requested size>}]}``.

Provider faults (generic ones — ``429[:N]``, ``500``/``502``/``503``, ``timeout``,
``drop``, ``badjson`` — come from :class:`~tests.servers.provider_server.ProviderServer`):
``"badb64"`` (b64_json that is not base64), ``"notimage"`` (valid base64 of text),
``"url"`` (answers with a ``url`` item instead), ``"invalid"`` (400 with FastAPI's
``{"detail": ...}``), ``"auth"`` (401), ``"echo-auth"`` (500 whose body echoes the
Authorization header, to prove keys are redacted).

:attr:`work_s` makes each request take that long while it counts as in flight;
:attr:`max_in_flight` records the most requests this server ever ran at once.
"""

from __future__ import annotations

import base64
import email
import email.parser
import email.policy
import io
import json
import threading
import time
from typing import Any

from PIL import Image

from tests.servers.provider_server import ProviderServer, Recorded, Reply


class InFlight:
    """Counts requests being worked on, and the most ever at once."""

    def __init__(self) -> None:
        self.now = 0
        self.max = 0
        self._lock = threading.Lock()

    def __enter__(self) -> InFlight:
        with self._lock:
            self.now += 1
            self.max = max(self.max, self.now)
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.now -= 1


def parse_multipart(headers: dict[str, str], body: bytes,
                    repeated: dict[str, list[bytes]] | None = None
                    ) -> tuple[dict[str, str], dict[str, bytes]]:
    """Form fields and files of a ``multipart/form-data`` body (the first file of each
    name; every file of each name also goes into ``repeated`` when given)."""
    head = f"Content-Type: {headers.get('content-type', '')}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            files.setdefault(name, payload)
            if repeated is not None:
                repeated.setdefault(name, []).append(payload)
        else:
            fields[name] = payload.decode()
    return fields, files


def requested_size(size: str | None) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in (size or "1024x1024").lower().split("x"))
    except ValueError:
        return 0, 0
    return w, h


class OpenAIImagesServer(ProviderServer):
    """Speaks ``/v1/images/generations`` and ``/v1/images/edits``; ``url`` is the base URL."""

    def __init__(self, work_s: float = 0.0) -> None:
        super().__init__()
        self.work_s = work_s
        self.in_flight = InFlight()
        self.edit_uploads: list[tuple[dict[str, str], dict[str, bytes]]] = []
        self.edit_images: list[list[Image.Image]] = []
        """Per edit request, every ``image`` part (SGLang takes ``image`` as a list of
        files), decoded."""

    @property
    def max_in_flight(self) -> int:
        return self.in_flight.max

    def classify(self, method: str, path: str) -> str:
        if method == "POST" and path == "/v1/images/generations":
            return "generations"
        if method == "POST" and path == "/v1/images/edits":
            return "edits"
        return super().classify(method, path)

    def route(self, route: str, rec: Recorded, fault: str | None) -> Reply:
        if route not in ("generations", "edits"):
            return super().route(route, rec, fault)
        with self.in_flight:
            if self.work_s:
                time.sleep(self.work_s)
            if route == "edits":
                parts: dict[str, list[bytes]] = {}
                fields, files = parse_multipart(rec.headers, rec.body, parts)
                self.edit_uploads.append((fields, files))
                if "image" not in files:
                    return Reply(422, {"detail": "Field 'image' is required"})
                try:
                    images = [Image.open(io.BytesIO(b)) for b in parts["image"]]
                    for im in images:
                        im.load()
                except (OSError, ValueError):
                    return Reply(400, {"detail": "an 'image' part is not an image file"})
                self.edit_images.append(images)
            else:
                try:
                    fields = json.loads(rec.body)
                except ValueError:
                    return Reply(422, {"detail": "body is not JSON"})
            return self._answer(fields, rec, fault)

    def _answer(self, fields: dict[str, Any], rec: Recorded, fault: str | None) -> Reply:
        if fault == "invalid":
            return Reply(400, {"detail": "size must be a multiple of 32"})
        if fault == "auth":
            return Reply(401, {"error": {"message": "Invalid API key"}})
        if fault == "echo-auth":
            return Reply(500, {"error": {"message": "bad header: "
                                         + rec.headers.get("authorization", "")}})
        width, height = requested_size(fields.get("size"))
        if not fields.get("prompt") or width <= 0:
            return Reply(422, {"detail": "prompt and size are required"})
        label = f"{rec.route} {fields.get('seed')}"
        if fault == "url":
            name = f"img{len(self.requests)}.png"
            return Reply(200, {"data": [{"url": self.store_image(
                name, width, height, label, prompt=fields.get("prompt", ""))}]})
        if fault == "badb64":
            b64 = "this is not base64 %%%"
        elif fault == "notimage":
            b64 = base64.b64encode(b"<html>oops</html>").decode()
        else:
            b64 = base64.b64encode(self.paint(width, height, label,
                                              fields.get("prompt", ""))).decode()
        return Reply(200, {"id": "img-1", "created": int(time.time()),
                           "data": [{"b64_json": b64, "revised_prompt": fields.get("prompt")}],
                           "inference_time_s": round(self.work_s, 3)})
