"""The overlay compositor: the text signwriter sets itself, onto any backend's picture.

The brief's product photos and logo go first, into the areas the prompt kept free (no
provider here takes them as reference images). Then a layout's text blocks marked ``render="overlay"`` (legal lines, prices: text that must be
exact beyond doubt) are not left to the image model. The prompt asks the model to keep
their area clear; then :func:`compose` sets them onto whatever picture the backend made —
hosted API, self-hosted server, in-process model or plugin — with the typesetter the
built-in renderer uses (:func:`generation.typeset.overlay_text`: brand font, contrast
checked against what was drawn there). A backend that follows the layout itself
(``capabilities.follows_layout``) has already set them, so nothing is added.

    composed = compose(image_bytes, layout, backend.capabilities, attempt="run/asset/1")
    if composed is not None:
        data, overlaid_ids = composed
"""

from __future__ import annotations

from dataclasses import dataclass, field

from generation.base import Capabilities, Layout
from generation.images import composite
from generation.typeset import overlay_text


def overlay_ids(layout: Layout, capabilities: Capabilities) -> list[str]:
    """The blocks signwriter must set itself on this backend's pictures (none when the
    backend follows the layout)."""
    if capabilities.follows_layout:
        return []
    return [b.id for b in layout.texts if b.render == "overlay"]


@dataclass
class Composed:
    """A picture with signwriter's additions, and how each overlaid text reads."""

    data: bytes
    overlaid: list[str]
    legibility: dict[str, dict[str, object]] = field(default_factory=dict)
    """Per overlaid block: WCAG contrast, the required ratio, how busy the backdrop was and
    the treatment used (none, shadow, panel): :class:`generation.legibility.Legibility`."""


def compose_report(data: bytes, layout: Layout, capabilities: Capabilities, *,
                   attempt: str | None = None) -> Composed | None:
    """``data`` (an encoded picture) with the brief's product photos and logo set into the
    areas the prompt kept free (:func:`generation.images.composite`) and the overlay
    blocks set on it (PNG); ``None`` when there is nothing to add."""
    ids = overlay_ids(layout, capabilities)
    photos = bool(layout.images or layout.logo_path) and not capabilities.follows_layout
    if not ids and not photos:
        return None
    if photos:
        data = composite(data, layout)
    if not ids:
        return Composed(data, [])
    out = overlay_text(data, layout, set(ids), attempt=attempt)
    return Composed(out.data, ids, {k: v.as_dict() for k, v in out.legibility.items()})


def compose(data: bytes, layout: Layout, capabilities: Capabilities, *,
            attempt: str | None = None) -> tuple[bytes, list[str]] | None:
    """:func:`compose_report` as ``(png_bytes, overlay_ids)``."""
    composed = compose_report(data, layout, capabilities, attempt=attempt)
    return (composed.data, composed.overlaid) if composed else None
