"""The plumbing every hosted-provider backend shares (``zai``, ``fal``, ``runware``).

A provider module declares its options (a :class:`ProviderOptions` subclass), maps its
error bodies, builds its payloads and reads its answers; :class:`ProviderBackend` does the
rest the same way for all of them:

- one :class:`httpx.Client` per backend instance, on an injectable ``transport``
  (``httpx.MockTransport`` in unit tests), so connections are pooled across calls and the
  shared :data:`generation.http.LIMITS` apply; ``close()`` releases it;
- the key (``NeedsKey`` naming the setting when it is missing);
- retried JSON calls, polling and result downloads under one
  :class:`retrypolicy.RetryPolicy` built from the options;
- the capabilities: the module's declared ones with this instance's price and size
  limits (both options, since they belong to the configured endpoint).

Self-hosted server pools have their own plumbing (:mod:`generation.pool`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from generation import http
from generation.base import Capabilities
from generation.errors import BackendError, NeedsKey
from generation.limits import GLM_IMAGE_LIMITS, SizeLimits
from retrypolicy import RetryPolicy

T = TypeVar("T")


class ProviderOptions(BaseModel):
    """Options every hosted provider takes (each provider adds its own and its defaults)."""

    model_config = ConfigDict(extra="forbid")

    key_setting: ClassVar[str] = "SIGNWRITER_..._API_KEY"

    api_key: SecretStr | None = Field(None, description="The provider's API key.")
    base_url: str = Field(description="API base URL.")
    limits: SizeLimits = Field(GLM_IMAGE_LIMITS, description="The sizes the endpoint at "
                               "base_url accepts.")
    timeout_s: float = Field(120.0, gt=0, description="Per-request timeout, seconds.")
    max_retries: int = Field(3, ge=0, description="Retries of transient failures per call.")
    backoff_base_s: float = Field(1.0, ge=0, description="First backoff step, seconds.")
    backoff_max_s: float = Field(30.0, ge=0, description="Longest backoff, seconds.")
    poll_interval_s: float = Field(1.0, ge=0, description="Seconds between result polls.")
    poll_timeout_s: float = Field(600.0, gt=0, description="Give up polling after this.")


class ProviderBackend:
    """A hosted provider's backend: see the module docstring. A subclass names what it is
    in its class line and implements ``generate``/``edit``::

        class ZaiBackend(ProviderBackend, name="zai", options=ZaiOptions,
                         declared=Capabilities(paid=True, cost_per_image_usd=0.015)): ...

    ``declared``: its capabilities at default options; ``auth_scheme``: the word before
    the key in the ``Authorization`` header.
    """

    name: ClassVar[str] = "provider"
    options_class: ClassVar[type[ProviderOptions]] = ProviderOptions
    declared: ClassVar[Capabilities] = Capabilities(paid=True)
    auth_scheme: ClassVar[str] = "Bearer"

    def __init_subclass__(cls, *, name: str, options: type[ProviderOptions],
                          declared: Capabilities, auth_scheme: str = "Bearer",
                          **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.name, cls.options_class, cls.declared = name, options, declared
        cls.auth_scheme = auth_scheme

    def __init__(self, *, transport: httpx.BaseTransport | None = None,
                 **options: Any) -> None:
        self.options = self.options_class(**options)
        self.capabilities = self.declared.model_copy(update={
            "cost_per_image_usd": self.price(1024, 1024), "limits": self.options.limits})
        self.sleep: Callable[[float], None] = time.sleep
        self._client = http.make_client(timeout_s=self.options.timeout_s, transport=transport)

    def close(self) -> None:
        self._client.close()

    def price(self, width: int, height: int) -> float:
        """What one image of this size costs (USD): the ``cost_per_image_usd`` option when
        the provider has one, else the declared price; providers billing by size override."""
        return float(getattr(self.options, "cost_per_image_usd",
                             self.declared.cost_per_image_usd))

    def estimate_cost(self, width: int, height: int) -> float:
        """What budgets reserve for one image (:func:`generation.base.estimate_cost`)."""
        return self.price(width, height)

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy of every call this backend makes (from its options)."""
        o = self.options
        return RetryPolicy(max_retries=o.max_retries, base_delay_s=o.backoff_base_s,
                           max_delay_s=o.backoff_max_s, sleep=self.sleep)

    def _key(self, attempt: str | None) -> SecretStr:
        key = self.options.api_key
        if key is None or not key.get_secret_value():
            raise NeedsKey(self.options.key_setting, backend=self.name, attempt=attempt)
        return key

    def _error(self, response: httpx.Response, attempt: str | None,
               key: SecretStr) -> BackendError | None:
        """The provider's error mapping of a response (``None`` for a success)."""
        return http.map_status(response, self.name, attempt, setting=self.options.key_setting,
                               secrets=(key,))

    def _call(self, key: SecretStr, method: str, url: str, attempt: str | None,
              **kwargs: Any) -> dict[str, Any]:
        """One JSON API call with retries; the JSON object, or a mapped error."""
        return http.request_json(
            self._client, method, url, key=key,
            headers={"Authorization": f"{self.auth_scheme} {http.secret(key)}"},
            backend=self.name, attempt=attempt,
            to_error=lambda r: self._error(r, attempt, key), policy=self.retry, **kwargs)

    def _poll(self, check: Callable[[], T | None], attempt: str | None, what: str) -> T:
        return http.poll(check, backend=self.name, attempt=attempt,
                         interval_s=self.options.poll_interval_s,
                         timeout_s=self.options.poll_timeout_s, sleep=self.sleep, what=what)

    def _download(self, url: str, attempt: str | None) -> tuple[bytes, str]:
        return http.download(url, backend=self.name, attempt=attempt, client=self._client,
                             policy=self.retry, secrets=(self.options.api_key,))
