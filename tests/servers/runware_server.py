"""A local Runware REST API: task arrays with ``imageInference`` and ``getResponse``.

Routes (all ``POST /v1``, told apart by the first task's ``taskType``): ``inference``
(imageInference) and ``poll`` (getResponse). Set :attr:`queue_polls` for how many
getResponse polls answer ``status: "processing"`` before ``success``.

Provider faults: ``"auth"`` (401 invalidApiKey), ``"credits"`` (402 insufficientCredits),
``"moderation"`` (400 contentModerationFailed), ``"rate"`` (429 rateLimitExceeded),
``"invalid"`` (400 invalidWidth with parameter), ``"task-error"`` (200 with the task in
``errors[]`` as status error, code timeoutProvider), ``"nsfw"`` (success flagged NSFWContent),
``"badb64"`` (success with broken base64).

An ``imageInference`` task may carry ``inputs.referenceImages``: a non-empty array of
images (data URIs here) that must decode (400 invalidReferenceImages otherwise; decoded
ones are kept in :attr:`received_images`, per task).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from PIL import Image

from tests.servers.provider_server import ProviderServer, Recorded, Reply, image_from_data_uri

PATH = "/v1"


def _err(code: str, message: str, task: dict[str, Any] | None = None,
         **extra: Any) -> dict[str, Any]:
    item = {"code": code, "message": message, **extra}
    if task:
        item.update(taskType=task.get("taskType"), taskUUID=task.get("taskUUID"))
    return {"errors": [item]}


class RunwareServer(ProviderServer):
    """Speaks Runware's REST task protocol; ``base_url`` is the option value."""

    def __init__(self, queue_polls: int = 0) -> None:
        super().__init__()
        self.queue_polls = queue_polls
        self.tasks: dict[str, dict[str, Any]] = {}
        self.received_images: list[list[Image.Image]] = []

    @property
    def base_url(self) -> str:
        return self.url + PATH

    def classify_request(self, method: str, path: str, body: bytes) -> str:
        if method == "POST" and path == PATH:
            try:
                first = json.loads(body)[0]
            except (ValueError, IndexError, KeyError, TypeError):
                return "unknown"
            return {"imageInference": "inference", "getResponse": "poll"}.get(
                first.get("taskType"), "unknown")
        return super().classify_request(method, path, body)

    def _fault_reply(self, fault: str | None, task: dict[str, Any]) -> Reply | None:
        if fault == "auth":
            return Reply(401, _err("invalidApiKey", "Invalid API key. Get one at "
                                                   "https://my.runware.ai", task))
        if fault == "credits":
            return Reply(402, _err("insufficientCredits", "Insufficient credits to run "
                                                          "this task.", task))
        if fault == "moderation":
            return Reply(400, _err("contentModerationFailed", "The prompt was flagged by "
                                                              "content moderation.", task))
        if fault == "rate":
            return Reply(429, _err("rateLimitExceeded", "Too many requests.", task),
                         {"Retry-After": "0"})
        if fault == "invalid":
            return Reply(400, _err("invalidWidth", "Width must be a multiple of 32.", task,
                                   parameter="width"))
        return None

    def _result(self, task: dict[str, Any], fault: str | None) -> dict[str, Any]:
        w, h = task["width"], task["height"]
        data = self.paint(w, h, task["positivePrompt"][:20], task["positivePrompt"])
        b64 = "!!not base64!!" if fault == "badb64" else base64.b64encode(data).decode()
        return {"taskType": "imageInference", "taskUUID": task["taskUUID"],
                "imageUUID": "img-" + task["taskUUID"][:8], "status": "success",
                "imageBase64Data": b64, "seed": task.get("seed", 987654321),
                "NSFWContent": fault == "nsfw", "cost": 0.0225}

    def _references_problem(self, task: dict[str, Any]) -> str | None:
        """``inputs.referenceImages`` must be a list of images (data URIs here); decoded
        ones are kept in :attr:`received_images`, per task."""
        if "inputs" not in task:
            return None
        refs = task["inputs"].get("referenceImages") if isinstance(task["inputs"], dict) \
            else None
        if not isinstance(refs, list) or not refs:
            return "inputs.referenceImages must be a non-empty array of images"
        images = []
        for ref in refs:
            if not isinstance(ref, str) or not ref.startswith("data:image/"):
                return "each reference image must be a data URI, URL or image UUID"
            im = image_from_data_uri(ref)
            if im is None:
                return "a reference image does not decode to an image"
            images.append(im)
        self.received_images.append(images)
        return None

    def route(self, route: str, rec: Recorded, fault: str | None) -> Reply:
        if route not in ("inference", "poll"):
            return super().route(route, rec, fault)
        task = rec.json[0]
        if not rec.headers.get("authorization", "").startswith("Bearer "):
            return Reply(401, _err("missingApiKey", "Missing API key.", task))
        reply = self._fault_reply(fault, task)
        if reply is not None:
            return reply
        if route == "inference":
            problem = self._references_problem(task)
            if problem:
                return Reply(400, _err("invalidReferenceImages", problem, task,
                                       parameter="inputs.referenceImages"))
            self.tasks[task["taskUUID"]] = {"task": task, "polls": 0, "fault": None}
            if task.get("deliveryMethod") == "async":
                return Reply(200, {"data": [{"taskType": "imageInference",
                                             "taskUUID": task["taskUUID"]}]})
            return Reply(200, {"data": [self._result(task, fault)]})
        uuid_ = task["taskUUID"]
        entry = self.tasks.get(uuid_)
        if entry is None:
            return Reply(400, _err("taskNotFound", "No task with that UUID.", task))
        entry["polls"] += 1
        if fault == "task-error":
            return Reply(200, {"data": [], **_err("timeoutProvider", "The provider timed "
                                                  "out generating the image.",
                                                  entry["task"], status="error")})
        if entry["polls"] <= self.queue_polls:
            return Reply(200, {"data": [{"taskType": "imageInference", "taskUUID": uuid_,
                                         "status": "processing"}]})
        return Reply(200, {"data": [self._result(entry["task"], fault)]})
