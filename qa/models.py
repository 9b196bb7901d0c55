"""Plain inputs and outputs of QA: what text is expected where, and what was found.

``qa`` is a library of its own: it imports nothing from ``agents`` or ``generation``.
A failed check is a value (a :class:`QAReport` with ``passed=False``), never an exception.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

BoxTuple = tuple[float, float, float, float]
"""A box as fractions of the image: (x, y, w, h), each within 0..1."""

FindingKind = Literal["ok", "misspelt", "missing", "misplaced", "illegible", "unexpected",
                      "repeat"]


class Strictness(BaseModel):
    """How strictly a region's text is compared. ``True`` means the difference matters.

    ``case`` (also written ``exact`` / ``any``) is off by default: display type is set in
    capitals or small capitals as a design decision, and a reviewer calls ``TESLA INC.``
    for ``Tesla Inc.`` correct copy — a read that differs only in letter case passes, with
    a note on the finding. ``case: exact`` makes case an error (a brand spelt ``iPhone``).
    Punctuation is judged by default (legal-size text excepted, see :mod:`qa.check`)."""

    model_config = ConfigDict(extra="forbid")

    case: bool = Field(default=False, description="exact (true): letter case must match; "
                       "any (false, the default): a case-only difference passes with a note.")
    punctuation: bool = True
    whitespace: bool = False

    @field_validator("case", mode="before")
    @classmethod
    def _case_words(cls, v: object) -> object:
        if isinstance(v, str) and v.strip().lower() in ("exact", "any"):
            return v.strip().lower() == "exact"
        return v


class ExpectedText(BaseModel):
    """One string that must appear, optionally within a box."""

    model_config = ConfigDict(extra="forbid")

    id: str
    text: str
    box: BoxTuple | None = None
    language: str = "en"
    role: str = "body"
    strictness: Strictness = Field(default_factory=Strictness)


class OCRLine(BaseModel):
    """One line of text an OCR engine read, with its box in image pixels."""

    text: str
    box: tuple[int, int, int, int] = Field(description="x0, y0, x1, y1 in pixels")
    confidence: float = 1.0
    engine: str = ""
    height: float | None = Field(default=None, description="The line's height across its "
                                 "direction, in pixels, where the engine gives a tilted box "
                                 "(a tilted line's upright box is taller than its text: "
                                 "1,000 px of text tilted 4° adds 70 px).")

    @property
    def text_height(self) -> float:
        """How high the line's text is: :attr:`height`, else its box's height."""
        return self.height if self.height is not None else float(self.box[3] - self.box[1])


class CharDiff(BaseModel):
    """One edit turning the expected text into what was read."""

    op: Literal["replace", "delete", "insert"]
    expected: str
    read: str
    position: int


class Finding(BaseModel):
    """The verdict on one expected region, or one piece of unexpected text."""

    region_id: str | None = None
    kind: FindingKind
    expected: str | None = None
    read: str | None = None
    box: BoxTuple | None = Field(default=None, description="Where it was expected (fractions).")
    read_box: BoxTuple | None = Field(default=None, description="Where it was read (fractions).")
    similarity: float = Field(default=0.0, description="0..100, after normalisation.")
    confidence: float = 0.0
    diff: list[CharDiff] = Field(default_factory=list)
    engine: str = ""
    note: str = ""


class QAReport(BaseModel):
    """Everything a check found about one image."""

    image: str
    width: int
    height: int
    passed: bool
    score: float = Field(description="0..1, higher is better; ranks attempts (best-of-N).")
    word_accuracy: float = Field(description="CVTG-2K word accuracy over expected words.")
    ned: float = Field(description="CVTG-2K normalised edit distance similarity (1 = exact).")
    regions: list[Finding] = Field(default_factory=list)
    unexpected: list[Finding] = Field(default_factory=list)
    repeats: list[Finding] = Field(default_factory=list, description="Text read again "
                                   "that repeats a verified expected text at the same size, "
                                   "apart from it (checks without boxes only); noted, never "
                                   "failing: kind 'repeat', region_id the text it repeats.")
    review: bool = Field(default=False, description="A check without boxes verified every "
                         "expected text exactly, and the only other text read is scene text "
                         "apart from the copy (see qa.check.incidental): not accepted "
                         "(passed is False), but for a person to decide, not a failure of "
                         "the copy. Never set in a check with boxes.")
    engine: str = ""
    elapsed_s: float = 0.0
    not_judged: list[str] = Field(default_factory=list, description="What this check did not "
                                  "judge, and for which regions: letter case (case: any), "
                                  "punctuation, pictographs.")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def verdict(self) -> Literal["pass", "review", "fail"]:
        """``pass``, ``review`` (see :attr:`review`) or ``fail``."""
        return "pass" if self.passed else "review" if self.review else "fail"

    @property
    def failing(self) -> list[Finding]:
        return [f for f in self.regions if f.kind != "ok"]
