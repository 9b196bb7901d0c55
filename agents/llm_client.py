"""A small typed client for any OpenAI-compatible chat endpoint (``{base_url}/chat/completions``).

Used by the LLM planner, and reusable for a vision model (pass ``error=`` and ``key_setting=``
so failures name the right setting). Failures become one error type (by default
:class:`agents.errors.PlannerError`) whose message says what happened and what to fix:

* 401/403 → the key was refused (names the env var); 400/404/422 → the request or the
  model name is wrong; neither is retried;
* timeouts, dropped connections, 429 and 5xx are retried ``max_retries`` times under the
  shared :class:`retrypolicy.RetryPolicy` (the image backends' and the vision reader's
  statuses, backoff and ``Retry-After``), then reported;
* a reply without ``choices[0].message.content`` is reported as malformed.

No message and no reply ever carries a key: it is held as ``SecretStr`` and sent only in
the ``Authorization`` header, and every form of it (and of every other configured key:
``secrets=``, all of them from :meth:`from_settings`) that an endpoint echoes back, raw,
URL-encoded or base64 (:mod:`generation.redact`), is cut from error messages AND from the
reply text :meth:`ChatClient.chat` returns, so a model that repeats a key cannot carry it
into a spec, a prompt, a log or a run artifact.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr

from agents.errors import PlannerError, SignwriterError
from agents.settings import Settings
from generation.redact import redact
from retrypolicy import Retryable, RetryPolicy

CONNECT_TIMEOUT_S = 10.0
BACKOFF_S = 0.5
"""First retry waits up to this long; each further retry doubles it (full jitter)."""


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str
    content: str | list[dict[str, Any]]


class ChatClient:
    """``chat(messages) -> str`` against one OpenAI-compatible endpoint."""

    def __init__(self, base_url: str, model: str, *, api_key: SecretStr | str | None = None,
                 timeout_s: float = 60.0, max_retries: int = 2, backoff_s: float = BACKOFF_S,
                 key_setting: str = "SIGNWRITER_LLM_API_KEY", what: str = "planner LLM",
                 error: type[SignwriterError] = PlannerError,
                 secrets: Iterable[SecretStr | str | None] = (),
                 transport: httpx.BaseTransport | None = None) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self._key = SecretStr(api_key) if isinstance(api_key, str) else api_key
        self._secrets = (self._key, *secrets)
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.key_setting = key_setting
        self.what = what
        self.error = error
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout_s, connect=min(CONNECT_TIMEOUT_S, timeout_s)),
            transport=transport)

    @classmethod
    def from_settings(cls, settings: Settings, *,
                      transport: httpx.BaseTransport | None = None) -> "ChatClient":
        """The planner's client, from ``SIGNWRITER_LLM_*`` settings."""
        if not settings.llm_base_url:
            raise PlannerError("no planner LLM configured: set SIGNWRITER_LLM_BASE_URL "
                               "(an OpenAI-compatible base URL)")
        return cls(settings.llm_base_url, settings.llm_model, api_key=settings.llm_api_key,
                   timeout_s=settings.llm_timeout_s, secrets=settings.secrets(),
                   transport=transport)

    def __enter__(self) -> "ChatClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # ---------------------------------------------------------------------------------

    def chat(self, messages: list[ChatMessage | dict[str, Any]], *,
             response_format: dict[str, Any] | None = None, temperature: float | None = None,
             max_tokens: int | None = None) -> str:
        """The assistant's reply text for ``messages``."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [m.model_dump() if isinstance(m, ChatMessage) else m for m in messages],
        }
        if response_format is not None:
            body["response_format"] = response_format
        if temperature is not None:
            body["temperature"] = temperature
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        data = self._post(body)
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise self._err(f"{self.what} at {self.url} sent a reply without "
                             f"choices[0].message.content: {self._snippet(json.dumps(data))}"
                             ) from None
        if not isinstance(content, str):
            raise self._err(f"{self.what} at {self.url} sent non-text content")
        return self._scrub(content)

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._key is not None and self._key.get_secret_value():
            headers["Authorization"] = f"Bearer {self._key.get_secret_value()}"
        return headers

    @property
    def retry(self) -> RetryPolicy:
        return RetryPolicy(max_retries=self.max_retries, base_delay_s=self.backoff_s,
                           max_delay_s=max(self.backoff_s * 8, 0.001))

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        tries = self.max_retries + 1
        try:
            resp = self.retry.send(lambda: self._http.post(self.url, json=body,
                                                           headers=self._headers()))
        except Retryable as e:
            last = e.problem
            if e.status is None and last == "timed out":
                last = f"timed out after {self._http.timeout.read}s"
            elif e.response is not None:
                last += f": {self._snippet(e.response.text)}"
            raise self._err(f"{self.what} at {self.url} {last} ({tries} attempt"
                             f"{'s' if tries != 1 else ''})") from None
        except httpx.HTTPError as e:
            raise self._err(f"{self.what} at {self.url} could not be reached "
                             f"({type(e).__name__}: {self._scrub(str(e))})") from None
        if resp.status_code in (401, 403):
            raise self._err(f"{self.what} at {self.url} refused the API key (HTTP "
                             f"{resp.status_code}): check {self.key_setting}")
        if resp.status_code >= 400:
            raise self._err(f"{self.what} at {self.url} rejected the request (HTTP "
                             f"{resp.status_code}, model {self.model!r}): "
                             f"{self._snippet(resp.text)}")
        try:
            data = resp.json()
        except ValueError:
            raise self._err(f"{self.what} at {self.url} sent a reply that is not JSON: "
                             f"{self._snippet(resp.text)}") from None
        if not isinstance(data, dict):
            raise self._err(f"{self.what} at {self.url} sent a JSON reply that is not an "
                             f"object")
        return data

    def _err(self, message: str) -> SignwriterError:
        """The client's error type with ``message`` scrubbed (a key may sit in the URL)."""
        return self.error(self._scrub(message))

    def _scrub(self, text: str) -> str:
        """``text`` with every form of every key this client knows cut out."""
        return redact(text, self._secrets)

    def _snippet(self, text: str, limit: int = 300) -> str:
        text = self._scrub(" ".join(text.split()))
        return text if len(text) <= limit else text[:limit] + "…"
