"""Which languages and scripts signwriter can verify, and which judge reads each.

A language is supported only when an installed OCR judge has been measured reading it
(``signwriter bench scripts``; figures in README.md). Anything else is refused up front,
when a brief or spec is loaded or ``qa --lang`` is given, by :func:`require_language`,
whose message names the languages this machine supports::

    language                     script(s) of its copy       judge
    en de fr es it pt nl         Latin                       rapidocr (PP-OCRv6)
    zh (zh-Hans, zh-CN, zh-SG)   Han, Simplified             rapidocr
    zh-Hant (zh-TW, zh-HK, …)    Han, Traditional            rapidocr
    ja                           Han + kana (ー, 「」, ・)      rapidocr
    ko                           Hangul                      rapidocr's detector, tesseract
                                                             ``kor`` recognising Hangul lines
                                                             (apt: tesseract-ocr-kor)

The judge for an image follows from the *characters* of its expected texts
(:func:`scripts_of`), not from the declared language alone: a Korean spec whose copy is
``SALE 50%`` needs no Hangul reader, and an English spec with a Hangul tagline gets one.
:func:`judge_for` is the single dispatch point that :func:`qa.check.check_image` calls.

Known gaps (measured, see README): ``¡`` is not in rapidocr's vocabulary (a Spanish
``¡Oferta!`` reads ``Oferta!``); a lone ``ー`` with no kana before it reads ``一``;
rapidocr often drops a legal-size ``※`` (not judged there, see :mod:`qa.check`) and reads
the wave dash ``〜`` as the identical ``～`` (an identical glyph, :mod:`qa.glyphs`);
vertical Hangul is not read.
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib.util import find_spec

from qa.errors import EngineUnavailable
from qa.ocr import HangulEngine, RapidOCREngine, TesseractEngine, for_page, get_engine

Script = str
"""One of ``latin``, ``han``, ``kana``, ``hangul``."""

LATIN, HAN, KANA, HANGUL = "latin", "han", "kana", "hangul"


@dataclass(frozen=True)
class Language:
    """A language the QA can verify: its canonical tag, name, scripts and judge."""

    tag: str
    name: str
    scripts: frozenset[Script]
    judge: str
    """``rapidocr`` (PP-OCRv6: its 18 708-character vocabulary has Latin with accents,
    15 565 Han, all kana and CJK punctuation, and no Hangul) or ``hangul`` (rapidocr's
    detector; lines holding Hangul recognised by tesseract ``kor+eng``, others by rapidocr:
    :class:`qa.ocr.HangulEngine`). An engine's own ``scripts`` says what it reads."""
    aliases: tuple[str, ...] = ()


LANGUAGES: tuple[Language, ...] = (
    Language("en", "English", frozenset({LATIN}), "rapidocr"),
    Language("de", "German", frozenset({LATIN}), "rapidocr"),
    Language("fr", "French", frozenset({LATIN}), "rapidocr"),
    Language("es", "Spanish", frozenset({LATIN}), "rapidocr"),
    Language("it", "Italian", frozenset({LATIN}), "rapidocr"),
    Language("pt", "Portuguese", frozenset({LATIN}), "rapidocr"),
    Language("nl", "Dutch", frozenset({LATIN}), "rapidocr"),
    Language("zh", "Simplified Chinese", frozenset({HAN, LATIN}), "rapidocr",
             aliases=("zh-hans", "zh-cn", "zh-sg", "zh-my")),
    Language("zh-Hant", "Traditional Chinese", frozenset({HAN, LATIN}), "rapidocr",
             aliases=("zh-tw", "zh-hk", "zh-mo")),
    Language("ja", "Japanese", frozenset({HAN, KANA, LATIN}), "rapidocr", aliases=("jp",)),
    Language("ko", "Korean", frozenset({HANGUL, LATIN}), "hangul", aliases=("kr",)),
)


class UnsupportedLanguage(EngineUnavailable):
    """A language (or a script in the copy) that no installed judge reads; the message
    names the supported languages and, where one exists, the package to install."""


def _key(tag: str) -> str:
    return tag.strip().lower().replace("_", "-")


def find_language(tag: str) -> Language | None:
    """The registry entry for ``tag`` (BCP 47-ish, case-insensitive: ``en-US``, ``zh_TW``,
    ``zh-Hant-HK``), or ``None`` when the tag names no language the registry knows."""
    key = _key(tag)
    if not key:
        return None
    for lang in LANGUAGES:
        if key == lang.tag.lower() or key in lang.aliases:
            return lang
    parts = key.split("-")
    if parts[0] == "zh":
        # a script subtag decides; a region alone (zh-TW) was an alias above
        if "hant" in parts[1:]:
            return find_language("zh-Hant")
        if "hans" in parts[1:] or len(parts) == 1:
            return find_language("zh")
        region = parts[-1]
        return find_language("zh-Hant" if region in ("tw", "hk", "mo") else "zh")
    if len(parts) > 1:  # en-US, ja-JP, ko-KR, pt-BR
        return find_language(parts[0])
    return None


def installed(lang: Language) -> str | None:
    """``None`` when ``lang``'s judge can run here, else what to install."""
    if find_spec("rapidocr") is None:
        return "pip install 'rapidocr>=3.4' openvino"
    if lang.judge == "hangul" and "kor" not in _tesseract_languages():
        return "apt-get install tesseract-ocr tesseract-ocr-kor"
    return None


@lru_cache(maxsize=1)
def _tesseract_languages() -> frozenset[str]:
    try:
        import pytesseract

        return frozenset(pytesseract.get_languages(config=""))
    except Exception:  # no binary, no pytesseract: no tesseract language
        return frozenset()


def supported_languages() -> list[Language]:
    """The languages whose judge is installed on this machine."""
    return [lang for lang in LANGUAGES if installed(lang) is None]


def describe_supported() -> str:
    """``en (English), de (German), …`` for messages."""
    return ", ".join(f"{lang.tag} ({lang.name})" for lang in supported_languages()) or "none"


def require_language(tag: str) -> Language:
    """The language ``tag`` names, when an installed judge reads it; otherwise raises
    :class:`UnsupportedLanguage` with a one-line message naming the supported languages."""
    lang = find_language(tag)
    if lang is None:
        raise UnsupportedLanguage(
            f"language {tag!r} cannot be verified: no OCR judge here reads it; supported: "
            f"{describe_supported()}")
    missing = installed(lang)
    if missing:
        raise UnsupportedLanguage(
            f"language {tag!r} ({lang.name}) needs a judge that is not installed: {missing}; "
            f"supported now: {describe_supported()}")
    return lang


def script_of(ch: str) -> Script | None:
    """The script of one character (``None`` for digits, punctuation, symbols, spaces)."""
    o = ord(ch)
    if 0xAC00 <= o <= 0xD7AF or 0x1100 <= o <= 0x11FF or 0x3130 <= o <= 0x318F \
            or 0xA960 <= o <= 0xA97F or 0xD7B0 <= o <= 0xD7FF:
        return HANGUL
    if 0x3041 <= o <= 0x30FF or 0x31F0 <= o <= 0x31FF or 0xFF66 <= o <= 0xFF9F \
            or 0x3031 <= o <= 0x3035:  # kana, ー, ゝ/ヽ iteration marks
        return KANA
    if 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0xF900 <= o <= 0xFAFF \
            or 0x20000 <= o <= 0x3134F or 0x3005 <= o <= 0x3007:  # 々 〆 〇
        return HAN
    if ch.isalpha() and o < 0x0250 or 0x1E00 <= o <= 0x1EFF or 0xFF21 <= o <= 0xFF5A:
        return LATIN
    return None


def scripts_of(texts: Iterable[str]) -> frozenset[Script]:
    """Every script the characters of ``texts`` use."""
    found: set[Script] = set()
    for text in texts:
        for ch in text:
            s = script_of(ch)
            if s is not None:
                found.add(s)
    return frozenset(found)


def unreadable_scripts(texts: Iterable[str]) -> frozenset[str]:
    """Scripts in ``texts`` that no judge in the registry reads (Cyrillic, Greek, Arabic, …):
    letters that are neither Latin, Han, kana nor Hangul, named by their Unicode script."""
    out: set[str] = set()
    for text in texts:
        for ch in text:
            if ch.isalpha() and script_of(ch) is None:
                out.add(unicodedata.name(ch, "unknown").split(" ")[0].lower())
    return frozenset(out)


def require_scripts(texts: Iterable[str]) -> frozenset[Script]:
    """The scripts of ``texts`` when an installed judge reads them all; otherwise raises
    :class:`UnsupportedLanguage` (a Cyrillic word, or Hangul without tesseract's Korean
    data), naming the supported languages. Call it before anything is generated."""
    texts = list(texts)
    alien = unreadable_scripts(texts)
    if alien:
        raise UnsupportedLanguage(
            f"the copy uses a script no OCR judge here reads ({', '.join(sorted(alien))}); "
            f"supported: {describe_supported()}")
    need = scripts_of(texts)
    if HANGUL in need:
        missing = installed(next(lang for lang in LANGUAGES if lang.judge == "hangul"))
        if missing:
            raise UnsupportedLanguage(
                f"the copy has Hangul, and reading it needs tesseract's Korean data: "
                f"{missing}; supported now: {describe_supported()}")
    return need


_WRAPPED: dict[tuple[int, str], HangulEngine] = {}
_WRAPPED_LOCK = threading.Lock()


def judge_for(reader, texts: Iterable[str]):
    """The engine that judges an image whose expected texts are ``texts``, given the
    configured ``reader``: ``reader`` itself when it reads every script in them, else the
    registry's judge for those scripts built on ``reader``'s detector. A reader that does
    not declare what it reads (a test double, a plug-in) is trusted as given. Raises
    :class:`UnsupportedLanguage` when no installed judge reads the copy."""
    need = require_scripts(texts)
    reads = getattr(reader, "scripts", None)
    if reads is None or need <= reads:
        return reader
    if HANGUL in need:
        if isinstance(reader, TesseractEngine):
            langs = reader.lang.split("+")
            return get_engine("tesseract", lang="+".join(["kor"] + [x for x in langs if x != "kor"]))
        if isinstance(reader, RapidOCREngine):
            key = (id(reader), "hangul")
            with _WRAPPED_LOCK:
                if key not in _WRAPPED:
                    _WRAPPED[key] = HangulEngine(reader)
                return _WRAPPED[key]
    raise UnsupportedLanguage(
        f"the OCR engine {getattr(reader, 'name', reader)!r} cannot read "
        f"{', '.join(sorted(need - reads))} text; supported: {describe_supported()}")


def judges(reader, recheck, expected, shape: tuple[int, int] | None = None):
    """The two engines of one check, from the configured ones: each is the judge for the
    copy's scripts (:func:`judge_for`); in spec mode (every expected text has a box), for a
    page of ``shape`` (h, w), it detects the page's lines at the reduced resolution the
    smallest expected text allows (:class:`qa.ocr.PageReader`). ``recheck`` ``None`` stays
    ``None``; the same engine for both stays one engine."""
    expected = list(expected)
    texts = [e.text for e in expected]

    def one(engine):
        engine = judge_for(engine, texts)
        if shape is None:
            return engine
        return for_page(engine, shape, [(e.text, e.box) for e in expected])

    first = one(reader)
    if recheck is None:
        return first, None
    return first, (first if recheck is reader else one(recheck))
