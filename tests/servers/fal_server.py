"""A local fal queue API for ``fal-ai/glm-image`` (and its image-to-image endpoint).

Routes: ``submit`` POST /fal-ai/glm-image[/image-to-image], ``status`` GET
/fal-ai/glm-image/requests/{id}/status, ``result`` GET /fal-ai/glm-image/requests/{id},
``image`` GET /files/<name>. Set :attr:`queue_polls` for IN_QUEUE/IN_PROGRESS polls.

Provider faults: ``"content"`` (422, detail type content_policy_violation,
X-Fal-Retryable: false), ``"nsfw"`` (result with has_nsfw_concepts [true]), ``"no-retry-500"``
(500 with X-Fal-Retryable: false), ``"retry-422"`` (422 with X-Fal-Retryable: true),
``"auth"`` (401), ``"balance"`` (403 "User is locked. Reason: Exhausted balance"),
``"invalid"`` (422 image_too_large).

The image-to-image endpoint requires ``image_urls``: a list of one to four image URLs,
here data URIs whose payload must decode as an image (422 otherwise; decoded ones are
kept in :attr:`received_images`, per request). The text-to-image endpoint refuses an
``image_urls`` field (it has none).
"""

from __future__ import annotations

import itertools
from typing import Any

from PIL import Image

from tests.servers.provider_server import ProviderServer, Recorded, Reply, image_from_data_uri

APP = "/fal-ai/glm-image"


def _detail(type_: str, msg: str, loc: list[str] | None = None) -> dict[str, Any]:
    return {"detail": [{"loc": loc or ["body"], "msg": msg, "type": type_,
                        "url": f"https://docs.fal.ai/errors/#{type_}"}]}


class FalServer(ProviderServer):
    """Speaks fal's queue protocol; ``url`` is the option ``base_url``."""

    def __init__(self, queue_polls: int = 0) -> None:
        super().__init__()
        self.queue_polls = queue_polls
        self.jobs: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self.received_images: list[list[Image.Image]] = []

    def classify(self, method: str, path: str) -> str:
        if method == "POST" and path in (APP, APP + "/image-to-image"):
            return "submit"
        if method == "GET" and path.startswith(APP + "/requests/"):
            return "status" if path.endswith("/status") else "result"
        return super().classify(method, path)

    def _fault_reply(self, fault: str | None) -> Reply | None:
        if fault == "content":
            return Reply(422, _detail("content_policy_violation",
                                      "The content could not be processed because it "
                                      "contained material flagged by a content checker."),
                         {"X-Fal-Retryable": "false"})
        if fault == "no-retry-500":
            return Reply(500, {"detail": "Internal error", "error_type": "internal_error"},
                         {"X-Fal-Retryable": "false", "X-Fal-Error-Type": "internal_error"})
        if fault == "retry-422":
            return Reply(422, _detail("generation_failed", "try again"),
                         {"X-Fal-Retryable": "true"})
        if fault == "auth":
            return Reply(401, {"detail": "No user found for Key ID and Secret"})
        if fault == "balance":
            return Reply(403, {"detail": "User is locked. Reason: Exhausted balance. "
                                         "Top up your balance at fal.ai/dashboard/billing."})
        if fault == "invalid":
            return Reply(422, _detail("image_too_large", "Image too large",
                                      ["body", "image_size"]))
        return None

    def _image_urls_problem(self, body: Any, image_to_image: bool) -> str | None:
        urls = body.get("image_urls") if isinstance(body, dict) else None
        if not image_to_image:
            return "extra field not permitted" if urls is not None else None
        if not isinstance(urls, list) or not 1 <= len(urls) <= 4 or \
                not all(isinstance(u, str) for u in urls):
            return "image_urls must be a list of 1 to 4 image URLs"
        images = []
        for url in urls:
            if not url.startswith("data:image/") or ";base64," not in url:
                return f"not a data URI of an image: {url[:40]}"
            im = image_from_data_uri(url)
            if im is None:
                return "an image_urls item does not decode to an image"
            images.append(im)
        self.received_images.append(images)
        return None

    def route(self, route: str, rec: Recorded, fault: str | None) -> Reply:
        if route not in ("submit", "status", "result"):
            return super().route(route, rec, fault)
        if route in ("submit", "status", "result") and \
                not rec.headers.get("authorization", "").startswith("Key "):
            return Reply(401, {"detail": "Missing authorization"})
        reply = self._fault_reply(fault)
        if reply is not None:
            return reply
        if route == "submit":
            body = rec.json
            problem = self._image_urls_problem(body, rec.path.endswith("image-to-image"))
            if problem:
                return Reply(422, _detail("value_error", problem, ["body", "image_urls"]))
            rid = f"req-{next(self._ids):04d}"
            self.jobs[rid] = {"input": body, "polls": 0, "nsfw": False,
                              "edit": rec.path.endswith("image-to-image")}
            base = f"{self.url}{APP}/requests/{rid}"
            return Reply(200, {"request_id": rid, "response_url": base,
                               "status_url": base + "/status", "cancel_url": base + "/cancel",
                               "queue_position": 0})
        rid = rec.path.split("/requests/", 1)[1].split("/")[0]
        job = self.jobs.get(rid)
        if job is None:
            return Reply(404, {"detail": f"Request {rid} not found"})
        if route == "status":
            job["polls"] += 1
            if job["polls"] <= self.queue_polls:
                state = "IN_QUEUE" if job["polls"] < self.queue_polls else "IN_PROGRESS"
                return Reply(202, {"status": state, "queue_position": max(
                    0, self.queue_polls - job["polls"] - 1), "response_url": rec.path})
            return Reply(200, {"status": "COMPLETED", "response_url": rec.path})
        if route == "result":
            size = job["input"]["image_size"]
            w, h = (size["width"], size["height"]) if isinstance(size, dict) else (1024, 768)
            url = self.store_image(f"{rid}.png", w, h, prompt=job["input"].get("prompt", ""))
            n = int(job["input"].get("num_images", 1))
            return Reply(200, {"images": [{"url": url, "width": w, "height": h,
                                           "content_type": "image/png"}] * n,
                               "seed": job["input"].get("seed", 0) or 1234,
                               "has_nsfw_concepts": [fault == "nsfw"] * n,
                               "timings": {"inference": 12.5},
                               "prompt": job["input"]["prompt"]})
        return super().route(route, rec, fault)  # pragma: no cover
