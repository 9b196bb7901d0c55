"""Normalisation, alignment and metrics: pure functions, no OCR."""

from __future__ import annotations

import pytest

from qa.align import char_diff, join, similarity
from qa.metrics import ned, score, word_accuracy
from qa.models import Finding, OCRLine, Strictness
from qa.normalize import normalize, traditional_chars, wants_simplified, words

LENIENT = Strictness(case=False, punctuation=False, whitespace=False)
STRICT = Strictness(case=True, punctuation=True, whitespace=True)


@pytest.mark.parametrize(("a", "b"), [
    ("ＳＡＬＥ　５０％", "SALE 50%"),                      # full-width → half-width
    ("“Summer” — it’s here", '"Summer" - it\'s here'),   # curly quotes, em dash
    ("Price–list", "Price-list"),                        # en dash
    ("夏季 大 促销", "夏季大促销"),                        # spaces between CJK never matter
    ("全场五折！", "全场五折!"),                           # full-width CJK punctuation
    ("Shop\nnow", "Shop now"),                           # a line break is a space
])
def test_equivalent_forms_match_even_when_strict(a, b):
    assert normalize(a, STRICT) == normalize(b, STRICT)


@pytest.mark.parametrize(("expected", "read"), [
    ("$19.99", "$18.99"),      # wrong digit
    ("SALE 50", "SALE 5O"),    # O is not 0
    ("Bl1ss", "Blliss"),
    ("Total 68", "Total 86"),
    ("夏季", "夏李"),
    ("促销", "促銷"),           # Traditional is not Simplified
    ("Summer sale", "Sumer sale"),
])
def test_real_differences_never_normalise_away_even_when_lenient(expected, read):
    assert normalize(expected, LENIENT) != normalize(read, LENIENT)


def test_strictness_switches_case_punctuation_and_whitespace():
    assert normalize("Summer Sale!", Strictness(case=False)) == normalize("SUMMER SALE!", Strictness(case=False))
    assert normalize("Summer Sale!", Strictness(case=True)) != normalize("SUMMER SALE!", Strictness(case=True))
    # the default is case: any (display type in capitals is correct copy)
    assert normalize("Summer Sale!") == normalize("SUMMER SALE!")
    assert Strictness(case="exact").case is True and Strictness(case="any").case is False
    assert normalize("Sale, today!", Strictness(punctuation=False)) == normalize("Sale today", Strictness(punctuation=False))
    assert normalize("Sale, today!") != normalize("Sale today")
    assert normalize("Sale today", Strictness(whitespace=False)) == normalize("Saletoday", Strictness(whitespace=False))
    assert normalize("Sale today", STRICT) != normalize("Saletoday", STRICT)


def test_decimal_point_survives_lenient_punctuation():
    assert normalize("$19.99", LENIENT) != normalize("$1999", LENIENT)
    assert normalize("$19.99", LENIENT) == normalize("$19.99!", LENIENT)


def test_traditional_characters_are_detected():
    assert traditional_chars("全场促銷 後天") == ["銷", "後"]
    assert traditional_chars("全场促销") == []
    assert wants_simplified("zh", "全场促销")
    assert not wants_simplified("zh-TW", "全場促銷")


def test_words_split_latin_by_space_and_cjk_by_character():
    assert words("Summer sale 夏季促销", Strictness(case=True)) == ["Summer", "sale", "夏", "季", "促", "销"]
    assert words("Summer sale 夏季促销") == ["summer", "sale", "夏", "季", "促", "销"]


def test_char_diff_names_each_edit():
    assert [(d.op, d.expected, d.read, d.position) for d in char_diff("$19.99", "$18.99")] == [
        ("replace", "9", "8", 2)]
    assert [(d.op, d.expected, d.read) for d in char_diff("sandals", "sandls")] == [("delete", "a", "")]
    assert [(d.op, d.read) for d in char_diff("towels", "towells")] == [("insert", "l")]
    assert similarity("abc", "abc") == 100.0
    assert similarity("abcdefghij", "abcdefghiX") == pytest.approx(90.0)


def test_lines_join_in_reading_order():
    lines = [OCRLine(text="sunny days", box=(10, 60, 200, 90)),
             OCRLine(text="world", box=(120, 10, 200, 40)),
             OCRLine(text="Hello", box=(10, 12, 100, 42))]
    assert join(lines) == "Hello world sunny days"


def test_cvtg_metrics():
    pairs = [("Summer sale today", "Summer sole today", None), ("夏季促销", "夏李促销", None)]
    # 2 of 3 Latin words and 3 of 4 CJK characters
    assert word_accuracy(pairs) == pytest.approx(5 / 7)
    assert ned(pairs) == pytest.approx(((1 - 1 / 15) + (1 - 1 / 4)) / 2)
    assert word_accuracy([("Sale", "Sale", None)]) == 1.0 and ned([("Sale", "Sale", None)]) == 1.0


def test_score_ranks_passing_above_near_misses_above_bad_reads():
    ok = Finding(kind="ok", similarity=100)
    near = Finding(kind="misspelt", similarity=95)
    bad = Finding(kind="misspelt", similarity=40)
    extra = Finding(kind="unexpected")
    assert score([ok, ok], []) == 1.0
    assert 1.0 > score([ok, near], []) > score([ok, bad], []) > score([bad, bad], [])
    assert score([ok, ok], [extra]) < 1.0


def test_cjk_dash_read_as_yi_between_digits_is_the_same_text() -> None:
    """rapidocr reads the em dash of a date range as 一; 一 is never written against an
    Arabic digit in Chinese, so that confusion is tolerated — and only that one."""
    from qa.normalize import normalize
    assert normalize("9月6日—9月17日") == normalize("9月6日一9月17日")
    assert normalize("10—20元") == normalize("10一20元")
    assert normalize("统一价") != normalize("统-价")
    assert normalize("第一名") == "第一名"
    assert normalize("9月6日—9月17日") != normalize("9月6日二9月17日")
