"""Errors raised by OCR QA.

A failed check is a value (a :class:`qa.models.QAReport` with ``passed=False``), never an
exception. These are for when a check cannot be run at all::

    QAError                  base: QA could not run
     ├── EngineUnavailable   an OCR engine cannot be used (e.g. the tesseract binary or its
     │                       language data is missing): names the package to install
     ├── BadImage            the image file cannot be read or decoded: names the file
     └── VisionUnavailable   the optional vision reader (an OpenAI-compatible endpoint)
                             could not be used: refused key, timeout, bad reply
"""

from __future__ import annotations


class QAError(Exception):
    """Base class for every failure that stops a QA check from running."""


class EngineUnavailable(QAError):
    """An OCR engine cannot be used here; the message names what to install."""


class BadImage(QAError):
    """The image could not be read; the message names the file."""

    def __init__(self, message: str, *, path: str = "") -> None:
        self.path = path
        super().__init__(message)


class VisionUnavailable(QAError):
    """The optional vision reader failed; the message names the endpoint's host and the
    reason (never the key). ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)
