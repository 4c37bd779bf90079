"""Options declared once on a configuration type: the parser, the help and the values derived."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import pytest

from s3fargate.options import OptionError, add_options, option, values_from

GROUPS = {"main": "main options"}


def _words(text: str) -> tuple[str, ...]:
    words = tuple(text.split())
    if not words:
        raise ValueError("--words is empty")
    return words


@dataclass(frozen=True)
class Sample:
    count: int = option(3, group="main", metavar="N", help="how many")
    limit: int | None = option(None, group="main", help="at most this")
    gib: float = option(0.5, group="main", flag="--mib", scale=1024, help="size in MiB")
    words: tuple[str, ...] = option(("a",), group="main", parse=_words, shown="a", help="words")
    loud: bool = option(False, group="main", help="shout")
    folder: Path = option(Path("out"), group="main", help="where")
    hidden: str = "not an option"


def _parse(*argv: str, defaults: dict[str, object] | None = None) -> Sample:
    parser = argparse.ArgumentParser(prog="t")
    add_options(parser, Sample, groups=GROUPS, defaults=defaults)
    return Sample(**values_from(Sample, parser.parse_args(argv)))


def test_options_not_given_keep_the_type_s_defaults() -> None:
    assert _parse() == Sample()


def test_given_options_are_read_into_the_field_s_type_and_unit() -> None:
    sample = _parse("--count", "7", "--limit", "2", "--mib", "2048", "--words", "x y", "--loud")
    assert sample == Sample(
        count=7, limit=2, gib=2.0, words=("x", "y"), loud=True, folder=Path("out")
    )


def test_a_command_s_own_default_replaces_the_type_s() -> None:
    assert _parse(defaults={"folder": Path("elsewhere")}).folder == Path("elsewhere")
    assert _parse("--folder", "x", defaults={"folder": Path("elsewhere")}).folder == Path("x")


def test_a_value_that_cannot_be_read_names_its_option() -> None:
    with pytest.raises(OptionError, match=r"^--mib 'lots': could not convert"):
        _parse("--mib", "lots")
    # a parser's own message that already names the option is kept as it is
    with pytest.raises(OptionError, match=r"^--words is empty$"):
        _parse("--words", " ")


def test_the_help_shows_each_default_in_the_option_s_unit() -> None:
    parser = argparse.ArgumentParser(prog="t")
    add_options(parser, Sample, groups=GROUPS)
    text = " ".join(parser.format_help().split())
    assert "--count N how many (default: 3)" in text
    assert "size in MiB (default: 512)" in text  # 0.5 GiB, shown in MiB
    assert "words (default: a)" in text
    assert "at most this (default" not in text  # None shows no default
    assert "--hidden" not in text


def test_a_field_of_a_type_without_a_reader_is_refused_when_the_parser_is_built() -> None:
    @dataclass(frozen=True)
    class Bad:
        codes: frozenset[int] = option(frozenset(), group="main", help="codes")

    with pytest.raises(TypeError, match=r"Bad\.codes: .* needs parse="):
        add_options(argparse.ArgumentParser(), Bad, groups=GROUPS)
