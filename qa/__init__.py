"""OCR QA: is every expected text in an image, spelt exactly, where it belongs?

``check_image`` reads an image (rapidocr PP-OCRv6 as the judge, tesseract as an optional
second opinion) and returns a :class:`~qa.models.QAReport`; ``write_report`` and
``render_overlay`` save it. ``qa`` imports nothing from ``agents`` or ``generation``.
"""

from qa.check import check_image
from qa.errors import BadImage, EngineUnavailable, QAError
from qa.models import CharDiff, ExpectedText, Finding, OCRLine, QAReport, Strictness
from qa.ocr import OCREngine, RapidOCREngine, Reader, TesseractEngine, get_engine
from qa.report import render_overlay, write_report

__all__ = [
    "BadImage", "CharDiff", "EngineUnavailable", "ExpectedText", "Finding", "OCREngine",
    "OCRLine", "QAError", "QAReport", "RapidOCREngine", "Reader", "Strictness",
    "TesseractEngine", "check_image", "get_engine", "render_overlay", "write_report",
]
