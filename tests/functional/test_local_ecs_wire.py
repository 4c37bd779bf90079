"""The local ECS stand-in speaks ECS's wire format: requests validated as botocore validates
them, answers parsed as boto3 parses ECS's; its events stay EventBridge's JSON."""

from __future__ import annotations

import sys
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ParamValidationError

from s3fargate.local.config import LocalConfig
from s3fargate.local.ecs import LOCAL_CLUSTER_ARN, LOCAL_TASK_DEFINITION_ARN, LocalEcs
from s3fargate.local.tasks import ProcessBackend
from tests.devserver import wait_for

if TYPE_CHECKING:
    from pathlib import Path


def _request(token: str) -> dict[str, Any]:
    return {
        "cluster": LOCAL_CLUSTER_ARN,
        "taskDefinition": LOCAL_TASK_DEFINITION_ARN,
        "startedBy": "s3fargate-local",
        "clientToken": token,
        "overrides": {
            "containerOverrides": [
                {"name": "task", "environment": [{"name": "S3_KEY", "value": "incoming/a b"}]}
            ]
        },
    }


def _local_ecs(tmp_path: Path, emit: Any, **options: Any) -> LocalEcs:
    """The stand-in, with a task command that exits at once."""
    config = LocalConfig(task_cmd=(sys.executable, "-c", "pass"), run_dir=tmp_path, **options)
    return LocalEcs(
        config=config,
        backend=ProcessBackend.for_config(config, endpoint="http://127.0.0.1:9", embedded=True),
        emit=emit,
        logs_dir=tmp_path / "logs",
        tokens_file=tmp_path / "tokens.jsonl",
    )


def test_local_ecs_answers_as_boto3_hands_back_ecs_answers(tmp_path: Path) -> None:
    # GIVEN the stand-in, with a task command that exits at once
    events: list[dict[str, Any]] = []
    lock = threading.Lock()

    def emit(event: dict[str, Any]) -> None:
        with lock:
            events.append(event)

    ecs = _local_ecs(tmp_path, emit)
    try:
        # WHEN a request AWS would refuse is made, THEN it is refused before anything starts
        with pytest.raises(ParamValidationError, match="taskDefinition"):
            ecs.run_task(cluster=LOCAL_CLUSTER_ARN)
        with pytest.raises(ParamValidationError):
            ecs.describe_tasks(cluster=LOCAL_CLUSTER_ARN)
        # WHEN a task is run, THEN the answer is RunTask's, parsed (datetime, metadata)
        answer = ecs.run_task(**_request("token-1"))
        (task,) = answer["tasks"]
        assert isinstance(task["createdAt"], datetime)
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
        arn = task["taskArn"]
        # AND the same token answers with the same task
        assert ecs.run_task(**_request("token-1"))["tasks"][0]["taskArn"] == arn

        def stopped() -> bool:
            with lock:
                return any(e["detail"]["lastStatus"] == "STOPPED" for e in events)

        wait_for(stopped, 30, "the task's STOPPED event")
        # THEN DescribeTasks gives datetimes, an unknown task is MISSING
        described = ecs.describe_tasks(cluster=LOCAL_CLUSTER_ARN, tasks=[arn, f"{arn}-gone"])
        (known,) = described["tasks"]
        assert known["lastStatus"] == "STOPPED"
        for name in ("createdAt", "startedAt", "stoppedAt"):
            assert isinstance(known[name], datetime), name
        assert described["failures"] == [{"arn": f"{arn}-gone", "reason": "MISSING"}]
        # AND ListTasks, through botocore's paginator, no longer lists it
        pages = ecs.get_paginator("list_tasks").paginate(cluster=LOCAL_CLUSTER_ARN)
        assert [a for p in pages for a in p["taskArns"]] == []
        # AND the events carry ISO 8601 strings, as EventBridge delivers them
        with lock:
            assert all(isinstance(e["detail"]["createdAt"], str) for e in events)
            assert all(e["time"].endswith("Z") for e in events)
    finally:
        ecs.stop_all(5)
        ecs.close()


def test_local_ecs_forgets_a_stopped_task_as_ecs_does(tmp_path: Path) -> None:
    # GIVEN a stand-in that forgets stopped tasks at once (ECS: after about an hour)
    stopped = threading.Event()

    def emit(event: dict[str, Any]) -> None:
        if event["detail"]["lastStatus"] == "STOPPED":
            stopped.set()

    ecs = _local_ecs(tmp_path, emit, forget_stopped_after_s=0)
    try:
        arn = ecs.run_task(**_request("token-2"))["tasks"][0]["taskArn"]
        wait_for(stopped.is_set, 30, "the task to stop")
        # WHEN DescribeTasks asks for it, THEN ECS no longer knows it
        answer = ecs.describe_tasks(cluster=LOCAL_CLUSTER_ARN, tasks=[arn])
        assert answer["tasks"] == []
        assert answer["failures"] == [{"arn": arn, "reason": "MISSING"}]
    finally:
        ecs.stop_all(5)
        ecs.close()
