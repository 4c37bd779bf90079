"""Why a task failed, read from the end of its log: the SDK's error line, else its last line."""

from __future__ import annotations

import json

from s3fargate import contracts as c


def _record(level: str, message: str, **extra: object) -> str:
    return json.dumps({"level": level, "message": message, **extra})


def test_the_sdk_s_failure_field_wins_over_its_message_and_later_info_lines() -> None:
    lines = [
        "some output of the task",
        _record(
            "ERROR", "processing failed: ValueError: bad row 7", failure="ValueError: bad row 7"
        ),
        _record("INFO", "flushed"),
        "",
    ]
    assert c.failure_in(lines) == "ValueError: bad row 7"


def test_an_error_line_without_the_field_is_quoted_by_its_message() -> None:
    assert c.failure_in([_record("ERROR", "cannot reach S3")]) == "cannot reach S3"


def test_a_task_without_the_sdk_is_quoted_by_its_last_line() -> None:
    assert c.failure_in(["starting", "fatal: no such column", "  "]) == "fatal: no such column"


def test_nothing_to_say_is_none() -> None:
    assert c.failure_in([]) is None
    assert c.failure_in([_record("INFO", "start"), _record("INFO", "end")]) is None


def test_words_are_one_bounded_line_without_control_characters() -> None:
    text = "line one\nline two\x1b[31m\t" + "x" * 1000
    words = c.one_line(text)
    assert "\n" not in words
    assert "\x1b" not in words
    assert len(words) == c.MAX_FAILURE_CHARS
    assert words.endswith("…")
    assert words.startswith("line one line two [31m x")
