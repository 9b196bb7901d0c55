"""The character difference the asset page highlights."""

from agents.web.diff import char_diff


def test_char_diff_marks_what_is_missing_and_what_was_read_instead() -> None:
    assert char_diff("Launch Week", "Lunch Weeek") == [
        ("same", "L"), ("missing", "a"), ("same", "unch Wee"), ("extra", "e"), ("same", "k")]
    assert char_diff("$19.99", "$09.99") == [("same", "$"), ("missing", "1"), ("extra", "0"),
                                              ("same", "9.99")]
    assert char_diff("Join now", None) == [("missing", "Join now")]
    assert char_diff(None, "extra text") == [("extra", "extra text")]
