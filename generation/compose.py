"""The brief's pictures and the overlay text, onto any backend's picture.

**The brief's pictures** (product photos, logo, background picture) reach a model in one
of two ways, chosen from what the backend declares (``capabilities.reference_images``):

- a backend that takes reference images gets them with the request
  (:func:`references_for`: products first, then the logo, then the background, as many as
  it takes) in its provider's own format, and the model draws them into the picture;
- any picture it cannot take is set by signwriter after generation into the area the
  prompt kept free (:func:`generation.images.composite`: products and logo; a background
  picture that is not sent is left to the model's own backdrop).

:func:`pictures_record` says which happened, for the attempt's record. A backend that
follows the layout itself (``capabilities.follows_layout``: ``typeset``) places them itself.

**Overlay text.** A layout's text blocks marked ``render="overlay"`` (legal lines, prices:
text that must be exact beyond doubt) are not left to the image model. The prompt asks
the model to keep their area clear; then :func:`compose` sets them onto whatever picture
the backend made — hosted API, self-hosted server, in-process model or plugin — with the
typesetter the built-in renderer uses (:func:`generation.typeset.overlay_text`: brand
font, contrast checked against what was drawn there).

    refs = references_for(layout, backend.capabilities)   # -> GenerationRequest.references
    composed = compose(image_bytes, layout, backend.capabilities, referenced=refs)
    if composed is not None:
        data, overlaid_ids = composed
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generation.base import Capabilities, Layout, ReferenceImage
from generation.images import composite, logo_box
from generation.typeset import overlay_text


def overlay_ids(layout: Layout, capabilities: Capabilities) -> list[str]:
    """The blocks signwriter must set itself on this backend's pictures (none when the
    backend follows the layout)."""
    if capabilities.follows_layout:
        return []
    return [b.id for b in layout.texts if b.render == "overlay"]


def brief_pictures(layout: Layout) -> list[ReferenceImage]:
    """Every picture the brief brought, in the order they are offered as references:
    product photos, the logo, the background picture."""
    pictures = [ReferenceImage(file=p.file, role="product", box=p.box) for p in layout.images]
    if layout.logo_path:
        pictures.append(ReferenceImage(file=layout.logo_path, role="logo",
                                       box=logo_box(layout)))
    if layout.background_image is not None:
        pictures.append(ReferenceImage(file=layout.background_image.file, role="background"))
    return pictures


def references_for(layout: Layout | None, capabilities: Capabilities) -> list[ReferenceImage]:
    """The brief's pictures this backend takes as reference images (none when it takes
    none, or follows the layout and places them itself)."""
    if layout is None or capabilities.follows_layout or capabilities.reference_images <= 0:
        return []
    return brief_pictures(layout)[: capabilities.reference_images]


def _without(layout: Layout, referenced: Sequence[ReferenceImage]) -> Layout:
    """``layout`` less the pictures the model already received as references (their areas
    stay taken, so the logo keeps the corner the prompt named)."""
    sent = {(r.role, r.file) for r in referenced}
    return layout.model_copy(update={
        "images": [p for p in layout.images if ("product", p.file) not in sent],
        "image_boxes": [*layout.image_boxes, *(p.box for p in layout.images
                                               if ("product", p.file) in sent)],
        "logo_path": None if ("logo", layout.logo_path) in sent else layout.logo_path})


def pictures_record(layout: Layout, capabilities: Capabilities, backend: str,
                    referenced: Sequence[ReferenceImage]) -> dict[str, Any] | None:
    """What became of the brief's pictures on this attempt (``None`` when it brought none):
    ``reference_images`` sent to the model, ``composited`` after generation, ``not_used``
    (a background picture the backend could not take) and a ``note`` saying why."""
    pictures = brief_pictures(layout)
    if not pictures:
        return None
    if capabilities.follows_layout:
        return {"placed_by_backend": [_name(p) for p in pictures],
                "note": f"{backend} follows the layout and places the brief's pictures itself"}
    sent = {(r.role, r.file) for r in referenced}
    record: dict[str, Any] = {
        "reference_images": [_name(p) for p in pictures if (p.role, p.file) in sent],
        "composited": [_name(p) for p in pictures
                       if (p.role, p.file) not in sent and p.role != "background"],
        "not_used": [_name(p) for p in pictures
                     if (p.role, p.file) not in sent and p.role == "background"]}
    limit = capabilities.reference_images
    if limit <= 0:
        record["note"] = (f"{backend} takes no reference images: the brief's product photos "
                          "and logo were composited after generation")
    elif record["composited"] or record["not_used"]:
        record["note"] = (f"{backend} takes {limit} reference image{'s' if limit != 1 else ''}:"
                          " the rest were composited after generation (a background picture "
                          "is left to the model)")
    else:
        record["note"] = f"{backend} received the brief's pictures as reference images"
    return record


def _name(p: ReferenceImage) -> dict[str, str]:
    return {"role": p.role, "file": Path(p.file).name}


@dataclass
class Composed:
    """A picture with signwriter's additions, and how each overlaid text reads."""

    data: bytes
    overlaid: list[str]
    legibility: dict[str, dict[str, object]] = field(default_factory=dict)
    """Per overlaid block: WCAG contrast, the required ratio, how busy the backdrop was and
    the treatment used (none, shadow, panel): :class:`generation.legibility.Legibility`."""


def compose_report(data: bytes, layout: Layout, capabilities: Capabilities, *,
                   attempt: str | None = None,
                   referenced: Sequence[ReferenceImage] = ()) -> Composed | None:
    """``data`` (an encoded picture) with the brief's product photos and logo that the
    model did not receive as ``referenced`` images set into the areas the prompt kept free
    (:func:`generation.images.composite`) and the overlay blocks set on it (PNG); ``None``
    when there is nothing to add."""
    ids = overlay_ids(layout, capabilities)
    rest = _without(layout, referenced)
    photos = bool(rest.images or rest.logo_path) and not capabilities.follows_layout
    if not ids and not photos:
        return None
    if photos:
        data = composite(data, rest)
    if not ids:
        return Composed(data, [])
    out = overlay_text(data, layout, set(ids), attempt=attempt)
    return Composed(out.data, ids, {k: v.as_dict() for k, v in out.legibility.items()})


def compose(data: bytes, layout: Layout, capabilities: Capabilities, *,
            attempt: str | None = None,
            referenced: Sequence[ReferenceImage] = ()) -> tuple[bytes, list[str]] | None:
    """:func:`compose_report` as ``(png_bytes, overlay_ids)``."""
    composed = compose_report(data, layout, capabilities, attempt=attempt,
                              referenced=referenced)
    return (composed.data, composed.overlaid) if composed else None
