"""An optional further opinion for the hardest regions: a vision model that transcribes blind.

:class:`VisionReader` sends a crop to any OpenAI-compatible vision endpoint
(``POST {base_url}/chat/completions``, the crop as a base64 PNG data URL in an
``image_url`` content part) with :data:`TRANSCRIBE_PROMPT`, and returns what the model
says is written there. The request never contains the expected text: the model cannot
confirm what it was told, only report what it sees.

It is consulted only for regions the local engines could not read (``illegible``), and
:func:`vision_confirms` is the whole rule for what its answer may do: a region passes
only when the transcription equals the expected text exactly after normalisation AND no
local engine read a *different* text with confidence. A misspelt read stays a failure
whatever the vision model says; a vision answer that differs changes nothing.

Failures (refused key, timeout, 5xx after one retry, a reply without content) raise
:class:`~qa.errors.VisionUnavailable`; messages name the endpoint's host, never the key.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

import cv2
import httpx
import numpy as np
from pydantic import SecretStr

from qa.errors import VisionUnavailable
from qa.models import Strictness
from qa.normalize import normalize

TRANSCRIBE_PROMPT = (
    "You are a careful OCR engine. Transcribe exactly the text that is visible in the image, "
    "character for character, as it is drawn: keep spelling mistakes, missing or doubled "
    "letters, wrong characters, digits, currency signs, punctuation and letter case exactly "
    "as they appear. Do not correct, complete, translate or guess anything. Chinese must be "
    "transcribed with the exact characters drawn (do not replace a character by a similar "
    "one or convert between Simplified and Traditional). Put each line of text on its own "
    "line. Answer with the transcription only: no quotes, no labels, no explanation. If no "
    "text can be read with certainty, answer exactly: " + "<illegible>"
)
"""The system prompt. It carries no expected text: the transcription is blind."""

USER_TEXT = "Transcribe the text in this image."
"""The text part sent with the image."""

ILLEGIBLE = "<illegible>"
MIN_LOCAL_CONFIDENCE = 0.6
"""A local read at or above this confidence that differs from the expected text vetoes a
vision pass."""

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class VisionReader:
    """Blind transcription of crops by an OpenAI-compatible vision model."""

    name = "vision"

    def __init__(self, base_url: str, model: str, api_key: SecretStr | None = None,
                 timeout_s: float = 30.0, *, max_retries: int = 1,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.host = urlsplit(base_url).hostname or "the vision endpoint"
        self.model = model
        self._key = api_key
        self.max_retries = max_retries
        self._http = httpx.Client(timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)),
                                  transport=transport)

    def __enter__(self) -> VisionReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request_body(self, crop: np.ndarray) -> dict:
        """The chat request for ``crop`` (RGB uint8): system prompt, then the image."""
        return {
            "model": self.model,
            "temperature": 0,
            "max_tokens": 256,
            "messages": [
                {"role": "system", "content": TRANSCRIBE_PROMPT},
                {"role": "user", "content": [
                    {"type": "text", "text": USER_TEXT},
                    {"type": "image_url", "image_url": {"url": data_url(crop)}},
                ]},
            ],
        }

    def transcribe(self, crop: np.ndarray) -> str | None:
        """What the model reads in ``crop``; None when it says nothing is legible."""
        body = self.request_body(crop)
        headers = {"Authorization": f"Bearer {self._key.get_secret_value()}"} if self._key else {}
        attempt = 0
        while True:
            try:
                resp = self._http.post(self.url, json=body, headers=headers)
            except httpx.TimeoutException:
                problem, status = "timed out", None
            except httpx.HTTPError as exc:
                problem, status = f"could not be reached ({type(exc).__name__})", None
            else:
                if resp.status_code < 400:
                    return parse_transcription(_content(resp, self.host))
                status = resp.status_code
                if status in (401, 403):
                    raise VisionUnavailable(f"vision endpoint {self.host} refused the API key "
                                            f"(HTTP {status}); set SIGNWRITER_VISION_API_KEY",
                                            status=status)
                problem = f"answered HTTP {status}"
                if status not in RETRY_STATUSES:
                    raise VisionUnavailable(f"vision endpoint {self.host} {problem} (model "
                                            f"{self.model!r})", status=status)
            if attempt >= self.max_retries:
                raise VisionUnavailable(f"vision endpoint {self.host} {problem}", status=status)
            attempt += 1
            time.sleep(0.2 * attempt)


def _content(resp: httpx.Response, host: str) -> str:
    try:
        content = resp.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise VisionUnavailable(f"vision endpoint {host} sent a reply without "
                                f"choices[0].message.content", status=resp.status_code) from None
    if isinstance(content, list):  # content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if not isinstance(content, str):
        raise VisionUnavailable(f"vision endpoint {host} sent non-text content",
                                status=resp.status_code)
    return content


def data_url(crop: np.ndarray) -> str:
    """``crop`` (RGB uint8) as a ``data:image/png;base64,…`` URL."""
    arr = np.ascontiguousarray(np.asarray(crop, np.uint8))
    if arr.ndim == 3 and arr.shape[2] >= 3:
        arr = cv2.cvtColor(arr[:, :, :3], cv2.COLOR_RGB2BGR)
    ok, png = cv2.imencode(".png", arr)
    if not ok:
        raise VisionUnavailable("could not encode the crop as PNG")
    return "data:image/png;base64," + base64.b64encode(png.tobytes()).decode("ascii")


_QUOTES = [('"', '"'), ("'", "'"), ("“", "”"), ("‘", "’"), ("「", "」"), ("『", "』"), ("`", "`")]


def parse_transcription(content: str) -> str | None:
    """The model's answer as text: code fences, one pair of wrapping quotes and surrounding
    blank lines removed, lines joined by a space; None for ``<illegible>`` or nothing."""
    text = content.strip()
    if text.startswith("```"):
        text = text[3:]
        first, _, rest = text.partition("\n")
        text = rest if rest and first.strip().isalpha() else text  # a ```text language tag
        text = text.rstrip()
        if text.endswith("```"):
            text = text[:-3]
        text = text.strip()
    for left, right in _QUOTES:
        if len(text) >= 2 and text.startswith(left) and text.endswith(right):
            text = text[len(left):-len(right)].strip()
            break
    text = " ".join(line.strip() for line in text.splitlines() if line.strip())
    if not text or text.strip("[]()<> ").lower() in {"illegible", "no text", "none"}:
        return None
    return text


def vision_confirms(expected: str, transcription: str | None,
                    local_reads: Sequence[tuple[str, float]], *,
                    strictness: Strictness | None = None,
                    min_local_confidence: float = MIN_LOCAL_CONFIDENCE) -> bool:
    """True only when the blind ``transcription`` equals ``expected`` after normalisation
    AND no local read ``(text, confidence)`` at ``min_local_confidence`` or above says
    something different. Anything else (no transcription, a different one, a confident
    local misread) leaves the region failing."""
    if transcription is None:
        return False
    want = normalize(expected, strictness)
    if not want or normalize(transcription, strictness) != want:
        return False
    for text, confidence in local_reads:
        key = normalize(text, strictness)
        if key and key != want and confidence >= min_local_confidence:
            return False
    return True
