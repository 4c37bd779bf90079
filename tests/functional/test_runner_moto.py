"""The runner handler against a moto server: tasks carry the exact decoded keys."""

from __future__ import annotations

import importlib
import io
import json
import sys
import uuid
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from aws_lambda_powertools.logging import logger as powertools_logger

from s3fargate.ledger import JobStatus
from tests.builders import (
    TRICKY_KEYS,
    encode_key,
    lambda_context,
    s3_notification,
    sqs_event,
    sqs_record,
)
from tests.functional.conftest import moto_launch_target, new_ledger

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def ecs_world(moto_endpoint: str) -> dict[str, str]:
    """VPC, subnet, security group, cluster and a Fargate task definition in moto."""
    target = moto_launch_target(moto_endpoint, f"c-{uuid.uuid4().hex[:8]}")
    return {**target, "AWS_ENDPOINT_URL": moto_endpoint}


@pytest.fixture
def handler_module(ecs_world: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The real Lambda module, imported fresh (cold start) with the world's configuration."""
    for name, value in ecs_world.items():
        monkeypatch.setenv(name, value)
    # A new Lambda environment is a new process: Powertools' cold-start flag starts True.
    monkeypatch.setattr(powertools_logger, "is_cold_start", True)
    sys.modules.pop("s3fargate.taskrunner.handler", None)
    yield importlib.import_module("s3fargate.taskrunner.handler")
    sys.modules.pop("s3fargate.taskrunner.handler", None)


def _tasks(ecs_world: dict[str, str]) -> list[dict[str, Any]]:
    ecs = boto3.client("ecs", endpoint_url=ecs_world["AWS_ENDPOINT_URL"])
    arns = ecs.list_tasks(cluster=ecs_world["CLUSTER_ARN"])["taskArns"]
    if not arns:
        return []
    return ecs.describe_tasks(cluster=ecs_world["CLUSTER_ARN"], tasks=arns, include=["TAGS"])[
        "tasks"
    ]


def _env(task: dict[str, Any]) -> dict[str, str]:
    override = task["overrides"]["containerOverrides"][0]
    assert override["name"] == "task"
    return {e["name"]: e["value"] for e in override["environment"]}


def test_handler_launches_one_task_per_object_with_exact_decoded_keys(
    handler_module: Any, ecs_world: dict[str, str]
) -> None:
    # GIVEN an SQS batch of S3 notifications for tricky keys, encoded as moto encodes them
    records = [
        sqs_record(
            s3_notification(key, raw_key=encode_key(key, encode_slash=True), bucket="inbox"),
            message_id=f"m{i}",
        )
        for i, key in enumerate(TRICKY_KEYS)
    ]
    # WHEN the Lambda handler runs
    response = handler_module.handler(sqs_event(*records), lambda_context())
    # THEN every record succeeded and each task carries the exact, decoded key
    assert response == {"batchItemFailures": []}
    tasks = _tasks(ecs_world)
    assert sorted(_env(t)["S3_KEY"] for t in tasks) == sorted(TRICKY_KEYS)
    for task in tasks:
        env = _env(task)
        assert env["S3_BUCKET"] == "inbox"
        assert env["S3_SIZE"] == "1024"
        assert env["S3_ETAG"] == "d41d8cd98f00b204e9800998ecf8427e"
        assert env["S3_VERSION_ID"] == "096fKKXTRTtl3on89fVO.nfljtsv6qko"
        assert task["launchType"] == "FARGATE"
        assert task["startedBy"] == "s3fargate"
        assert task["taskDefinitionArn"] == ecs_world["TASK_DEFINITION_ARN"]
        tags = {t["key"]: t["value"] for t in task.get("tags", [])}
        assert tags["s3fargate:bucket"] == "inbox"
        assert tags["s3fargate:key"]


def test_handler_logs_carry_the_request_id_and_cold_start(handler_module: Any) -> None:
    # GIVEN a freshly imported handler whose JSON log lines we read
    out = io.StringIO()
    # Assigned, not setStream(): the handler is shared by logger name, and an earlier test may
    # have left it a stream that is closed now (setStream would flush it).
    handler_module.logger.registered_handler.stream = out
    # WHEN it is invoked twice
    first, second = lambda_context(), lambda_context()
    for context, key in ((first, "incoming/one.csv"), (second, "incoming/two.csv")):
        event = sqs_event(sqs_record(s3_notification(key), message_id=key))
        assert handler_module.handler(event, context) == {"batchItemFailures": []}
    # THEN each "launched" line names its invocation, and only the first is a cold start
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line]
    launched = {line["key"]: line for line in lines if line.get("outcome") == "launched"}
    assert launched["incoming/one.csv"]["function_request_id"] == first.aws_request_id
    assert launched["incoming/one.csv"]["cold_start"] is True
    assert launched["incoming/two.csv"]["function_request_id"] == second.aws_request_id
    assert launched["incoming/two.csv"]["cold_start"] is False


def test_handler_sends_the_configured_network(
    handler_module: Any, ecs_world: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # moto does not echo awsvpcConfiguration back, so capture what goes over the wire.
    sent: list[dict[str, Any]] = []
    client = handler_module.runner._ecs
    client.meta.events.register(
        "provide-client-params.ecs.RunTask", lambda params, **_: sent.append(dict(params))
    )
    event = sqs_event(sqs_record(s3_notification("incoming/net.csv"), message_id="n"))
    assert handler_module.handler(event, lambda_context()) == {"batchItemFailures": []}
    assert sent[0]["networkConfiguration"] == {
        "awsvpcConfiguration": {
            "subnets": [ecs_world["SUBNETS"]],
            "securityGroups": [ecs_world["SECURITY_GROUPS"]],
            "assignPublicIp": "ENABLED",
        }
    }
    assert len(_tasks(ecs_world)) == 1


def test_folder_markers_and_test_events_start_nothing_in_moto(
    handler_module: Any, ecs_world: dict[str, str]
) -> None:
    event = sqs_event(
        sqs_record(s3_notification("incoming/dir/", size=0), message_id="f"),
        sqs_record({"Event": "s3:TestEvent", "Bucket": "inbox"}, message_id="t"),
    )
    assert handler_module.handler(event, lambda_context()) == {"batchItemFailures": []}
    assert _tasks(ecs_world) == []


def test_running_task_cap_against_moto(
    ecs_world: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_RUNNING_TASKS", "2")
    for name, value in ecs_world.items():
        monkeypatch.setenv(name, value)
    sys.modules.pop("s3fargate.taskrunner.handler", None)
    module = importlib.import_module("s3fargate.taskrunner.handler")
    try:
        keys = [f"incoming/{i}.csv" for i in range(3)]
        event = sqs_event(*(sqs_record(s3_notification(k), message_id=k) for k in keys))
        response = module.handler(event, lambda_context())
        assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == ["incoming/2.csv"]
        # The next batch sees the two tasks via ListTasks(startedBy) and launches nothing.
        response = module.handler(
            sqs_event(sqs_record(s3_notification("incoming/3.csv"), message_id="x")),
            lambda_context(),
        )
        assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == ["x"]
        assert len(_tasks(ecs_world)) == 2
    finally:
        sys.modules.pop("s3fargate.taskrunner.handler", None)


def test_runner_records_pending_and_parks_what_the_cap_refuses(
    ecs_world: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a runner with a ledger, a cap of one task and a queue that dead-letters at 3
    store = new_ledger(boto3.client("dynamodb", endpoint_url=ecs_world["AWS_ENDPOINT_URL"]))
    table = store.table
    env = {**ecs_world, "JOBS_TABLE": table, "MAX_RUNNING_TASKS": "1", "MAX_RECEIVE_COUNT": "3"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    sys.modules.pop("s3fargate.taskrunner.handler", None)
    module = importlib.import_module("s3fargate.taskrunner.handler")
    try:
        first = sqs_record(s3_notification("incoming/first.csv"), message_id="m1")
        second = sqs_record(s3_notification("incoming/second.csv"), message_id="m2")
        last_try = sqs_record(s3_notification("incoming/third.csv"), message_id="m3")
        last_try["attributes"]["ApproximateReceiveCount"] = "3"
        # WHEN one batch launches the first and the cap refuses the others
        response = module.handler(sqs_event(first, second, last_try), lambda_context())
        # THEN no message comes back: the first is pending, the others wait in the waiting
        # room (even the one on its last receive: waiting for the cap is not a failure)
        assert response["batchItemFailures"] == []
        rows = {job.key: job for job in store.jobs()}
        assert rows["incoming/first.csv"].status is JobStatus.PENDING
        assert rows["incoming/first.csv"].task_arn == _tasks(ecs_world)[0]["taskArn"]
        for key in ("incoming/second.csv", "incoming/third.csv"):
            assert (rows[key].status, rows[key].parked) == (JobStatus.WAITING, True)
            assert "max_running_tasks=1" in (rows[key].reason or "")
        assert [j.key for j in store.parked_jobs(5)] == [
            "incoming/second.csv",
            "incoming/third.csv",
        ]
        # AND the task carries its job id and attempt for the tracker
        env_of_task = _env(_tasks(ecs_world)[0])
        assert env_of_task["S3FARGATE_JOB_ID"] == rows["incoming/first.csv"].job_id
        assert env_of_task["S3FARGATE_ATTEMPT"] == "1"
    finally:
        sys.modules.pop("s3fargate.taskrunner.handler", None)


def test_runner_records_waiting_then_dead_lettered_when_launches_fail(
    ecs_world: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a runner with a ledger whose task definition ECS does not know
    store = new_ledger(boto3.client("dynamodb", endpoint_url=ecs_world["AWS_ENDPOINT_URL"]))
    table = store.table
    env = {
        **ecs_world,
        "JOBS_TABLE": table,
        "MAX_RECEIVE_COUNT": "3",
        "TASK_DEFINITION_ARN": "arn:aws:ecs:us-east-1:123456789012:task-definition/missing:9",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    sys.modules.pop("s3fargate.taskrunner.handler", None)
    module = importlib.import_module("s3fargate.taskrunner.handler")
    try:
        early = sqs_record(s3_notification("incoming/second.csv"), message_id="m2")
        last_try = sqs_record(s3_notification("incoming/third.csv"), message_id="m3")
        last_try["attributes"]["ApproximateReceiveCount"] = "3"
        # WHEN both fail to launch
        response = module.handler(sqs_event(early, last_try), lambda_context())
        # THEN both come back; the ledger says which waits and which went to the DLQ
        assert sorted(f["itemIdentifier"] for f in response["batchItemFailures"]) == ["m2", "m3"]
        rows = {job.key: job for job in store.jobs()}
        assert (rows["incoming/second.csv"].status, rows["incoming/second.csv"].parked) == (
            JobStatus.WAITING,
            False,
        )
        assert rows["incoming/third.csv"].status is JobStatus.DEAD_LETTERED
    finally:
        sys.modules.pop("s3fargate.taskrunner.handler", None)
