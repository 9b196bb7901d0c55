"""``signwriter doctor``: check the configuration and reach each configured endpoint.

Each check returns a :class:`Check` (ok / warn / fail with a message that says what to
fix). No key is ever printed: only whether one is set.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Literal

import httpx
from pydantic import BaseModel, SecretStr

from agents.settings import Settings

Level = Literal["ok", "warn", "fail"]

KEY_SETTINGS = {"zai": "zai_api_key", "fal": "fal_key", "runware": "runware_api_key"}
URL_SETTINGS = {"zai": "zai_base_url", "fal": "fal_base_url", "runware": "runware_base_url"}
POOL_SETTINGS = {"openai-images": "openai_images_urls", "vllm-omni": "vllm_omni_urls"}


class Check(BaseModel):
    name: str
    level: Level
    message: str


def _reach(url: str, timeout: float, key: SecretStr | None = None) -> tuple[Level, str]:
    headers = {"Authorization": f"Bearer {key.get_secret_value()}"} if key else {}
    try:
        r = httpx.get(url, timeout=timeout, headers=headers, follow_redirects=True)
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as e:
        return "fail", f"cannot reach {url}: {type(e).__name__}"
    if r.status_code in (401, 403):
        return "fail", f"{url} refused the key (HTTP {r.status_code})"
    if r.status_code >= 500:
        return "warn", f"{url} answered HTTP {r.status_code}"
    return "ok", f"{url} answered HTTP {r.status_code}"


def run_checks(settings: Settings, *, timeout: float = 5.0, reach: bool = True) -> list[Check]:
    checks: list[Check] = []
    add = lambda n, lvl, msg: checks.append(Check(name=n, level=lvl, message=msg))  # noqa: E731

    # runs folder
    try:
        Path(settings.runs_dir).mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=settings.runs_dir):
            pass
        add("runs folder", "ok", f"{Path(settings.runs_dir).resolve()} is writable")
    except OSError as e:
        add("runs folder", "fail", f"{settings.runs_dir} is not writable ({e.strerror}); "
                                   "set SIGNWRITER_RUNS_DIR")

    # fonts
    from generation.fonts import FontNotFound, find_font
    for script in ("latin", "cjk"):
        try:
            add(f"fonts ({script})", "ok", find_font(script, "regular"))
        except FontNotFound as e:
            add(f"fonts ({script})", "fail", str(e))

    # OCR
    try:
        import rapidocr
        models = Path(rapidocr.__file__).parent / "models"
        n = len(list(models.glob("*.onnx")))
        add("OCR judge (rapidocr)", "ok" if n else "fail",
            f"{n} ONNX models shipped in the wheel" if n else f"no models in {models}")
    except ImportError:
        add("OCR judge (rapidocr)", "fail", "rapidocr is not installed: pip install signwriter")
    from qa.errors import EngineUnavailable
    from qa.ocr import resolve_recheck_runtime, resolve_runtime
    try:
        first = resolve_runtime(settings.ocr_runtime)
        again = resolve_recheck_runtime(settings.ocr_recheck_runtime)
        add("OCR runtime", "ok", first + ("" if again == first else
                                          f"; an image it does not pass is judged again on {again}"))
    except EngineUnavailable as e:
        add("OCR runtime", "fail", str(e))
    tess = shutil.which("tesseract")
    if tess:
        try:
            import pytesseract
            langs = set(pytesseract.get_languages(config=""))
            missing = {"eng", "chi_sim"} - langs
            add("tesseract", "warn" if missing else "ok",
                f"missing language data {sorted(missing)}: apt-get install "
                f"tesseract-ocr-chi-sim" if missing else f"{tess} ({', '.join(sorted(langs))})")
        except Exception as e:  # noqa: BLE001 - any failure is a doctor finding
            add("tesseract", "warn", f"tesseract present but unusable: {e}")
    else:
        add("tesseract", "warn", "not installed (second opinion only): apt-get install "
                                 "tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim")

    # backend
    from generation.registry import available_backends
    names = {b.name: b for b in available_backends()}
    b = settings.backend
    if b not in names:
        add("backend", "fail", f"unknown backend {b!r}; known: {', '.join(names)}")
    else:
        add("backend", "ok", f"{b}: {names[b].summary}")
    if b in KEY_SETTINGS:
        key = getattr(settings, KEY_SETTINGS[b])
        env = f"SIGNWRITER_{KEY_SETTINGS[b].upper()}"
        add(f"{b} key", "ok" if key else "fail", "set" if key else f"not set: set {env}")
        if reach:
            lvl, msg = _reach(getattr(settings, URL_SETTINGS[b]), timeout)
            add(f"{b} endpoint", "warn" if lvl == "fail" and "refused" not in msg else lvl, msg)
    if b in POOL_SETTINGS:
        urls = getattr(settings, POOL_SETTINGS[b])
        env = f"SIGNWRITER_{POOL_SETTINGS[b].upper()}"
        if not urls:
            add(f"{b} servers", "fail", f"no servers: set {env} to a JSON list of URLs")
        for u in urls if reach else []:
            lvl, msg = _reach(u.rstrip("/") + "/v1/models", timeout)
            add(f"{b} server", lvl, msg)
    if b == "diffusers":
        try:
            import diffusers  # noqa: F401
            import torch
            dev = "cuda" if torch.cuda.is_available() else "cpu"
            add("diffusers", "ok" if dev == "cuda" else "warn",
                f"torch {torch.__version__} on {dev}" + ("" if dev == "cuda" else
                                                          " (CPU: very slow for GLM-Image)"))
        except ImportError:
            add("diffusers", "fail", "torch/diffusers missing: pip install 'signwriter[local]'")

    # planner LLM
    if settings.llm_configured:
        if reach:
            lvl, msg = _reach(settings.llm_base_url.rstrip("/") + "/models", timeout,
                              settings.llm_api_key)
            add("planner LLM", lvl, msg)
        else:
            add("planner LLM", "ok", f"{settings.llm_base_url} ({settings.llm_model})")
    else:
        add("planner LLM", "ok", "not configured: the rules planner serves structured briefs "
                                 "(set SIGNWRITER_LLM_BASE_URL for free-text briefs)")
    if settings.max_cost is None and b in KEY_SETTINGS:
        add("budget", "warn", "no run budget: set SIGNWRITER_MAX_COST or pass --max-cost")
    cpu = os.cpu_count() or 1
    add("CPU", "ok", f"{cpu} cores (OCR QA ≈ 0.5–1 s per image per core)")
    return [c.model_copy(update={"message": shown(c.message, settings)}) for c in checks]


def shown(message: str, settings: Settings) -> str:
    """A message as doctor may print it: configured URLs without their user, password or
    query, and every configured key (in any encoding) cut out."""
    from generation.http import safe_url
    from generation.redact import redact

    for name in ("zai_base_url", "fal_base_url", "runware_base_url", "llm_base_url",
                 "vision_base_url", "openai_images_urls", "vllm_omni_urls"):
        value = getattr(settings, name, None)
        for url in value if isinstance(value, list) else [value]:
            if isinstance(url, str) and url:
                message = message.replace(url.rstrip("/"), safe_url(url.rstrip("/")))
    return redact(message, settings.secrets())
