"""A real OpenAI-compatible chat server on 127.0.0.1, for tests.

It speaks ``POST /v1/chat/completions`` (any path ending in ``/chat/completions``) and
``GET /v1/models`` over real HTTP (``ThreadingHTTPServer`` in a thread, ephemeral port),
checks the Bearer key (401 in OpenAI's error shape when wrong), and answers from a
scripted queue. Each scripted reply is a :class:`Reply`, a plain string (the assistant's
content), or a function of the :class:`Request` returning either — so the same server
serves a planner, a vision model or anything else chat-shaped. Every request is logged
(``server.requests``) so tests can assert what the client sent, e.g. that a re-ask carried
the validation errors.

    with OpenAIChatServer(api_key="sk-test") as server:
        server.script("{...}", Reply.error(500), slow('{"a": 1}', 2.0))
        ... use server.base_url ...
        assert "not valid JSON" in server.requests[1].messages[-1]["content"]
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TEST_KEY = "sk-test-chat-5ecret-key"
"""The key the fixtures use; tests assert it never appears in an error message."""


@dataclass
class Request:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes = b""

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list((self.body or {}).get("messages", [])) if isinstance(self.body, dict) else []

    @property
    def last_user_text(self) -> str:
        for m in reversed(self.messages):
            if m.get("role") == "user":
                c = m.get("content")
                return c if isinstance(c, str) else json.dumps(c)
        return ""


@dataclass
class Reply:
    """What the server answers: a status, a JSON (or raw) body, an optional delay."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0

    @classmethod
    def chat(cls, content: str, *, model: str = "test-model", delay_s: float = 0.0) -> "Reply":
        """A chat completion whose assistant message is ``content``."""
        return cls(200, {
            "id": f"chatcmpl-{time.time_ns()}", "object": "chat.completion",
            "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        }, delay_s=delay_s)

    @classmethod
    def error(cls, status: int, message: str = "", *, kind: str = "server_error",
              delay_s: float = 0.0) -> "Reply":
        """An OpenAI-style error body."""
        return cls(status, {"error": {"message": message or f"HTTP {status}", "type": kind,
                                      "code": None}}, delay_s=delay_s)


Scripted = Reply | str | Callable[[Request], "Reply | str"]


def slow(reply: Reply | str, delay_s: float) -> Reply:
    """``reply`` answered only after ``delay_s`` seconds (for client timeouts)."""
    r = Reply.chat(reply) if isinstance(reply, str) else reply
    return Reply(r.status, r.body, dict(r.headers), delay_s)


class OpenAIChatServer:
    """A scripted OpenAI-compatible server. ``base_url`` ends in ``/v1``."""

    def __init__(self, *, api_key: str | None = TEST_KEY, model: str = "test-model",
                 default: Scripted | None = None) -> None:
        self.api_key = api_key
        self.model = model
        self.default = default
        self.requests: list[Request] = []
        self._queue: deque[Scripted] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle --------------------------------------------------------------------

    def start(self) -> "OpenAIChatServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def do_GET(self) -> None:
                server._handle(self, "GET")

            def do_POST(self) -> None:
                server._handle(self, "POST")

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "OpenAIChatServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    # ---- scripting --------------------------------------------------------------------

    def script(self, *replies: Scripted) -> None:
        """Queue replies; each chat request takes the next one."""
        with self._lock:
            self._queue.extend(replies)

    @property
    def chat_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    # ---- handling ---------------------------------------------------------------------

    def _next(self, request: Request) -> Reply:
        with self._lock:
            scripted = self._queue.popleft() if self._queue else self.default
        if scripted is None:
            return Reply.error(500, "no scripted reply left")
        if callable(scripted) and not isinstance(scripted, Reply):
            scripted = scripted(request)
        return Reply.chat(scripted, model=self.model) if isinstance(scripted, str) else scripted

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        request = Request(method, h.path, {k.lower(): v for k, v in h.headers.items()}, body, raw)
        with self._lock:
            self.requests.append(request)

        if self.api_key is not None and request.headers.get("authorization") != \
                f"Bearer {self.api_key}":
            reply = Reply.error(401, "Incorrect API key provided.", kind="invalid_request_error")
        elif method == "GET" and h.path.rstrip("/").endswith("/models"):
            reply = Reply(200, {"object": "list", "data": [{"id": self.model, "object": "model"}]})
        elif method == "POST" and h.path.rstrip("/").endswith("/chat/completions"):
            if not isinstance(body, dict) or "messages" not in body:
                reply = Reply.error(400, "body must be JSON with 'messages'",
                                    kind="invalid_request_error")
            else:
                reply = self._next(request)
        else:
            reply = Reply.error(404, f"no route {method} {h.path}", kind="not_found")

        if reply.delay_s and self._stopping.wait(reply.delay_s):
            return
        payload = reply.body if isinstance(reply.body, bytes) else (
            reply.body.encode() if isinstance(reply.body, str) else json.dumps(reply.body).encode())
        try:
            h.send_response(reply.status)
            h.send_header("Content-Type", reply.headers.get("Content-Type", "application/json"))
            for k, v in reply.headers.items():
                if k.lower() != "content-type":
                    h.send_header(k, v)
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
            h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)


def key_of(request: Request) -> str:
    """The key the caller sent (its ``Authorization: Bearer`` value)."""
    return request.headers.get("authorization", "").removeprefix("Bearer ")


def echoed(request: Request) -> str:
    """The caller's key as a careless endpoint echoes it back: raw, URL-encoded, and base64
    inside a Basic credential (for tests that a client never passes any of them on)."""
    import base64
    import urllib.parse

    key = key_of(request)
    basic = base64.b64encode(f"user:{key}".encode()).decode()
    return f"key {key} (url {urllib.parse.quote(key, safe='')}, Basic {basic})"
