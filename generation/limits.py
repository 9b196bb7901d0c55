"""Size rules, in one place: which canvases a backend (or a spec) accepts, why a size is
refused, and the nearest size that is not.

::

    limits = SizeLimits(min_side=512, max_side=2048, multiple=32, max_pixels=2**22)
    limits.problem(1920, 770)   # "1920x770 is not a multiple of 32; nearest valid sizes are …"
    limits.snap(1920, 770)      # (1920, 768)

Every check of a size — the spec's canvas, fitting a spec to a backend, a backend refusing
a request before paying (:meth:`SizeLimits.require`) — calls :meth:`SizeLimits.problem`;
every correction :meth:`SizeLimits.snap`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from generation.errors import InvalidRequest


class SizeLimits(BaseModel):
    """The sizes a backend accepts: each side within ``min_side``–``max_side`` on a
    ``multiple``-pixel grid, at most ``max_pixels`` in all."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_side: int = Field(512, ge=1)
    max_side: int = Field(2048, ge=1)
    multiple: int = Field(32, ge=1)
    max_pixels: int = Field(2**22, ge=1)

    def problem(self, width: int, height: int) -> str | None:
        """Why ``width``×``height`` is refused (with the nearest valid sizes), or ``None``."""
        problems = []
        if width % self.multiple or height % self.multiple:
            problems.append(f"is not a multiple of {self.multiple}")
        if not (self.min_side <= width <= self.max_side
                and self.min_side <= height <= self.max_side):
            problems.append(f"has a side outside {self.min_side}–{self.max_side} px")
        if width * height > self.max_pixels:
            problems.append(f"has {width * height} pixels, more than {self.max_pixels}")
        if not problems:
            return None
        hint = " and ".join(f"{w}x{h}" for w, h in self.nearest(width, height))
        return f"{width}x{height} {' and '.join(problems)}; nearest valid sizes are {hint}"

    def require(self, width: int, height: int, *, backend: str,
                attempt: str | None = None) -> None:
        """Raise ``InvalidRequest`` for a size the backend would refuse, before anything is
        sent or paid for."""
        problem = self.problem(width, height)
        if problem:
            raise InvalidRequest(f"unsupported size: {problem}", backend=backend,
                                 attempt=attempt)

    def nearest(self, width: int, height: int) -> list[tuple[int, int]]:
        """The valid sizes just below and just above ``width``×``height``, shape kept."""
        m = self.multiple

        def clamp(v: float) -> int:
            return int(min(max(v, self.min_side), self.max_side))

        out: list[tuple[int, int]] = []
        for rounder in (lambda v: (v // m) * m, lambda v: -(-v // m) * m):
            w, h = clamp(rounder(width)), clamp(rounder(height))
            w, h = w - w % m, h - h % m
            while w * h > self.max_pixels:  # shrink keeping aspect until it fits
                scale = (self.max_pixels / (w * h)) ** 0.5
                w = max(self.min_side, int(w * scale) // m * m)
                h = max(self.min_side, int(h * scale) // m * m)
            if (w, h) not in out:
                out.append((w, h))
        return out

    def snap(self, width: int, height: int) -> tuple[int, int]:
        """The nearest valid size to ``width``×``height`` (aspect kept as well as possible)."""
        return min(self.nearest(width, height),
                   key=lambda s: abs(s[0] - width) + abs(s[1] - height))

    def describe(self) -> str:
        """``512–2048 px, ×32, ≤4.2 MP``: for listings and messages."""
        return (f"{self.min_side}–{self.max_side} px, ×{self.multiple}, "
                f"≤{self.max_pixels / 1e6:.1f} MP")


GLM_IMAGE_LIMITS = SizeLimits(min_side=512, max_side=2048, multiple=32, max_pixels=2**22)
"""GLM-Image's own sizes (each side 512–2048 on its 32-pixel grid, at most 2^22 pixels), as
Z.ai's GLM-Image guide gives them and every host that runs the open model as it is. A
platform that documents other limits sets them on its endpoint (the backend's ``limits``
option), not here."""
