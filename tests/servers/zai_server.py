"""A local Z.ai image API: sync and async GLM-Image generation with Z.ai's failures.

Routes (under ``/api/paas/v4``): ``sync`` POST /images/generations, ``submit`` POST
/async/images/generations, ``result`` GET /async-result/{id}, ``image`` GET /files/<name>.

Provider faults (see :class:`~tests.servers.provider_server.ProviderServer` for generic):
``"429-balance"`` (429, code 1113), ``"429-concurrency"`` (429, code 1302, Retry-After 0),
``"filter"`` (400, code 1301 with content_filter level 1), ``"auth"`` (401, code 1002), ``"auth-echo"`` (401 echoing the Authorization header),
``"invalid"`` (400, code 1214), ``"fail"`` (task_status FAIL), ``"fail-filter"`` (FAIL
with content_filter level 0), ``"no-image"`` (200 SUCCESS,
no URL, content_filter level 0). Set :attr:`queue_polls` for PROCESSING polls per task.
"""

from __future__ import annotations

import itertools
from typing import Any

from tests.servers.provider_server import ProviderServer, Recorded, Reply

PREFIX = "/api/paas/v4"


class ZaiServer(ProviderServer):
    """Speaks Z.ai's image API. ``base_url`` is what the backend's option should be."""

    def __init__(self, queue_polls: int = 0) -> None:
        super().__init__()
        self.queue_polls = queue_polls
        self.tasks: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    @property
    def base_url(self) -> str:
        return self.url + PREFIX

    def classify(self, method: str, path: str) -> str:
        if method == "POST" and path == f"{PREFIX}/images/generations":
            return "sync"
        if method == "POST" and path == f"{PREFIX}/async/images/generations":
            return "submit"
        if method == "GET" and path.startswith(f"{PREFIX}/async-result/"):
            return "result"
        return super().classify(method, path)

    def _provider_429(self, fault: str) -> bool:
        return fault in ("429-balance", "429-concurrency")

    @staticmethod
    def _error(status: int, code: int, message: str, **extra: Any) -> Reply:
        headers = {"Retry-After": "0"} if status == 429 else {}
        return Reply(status, {"error": {"code": str(code), "message": message}, **extra},
                     headers)

    def _business_fault(self, fault: str | None, auth: str) -> Reply | None:
        if fault == "429-balance":
            return self._error(429, 1113, "Your account is in arrears; please recharge.")
        if fault == "429-concurrency":
            return self._error(429, 1302, "High concurrency usage of this API, please reduce "
                                          "concurrency or contact customer service")
        if fault == "filter":
            return self._error(400, 1301, "System detected potentially unsafe or sensitive "
                                          "content in input or generation.",
                               content_filter=[{"role": "user", "level": 1}])
        if fault == "auth":
            return self._error(401, 1002, "Authorization Token invalid.")
        if fault == "auth-echo":  # a careless gateway echoing the header back
            return self._error(401, 1000, f"Authentication failed for {auth}")
        if fault == "invalid":
            return self._error(400, 1214, "size must be WxH with sides 512-2048 in multiples of 32")
        return None

    def _size(self, rec: Recorded) -> tuple[int, int]:
        w, h = (int(v) for v in rec.json["size"].split("x"))
        return w, h

    def route(self, route: str, rec: Recorded, fault: str | None) -> Reply:
        auth = rec.headers.get("authorization", "")
        if route in ("sync", "submit", "result") and not auth.startswith("Bearer "):
            return self._error(401, 1001, "Header Authorization missing")
        business = self._business_fault(fault, auth)
        if business is not None:
            return business
        if route == "sync":
            w, h = self._size(rec)
            if fault == "no-image":
                return Reply(200, {"created": 1, "data": [],
                                   "content_filter": [{"role": "assistant", "level": 0}]})
            url = self.store_image(f"sync-{next(self._ids)}.png", w, h,
                                   prompt=rec.json.get("prompt", ""))
            return Reply(200, {"created": 1760335349, "data": [{"url": url}],
                               "content_filter": [{"role": "assistant", "level": 3}]})
        if route == "submit":
            task_id = f"task-{next(self._ids)}"
            w, h = self._size(rec)
            self.tasks[task_id] = {"size": (w, h), "polls": 0, "fault": None,
                                   "prompt": rec.json.get("prompt", "")}
            return Reply(200, {"model": "glm-image", "id": task_id, "request_id": "req-" + task_id,
                               "task_status": "PROCESSING"})
        if route == "result":
            task_id = rec.path.rsplit("/", 1)[-1]
            task = self.tasks.get(task_id)
            if task is None:
                return self._error(404, 1214, f"task {task_id} not found")
            task["polls"] += 1
            if fault == "fail":
                return Reply(200, {"id": task_id, "task_status": "FAIL"})
            if fault == "fail-filter":
                return Reply(200, {"id": task_id, "task_status": "FAIL",
                                   "content_filter": [{"role": "assistant", "level": 0}]})
            if task["polls"] <= self.queue_polls:
                return Reply(200, {"id": task_id, "task_status": "PROCESSING"})
            if "url" not in task:
                w, h = task["size"]
                task["url"] = self.store_image(f"{task_id}.png", w, h, prompt=task["prompt"])
            return Reply(200, {"id": task_id, "model": "glm-image", "request_id": "req-" + task_id,
                               "task_status": "SUCCESS", "image_result": [{"url": task["url"]}],
                               "content_filter": [{"role": "assistant", "level": 2}]})
        return super().route(route, rec, fault)
