"""A scripted provider server: a real ``http.server`` on 127.0.0.1 in a thread.

Provider modules (``zai_server``, ``fal_server``, ``runware_server``) subclass
:class:`ProviderServer` and implement :meth:`route` for their protocol. Every request is
logged (:attr:`requests`) so tests can assert what was sent; faults are scripted per route
with :meth:`script` and consumed in order, then the route behaves normally::

    server.script("submit", "429", "500")        # two failures, then success

Generic faults understood for every route:

- ``"429"`` 429 with ``Retry-After: 0``; ``"429:N"`` with ``Retry-After: N``
- ``"500"`` / ``"502"`` / ``"503"`` an HTML-ish error body with that status
- ``"timeout"`` sleeps :attr:`slow_s` before answering normally (past the client timeout)
- ``"drop"`` closes the socket without any response
- ``"badjson"`` 200 with a truncated JSON body
- ``"hold"`` carries the request out (a submit creates its task) but holds the answer back
  until :meth:`release_held` (or :attr:`hold_s` passes): the client waits for an answer
  the provider already acted on

Anything else is passed to :meth:`route` as ``fault`` for provider-specific behaviour.
"""

from __future__ import annotations

from collections.abc import Callable

import base64
import binascii
import io
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image, ImageDraw


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    route: str = ""

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Reply:
    """What to send back."""

    status: int = 200
    body: bytes | dict[str, Any] | list[Any] = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


FAST_RETRIES = {"timeout_s": 0.5, "max_retries": 3, "backoff_base_s": 0.01,
                "backoff_max_s": 0.05, "poll_interval_s": 0.01}
"""A hosted-provider backend's options for tests: short timeouts, quick retries and polls."""


def png_bytes(width: int, height: int, label: str = "signwriter") -> bytes:
    """A real PNG of the given size with a little drawing on it."""
    img = Image.new("RGB", (width, height), (29, 53, 87))
    draw = ImageDraw.Draw(img)
    draw.rectangle([width // 8, height // 8, width * 7 // 8, height * 7 // 8],
                   outline=(241, 250, 238), width=max(2, width // 100))
    draw.text((width // 4, height // 2), label, fill=(241, 250, 238))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def image_from_data_uri(uri: object) -> Image.Image | None:
    """The image a ``data:image/...;base64,`` URI carries, decoded; ``None`` when it is not
    one or does not decode (each provider server answers that in its own words)."""
    if not isinstance(uri, str) or not uri.startswith("data:image/") or ";base64," not in uri:
        return None
    try:
        im = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1], validate=True)))
        im.load()
    except (binascii.Error, OSError, ValueError):
        return None
    return im


def assert_png(data: bytes, size: tuple[int, int]) -> None:
    """``data`` is a PNG of ``size`` (what a backend handed back from a server)."""
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG" and img.size == size


class ProviderServer:
    """Base class: start with ``with Server() as s:``; ``s.url`` is its base URL."""

    slow_s: float = 1.0
    """How long a ``"timeout"`` fault sleeps (tests set the client timeout well below)."""

    hold_s: float = 60.0
    """The longest a ``"hold"`` fault holds its answer back."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.holding = threading.Semaphore(0)
        """Released once per request a ``"hold"`` fault is holding (tests wait on it)."""
        self._release = threading.Event()
        self._faults: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self.images: dict[str, bytes] = {}
        self.painter: Callable[[str, int, int], bytes] | None = None
        """Set to draw images from the prompt (a stand-in for the model); else a label."""
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

            def do_GET(self) -> None:  # noqa: N802
                server._dispatch(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                server._dispatch(self, "POST")

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)

    # --- lifecycle -------------------------------------------------------------------
    def __enter__(self) -> ProviderServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # --- scripting -------------------------------------------------------------------
    def script(self, route: str, *faults: str) -> None:
        """Queue faults for ``route``; each request to it consumes one."""
        with self._lock:
            self._faults.setdefault(route, []).extend(faults)

    def _next_fault(self, route: str) -> str | None:
        with self._lock:
            queue = self._faults.get(route)
            return queue.pop(0) if queue else None

    def release_held(self) -> None:
        """Send the answers ``"hold"`` faults are holding back (and hold no more)."""
        self._release.set()

    def calls(self, route: str) -> list[Recorded]:
        """The requests that hit ``route``, in order."""
        return [r for r in self.requests if r.route == route]

    # --- to implement ----------------------------------------------------------------
    def classify_request(self, method: str, path: str, body: bytes) -> str:
        """The route name of a request; by default from method and path alone."""
        return self.classify(method, path)

    def classify(self, method: str, path: str) -> str:
        """The route name of a request (used for scripting and :meth:`calls`)."""
        if method == "GET" and path.startswith("/files/"):
            return "image"
        return "unknown"

    def route(self, route: str, rec: Recorded, fault: str | None) -> Reply:
        """Answer a request. The default serves stored images under ``/files/``."""
        if route == "image":
            if fault == "expired":
                return Reply(404, b"<Error><Code>NoSuchKey</Code></Error>",
                             content_type="application/xml")
            name = rec.path.rsplit("/", 1)[-1].split("?")[0]
            data = self.images.get(name)
            if data is None:
                return Reply(404, b"not found", content_type="text/plain")
            return Reply(200, data, content_type="image/png")
        return Reply(404, {"error": "no such route"})

    def paint(self, width: int, height: int, label: str = "", prompt: str = "") -> bytes:
        """The image the 'model' makes: :attr:`painter` when set, else a labelled PNG."""
        if self.painter is not None:
            return self.painter(prompt, width, height)
        return png_bytes(width, height, label or "signwriter")

    def store_image(self, name: str, width: int, height: int, label: str = "",
                    prompt: str = "") -> str:
        """Keep a PNG to serve at ``/files/<name>``; returns its URL (with a fake signature)."""
        self.images[name] = self.paint(width, height, label or name, prompt)
        return f"{self.url}/files/{name}?Signature=abc123&Expires=9999"

    # --- plumbing --------------------------------------------------------------------
    def _dispatch(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        path = handler.path
        route = self.classify_request(method, path.split("?")[0], body)
        rec = Recorded(method, path, {k.lower(): v for k, v in handler.headers.items()},
                       body, route)
        with self._lock:
            self.requests.append(rec)
        fault = self._next_fault(route)
        if fault == "drop":
            handler.close_connection = True
            return
        if fault == "timeout":
            time.sleep(self.slow_s)
            fault = None
        if fault is not None and fault.startswith("429") and route != "image" \
                and not self._provider_429(fault):
            retry_after = fault.split(":", 1)[1] if ":" in fault else "0"
            reply = Reply(429, {"error": {"message": "Too many requests"}},
                          {"Retry-After": retry_after})
        elif fault in ("500", "502", "503"):
            reply = Reply(int(fault), b"<html><body>upstream error</body></html>",
                          content_type="text/html")
        elif fault == "badjson":
            reply = Reply(200, b'{"id": "abc", "data": [{"url": ',
                          content_type="application/json")
        elif fault == "hold":
            reply = self.route(route, rec, None)
            self.holding.release()
            self._release.wait(self.hold_s)
        else:
            reply = self.route(route, rec, fault)
        self._send(handler, reply)

    def _provider_429(self, fault: str) -> bool:
        """Subclasses return True for 429 faults they answer themselves (e.g. z.ai codes)."""
        return False

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        body = reply.body
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        try:
            handler.send_response(reply.status)
            handler.send_header("Content-Type", reply.content_type)
            handler.send_header("Content-Length", str(len(body)))
            for k, v in reply.headers.items():
                handler.send_header(k, v)
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass
