"""ECS task-state-change events, in the shapes AWS documents, as typed records."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from s3fargate.events import MalformedEventError
from s3fargate.events.ecs import parse_task_state_change
from tests.builders import ecs_event, ecs_event_names


def _ms(iso: str) -> int:
    return round(datetime.fromisoformat(iso).timestamp() * 1000)


@pytest.mark.parametrize("name", ecs_event_names())
def test_every_corpus_event_parses_with_its_job(name: str) -> None:
    change = parse_task_state_change(ecs_event(name))
    assert change.task_arn.startswith("arn:aws:ecs:eu-west-1:111122223333:task/")
    assert change.job_id == "5d2c1f0e9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d"
    assert change.attempt == 1
    assert change.environment["S3_KEY"] == "incoming/red flower ü.jpg"
    assert change.container_name == "task"


def test_stopped_event_fields() -> None:
    change = parse_task_state_change(ecs_event("fargate-stopped-oom"))
    assert change.stopped
    assert change.version == 5
    assert change.stop_code == "EssentialContainerExited"
    assert change.exit_code == 137
    assert change.container_reason == "OutOfMemoryError: Container killed due to memory usage"
    # Times in epoch milliseconds, read from the event's ISO 8601 strings.
    assert change.started_at == _ms("2026-11-29T10:15:40.118+00:00")
    assert change.stopped_at == _ms("2026-11-29T10:16:52.331+00:00")


def test_task_that_never_started_has_no_exit_code() -> None:
    change = parse_task_state_change(ecs_event("fargate-task-failed-to-start"))
    assert change.stop_code == "TaskFailedToStart"
    assert change.exit_code is None
    assert change.started_at is None
    assert "CannotPullContainerError" in (change.stopped_reason or "")


def test_spot_capacity_provider_is_read() -> None:
    assert parse_task_state_change(ecs_event("spot-interruption")).capacity_provider == (
        "FARGATE_SPOT"
    )


def test_sqs_body_string_is_accepted() -> None:
    body = json.dumps(ecs_event("fargate-running"))
    assert parse_task_state_change(body, message_id="m").last_status == "RUNNING"


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        ("{not json", "not JSON"),
        ({"source": "aws.s3", "detail-type": "Object Created", "detail": {}}, "not an ECS Task"),
        ({"source": "aws.ecs", "detail-type": "ECS Task State Change", "detail": {}}, "taskArn"),
        ([1, 2], "JSON object"),
    ],
)
def test_other_payloads_are_malformed_and_name_the_message(payload: object, match: str) -> None:
    with pytest.raises(MalformedEventError, match=match) as info:
        parse_task_state_change(payload, message_id="msg-9")
    assert info.value.message_id == "msg-9"
