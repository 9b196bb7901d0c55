"""The one settings object. Every knob is read here, from env vars (``SIGNWRITER_*``)
or a ``.env`` file, never ad hoc elsewhere. Keys are ``SecretStr`` and never printed.

The README's configuration table is generated from this class
(``python -m agents.settings --markdown``).
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """signwriter configuration."""

    model_config = SettingsConfigDict(
        env_prefix="SIGNWRITER_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- runs -------------------------------------------------------------------------
    runs_dir: Path = Field(Path("runs"), description="Where every run writes its folder.")
    backend: str = Field("typeset", description="Image backend: typeset, zai, fal, runware, "
                         "openai-images, vllm-omni, diffusers.")
    planner: Literal["auto", "rules", "llm"] = Field(
        "auto", description="auto uses the LLM planner when an LLM is configured, else rules.")
    max_attempts: int = Field(3, ge=1, le=20, description="Attempts per asset before review.")
    max_cost: float | None = Field(None, ge=0, description="Run budget in USD; never exceeded.")
    concurrency: int = Field(4, ge=1, le=64, description="Assets generated at once.")
    simulate_errors: float = Field(0.0, ge=0, le=1, description="typeset only: chance that an "
                                   "attempt carries an injected GLM-Image-like text error.")

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
    ocr_runtime: Literal["auto", "openvino", "onnxruntime"] = Field(
        "auto", description="Runtime for rapidocr's whole-image read; auto takes OpenVINO when "
        "installed (bf16 on CPUs that have it: about 30 % faster), else onnxruntime.")
    ocr_recheck_runtime: Literal["auto", "openvino", "onnxruntime"] = Field(
        "auto", description="Runtime that judges again, from scratch, an image the first read "
        "did not pass; auto takes onnxruntime (always f32) when installed.")
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

    # --- remote GLM-Image providers ---------------------------------------------------
    zai_api_key: SecretStr | None = Field(None, description="Z.ai API key (backend zai).")
    zai_base_url: str = Field("https://api.z.ai/api/paas/v4", description="Z.ai API base URL.")
    fal_key: SecretStr | None = Field(None, description="fal API key (backend fal).")
    fal_base_url: str = Field("https://queue.fal.run", description="fal queue API base URL.")
    runware_api_key: SecretStr | None = Field(None, description="Runware key (backend runware).")
    runware_base_url: str = Field("https://api.runware.ai/v1", description="Runware API URL.")
    openai_images_urls: list[str] = Field(default_factory=list, description="Self-hosted SGLang "
                                          "servers (backend openai-images), JSON list.")
    openai_images_api_key: SecretStr | None = Field(None, description="Key for those servers.")
    vllm_omni_urls: list[str] = Field(default_factory=list, description="vLLM-Omni servers "
                                      "(backend vllm-omni), JSON list.")
    vllm_omni_api_key: SecretStr | None = Field(None, description="Key for those servers.")
    per_server_concurrency: int = Field(2, ge=1, description="Requests at once per server.")
    http_timeout_s: float = Field(120.0, gt=0, description="Timeout for image requests.")
    max_retries: int = Field(4, ge=0, le=20, description="Retries of transient failures.")
    retry_backoff_s: float = Field(1.0, ge=0, description="First retry delay (doubles, with "
                                   "jitter; Retry-After wins).")
    poll_interval_s: float = Field(1.0, ge=0, description="Seconds between polls of queued "
                                   "provider tasks (zai async, fal, runware).")

    # --- local diffusers --------------------------------------------------------------
    diffusers_model: str = Field("zai-org/GLM-Image", description="Model id or local path.")
    diffusers_device: str = Field("auto", description="auto, cpu, cuda, cuda:1, mps.")
    diffusers_dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field("auto",
                                                                           description="dtype.")
    diffusers_cpu_offload: bool = Field(False, description="Enable model CPU offload.")
    diffusers_steps: int = Field(50, ge=1, description="Inference steps.")

    @model_validator(mode="after")
    def _enhancer_needs_llm(self) -> "Settings":
        if self.prompt_enhance and not self.llm_base_url:
            raise ValueError("SIGNWRITER_PROMPT_ENHANCE needs the planner LLM: set "
                             "SIGNWRITER_LLM_BASE_URL (an OpenAI-compatible base URL)")
        return self

    def secrets(self) -> list[str]:
        """Every configured key (each ``SecretStr`` setting), and any password or token
        written into a configured URL: what :mod:`generation.redact` cuts from every reply,
        message and file."""
        from urllib.parse import parse_qsl, unquote, urlsplit

        out: list[str] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                out.append(value.get_secret_value())
            urls = value if isinstance(value, list) else [value]
            for u in urls:
                if isinstance(u, str) and "://" in u:
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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests build their own ``Settings(...)``)."""
    return Settings()


def markdown_table() -> str:
    """The README configuration table, generated from :class:`Settings`."""
    rows = ["| env var | default | description |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        shown = "—" if default is None else f"`{default}`"
        rows.append(f"| `SIGNWRITER_{name.upper()}` | {shown} | {field.description or ''} |")
    return "\n".join(rows)


START, END = "<!-- settings-table:start -->", "<!-- settings-table:end -->"


def update_readme(path: Path = Path("README.md")) -> bool:
    """Rewrite the table between the README's settings markers; True if it changed."""
    text = path.read_text(encoding="utf-8")
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    new = f"{head}{START}\n{markdown_table()}\n{END}{tail}"
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":  # pragma: no cover
    if "--markdown" in sys.argv:
        print(markdown_table())
    elif "--update-readme" in sys.argv:
        print("README.md updated" if update_readme() else "README.md already up to date")
