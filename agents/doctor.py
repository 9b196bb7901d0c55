"""``signwriter doctor``: check the configuration and reach each configured endpoint.

Each check returns a :class:`Check` (ok / warn / fail with a message that says what to
fix). No key is ever printed: only whether one is set.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from agents.settings import Settings
from generation.base import BackendSpec
from generation.errors import BackendError

Level = Literal["ok", "warn", "fail"]


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
        again = resolve_recheck_runtime(settings.ocr_recheck_runtime, settings.ocr_runtime)
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

    # backend: whatever it declares about itself (registry), nothing per name
    spec = _backend_checks(settings, add, timeout=timeout, reach=reach)

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
    if settings.max_cost is None and spec is not None and spec.capabilities.paid:
        add("budget", "warn", "no run budget: set SIGNWRITER_MAX_COST or pass --max-cost")
    cpu = os.cpu_count() or 1
    add("CPU", "ok", f"{cpu} cores (OCR QA ≈ 0.5–1 s per image per core)")
    return [c.model_copy(update={"message": shown(c.message, settings)}) for c in checks]


def shown(message: str, settings: Settings) -> str:
    """A message as doctor may print it: configured URLs without their user, password or
    query, and every configured key (in any encoding) cut out."""
    from generation.http import safe_url
    from generation.redact import redact

    for url in settings.configured_urls():
        message = message.replace(url.rstrip("/"), safe_url(url.rstrip("/")))
    return redact(message, settings.secrets())


def _backend_checks(settings: Settings, add: Any, *, timeout: float,
                    reach: bool) -> BackendSpec | None:
    """The configured backend: known, its requirements importable, its key set, its
    endpoint(s) reachable, its own extra check; plugins that failed to load."""
    from generation.registry import backend_info, load_problems, missing_requirements
    for problem in load_problems():
        add("backend plugins", "warn", problem)
    b = settings.backend
    try:
        spec = backend_info(b)
    except BackendError as e:
        add("backend", "fail", e.detail)
        return None
    origin = "" if spec.source == "built-in" else f" (from {spec.source})"
    add("backend", "ok", f"{b}: {spec.summary}{origin}")
    missing = missing_requirements(spec)
    if missing:
        hint = f": pip install 'signwriter[{spec.extra}]'" if spec.extra else ""
        add(f"{b} needs", "fail", f"{', '.join(missing)} not installed{hint}")
        return spec
    try:
        options = spec.options(**settings.backend_options(spec))
    except BackendError as e:
        add(f"{b} settings", "fail", e.detail)
        return spec
    except ValidationError as e:  # the options model refused a value
        first = e.errors()[0]
        where = spec.env(str(first["loc"][0])) if first["loc"] else "an option"
        add(f"{b} settings", "fail", f"{where}: {first['msg']}")
        return spec
    key = getattr(options, spec.key, None) if spec.key else None
    if spec.key:
        if key:
            add(f"{b} key", "ok", "set")
        else:
            add(f"{b} key", "fail" if spec.key_required else "ok",
                f"not set: set {spec.env(spec.key)}" if spec.key_required else "none (optional)")
    if spec.url:
        value = getattr(options, spec.url)
        urls = value if isinstance(value, list) else [value] if value else []
        if not urls:
            add(f"{b} endpoint", "fail", f"none configured: set {spec.env(spec.url)}")
        for url in urls if reach else []:
            lvl, msg = _reach(str(url).rstrip("/") + spec.health_path, timeout)
            if lvl == "fail" and not spec.health_path and "refused" not in msg:
                lvl = "warn"  # an API root need not answer a GET; a health path must
            add(f"{b} endpoint", lvl, msg)
    if spec.check is not None:
        try:
            lvl, msg = spec.check(options)
        except Exception as e:  # noqa: BLE001 - any failure is a doctor finding
            lvl, msg = "fail", f"{type(e).__name__}: {e}"
        add(b, lvl, msg)
    return spec
