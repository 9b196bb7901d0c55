"""The backend registry: every image backend by name, imported only when it is created.

Each entry names a module and a class, so listing backends (``signwriter backends``)
imports nothing heavy, and a backend whose optional dependency is missing (torch for
``diffusers``) fails only when it is used — with an error naming what to install::

    backend = create_backend("typeset", fault_rate=0.2)
    for info in available_backends():
        print(info.name, info.summary, info.settings)

A backend class is built as ``cls(**options)``; its options model (``extra="forbid"``)
rejects unknown options.
"""

from __future__ import annotations

import importlib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from generation.base import GLM_IMAGE_LIMITS, Backend, Capabilities, SizeLimits
from generation.errors import BackendError, InvalidRequest


class BackendInfo(BaseModel):
    """What ``signwriter backends`` shows for one backend."""

    model_config = ConfigDict(extra="forbid")

    name: str
    summary: str
    module: str = Field(description="Module that holds the backend class.")
    class_name: str
    capabilities: Capabilities
    settings: list[str] = Field(
        default_factory=list, description="Settings (env vars) that must be set to use it.")
    extra: str | None = Field(None, description="The pip extra its dependencies come in.")

    @property
    def required_settings(self) -> list[str]:
        """The settings (env vars) that must be set to use this backend."""
        return self.settings


_REGISTRY: dict[str, BackendInfo] = {}


def register(info: BackendInfo) -> None:
    """Add (or replace) a backend entry; built-in and third-party backends alike."""
    _REGISTRY[info.name] = info


for _info in (
    BackendInfo(
        name="typeset", summary="Built-in Pillow renderer: follows the layout exactly, free, "
        "offline; can simulate GLM-Image text errors", module="generation.typeset",
        class_name="TypesetBackend",
        capabilities=Capabilities(edit=True, follows_layout=True, paid=False,
                                  limits=SizeLimits(min_side=64, max_side=4096, multiple=1,
                                                    max_pixels=4096 * 4096))),
    BackendInfo(
        name="zai", summary="GLM-Image through the Z.ai (Zhipu) images API",
        module="generation.zai", class_name="ZaiBackend",
        capabilities=Capabilities(paid=True, cost_per_image_usd=0.015,
                                  limits=SizeLimits(min_side=1024, max_side=2048, multiple=32,
                                                    max_pixels=2**22)),
        settings=["SIGNWRITER_ZAI_API_KEY"]),
    BackendInfo(
        name="fal", summary="GLM-Image on fal.ai (queue API; text-to-image and edit)",
        module="generation.fal", class_name="FalBackend",
        capabilities=Capabilities(edit=True, paid=True, cost_per_image_usd=0.1573,
                                  limits=GLM_IMAGE_LIMITS),
        settings=["SIGNWRITER_FAL_KEY"]),
    BackendInfo(
        name="runware", summary="GLM-Image on Runware (text-to-image and edit)",
        module="generation.runware", class_name="RunwareBackend",
        capabilities=Capabilities(edit=True, paid=True, cost_per_image_usd=0.0225,
                                  limits=GLM_IMAGE_LIMITS),
        settings=["SIGNWRITER_RUNWARE_API_KEY"]),
    BackendInfo(
        name="openai-images", summary="GLM-Image on self-hosted servers speaking the OpenAI "
        "/v1/images API (e.g. SGLang)", module="generation.openai_images",
        class_name="OpenAIImagesBackend",
        capabilities=Capabilities(edit=True, paid=False, limits=GLM_IMAGE_LIMITS),
        settings=["SIGNWRITER_OPENAI_IMAGES_URLS"]),
    BackendInfo(
        name="vllm-omni", summary="GLM-Image served by a self-hosted vLLM-Omni server",
        module="generation.vllm_omni", class_name="VllmOmniBackend",
        capabilities=Capabilities(edit=True, paid=False, limits=GLM_IMAGE_LIMITS),
        settings=["SIGNWRITER_VLLM_OMNI_URLS"]),
    BackendInfo(
        name="diffusers", summary="GLM-Image in-process with diffusers (needs a GPU)",
        module="generation.diffusers_local", class_name="DiffusersBackend",
        capabilities=Capabilities(edit=True, paid=False, limits=GLM_IMAGE_LIMITS),
        extra="local"),
):
    register(_info)


def available_backends() -> list[BackendInfo]:
    """Every registered backend (nothing is imported to list them)."""
    return [info.model_copy(deep=True) for info in _REGISTRY.values()]


def backend_info(name: str) -> BackendInfo:
    """The entry for ``name``; unknown names raise :class:`InvalidRequest` listing them."""
    info = _REGISTRY.get(name)
    if info is None:
        known = ", ".join(sorted(_REGISTRY))
        raise InvalidRequest(f"unknown backend {name!r}; known backends: {known}",
                             backend="registry")
    return info


def _load(info: BackendInfo) -> type:
    try:
        module = importlib.import_module(info.module)
    except ImportError as exc:
        missing = exc.name or "a dependency"
        if exc.name == info.module:
            raise InvalidRequest(f"backend {info.name!r} is registered but its module "
                                 f"{info.module} is not installed", backend=info.name) from None
        hint = (f"; install it with pip install 'signwriter[{info.extra}]'" if info.extra
                else "")
        raise BackendError(f"backend {info.name!r} needs {missing}, which is not "
                           f"installed{hint}", backend=info.name) from None
    cls = getattr(module, info.class_name, None)
    if cls is None:
        raise InvalidRequest(f"module {info.module} has no class {info.class_name}",
                             backend=info.name)
    return cls


def create_backend(name: str, **options: Any) -> Backend:
    """Import and build the backend called ``name`` with its keyword ``options``."""
    info = backend_info(name)
    cls = _load(info)
    try:
        backend = cls(**options)
    except BackendError:
        raise
    except (TypeError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        raise InvalidRequest(f"bad options for backend {name!r}: {exc}",
                             backend=name) from None
    return backend
