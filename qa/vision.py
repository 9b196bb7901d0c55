"""An optional further opinion for the hardest regions: a vision model that transcribes blind.

:class:`VisionReader` sends a crop to a vision model and returns what the model says is
written there. The request never contains the expected text: the model cannot confirm
what it was told, only report what it sees. It speaks one of four protocols
(:data:`PROTOCOLS`, setting ``SIGNWRITER_VISION_PROTOCOL``):

``chat``
    any OpenAI-compatible vision chat model (``POST {base_url}/chat/completions``): the
    system prompt :data:`TRANSCRIBE_PROMPT`, then the crop as a base64 PNG data URL in an
    ``image_url`` content part.
``glm-ocr``
    Z.ai's GLM-OCR (0.9 B) served by vLLM, SGLang or Ollama's OpenAI-compatible API
    (``POST {base_url}/chat/completions``, e.g. ``http://127.0.0.1:8080/v1``): one user
    message, the image then GLM-OCR's own task prompt ``Text Recognition:``
    (:data:`GLM_OCR_PROMPT`), greedy decoding as the GLM-OCR SDK sends it.
``ollama``
    GLM-OCR on Ollama's native API (``POST {base_url}/api/generate``, e.g.
    ``http://127.0.0.1:11434``), which the GLM-OCR SDK prefers for images: ``prompt``
    ``Text Recognition:``, ``images`` [base64], ``stream`` false; the answer is
    ``response`` (an ``error`` field is a failure).
``zai-layout``
    Z.ai's hosted GLM-OCR, the layout-parsing API (``POST {base_url}/layout_parsing``,
    e.g. ``https://api.z.ai/api/paas/v4``): ``{"model": "glm-ocr", "file": <data URL>}``;
    the text regions of ``layout_details`` in reading order (else ``md_results`` with its
    Markdown stripped) are the transcription.

It is consulted only for regions the local engines could not read (``illegible``), and
:func:`vision_confirms` is the whole rule for what its answer may do: a region passes
only when the transcription equals the expected text exactly after normalisation AND no
local engine read a *different* text with confidence. A misspelt read stays a failure
whatever the vision model says; a vision answer that differs changes nothing.

Failures (refused key, timeout, 5xx or 429 after one retry, a provider error in the body,
a reply without text) raise :class:`~qa.errors.VisionUnavailable`; messages name the
endpoint's host, never the key. An endpoint that echoes a key back (in an error body or in
its answer) gets it cut by ``redact``, a ``str -> str`` the caller passes (the library API
passes :func:`generation.redact.redact` over every configured key; ``qa`` imports neither
``agents`` nor ``generation``), from every message and every transcription, so it never
reaches a finding, a report or a log. Without one, the reader's own key is cut as written.
"""

from __future__ import annotations

import base64
import dataclasses
import math
import re
from collections.abc import Callable, Sequence
from typing import Literal, get_args
from urllib.parse import urlsplit

import cv2
import httpx
import numpy as np
from pydantic import SecretStr

from qa.errors import VisionUnavailable
from retrypolicy import RetryPolicy, Retryable
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

RETRIES = RetryPolicy(max_retries=1, base_delay_s=0.2, max_delay_s=2.0)
"""The shared policy (:mod:`retrypolicy`) with one retry: a region's opinion is not worth a
long wait. Pass ``retry=`` for another."""

Protocol = Literal["chat", "glm-ocr", "ollama", "zai-layout"]
PROTOCOLS: tuple[str, ...] = get_args(Protocol)

GLM_OCR_PROMPT = "Text Recognition:"
"""GLM-OCR's task prompt for plain text (its SDK's ``task_prompt_mapping['text']``)."""

GLM_OCR_MIN_PIXELS = 112 * 112
"""GLM-OCR's smallest input (its SDK's ``min_pixels``): smaller crops are enlarged first."""

_PATHS = {"chat": "/chat/completions", "glm-ocr": "/chat/completions",
          "ollama": "/api/generate", "zai-layout": "/layout_parsing"}
_TEXT_LABELS = frozenset({"text", "doc_title", "paragraph_title", "title", "header", "footer",
                          "content", "abstract", "aside_text", "vertical_text", "seal",
                          "number", "footnote", "vision_footnote", "figure_title"})
"""``layout_details`` labels whose ``content`` is text (images, tables and formulas are not)."""


class VisionReader:
    """Blind transcription of crops by a vision model speaking ``protocol``."""

    name = "vision"

    def __init__(self, base_url: str, model: str, api_key: SecretStr | None = None,
                 timeout_s: float = 30.0, *, protocol: Protocol = "chat", max_retries: int = 1,
                 retry: RetryPolicy | None = None,
                 redact: Callable[[str], str] | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"unknown vision protocol {protocol!r}; choose one of "
                             f"{', '.join(PROTOCOLS)}")
        self.protocol = protocol
        self.url = base_url.rstrip("/") + _PATHS[protocol]
        self.host = urlsplit(base_url).hostname or "the vision endpoint"
        self.model = model
        self._key = api_key
        self._redact = redact or self._cut_own_key
        self.retry = retry or dataclasses.replace(RETRIES, max_retries=max_retries)
        self._http = httpx.Client(timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)),
                                  transport=transport)

    def __enter__(self) -> VisionReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request_body(self, crop: np.ndarray) -> dict:
        """The request for ``crop`` (RGB uint8) in this reader's protocol."""
        if self.protocol == "chat":
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
        crop = _at_least(crop, GLM_OCR_MIN_PIXELS)
        if self.protocol == "glm-ocr":
            return {
                "model": self.model,
                "messages": [{"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": data_url(crop)}},
                    {"type": "text", "text": GLM_OCR_PROMPT},
                ]}],
                "max_tokens": 512, "temperature": 0.0, "top_p": 0.00001, "top_k": 1,
                "repetition_penalty": 1.1,
            }
        if self.protocol == "ollama":
            return {"model": self.model, "prompt": GLM_OCR_PROMPT, "stream": False,
                    "images": [data_url(crop).split(",", 1)[1]],
                    "options": {"num_predict": 512, "temperature": 0.0, "top_p": 0.00001,
                                "top_k": 1, "repeat_penalty": 1.1}}
        return {"model": self.model, "file": data_url(crop)}  # zai-layout

    def _cut_own_key(self, text: str) -> str:
        key = self._key.get_secret_value() if self._key is not None else ""
        return text.replace(key, "***") if key else text

    def transcribe(self, crop: np.ndarray) -> str | None:
        """What the model reads in ``crop``; None when it says nothing is legible."""
        try:
            text = self._transcribe(crop)
        except VisionUnavailable as e:
            raise VisionUnavailable(self._redact(str(e)), status=e.status) from None
        return None if text is None else parse_transcription(self._redact(text))

    def _transcribe(self, crop: np.ndarray) -> str | None:
        body = self.request_body(crop)
        headers = {"Authorization": f"Bearer {self._key.get_secret_value()}"} if self._key else {}
        try:
            resp = self.retry.send(lambda: self._http.post(self.url, json=body, headers=headers))
        except Retryable as e:
            detail = _provider_error(e.response, self._redact) if e.response is not None else ""
            raise VisionUnavailable(f"vision endpoint {self.host} {e.problem}{detail}",
                                    status=e.status) from None
        except httpx.HTTPError as exc:
            raise VisionUnavailable(f"vision endpoint {self.host} could not be reached "
                                    f"({type(exc).__name__})") from None
        if resp.status_code < 400:
            return self._answer(resp)
        status = resp.status_code
        if status in (401, 403):
            raise VisionUnavailable(f"vision endpoint {self.host} refused the API key "
                                    f"(HTTP {status}); set SIGNWRITER_VISION_API_KEY",
                                    status=status)
        raise VisionUnavailable(f"vision endpoint {self.host} answered HTTP {status}"
                                f"{_provider_error(resp, self._redact)} (model "
                                f"{self.model!r})", status=status)

    def _answer(self, resp: httpx.Response) -> str:
        """The text of a successful reply, in this reader's protocol."""
        try:
            data = resp.json()
        except ValueError:
            raise VisionUnavailable(f"vision endpoint {self.host} sent a reply that is not "
                                    f"JSON", status=resp.status_code) from None
        if self.protocol in ("chat", "glm-ocr"):
            return _content(data, self.host, resp.status_code)
        if isinstance(data, dict) and data.get("error"):
            raise VisionUnavailable(f"vision endpoint {self.host} answered an error"
                                    f"{_provider_error(resp, self._redact)}",
                                    status=resp.status_code)
        if self.protocol == "ollama":
            text = data.get("response") if isinstance(data, dict) else None
            if not isinstance(text, str):
                raise VisionUnavailable(f"vision endpoint {self.host} sent a reply without "
                                        f"'response'", status=resp.status_code)
            return text
        return _layout_text(data, self.host, resp.status_code)


def _content(data: object, host: str, status: int) -> str:
    try:
        content = data["choices"][0]["message"]["content"]  # type: ignore[index]
    except (KeyError, IndexError, TypeError):
        raise VisionUnavailable(f"vision endpoint {host} sent a reply without "
                                f"choices[0].message.content", status=status) from None
    if isinstance(content, list):  # content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if not isinstance(content, str):
        raise VisionUnavailable(f"vision endpoint {host} sent non-text content", status=status)
    return content


def _layout_text(data: object, host: str, status: int) -> str:
    """The text of a layout-parsing reply: its text regions in reading order, else its
    Markdown with the markup stripped."""
    if not isinstance(data, dict) or not ("layout_details" in data or "md_results" in data):
        raise VisionUnavailable(f"vision endpoint {host} sent a reply without layout_details "
                                f"or md_results", status=status)
    regions = [r for page in data.get("layout_details") or [] if isinstance(page, list)
               for r in page if isinstance(r, dict)]
    if regions:
        texts = [str(r.get("content") or "") for r in sorted(regions, key=_index)
                 if str(r.get("label", "text")) in _TEXT_LABELS]
        return "\n".join(t for t in texts if t.strip())
    return strip_markdown(str(data.get("md_results") or ""))


def _index(region: dict) -> int:
    try:
        return int(region.get("index", 0))
    except (TypeError, ValueError):
        return 0


_MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_MD_LEAD = re.compile(r"^\s{0,3}(?:#{1,6}\s+|>\s?|[-*+]\s+(?=\S))")
_HTML_TAG = re.compile(r"</?[a-zA-Z][^>]*>")


def strip_markdown(md: str) -> str:
    """Plain lines from GLM-OCR's Markdown: image references dropped, links, headings,
    quotes, list bullets, emphasis markers and HTML tags removed."""
    lines = []
    for line in md.splitlines():
        line = _MD_IMAGE.sub("", line)
        line = _MD_LINK.sub(r"\1", line)
        line = _HTML_TAG.sub(" ", line)
        line = _MD_LEAD.sub("", line)
        line = line.replace("**", "").replace("__", "")
        if line.strip():
            lines.append(line.strip())
    return "\n".join(lines)


def _provider_error(resp: httpx.Response, redact: Callable[[str], str] = str) -> str:
    """``: <code> <message>`` from a provider's error body (OpenAI's, Z.ai's, Ollama's
    shapes), ``redact``-ed then shortened (never cut first: half a key would stay);
    empty when the body says nothing usable."""
    try:
        data = resp.json()
    except ValueError:
        return ""
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        code, message = err.get("code"), err.get("message")
        text = " ".join(str(x) for x in (code, message) if x)
    elif isinstance(err, str):
        text = err
    else:
        return ""
    text = redact(text)
    return f": {text[:160]}" if text else ""


def _at_least(crop: np.ndarray, min_pixels: int) -> np.ndarray:
    """``crop`` enlarged (cubic) until it has ``min_pixels``; unchanged when it has them."""
    h, w = crop.shape[:2]
    if h * w >= min_pixels or h == 0 or w == 0:
        return crop
    scale = math.sqrt(min_pixels / (h * w))
    return cv2.resize(np.ascontiguousarray(crop), (math.ceil(w * scale), math.ceil(h * scale)),
                      interpolation=cv2.INTER_CUBIC)


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
