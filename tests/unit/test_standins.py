"""Every stand-in operation speaks AWS's wire format: it refuses what AWS refuses, and answers
what boto3 would hand back from AWS (``datetime`` timestamps, numbers as numbers, metadata)."""

from __future__ import annotations

import hashlib
import random
from datetime import datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError, ParamValidationError

from s3fargate.sim.bridge import Call, SimClient, run
from s3fargate.sim.dynamodb import DynamoDb
from s3fargate.sim.scenario import Scenario
from s3fargate.sim.sqs import Queue, lambda_record
from s3fargate.sim.world import World
from tests.aws import load_event
from tests.fakes import FakeEcs, client_error

TASK_DEFINITION = "arn:aws:ecs:sim:000000000000:task-definition/s3fargate:1"
RUN_TASK = {
    "cluster": "arn:aws:ecs:sim:000000000000:cluster/s3fargate",
    "taskDefinition": TASK_DEFINITION,
    "startedBy": "s3fargate-sim",
    "overrides": {
        "containerOverrides": [
            {"name": "task", "environment": [{"name": "S3_KEY", "value": "incoming/a"}]}
        ]
    },
    "clientToken": "token-1",
}
#: One valid and one invalid request for each simulated operation our code calls.
SIM_CALLS: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    ("ecs", "run_task", RUN_TASK, {**RUN_TASK, "count": "one"}),
    ("ecs", "list_tasks", {"cluster": "c", "startedBy": "s3fargate-sim"}, {"maxResults": "x"}),
    ("ecs", "describe_tasks", {"cluster": "c", "tasks": ["arn:t"]}, {"cluster": "c"}),
    ("sqs", "send_message", {"MessageBody": "{}"}, {"QueueUrl": "q"}),
    ("dynamodb", "get_item", {"TableName": "jobs", "Key": {"job_id": {"S": "j"}}}, {}),
    ("dynamodb", "scan", {"TableName": "jobs"}, {"TableName": 7}),
    ("sns", "publish", {"TopicArn": "arn:t", "Message": "m"}, {"TopicArn": "arn:t"}),
]


def _world() -> World:
    world = World(Scenario(uploads=1))
    world.dynamodb = DynamoDb("jobs")
    world.add_queue(Queue(world.env, "uploads", 60))
    return world


@pytest.mark.parametrize(("service", "operation", "valid", "invalid"), SIM_CALLS)
def test_simulated_clients_refuse_what_aws_refuses_and_answer_as_boto3(
    service: str, operation: str, valid: dict[str, Any], invalid: dict[str, Any]
) -> None:
    world = _world()
    if service == "sqs":  # the queue's URL is known once the world has it
        valid = {**valid, "QueueUrl": world.queues[0].url}
    client = SimClient(service, rng=random.Random(1))
    env = world.env
    # WHEN an invalid request is made, THEN it never leaves: botocore's ParamValidationError
    refused = env.process(
        run(env, world.perform, lambda _: 0.01, lambda: getattr(client, operation)(**invalid))
    )
    env.run()
    assert isinstance(refused.value.error, ParamValidationError)
    assert refused.value.calls == 0
    # WHEN a valid one is made, THEN the answer is parsed as boto3 parses the wire document
    process = env.process(
        run(env, world.perform, lambda _: 0.01, lambda: getattr(client, operation)(**valid))
    )
    env.run(until=env.now + 1)
    answer = process.value.result
    assert process.value.error is None, process.value.error
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_simulated_ecs_times_are_datetimes_and_events_keep_iso_strings() -> None:
    # GIVEN a simulated task that has run and stopped
    world = _world()
    events: list[dict[str, Any]] = []
    world.ecs.emit = events.append
    answer = world.perform(Call("ecs", "run_task", RUN_TASK))
    arn = answer["tasks"][0]["taskArn"]
    world.env.run(until=400)
    # WHEN DescribeTasks is asked
    described = world.perform(Call("ecs", "describe_tasks", {"cluster": "c", "tasks": [arn]}))
    (task,) = described["tasks"]
    # THEN times are datetimes and the version a number, as boto3 gives them from ECS
    for name in ("createdAt", "startedAt", "stoppedAt"):
        assert isinstance(task[name], datetime), name
    assert isinstance(task["version"], int)
    # AND the events of the same task carry ISO 8601 strings, as EventBridge delivers them
    assert events
    assert all(isinstance(e["detail"]["createdAt"], str) for e in events)
    assert events[-1]["detail"]["stoppedAt"].endswith("Z")


def test_simulated_errors_are_client_errors_as_botocore_parses_them() -> None:
    world = _world()
    with pytest.raises(ClientError) as info:
        world.perform(Call("dynamodb", "get_item", {"TableName": "other", "Key": {}}))
    error = info.value.response
    assert error["Error"]["Code"] == "ResourceNotFoundException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["ResponseMetadata"]["RequestId"]


def test_the_test_fake_ecs_validates_and_answers_as_boto3() -> None:
    ecs = FakeEcs(active_tasks=150)
    # THEN an invalid request is refused as botocore refuses it
    with pytest.raises(ParamValidationError):
        ecs.run_task(cluster="c")
    # AND RunTask and ListTasks pages come back parsed
    answer = ecs.run_task(**RUN_TASK)
    assert answer["tasks"][0]["taskArn"].startswith("arn:aws:ecs:")
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    pages = list(ecs.get_paginator("list_tasks").paginate(cluster="c"))
    assert [len(p["taskArns"]) for p in pages] == [100, 50]
    # AND its errors carry what botocore parses from an error answer
    error = client_error("ThrottlingException", "Rate exceeded").response
    assert error["Error"] == {"Code": "ThrottlingException", "Message": "Rate exceeded"}
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_the_simulated_event_source_hands_records_shaped_as_lambda_documents_them() -> None:
    # GIVEN a message received from a simulated queue
    world = _world()
    (queue,) = world.queues
    queue.send('{"Records": []}')
    (message,) = queue.receive(1)
    # WHEN the event source turns it into a record
    record = lambda_record(queue, message)
    # THEN it has the documented record's fields and attributes, all strings, and the body's MD5
    documented = load_event("sqs-batch-s3-notifications")["Records"][0]
    assert set(record) == set(documented)
    assert set(record["attributes"]) == set(documented["attributes"])
    assert all(isinstance(v, str) for v in record["attributes"].values())
    assert record["md5OfBody"] == hashlib.md5(b'{"Records": []}', usedforsecurity=False).hexdigest()
