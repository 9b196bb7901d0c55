"""The one settings object. Every knob is read here, from env vars (``SIGNWRITER_*``)
or a ``.env`` file, never ad hoc elsewhere. Keys are ``SecretStr`` and never printed.

A backend's own options come through the same door, one mechanism for built-in and
plugin backends alike: every option of its ``Options`` model can be set as
``SIGNWRITER_<BACKEND>_<OPTION>`` (``SIGNWRITER_ZAI_API_KEY``,
``SIGNWRITER_OPENAI_IMAGES_URLS='["http://gpu-1:30000"]'``); :meth:`Settings.backend_options`
reads them, over the run-wide knobs below (timeouts, retries, polling) that every backend
whose options have the same name takes.

The README's configuration tables are generated from this class and the backend registry
(``python -m agents.settings --markdown``).
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import (BaseModel, Field, SecretStr, ValidationError, create_model, field_validator,
                      model_validator)
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from generation.base import BackendSpec
from generation.errors import InvalidRequest
from generation.registry import DEFAULT_BACKEND, available_backends

SHARED_OPTIONS = {"timeout_s": "http_timeout_s", "max_retries": "max_retries",
                  "backoff_base_s": "retry_backoff_s", "poll_interval_s": "poll_interval_s",
                  "per_server_concurrency": "per_server_concurrency",
                  "fault_rate": "simulate_errors"}
"""Backend option → the run-wide setting it takes by default, for every backend whose
options model has that option."""


class Settings(BaseSettings):
    """signwriter configuration."""

    model_config = SettingsConfigDict(
        env_prefix="SIGNWRITER_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- runs -------------------------------------------------------------------------
    runs_dir: Path = Field(Path("runs"), description="Where every run writes its folder.")
    backend: str = Field(DEFAULT_BACKEND, description="Image backend (`signwriter backends` "
                         "lists them; each one's own settings are below).")
    planner: Literal["auto", "rules", "llm"] = Field(
        "auto", description="auto uses the LLM planner when an LLM is configured, else rules.")
    max_attempts: int = Field(3, ge=1, le=20, description="Attempts per asset before review.")
    max_cost: float | None = Field(None, ge=0, description="Run budget in USD; never exceeded.")
    concurrency: int = Field(4, ge=1, le=64, description="Assets generated at once.")
    review_policy: Literal["failures", "always", "never"] | None = Field(
        None, description="Who sees an asset: failures (what QA could not accept), always, "
        "never (QA's word is final); unset: the brief's `review:`, else failures.")
    simulate_errors: float = Field(0.0, ge=0, le=1, description="Chance that an attempt "
                                   "carries an injected GLM-Image-like text error (backends "
                                   "with a fault_rate option: the built-in renderer).")

    # --- limits on what a brief or an image may ask for (bad input is refused, not run) ---
    assets_dirs: list[Path] = Field(default_factory=list, description="Folders besides the "
                                    "brief's own that brief fonts, logos and images may come "
                                    "from (a shared brand kit), JSON list.")
    brief_max_bytes: int = Field(1_000_000, ge=1_000, description="Largest brief file read.")
    brief_max_depth: int = Field(16, ge=4, le=100, description="Deepest nesting of mappings "
                                 "and lists a brief may have.")
    brief_max_formats: int = Field(32, ge=1, le=1000, description="Most formats one brief may "
                                   "ask for (each is a paid asset).")
    brief_max_copy_items: int = Field(40, ge=1, le=1000, description="Most named copy items "
                                      "in one brief.")
    brief_max_copy_chars: int = Field(5_000, ge=10, le=100_000, description="Longest copy "
                                      "item (characters); longer copy cannot be legible.")
    max_image_pixels: int = Field(40_000_000, ge=1_000_000, description="Largest image (pixels) "
                                  "that `qa` or a brief may load; larger ones are refused before "
                                  "they are decoded.")

    # --- planner LLM (any OpenAI-compatible chat endpoint) -----------------------------
    llm_base_url: str | None = Field(None, description="OpenAI-compatible base URL, e.g. "
                                     "https://api.z.ai/api/paas/v4 or http://localhost:11434/v1.")
    llm_model: str = Field("glm-4.6", description="Chat model for the planner.")
    llm_api_key: SecretStr | None = Field(None, description="Key for the planner endpoint.")
    llm_timeout_s: float = Field(60.0, gt=0, description="Planner request timeout (seconds).")
    llm_max_repairs: int = Field(2, ge=0, le=10, description="Times an invalid plan is re-asked "
                                 "with the validation errors.")
    prompt_enhance: bool = Field(False, description="Rewrite each GLM-Image prompt through the "
                                 "planner LLM in the model's own style; every quoted text is "
                                 "checked verbatim, else the compiled prompt is sent.")

    # --- QA -----------------------------------------------------------------------------
    ocr_engine: Literal["rapidocr", "tesseract"] = Field("rapidocr", description="The judge.")
    ocr_runtime: Literal["auto", "openvino", "openvino-f32", "onnxruntime"] = Field(
        "auto", description="Runtime for rapidocr's whole-image read; auto takes OpenVINO when "
        "installed (bf16 on CPUs that have it: about 30 % faster), else onnxruntime.")
    ocr_recheck_runtime: Literal["auto", "openvino", "openvino-f32", "onnxruntime"] = Field(
        "auto", description="Runtime that judges again, from scratch, an image the first read "
        "did not pass, at f32; auto takes the judge's runtime held to f32 (OpenVINO at f32 "
        "behind OpenVINO: no second inference library in memory).")
    ocr_workers: int | None = Field(None, ge=1, le=256, description="Images OCR'd in parallel "
                                    "(one single-threaded model instance each); default: one "
                                    "per CPU core.")
    ocr_second_opinion: bool = Field(False, description="Also run tesseract and record its read.")
    vision_base_url: str | None = Field(None, description="Optional vision model that "
                                        "transcribes hard regions blind, e.g. "
                                        "http://127.0.0.1:8080/v1 (GLM-OCR on vLLM).")
    vision_model: str = Field("glm-4.5v", description="Vision model for blind transcription "
                              "(glm-ocr for GLM-OCR).")
    vision_protocol: Literal["chat", "glm-ocr", "ollama", "zai-layout"] = Field(
        "chat", description="How the vision endpoint is spoken to: chat (any OpenAI-compatible "
        "vision chat model), glm-ocr (GLM-OCR on vLLM/SGLang/Ollama's /v1), ollama (GLM-OCR on "
        "Ollama's /api/generate), zai-layout (Z.ai's hosted GLM-OCR layout_parsing API).")
    vision_api_key: SecretStr | None = Field(None, description="Key for the vision endpoint.")

    # --- automation (batches, schedules, webhooks) ---------------------------------------
    webhook_url: str | None = Field(None, description="Receiver of Standard Webhooks events "
                                    "(job.completed, asset.*); jobs may name their own.")
    webhook_secret: SecretStr | None = Field(None, description="Its signing secret, whsec_… "
                                             "(base64 after the prefix).")
    api_rate_limit: int = Field(120, ge=1, le=100_000, description="Requests a minute each "
                                "/v1 API token may make (then 429 with Retry-After).")

    # --- every image backend (each backend's own options: SIGNWRITER_<BACKEND>_<OPTION>) ---
    per_server_concurrency: int = Field(2, ge=1, description="Requests at once per server "
                                        "(backends that take a list of servers).")
    http_timeout_s: float = Field(120.0, gt=0, description="Timeout for image requests.")
    max_retries: int = Field(4, ge=0, le=20, description="Retries of transient failures.")
    retry_backoff_s: float = Field(1.0, ge=0, description="First retry delay (doubles, with "
                                   "jitter; Retry-After wins).")
    poll_interval_s: float = Field(1.0, ge=0, description="Seconds between polls of queued "
                                   "provider tasks.")

    # --- the run index (what the CLI and the review web app query) ---------------------
    database_url: str | None = Field(
        None, description="PostgreSQL URL of the run index, e.g. "
        "postgresql://user@127.0.0.1:5432/signwriter; unset: SQLite at runs/index.sqlite.")

    # --- many machines (Celery workers on Redis, state in PostgreSQL) --------------------
    broker_url: str | None = Field(
        None, description="Redis URL of the Celery broker, e.g. redis://127.0.0.1:6379/0; with "
        "a PostgreSQL SIGNWRITER_DATABASE_URL, `run` and `batch` enqueue for `signwriter "
        "worker` processes instead of running in-process.")
    lease_ttl_s: float = Field(60.0, ge=1, le=3600, description="How long an asset's lease "
                               "lasts without a heartbeat (every third of it) before another "
                               "worker may take the asset over.")
    requeue_after_s: float = Field(900.0, ge=1, description="A queued asset no worker has "
                                   "taken for this long is queued again (a lost message).")
    broker_visibility_timeout_s: float = Field(3600.0, ge=1, description="Seconds a task "
                                               "taken but not acknowledged stays invisible "
                                               "before Redis hands it out again.")
    provider_max_in_flight: int | None = Field(
        None, ge=1, description="Requests at once to the image provider's account across all "
        "workers (its concurrency limit); unset: only each worker's --concurrency bounds them.")
    provider_requests_per_min: int | None = Field(
        None, ge=1, description="Requests the image provider's account may start per minute, "
        "across all workers; unset: no bound.")
    queue_prefix: str = Field("signwriter", pattern=r"^[A-Za-z0-9_.-]{1,64}$",
                              description="Names the broker's queues (<prefix>.generate, "
                              "<prefix>.check): two deployments can share one Redis.")
    db_pool_size: int = Field(8, ge=1, le=200, description="PostgreSQL connections per process "
                              "in each pool: the run index's, and workers' (checkpoints, "
                              "leases, payment intents).")

    @field_validator("broker_url")
    @classmethod
    def _broker_url(cls, v: str | None) -> str | None:
        if v and not v.startswith(("redis://", "rediss://")):
            raise ValueError("SIGNWRITER_BROKER_URL must be a redis:// URL")
        return v or None

    @property
    def cluster(self) -> bool:
        """Both switches set: the CLI, API and scheduler enqueue for workers."""
        return bool(self.broker_url and self.database_url)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, v: str | None) -> str | None:
        if v and not v.startswith(("postgresql://", "postgres://")):
            raise ValueError("SIGNWRITER_DATABASE_URL must be a postgresql:// URL (unset it "
                             "for SQLite under the runs folder)")
        return v or None

    @model_validator(mode="after")
    def _broker_needs_postgres(self) -> "Settings":
        if self.broker_url and not self.database_url:
            raise ValueError("SIGNWRITER_BROKER_URL needs SIGNWRITER_DATABASE_URL=postgresql://… "
                             "(workers keep runs, leases and payments in PostgreSQL)")
        return self

    @model_validator(mode="after")
    def _enhancer_needs_llm(self) -> "Settings":
        if self.prompt_enhance and not self.llm_base_url:
            raise ValueError("SIGNWRITER_PROMPT_ENHANCE needs the planner LLM: set "
                             "SIGNWRITER_LLM_BASE_URL (an OpenAI-compatible base URL)")
        return self

    def _configured_values(self) -> list[Any]:
        """Every value set here, and every backend's own options from the environment."""
        values: list[Any] = [getattr(self, name) for name in type(self).model_fields]
        for spec in available_backends():
            try:
                values += list(backend_env(spec).values())
            except InvalidRequest:
                continue  # reported by doctor and at run time
        return values

    def configured_urls(self) -> list[str]:
        """Every URL configured (base URLs, server lists), as written."""
        return _urls(self._configured_values())

    def secrets(self) -> list[str]:
        """Every configured key (each ``SecretStr`` setting or backend option), and any
        user, password or long query value written into a configured URL: what
        :mod:`generation.redact` cuts from every reply, message and file."""
        from urllib.parse import parse_qsl, unquote, urlsplit

        values = self._configured_values()
        out = [value.get_secret_value() for value in values if isinstance(value, SecretStr)]
        for u in _urls(values):
            try:
                parts = urlsplit(u)
            except ValueError:
                continue
            out += [p for p in (parts.password, parts.username) if p]
            out += [unquote(p) for p in (parts.password, parts.username) if p]
            out += [v for _, v in parse_qsl(parts.query) if len(v) >= 12]
        return [x for x in out if x]

    @property
    def llm_configured(self) -> bool:
        return bool(self.llm_base_url)

    def backend_options(self, spec: BackendSpec, *, seed: int = 0) -> dict[str, Any]:
        """The options to build ``spec``'s backend with: the run-wide knobs it shares
        (:data:`SHARED_OPTIONS`; ``fault_seed`` is the run's seed), then its own
        ``SIGNWRITER_<BACKEND>_<OPTION>`` variables, which win."""
        fields = spec.options.model_fields
        options: dict[str, Any] = {opt: getattr(self, setting)
                                   for opt, setting in SHARED_OPTIONS.items() if opt in fields}
        if "fault_seed" in fields:
            options["fault_seed"] = seed
        options.update(backend_env(spec))
        return options


def _urls(values: list[Any]) -> list[str]:
    """The URLs among configured ``values`` (a value may be a list of them)."""
    return [u for value in values for u in (value if isinstance(value, list) else [value])
            if isinstance(u, str) and "://" in u]


def _env_model(spec: BackendSpec) -> type[BaseSettings]:
    """A settings model reading ``spec``'s options from ``SIGNWRITER_<BACKEND>_*`` (built
    once per backend: building a pydantic model costs about a millisecond, and every run
    reads every backend's options to know what to redact)."""
    return _env_model_for(spec.env(""), spec.options)


@lru_cache(maxsize=None)
def _env_model_for(prefix: str, options: type[BaseModel]) -> type[BaseSettings]:
    class BackendEnv(BaseSettings):
        model_config = SettingsConfigDict(env_prefix=prefix, env_file=".env",
                                          env_file_encoding="utf-8", extra="ignore",
                                          validate_default=False)

    fields: dict[str, Any] = {name: (f.annotation, None) for name, f in
                              options.model_fields.items() if not f.exclude}
    return create_model(f"{options.__name__}Env", __base__=BackendEnv, **fields)


def backend_env(spec: BackendSpec) -> dict[str, Any]:
    """The options of ``spec`` set in the environment (or ``.env``), validated."""
    try:
        return _env_model(spec)().model_dump(exclude_unset=True)
    except ValidationError as e:
        first = e.errors()[0]
        option = str(first["loc"][0]) if first["loc"] else ""
        raise InvalidRequest(f"{spec.env(option)}: {first['msg']}", backend=spec.name) from None
    except SettingsError as e:  # a list or object that is not JSON
        raise InvalidRequest(f"a {spec.name} setting is not valid JSON ({e}); lists are "
                             'written like ["http://gpu-1:30000"]', backend=spec.name) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests build their own ``Settings(...)``)."""
    return Settings()


def _row(env: str, field: Any) -> str:
    default = field.get_default(call_default_factory=True)
    shown = "—" if default is None or default == [] else f"`{default}`"
    return f"| `{env}` | {shown} | {field.description or ''} |"


def markdown_table() -> str:
    """The README configuration tables, generated from :class:`Settings` and from every
    registered backend's documented settings."""
    rows = ["| env var | default | description |", "| --- | --- | --- |"]
    rows += [_row(f"SIGNWRITER_{name.upper()}", field)
             for name, field in Settings.model_fields.items()]
    rows += ["", "Each backend's own settings (any other option of its `Options` model is set "
             "the same way, `SIGNWRITER_<BACKEND>_<OPTION>`; `signwriter backends --json` "
             "lists them all):", "", "| backend | env var | default | description |",
             "| --- | --- | --- | --- |"]
    for spec in available_backends():
        rows += [f"| `{spec.name}` " + _row(spec.env(o), spec.options.model_fields[o])
                 for o in spec.settings]
    return "\n".join(rows)


START, END = "<!-- settings-table:start -->", "<!-- settings-table:end -->"
BACKENDS_START, BACKENDS_END = "<!-- backends-table:start -->", "<!-- backends-table:end -->"


def _replace_between(text: str, start: str, end: str, table: str) -> str:
    head, found, rest = text.partition(start)
    if not found:
        raise ValueError(f"README has no {start} marker")
    _, _, tail = rest.partition(end)
    return f"{head}{start}\n{table}\n{end}{tail}"


def update_readme(path: Path = Path("README.md")) -> bool:
    """Rewrite the tables between the README's settings and backends markers (the
    backends table: :func:`generation.registry.markdown_table`); True if it changed."""
    from generation.registry import markdown_table as backends_table
    text = path.read_text(encoding="utf-8")
    new = _replace_between(text, START, END, markdown_table())
    new = _replace_between(new, BACKENDS_START, BACKENDS_END, backends_table())
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":  # pragma: no cover
    if "--markdown" in sys.argv:
        print(markdown_table())
    elif "--update-readme" in sys.argv:
        print("README.md updated" if update_readme() else "README.md already up to date")
