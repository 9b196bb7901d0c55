"""``diffusers``: GLM-Image in this process, through diffusers' ``GlmImagePipeline``.

Needs the optional ``[local]`` extra (``pip install 'signwriter[local]'``: torch, diffusers,
transformers, accelerate, sentencepiece). Nothing here imports torch at module import
time: the registry can list this backend on a machine without torch, and the first
``generate``/``edit`` call raises a clear :class:`~generation.errors.BackendError` naming
the extra when it is missing.

The pipeline's components (see the ``GlmImagePipeline`` docstring): a ByT5 tokenizer and
T5 glyph encoder (only *quoted* text in the prompt reaches it), the autoregressive
``vision_language_encoder`` that drafts image tokens, the DiT ``transformer`` that decodes
them, the VAE and a flow-matching scheduler.

- A pipeline is loaded once per process and shared: a module-level cache keyed by
  ``(model, device, dtype, cpu_offload, load_kwargs)``, guarded by a lock. One pipeline
  runs one call at a time (its ``__call__`` keeps state on ``self``), so calls are
  serialised per pipeline.
- Sizes are checked up front as the pipeline's ``check_inputs`` does: width and height
  must be multiples of ``vae_scale_factor * patch_size * 2`` (32 for GLM-Image).
- The seed drives a ``torch.Generator``; ``edit`` passes the source image as
  ``image=[PIL.Image]`` (GLM-Image image-to-image; the region hint is not used).
- Reference images: ``generate`` with the brief's pictures (``request.references``, at
  most :data:`MAX_REFERENCE_IMAGES`) passes them as the pipeline's condition images,
  ``image=[PIL.Image, ...]`` (RGB, transparent areas white), in the order the prompt
  names them, each resized by :func:`condition_image` to a size the pipeline's two paths
  agree on (see there).
- torch failures (out of memory, bad inputs) are wrapped into :mod:`generation.errors`
  with the backend name and attempt id.

Tests inject an already-built pipeline (``pipeline=``) and extra call arguments
(``pipeline_kwargs={"prior_token_ids": ...}``, which skips the AR stage).
"""

from __future__ import annotations

import io
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field, field_validator

from generation.base import (
    BackendSpec, Capabilities, EditRequest, GLM_IMAGE_LIMITS, GeneratedImage, GenerationRequest,
    OnSubmit,
)
from generation.errors import BackendError, ImageAssetError, InvalidRequest
from generation.images import reference_rgb

NAME = "diffusers"

DEFAULT_MODEL = "zai-org/GLM-Image"

INSTALL_HINT = "pip install 'signwriter[local]'"

MAX_REFERENCE_IMAGES = 4
"""Condition images passed with one new picture."""

SIZE_MULTIPLE = GLM_IMAGE_LIMITS.multiple
"""GLM-Image works on a 32x downsampled grid: width and height must be multiples of 32."""

RESERVED_KWARGS = frozenset({
    "prompt", "image", "height", "width", "generator", "num_inference_steps",
    "guidance_scale", "output_type", "return_dict", "num_images_per_prompt",
})
"""Pipeline arguments the backend sets itself; ``pipeline_kwargs`` may not override them."""


CONDITION_MIN_SIDE = 512
CONDITION_MAX_SIDE = 2048
CONDITION_MAX_ASPECT = 4.0


def condition_image(img: Image.Image) -> Image.Image:
    """``img`` at a size GLM-Image's image-to-image takes as it is: both sides multiples of
    32, the short side at least 512 px, the long side at most 2048, the aspect at most 4
    (a longer picture is centred on white). The pipeline reads a condition image twice —
    the AR stage through ``GlmImageProcessor`` (which rescales to those bounds, halves and
    rounds to 16) and the DiT through the VAE (at its own size floored to 16) — and the
    two token grids only match at such sizes; anywhere else the DiT would fail on the
    mismatch."""
    w, h = img.size
    if max(w, h) / min(w, h) > CONDITION_MAX_ASPECT:  # pad the short side
        side = int(max(w, h) / CONDITION_MAX_ASPECT) + 1
        canvas = Image.new("RGB", (w, side) if w > h else (side, h), (255, 255, 255))
        canvas.paste(img, ((canvas.width - w) // 2, (canvas.height - h) // 2))
        img, (w, h) = canvas, canvas.size
    scale = max(1.0, CONDITION_MIN_SIDE / min(w, h))
    scale = min(scale, CONDITION_MAX_SIDE / max(w, h))
    nw = max(CONDITION_MIN_SIDE if w <= h else 32, int(w * scale) // 32 * 32)
    nh = max(CONDITION_MIN_SIDE if h <= w else 32, int(h * scale) // 32 * 32)
    nw, nh = min(nw, CONDITION_MAX_SIDE), min(nh, CONDITION_MAX_SIDE)
    return img if (nw, nh) == (w, h) else img.resize((nw, nh), Image.Resampling.LANCZOS)


class DiffusersOptions(BaseModel):
    """Options of the in-process GLM-Image backend."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    model: str = Field(default=DEFAULT_MODEL,
                       description="Hugging Face model id or local path of a GLM-Image "
                       "diffusers checkpoint.")
    device: Literal["auto", "cpu", "cuda", "mps"] = Field(
        default="auto", description="auto = cuda if available, else mps, else cpu.")
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field(
        default="auto", description="auto = bfloat16 on cuda, float32 elsewhere.")
    cpu_offload: bool = Field(default=False, description="Keep components on the CPU and move "
                              "each to the GPU only while it runs (less VRAM, slower).")
    steps: int = Field(default=50, ge=1, le=200, description="DiT denoising steps.")
    guidance_scale: float = Field(default=1.5, ge=0.0, le=20.0,
                                  description="Classifier-free guidance scale (>1 enables it).")
    pipeline: Any = Field(default=None, exclude=True, repr=False,
                          description="An already-built GlmImagePipeline (tests); bypasses "
                          "loading and the cache.")
    pipeline_kwargs: dict[str, Any] = Field(
        default_factory=dict, exclude=True, repr=False,
        description="Extra keyword arguments for every pipeline call, e.g. prior_token_ids "
        "(skips the AR stage) or max_sequence_length.")
    load_kwargs: dict[str, Any] = Field(
        default_factory=dict, repr=False,
        description="Extra keyword arguments for GlmImagePipeline.from_pretrained, e.g. "
        "revision, variant, local_files_only, or components to use instead of loading "
        "them (processor=None). Part of the cache key.")

    @field_validator("pipeline_kwargs")
    @classmethod
    def _no_reserved(cls, value: dict[str, Any]) -> dict[str, Any]:
        clash = sorted(RESERVED_KWARGS & value.keys())
        if clash:
            raise ValueError(f"pipeline_kwargs may not set {', '.join(clash)}: "
                             "the backend sets these from the request and options")
        return value


@dataclass
class _Loaded:
    """A pipeline ready to call, with the lock that serialises calls to it."""

    pipeline: Any
    device: str
    dtype: str
    lock: threading.Lock = field(default_factory=threading.Lock)


CacheKey = tuple[str, str, str, bool, str]
"""``(model, device, dtype, cpu_offload, load_kwargs as text)``."""

_CACHE: dict[CacheKey, _Loaded] = {}
_CACHE_LOCK = threading.Lock()


def clear_pipeline_cache() -> None:
    """Forget every loaded pipeline (frees memory once no backend holds one)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def cached_pipeline_keys() -> list[CacheKey]:
    """The keys of the pipelines loaded in this process (see :data:`CacheKey`)."""
    with _CACHE_LOCK:
        return list(_CACHE)


def _import_torch(attempt: str | None) -> Any:
    try:
        import torch
    except ImportError as exc:
        raise BackendError(f"the diffusers backend needs torch: {INSTALL_HINT}",
                           backend=NAME, attempt=attempt) from exc
    return torch


def _import_pipeline_class(attempt: str | None) -> Any:
    try:
        from diffusers import GlmImagePipeline
    except ImportError as exc:
        raise BackendError("the diffusers backend needs diffusers with GlmImagePipeline "
                           f"(diffusers>=0.37): {INSTALL_HINT}",
                           backend=NAME, attempt=attempt) from exc
    return GlmImagePipeline


def _resolve_device(torch: Any, device: str, attempt: str | None) -> str:
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise InvalidRequest("device 'cuda' requested but torch sees no CUDA device",
                             backend=NAME, attempt=attempt)
    if device == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise InvalidRequest("device 'mps' requested but it is not available",
                                 backend=NAME, attempt=attempt)
    return device


def _resolve_dtype(dtype: str, device: str) -> str:
    if dtype != "auto":
        return dtype
    return "bfloat16" if device == "cuda" else "float32"


def _is_oom(torch: Any, exc: BaseException) -> bool:
    oom_type = getattr(torch, "OutOfMemoryError", None) or getattr(
        getattr(torch, "cuda", None), "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _load(options: DiffusersOptions, attempt: str | None) -> _Loaded:
    """The shared pipeline for these options, loading it on first use."""
    torch = _import_torch(attempt)
    device = _resolve_device(torch, options.device, attempt)
    dtype = _resolve_dtype(options.dtype, device)
    extras = ", ".join(f"{k}={v!r}" for k, v in sorted(options.load_kwargs.items()))
    key = (options.model, device, dtype, options.cpu_offload, extras)
    with _CACHE_LOCK:
        loaded = _CACHE.get(key)
        if loaded is not None:
            return loaded
        pipeline_class = _import_pipeline_class(attempt)
        from diffusers.utils import deprecation_utils

        dtype_kw = "dtype" if hasattr(deprecation_utils, "_resolve_dtype") else "torch_dtype"
        try:
            pipe = pipeline_class.from_pretrained(
                options.model, **{**options.load_kwargs, dtype_kw: getattr(torch, dtype)})
            if options.cpu_offload and device != "cpu":
                pipe.enable_model_cpu_offload(device=device)
            else:
                pipe.to(device)
        except (OSError, ValueError) as exc:
            raise BackendError(f"could not load model {options.model!r}: "
                               f"{type(exc).__name__}: {str(exc)[:300]}",
                               backend=NAME, attempt=attempt) from exc
        except RuntimeError as exc:
            if _is_oom(torch, exc):
                raise BackendError(f"out of memory loading {options.model!r} on {device}; "
                                   "try cpu_offload=True or dtype=bfloat16",
                                   backend=NAME, attempt=attempt) from exc
            raise BackendError(f"could not load model {options.model!r}: "
                               f"{type(exc).__name__}: {str(exc)[:300]}",
                               backend=NAME, attempt=attempt) from exc
        _quiet(pipe)
        loaded = _Loaded(pipeline=pipe, device=device, dtype=dtype)
        _CACHE[key] = loaded
        return loaded


def _quiet(pipe: Any) -> None:
    set_config = getattr(pipe, "set_progress_bar_config", None)
    if callable(set_config):
        set_config(disable=True)


def _describe_injected(pipe: Any) -> tuple[str, str]:
    device = str(getattr(pipe, "device", "cpu"))
    dtype = str(getattr(pipe, "dtype", "")).removeprefix("torch.")
    return device, dtype


def _size_multiple(pipe: Any) -> int:
    """``vae_scale_factor * patch_size * 2`` as the pipeline's ``check_inputs`` uses it."""
    try:
        return int(pipe.vae_scale_factor) * int(pipe.transformer.config.patch_size) * 2
    except (AttributeError, TypeError, ValueError):
        return SIZE_MULTIPLE


class DiffusersBackend:
    """GLM-Image run in process with diffusers (text-to-image and image-to-image)."""

    name = NAME
    capabilities = Capabilities(
        text_to_image=True, edit=True, follows_layout=False, paid=False,
        cost_per_image_usd=0.0, reference_images=MAX_REFERENCE_IMAGES,
        limits=GLM_IMAGE_LIMITS,
    )

    def __init__(self, **options: Any) -> None:
        self.options = DiffusersOptions(**options)
        self._injected: _Loaded | None = None
        if self.options.pipeline is not None:
            device, dtype = _describe_injected(self.options.pipeline)
            _quiet(self.options.pipeline)
            self._injected = _Loaded(pipeline=self.options.pipeline, device=device,
                                     dtype=dtype)

    # --- public API ----------------------------------------------------------------

    def generate(self, request: GenerationRequest, *,
                 on_submit: OnSubmit | None = None) -> GeneratedImage:
        """Draw a new image from ``request.prompt`` at ``request.width`` x ``request.height``."""
        metadata: dict[str, Any] = {"mode": "text_to_image"}
        if request.negative_prompt:
            metadata["negative_prompt_ignored"] = True
        references = None
        if request.references:
            refs = request.references[:MAX_REFERENCE_IMAGES]
            try:
                references = [condition_image(reference_rgb(r.file)) for r in refs]
            except ImageAssetError as exc:
                raise ImageAssetError(exc.detail, backend=NAME,
                                      attempt=request.attempt_id) from None
            metadata["reference_images"] = len(references)
        return self._run(prompt=request.prompt, width=request.width, height=request.height,
                         seed=request.seed, attempt=request.attempt_id, image=references,
                         metadata=metadata)

    def edit(self, request: EditRequest, *, on_submit: OnSubmit | None = None) -> GeneratedImage:
        """Image-to-image: redraw ``request.image_path`` following ``request.prompt``."""
        source = self._open_source(request.image_path, request.attempt_id)
        metadata: dict[str, Any] = {"mode": "edit", "source_image": request.image_path}
        if request.region is not None:
            metadata["region_ignored"] = True
        return self._run(prompt=request.prompt, width=request.width, height=request.height,
                         seed=request.seed, attempt=request.attempt_id, image=[source],
                         metadata=metadata)

    # --- internals -------------------------------------------------------------------

    @staticmethod
    def _open_source(path: str, attempt: str | None) -> Image.Image:
        try:
            with Image.open(Path(path)) as img:
                return img.convert("RGB")
        except FileNotFoundError as exc:
            raise InvalidRequest(f"source image not found: {path}", backend=NAME,
                                 attempt=attempt) from exc
        except (UnidentifiedImageError, OSError) as exc:
            raise InvalidRequest(f"source image is not a readable image: {path}",
                                 backend=NAME, attempt=attempt) from exc

    def _check_size(self, width: int, height: int, multiple: int, attempt: str | None) -> None:
        """The sizes the pipeline's ``check_inputs`` takes: on its grid, any side up to the
        model's largest (the runner fits specs to the declared 512 px minimum)."""
        limits = self.capabilities.limits.model_copy(update={"multiple": multiple,
                                                             "min_side": multiple})
        limits.require(width, height, backend=NAME, attempt=attempt)

    def _run(self, *, prompt: str, width: int, height: int, seed: int, attempt: str | None,
             image: list[Image.Image] | None, metadata: dict[str, Any]) -> GeneratedImage:
        self._check_size(width, height, SIZE_MULTIPLE, attempt)
        torch = _import_torch(attempt)
        loaded = self._injected or _load(self.options, attempt)
        pipe = loaded.pipeline
        self._check_size(width, height, _size_multiple(pipe), attempt)

        generator_device = "cpu" if loaded.device.startswith("mps") else loaded.device
        if self.options.cpu_offload:
            generator_device = "cpu"
        kwargs: dict[str, Any] = dict(self.options.pipeline_kwargs)
        kwargs.update(prompt=prompt, height=height, width=width,
                      num_inference_steps=self.options.steps,
                      guidance_scale=self.options.guidance_scale, output_type="pil",
                      return_dict=True)
        if image:
            kwargs["image"] = image

        started = time.monotonic()
        with loaded.lock:
            try:
                kwargs["generator"] = torch.Generator(device=generator_device).manual_seed(seed)
                output = pipe(**kwargs)
            except ValueError as exc:
                raise InvalidRequest(f"the pipeline rejected the request: {str(exc)[:300]}",
                                     backend=NAME, attempt=attempt) from exc
            except (RuntimeError, TypeError, IndexError) as exc:
                if _is_oom(torch, exc):
                    raise BackendError(
                        f"out of memory at {width}x{height} on {loaded.device}; try a smaller "
                        "size or cpu_offload=True", backend=NAME, attempt=attempt) from exc
                raise BackendError(f"the pipeline failed: {type(exc).__name__}: "
                                   f"{str(exc)[:300]}", backend=NAME, attempt=attempt) from exc
        elapsed = time.monotonic() - started

        images = getattr(output, "images", None)
        if not images or not isinstance(images[0], Image.Image):
            raise BackendError("the pipeline returned no image", backend=NAME, attempt=attempt)
        result = images[0]
        buffer = io.BytesIO()
        result.save(buffer, format="PNG")
        metadata.update(device=loaded.device, dtype=loaded.dtype, steps=self.options.steps,
                        guidance_scale=self.options.guidance_scale)
        return GeneratedImage(data=buffer.getvalue(), media_type="image/png",
                              width=result.width, height=result.height, seed=seed,
                              backend=NAME, model=self.options.model, elapsed_s=elapsed,
                              cost_usd=0.0, metadata=metadata)


def _device_check(options: DiffusersOptions) -> tuple[str, str]:
    """For ``signwriter doctor``: which device GLM-Image would run on."""
    import torch
    cuda = torch.cuda.is_available()
    if options.device == "cpu" or not cuda:
        return "warn", f"torch {torch.__version__} on cpu (very slow for GLM-Image)"
    return "ok", f"torch {torch.__version__} on cuda"


BACKEND = BackendSpec(
    name=NAME, summary="GLM-Image in process with diffusers' GlmImagePipeline "
    "(a GPU for real use)",
    factory=DiffusersBackend, options=DiffusersOptions, capabilities=DiffusersBackend.capabilities,
    settings=("model", "device", "dtype", "cpu_offload", "steps"),
    requires=("torch", "diffusers"), extra="local", check=_device_check)
