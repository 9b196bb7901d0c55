"""The one contract every image backend implements.

A backend module declares everything about itself once, as a :class:`BackendSpec` named
``BACKEND`` (its options model, settings, capabilities, size limits, price); the registry
(:mod:`generation.registry`) finds built-in and third-party specs alike.

A backend turns a :class:`GenerationRequest` (a prompt, a size, a seed and, for renderers
that can use it, a plain :class:`Layout`) into a :class:`GeneratedImage`: encoded image
bytes plus the seed, timing, cost and provider metadata. Backends never write files and
never touch pipeline state: the caller stores the bytes content-addressed on disk and
records the attempt before anything else can fail.

``generation`` is a library of its own: it imports nothing from ``agents`` or ``qa``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from generation.limits import GLM_IMAGE_LIMITS, SizeLimits

__all__ = ["GLM_IMAGE_LIMITS", "Backend", "BackendSpec", "Capabilities", "EditRequest",
           "GeneratedImage", "GenerationRequest", "Layout", "ReferenceImage", "SizeLimits",
           "TextBlock"]

BoxTuple = tuple[float, float, float, float]
"""A box as fractions of the canvas: (x, y, w, h), each within 0..1."""


class TextBlock(BaseModel):
    """One piece of exact text and where/how it should be set."""

    model_config = ConfigDict(extra="forbid")

    id: str
    text: str
    box: BoxTuple
    role: str = "body"
    language: str = "en"
    color: str = "#111111"
    weight: Literal["regular", "bold"] = "regular"
    size: float | None = Field(
        default=None, description="Font size as a fraction of canvas height; None = fit to box."
    )
    align: Literal["left", "center", "right"] = "center"
    font: str | None = Field(default=None, description="Font file path or family name.")
    render: Literal["model", "overlay"] = "model"


class PlacedImage(BaseModel):
    """An image file the brief brought, and where and how it goes."""

    model_config = ConfigDict(extra="forbid")

    file: str
    box: BoxTuple = (0.0, 0.0, 1.0, 1.0)
    fit: Literal["cover", "contain"] = "contain"
    focus: tuple[float, float] = Field(default=(0.5, 0.5), description="The point (fractions "
                                       "of the image) a cover crop keeps in view.")


class Layout(BaseModel):
    """A structured description of the picture, for renderers that can follow one."""

    model_config = ConfigDict(extra="forbid")

    background: str = "soft gradient"
    palette: list[str] = Field(default_factory=lambda: ["#1d3557", "#457b9d", "#f1faee"])
    texts: list[TextBlock] = Field(default_factory=list)
    image_boxes: list[BoxTuple] = Field(default_factory=list)
    """Picture areas with nothing supplied: the renderer draws a placeholder."""
    images: list[PlacedImage] = Field(default_factory=list)
    """Picture areas filled with the brief's own images (product photos)."""
    background_image: PlacedImage | None = None
    logo_path: str | None = None


class Fault(BaseModel):
    """A text error to inject (the kinds GLM-Image really makes), for tests and simulation."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal[
        "wrong_letter", "missing_letter", "doubled_letter", "dropped_word", "swapped_chars",
        "wrong_digit", "wrong_cjk", "missing_region", "extra_text",
    ]
    region_id: str | None = None
    detail: str = ""


class ReferenceImage(BaseModel):
    """One of the brief's own pictures, sent with a new picture to a model that takes
    reference images (``Capabilities.reference_images``): the model draws it into the
    picture instead of signwriter compositing it afterwards. The backend sends it in its
    provider's own format (:func:`generation.images.reference_png` reads it: SVG
    rasterised, large pictures scaled down)."""

    model_config = ConfigDict(extra="forbid")

    file: str = Field(description="The picture's path (already confined to the brief's "
                      "folder or an allowed assets folder).")
    role: Literal["product", "logo", "background"]
    box: BoxTuple | None = Field(default=None, description="Where it goes (None: the "
                                 "whole canvas, for a background).")


class GenerationRequest(BaseModel):
    """What to draw."""

    model_config = ConfigDict(extra="forbid")

    prompt: str
    width: int
    height: int
    seed: int = 0
    negative_prompt: str | None = None
    layout: Layout | None = None
    references: list[ReferenceImage] = Field(
        default_factory=list, description="The brief's pictures to send as reference images "
        "(only to backends whose capabilities.reference_images allow that many).")
    attempt_id: str | None = Field(default=None, description="For error messages and logs.")
    resume: dict[str, Any] | None = Field(
        default=None, description="A provider task handle that an earlier process recorded via "
        "on_submit: poll/fetch that task instead of submitting (and paying) again.")


class EditRequest(BaseModel):
    """Image-to-image: change part of an existing image (e.g. fix one misspelt region)."""

    model_config = ConfigDict(extra="forbid")

    prompt: str
    image_path: str
    width: int
    height: int
    seed: int = 0
    region: BoxTuple | None = Field(default=None, description="The area to change, if known.")
    layout: Layout | None = None
    attempt_id: str | None = None
    resume: dict[str, Any] | None = None


class GeneratedImage(BaseModel):
    """The result of one generation. ``data`` is the encoded image (PNG/JPEG/WebP)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    data: bytes = Field(repr=False)
    media_type: str = "image/png"
    width: int
    height: int
    seed: int
    backend: str
    model: str = ""
    elapsed_s: float = 0.0
    cost_usd: float = 0.0
    possibly_charged_usd: float = 0.0
    """Besides ``cost_usd``: what earlier sends of this submit may have cost (see
    :class:`generation.http.UncertainCharges`)."""
    metadata: dict[str, Any] = Field(default_factory=dict)


class Capabilities(BaseModel):
    """What a backend can do, for ``signwriter backends`` and for the QA agent's choices."""

    text_to_image: bool = True
    edit: bool = False
    follows_layout: bool = False
    reference_images: int = Field(0, ge=0, description="How many of the brief's pictures "
                                  "(product photos, logo, background) it takes as reference "
                                  "images with a new picture; 0: signwriter composites them "
                                  "after generation.")
    paid: bool = False
    cost_per_image_usd: float = 0.0
    limits: SizeLimits = Field(default_factory=SizeLimits)


class BackendSpec(BaseModel):
    """Everything a backend declares about itself, in one place: its module's ``BACKEND``.

    The registry lists it (``signwriter backends``), builds the backend with
    ``factory(**options)``, and the application reads each option from the environment as
    ``SIGNWRITER_<NAME>_<OPTION>`` (``SIGNWRITER_ZAI_API_KEY``): the same way for built-in
    and third-party backends. ``settings`` names the options worth documenting; ``key``
    and ``url`` the options that hold the credential and the endpoint(s), for ``doctor``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$", description="What --backend takes.")
    summary: str = Field(description="One line for `signwriter backends`.")
    factory: Callable[..., Any] = Field(exclude=True, description="Builds the backend from "
                                        "its keyword options (usually the backend class).")
    options: type[BaseModel] = Field(exclude=True, description="The options model "
                                     "(pydantic, extra='forbid').")
    capabilities: Capabilities = Field(description="What it can do, its default size limits "
                                       "and price per image.")
    settings: tuple[str, ...] = Field((), description="Options documented as settings.")
    key: str | None = Field(None, description="The option that holds the credential.")
    key_required: bool = Field(False, description="It cannot work without that key.")
    url: str | None = Field(None, description="The option that holds the endpoint (a URL) "
                            "or endpoints (a list of URLs).")
    health_path: str = Field("", description="Appended to each endpoint by `doctor`.")
    requires: tuple[str, ...] = Field((), description="Modules it imports when used.")
    check: Callable[[Any], tuple[str, str]] | None = Field(
        None, exclude=True, description="An extra `doctor` check given the backend's "
        "options: (ok | warn | fail, message).")
    extra: str | None = Field(None, description="The pip extra that brings `requires`.")
    source: str = Field("built-in", description="Set by the registry: built-in, or the "
                        "package that registered it.")

    def env(self, option: str) -> str:
        """The environment variable of one of its options: ``SIGNWRITER_ZAI_API_KEY``."""
        return f"SIGNWRITER_{self.name.upper().replace('-', '_')}_{option.upper()}"

    @property
    def required_settings(self) -> list[str]:
        """The environment variables that must be set before it can work."""
        needed = [self.key] if self.key and self.key_required else []
        if self.url and not self.options.model_fields[self.url].get_default(
                call_default_factory=True):
            needed.append(self.url)
        return [self.env(o) for o in needed]


def estimate_cost(backend: Any, width: int, height: int) -> float:
    """What one image of ``width``×``height`` will cost at most on ``backend`` (USD).

    Backends whose price depends on the size define ``estimate_cost(width, height)``;
    the others charge ``capabilities.cost_per_image_usd``. Budgets reserve this before
    paying, so it must never be below what the provider bills.
    """
    fn = getattr(backend, "estimate_cost", None)
    if callable(fn):
        return float(fn(width, height))
    return float(backend.capabilities.cost_per_image_usd)


OnSubmit = Callable[[dict[str, Any]], None]
"""Called by queue/async backends right after the provider accepted (and will bill) a task,
with a JSON-able handle (e.g. ``{"request_id": ..., "status_url": ...}``). The caller records
it durably; after a crash it passes it back as ``request.resume`` so nothing is paid twice."""


@runtime_checkable
class Backend(Protocol):
    """An image source. One module per provider implements this."""

    name: str
    capabilities: Capabilities

    def generate(self, request: GenerationRequest, *,
                 on_submit: OnSubmit | None = None) -> GeneratedImage:
        """Draw a new image. Raises :mod:`generation.errors` on failure."""
        ...

    def edit(self, request: EditRequest, *, on_submit: OnSubmit | None = None) -> GeneratedImage:
        """Change part of an image. Raises ``Unsupported`` if the backend cannot edit."""
        ...
