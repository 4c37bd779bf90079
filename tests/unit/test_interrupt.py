"""Ctrl-C in the local pipeline's commands: the first stops, later ones hurry, none is lost."""

from __future__ import annotations

import contextlib
import io

import pytest
from rich.console import Console

from s3fargate.local.app import Interrupt


def _interrupt() -> tuple[Interrupt, list[str], io.StringIO]:
    out = io.StringIO()
    interrupt = Interrupt(Console(file=out))
    hurried: list[str] = []
    interrupt.on_repeat(lambda: hurried.append("hurry"))
    return interrupt, hurried, out


def test_the_first_ctrl_c_raises_and_later_ones_hurry_without_raising() -> None:
    interrupt, hurried, out = _interrupt()
    # WHEN Ctrl-C comes once, THEN it interrupts
    with pytest.raises(KeyboardInterrupt):
        interrupt.signalled()
    assert hurried == []
    # WHEN it comes again while stopping, THEN it hurries the stop and says so, never
    # aborting the stop itself
    interrupt.signalled()
    interrupt.signalled()
    assert hurried == ["hurry", "hurry"]
    assert "stopping now" in out.getvalue()


def test_a_ctrl_c_swallowed_on_its_way_is_still_seen_by_the_loops() -> None:
    interrupt, _, _ = _interrupt()
    interrupt.check()  # nothing requested: no exception
    # GIVEN a Ctrl-C whose exception some library caught and dropped
    with contextlib.suppress(KeyboardInterrupt):
        interrupt.signalled()
    # THEN the next check, or wait, raises it again (a wait of an hour returns at once)
    with pytest.raises(KeyboardInterrupt):
        interrupt.check()
    with pytest.raises(KeyboardInterrupt):
        interrupt.wait(3600)
