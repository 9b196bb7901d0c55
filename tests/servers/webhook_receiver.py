"""A real webhook receiver on 127.0.0.1 that verifies Standard Webhooks signatures with the
``standardwebhooks`` library (as a user's receiver would), for tests.

Each delivery is answered from a script — a status code, or ``"timeout"`` (the receiver
holds the request longer than the sender waits) — and 200 once the script is used up.
Every delivery is logged with its headers, body and whether its signature verified.

    with WebhookReceiver(secret, script=[500, "timeout"]) as rx:
        ... deliver to rx.url ...
        assert rx.accepted_ids() == {...}
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


@dataclass
class Delivery:
    msg_id: str | None
    headers: dict[str, str]
    body: bytes
    verified: bool
    answered: int | str

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)


class WebhookReceiver:
    def __init__(self, secret: str, script: list[int | str] | None = None,
                 hold_s: float = 2.0) -> None:
        self.webhook = Webhook(secret)
        self.script: deque[int | str] = deque(script or [])
        self.hold_s = hold_s
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    receiver.webhook.verify(body, headers)
                    verified = True
                except WebhookVerificationError:
                    verified = False
                with receiver._lock:
                    answer = receiver.script.popleft() if receiver.script else 200
                    if not verified:
                        answer = 400
                    receiver.deliveries.append(Delivery(headers.get("webhook-id"), headers,
                                                        body, verified, answer))
                if answer == "timeout":
                    time.sleep(receiver.hold_s)
                    answer = 200  # too late: the sender has given up on this one
                self.send_response(int(answer))
                self.send_header("content-length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def accepted_ids(self) -> list[str]:
        """The ids of deliveries answered 2xx in time, in order (repeats included)."""
        return [d.msg_id for d in self.deliveries if d.answered == 200 and d.verified]

    def __enter__(self) -> "WebhookReceiver":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
