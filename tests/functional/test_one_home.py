"""One home for each contract: ECS's vocabulary is written out in one module of the package."""

from __future__ import annotations

from pathlib import Path

import pytest

from s3fargate.events.ecs import ECS_SOURCE, OOM_REASON, TASK_STATE_CHANGE, StopCode

SOURCE = Path(__file__).resolve().parents[2] / "src" / "s3fargate"
HOME = SOURCE / "events" / "ecs.py"


@pytest.mark.parametrize(
    "word", [*(f'"{code.value}"' for code in StopCode), f'"{TASK_STATE_CHANGE}"', f'"{ECS_SOURCE}"']
)
def test_each_stop_code_and_event_name_is_written_out_once(word: str) -> None:
    found = [
        str(path.relative_to(SOURCE))
        for path in SOURCE.rglob("*.py")
        if word in path.read_text(encoding="utf-8")
    ]
    assert found == [str(HOME.relative_to(SOURCE))], f"{word} is written out in {found}"


def test_the_out_of_memory_reason_is_written_out_once() -> None:
    found = [
        path.name for path in SOURCE.rglob("*.py") if OOM_REASON in path.read_text(encoding="utf-8")
    ]
    assert found == [HOME.name]
