"""Fitting copy into its box with real font metrics.

The planner sizes every text region with :func:`generation.fonts.fit_text`, the same
function (and the same font files) the typeset renderer uses, so a planned size is a size
that really fits. Copy that cannot be set at :data:`generation.fonts.MIN_LEGIBLE_PX` or
more is an error naming the asset and the region (:class:`agents.errors.TextDoesNotFit`),
never a silent overflow.
"""

from __future__ import annotations

from agents.errors import SpecError, TextDoesNotFit
from agents.spec import Region, VisualSpec
from generation.fonts import (MIN_LEGIBLE_PX, Fit, FontNotFound, font_path_for, fit_text,
                              is_cjk_language, script_of)

__all__ = ["Fit", "fit_region", "fit_spec", "font_for"]


def context_of(spec: VisualSpec) -> str | None:
    """The CJK language the renderer sets a spec's Latin text in (see
    :func:`generation.typeset.layout_context`): its first CJK text's language."""
    for r in spec.text_regions:
        if script_of(r.text or "") == "cjk":
            return r.language if is_cjk_language(r.language) else "zh"
    return None


def font_for(region: Region, context: str | None = None) -> str:
    """The font file the renderer will use for ``region`` (brand font when it exists)."""
    text = region.text or ""
    try:
        return font_path_for(text, region.typography.weight, region.typography.font,
                             region.language, context)
    except FontNotFound as e:
        raise SpecError(f"region '{region.id}': {e}") from None


def fit_region(spec: VisualSpec, region: Region) -> Fit:
    """The largest legible size at which ``region.text`` fits its box on ``spec``'s canvas.

    An existing ``typography.size`` is treated as an upper bound (the designer's intent);
    raises :class:`TextDoesNotFit` when even ``MIN_LEGIBLE_PX`` does not fit.
    """
    if not region.is_text or not region.text:
        raise SpecError(f"{spec.asset_id}: region '{region.id}' is not a text region")
    box_w = region.box.w * spec.width
    box_h = region.box.h * spec.height
    max_size = int(min(box_h, 0.5 * spec.height))  # Typography.size is at most 0.5
    if region.typography.size is not None:
        wanted = max(MIN_LEGIBLE_PX, int(round(region.typography.size * spec.height)))
        max_size = min(max_size, wanted)
    context = context_of(spec)
    font_for(region, context)  # a missing font is a spec error naming the region
    try:
        fit = fit_text(region.text, box_w, box_h, max_size=max_size, min_size=MIN_LEGIBLE_PX,
                       weight=region.typography.weight, family=region.typography.font,
                       language=region.language, context=context)
    except FontNotFound as e:
        raise SpecError(f"region '{region.id}': {e}") from None
    if fit is None:
        raise TextDoesNotFit(
            spec.asset_id, region.id, region.text,
            f"{len(region.text)} characters in a {box_w:.0f}x{box_h:.0f} px box need a font "
            f"smaller than {MIN_LEGIBLE_PX} px")
    return fit


def fit_spec(spec: VisualSpec) -> VisualSpec:
    """A copy of ``spec`` whose text regions carry their fitted size (fraction of height)."""
    regions = []
    for region in spec.regions:
        if region.is_text:
            fit = fit_region(spec, region)
            typo = region.typography.model_copy(update={"size": fit.size / spec.height})
            region = region.model_copy(update={"typography": typo})
        regions.append(region)
    return spec.model_copy(update={"regions": regions})
