"""The backend registry: every image backend, built in or installed as a plugin.

A backend is a :class:`~generation.base.BackendSpec` that its module declares as
``BACKEND``. The registry finds them through one entry-point group,
``signwriter.backends``, the way ``llm`` finds its plugins: a third-party package
declares, in its ``pyproject.toml``::

    [project.entry-points."signwriter.backends"]
    mybackend = "signwriter_mybackend:BACKEND"

and the built-in backends are loaded through the same loader from :data:`BUILTINS`
(entry points written the same way, so a source checkout needs no installed metadata)::

    for spec in available_backends():
        print(spec.name, spec.summary, spec.required_settings)
    backend = create_backend("typeset", fault_rate=0.2)

Loading a spec imports its module; modules must not import heavy dependencies (torch) at
import time — those are ``requires`` and checked when the backend is created, with an
error naming the pip extra. A plugin that fails to load does not break the others: it is
left out and :func:`load_problems` says why (``signwriter doctor`` shows it).
"""

from __future__ import annotations

import importlib.util
import threading
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from generation.base import Backend, BackendSpec
from generation.errors import BackendError, InvalidRequest

GROUP = "signwriter.backends"
"""The entry-point group every backend registers under."""

DEFAULT_BACKEND = "typeset"
"""The backend used when none is configured: free, offline, needs nothing."""

BUILTINS = tuple(EntryPoint(name, value, GROUP) for name, value in (
    ("typeset", "generation.typeset:BACKEND"),
    ("zai", "generation.zai:BACKEND"),
    ("fal", "generation.fal:BACKEND"),
    ("runware", "generation.runware:BACKEND"),
    ("openai-images", "generation.openai_images:BACKEND"),
    ("vllm-omni", "generation.vllm_omni:BACKEND"),
    ("diffusers", "generation.diffusers_local:BACKEND"),
))
"""The built-in backends, as entry points of :data:`GROUP`."""

_lock = threading.Lock()
_specs: dict[str, BackendSpec] | None = None
_problems: list[str] = []


def _load(ep: EntryPoint, source: str) -> BackendSpec:
    spec = ep.load()
    if callable(spec) and not isinstance(spec, BackendSpec):
        spec = spec()  # a function returning the spec is fine too
    if not isinstance(spec, BackendSpec):
        raise TypeError(f"{ep.value} is a {type(spec).__name__}, not a BackendSpec")
    if spec.name != ep.name:
        raise ValueError(f"{ep.value} declares backend {spec.name!r} under the entry-point "
                         f"name {ep.name!r}")
    return spec.model_copy(update={"source": source})


def _discover() -> dict[str, BackendSpec]:
    global _specs
    with _lock:
        if _specs is not None:
            return _specs
        found: dict[str, BackendSpec] = {}
        problems: list[str] = []
        plugins = [(ep, ep.dist.name if ep.dist else ep.module) for ep in
                   entry_points(group=GROUP) if ep.value not in {b.value for b in BUILTINS}]
        for ep, source in [(b, "built-in") for b in BUILTINS] + plugins:
            if ep.name in found:
                problems.append(f"backend {ep.name!r} from {source} ignored: the name is "
                                f"taken by {found[ep.name].source}")
                continue
            try:
                found[ep.name] = _load(ep, source)
            except Exception as exc:  # noqa: BLE001 - one broken plugin must not hide the rest
                problems.append(f"backend {ep.name!r} from {source} could not be loaded "
                                f"({ep.value}): {type(exc).__name__}: {exc}")
        _specs, _problems[:] = found, problems
        return _specs


def refresh() -> None:
    """Forget what was discovered (a package was installed or removed meanwhile)."""
    global _specs
    with _lock:
        _specs = None
        _problems.clear()


def register(spec: BackendSpec) -> None:
    """Add (or replace) a backend at run time, e.g. in a test or an embedding program."""
    specs = _discover()
    with _lock:
        specs[spec.name] = spec


def available_backends() -> list[BackendSpec]:
    """Every backend that loaded, built-ins first."""
    return list(_discover().values())


def load_problems() -> list[str]:
    """Why a registered backend was left out (one line each)."""
    _discover()
    return list(_problems)


def backend_info(name: str) -> BackendSpec:
    """The spec of ``name``; unknown names raise :class:`InvalidRequest` listing them."""
    specs = _discover()
    spec = specs.get(name)
    if spec is None:
        known = ", ".join(sorted(specs))
        raise InvalidRequest(f"unknown backend {name!r}; known backends: {known}",
                             backend="registry")
    return spec


def missing_requirements(spec: BackendSpec) -> list[str]:
    """The modules ``spec`` needs that cannot be imported here."""
    return [m for m in spec.requires if importlib.util.find_spec(m) is None]


def create_backend(name: str, **options: Any) -> Backend:
    """Build the backend called ``name`` with its keyword ``options`` (pydantic-validated
    by its options model; an injected ``transport`` goes to backends that take one)."""
    spec = backend_info(name)
    missing = missing_requirements(spec)
    if missing:
        hint = f"; install it with pip install 'signwriter[{spec.extra}]'" if spec.extra else ""
        raise BackendError(f"backend {name!r} needs {', '.join(missing)}, which is not "
                           f"installed{hint}", backend=name)
    try:
        return spec.factory(**options)
    except BackendError:
        raise
    except (TypeError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        raise InvalidRequest(f"bad options for backend {name!r}: {exc}", backend=name) from None


def _needs(spec: BackendSpec) -> str:
    needs = [f"`{s}`" for s in spec.required_settings]
    if spec.extra:
        needs.append(f"`pip install 'signwriter[{spec.extra}]'`")
    return ", ".join(needs) or "nothing"


def _references(spec: BackendSpec) -> str:
    c = spec.capabilities
    if c.follows_layout:
        return "placed in the layout"
    if c.reference_images:
        return f"up to {c.reference_images}"
    return "no (composited)"


def markdown_table(specs: list[BackendSpec] | None = None) -> str:
    """The README's backends table, generated from the specs (``signwriter backends
    --markdown``): the built-in backends by default, so the table does not depend on which
    plugins happen to be installed."""
    if specs is None:
        specs = [s for s in available_backends() if s.source == "built-in"]
    rows = ["| backend | what | edit | reference images | sizes | cost per 1024² image | needs |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for spec in specs:
        c = spec.capabilities
        name = f"`{spec.name}`" + (" (default)" if spec.name == DEFAULT_BACKEND else "")
        cost = f"${c.cost_per_image_usd:.4f}".rstrip("0").rstrip(".") if c.paid else "free"
        rows.append(f"| {name} | {spec.summary} | {'yes' if c.edit else 'no'} | "
                    f"{_references(spec)} | {c.limits.describe()} | {cost} | {_needs(spec)} |")
    return "\n".join(rows)
