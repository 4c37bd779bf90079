"""The tracker and reconciler Lambda handlers against DynamoDB, SQS and SNS on the moto server."""

from __future__ import annotations

import importlib
import json
import sys
import time
import uuid
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from s3fargate.ledger import JobStatus, Launched, LedgerStore, ObjectRef, Waiting
from s3fargate.local.resources import create_jobs_table
from tests.builders import ecs_event, lambda_context, sqs_event, sqs_record
from tests.functional.conftest import moto_launch_target

if TYPE_CHECKING:
    from collections.abc import Iterator

CLUSTER = "arn:aws:ecs:eu-west-1:111122223333:cluster/s3fargate-cluster"
ARN = "arn:aws:ecs:eu-west-1:111122223333:task/s3fargate-cluster/c9f8a1b2d3e44f5a9b8c7d6e5f4a3b2c"
REF = ObjectRef(bucket="example-inbox", key="incoming/red flower ü.jpg", size=1024)


@pytest.fixture
def world(moto_endpoint: str) -> dict[str, str]:
    """A jobs table, the runner's queue, a topic and a queue subscribed to it (to read it)."""
    suffix = uuid.uuid4().hex[:8]
    dynamodb = boto3.client("dynamodb", endpoint_url=moto_endpoint)
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint)
    sns = boto3.client("sns", endpoint_url=moto_endpoint)
    table = f"jobs-{suffix}"
    create_jobs_table(dynamodb, table)
    queue = sqs.create_queue(QueueName=f"runner-{suffix}")["QueueUrl"]
    inbox = sqs.create_queue(QueueName=f"inbox-{suffix}")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    topic = sns.create_topic(Name=f"topic-{suffix}")["TopicArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=inbox_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    return {
        "JOBS_TABLE": table,
        "QUEUE_URL": queue,
        "CLUSTER_ARN": CLUSTER,
        "PIPELINE_ID": "s3fargate",
        "CONTAINER_NAME": "task",
        "NOTIFICATION_TOPIC_ARN": topic,
        "MAX_ATTEMPTS": "2",
        "RETRY_DELAY_S": "0",
        "RECONCILE_AFTER_S": "1",
        "AWS_ENDPOINT_URL": moto_endpoint,
        "inbox": inbox,
    }


@pytest.fixture
def tracker_module(world: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in world.items():
        monkeypatch.setenv(name, value)
    sys.modules.pop("s3fargate.tracker.handler", None)
    yield importlib.import_module("s3fargate.tracker.handler")
    sys.modules.pop("s3fargate.tracker.handler", None)


def _store(world: dict[str, str]) -> LedgerStore:
    dynamodb = boto3.client("dynamodb", endpoint_url=world["AWS_ENDPOINT_URL"])
    return LedgerStore(dynamodb=dynamodb, table=world["JOBS_TABLE"])


def _messages(world: dict[str, str], queue: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", endpoint_url=world["AWS_ENDPOINT_URL"])
    messages = sqs.receive_message(QueueUrl=world[queue], MaxNumberOfMessages=10).get(
        "Messages", []
    )
    return [json.loads(m["Body"]) for m in messages]


def _deliver(module: Any, *names: str, job: str = "job-1", attempt: int = 1) -> dict[str, Any]:
    records = [
        sqs_record(ecs_event(name, job_id=job, attempt=attempt, task_arn=ARN), message_id=name)
        for name in names
    ]
    return dict(module.handler(sqs_event(*records), lambda_context()))


def test_spot_interruption_queues_the_next_attempt(
    tracker_module: Any, world: dict[str, str]
) -> None:
    # GIVEN a job the runner launched
    _store(world).apply("job-1", Launched(REF, 1, ARN))
    # WHEN ECS reports it running, then interrupted by Spot
    response = _deliver(tracker_module, "fargate-running", "spot-interruption")
    # THEN the job is retrying, and the runner's queue holds a request for attempt 2
    assert response == {"batchItemFailures": []}
    row = _store(world).get("job-1")
    assert row is not None
    assert row.status is JobStatus.RETRYING
    assert row.stop_code == "SpotInterruption"
    [request] = _messages(world, "QUEUE_URL")
    assert request["s3fargate"] == "retry"
    assert (request["job_id"], request["attempt"], request["key"]) == (
        "job-1",
        2,
        "incoming/red flower ü.jpg",
    )


def test_failed_job_is_announced_with_its_log_stream(
    tracker_module: Any, world: dict[str, str]
) -> None:
    _store(world).apply("job-1", Launched(REF, 1, ARN))
    _deliver(tracker_module, "fargate-stopped-exit-1")
    row = _store(world).get("job-1")
    assert row is not None
    assert row.status is JobStatus.FAILED
    [notice] = _messages(world, "inbox")
    assert notice["status"] == "failed"
    assert notice["key"] == "incoming/red flower ü.jpg"
    assert notice["exit_code"] == 1
    assert notice["log_stream"] == "task/task/c9f8a1b2d3e44f5a9b8c7d6e5f4a3b2c"
    assert _messages(world, "QUEUE_URL") == []


def test_duplicates_and_out_of_order_events_change_nothing_more(
    tracker_module: Any, world: dict[str, str]
) -> None:
    _store(world).apply("job-1", Launched(REF, 1, ARN))
    _deliver(tracker_module, "fargate-stopped-exit-0", "fargate-running", "fargate-stopped-exit-0")
    row = _store(world).get("job-1")
    assert row is not None
    assert row.status is JobStatus.SUCCEEDED
    # The task wrote no result document (none is in the bucket): the ledger names none.
    assert row.result_key is None
    assert row.reason == "succeeded without a result document"
    assert _messages(world, "inbox") == []


@pytest.mark.parametrize("name", ["foreign-cluster-stopped", "foreign-pipeline-stopped"])
def test_other_pipelines_tasks_are_ignored(
    tracker_module: Any, world: dict[str, str], name: str
) -> None:
    response = _deliver(tracker_module, name)
    assert response == {"batchItemFailures": []}
    assert _store(world).get("job-1") is None


def test_unreadable_record_fails_alone(tracker_module: Any, world: dict[str, str]) -> None:
    _store(world).apply("job-1", Launched(REF, 1, ARN))
    event = sqs_event(
        sqs_record("not json", message_id="bad"),
        sqs_record(ecs_event("fargate-running", job_id="job-1", task_arn=ARN), message_id="ok"),
    )
    response = tracker_module.handler(event, lambda_context())
    assert response == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
    row = _store(world).get("job-1")
    assert row is not None
    assert row.status is JobStatus.RUNNING


def test_reconciler_retries_a_task_ecs_no_longer_knows(
    tracker_module: Any, world: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a running job whose events stopped arriving, on a clock two seconds later
    ecs = boto3.client("ecs", endpoint_url=world["AWS_ENDPOINT_URL"])
    ecs.create_cluster(clusterName=CLUSTER.rsplit("/", 1)[1])
    store = _store(world)
    store.apply("job-1", Launched(REF, 1, ARN))
    _deliver(tracker_module, "fargate-running")
    row = store.get("job-1")
    assert row is not None
    monkeypatch.setattr(tracker_module.reconciler, "_clock", lambda: row.updated_at + 2000)
    # WHEN the reconciler runs (moto's ECS does not know the task)
    report = tracker_module.reconcile({}, lambda_context())
    # THEN the job is lost, retried, and a request for attempt 2 is queued
    assert report == {
        "checked": 1,
        "stopped": 0,
        "lost": 1,
        "requeued": 0,
        "released": 0,
        "resumed": 0,
    }
    after = store.get("job-1")
    assert after is not None
    assert after.status is JobStatus.RETRYING
    assert after.stop_code == "TaskLost"
    assert [m["attempt"] for m in _messages(world, "QUEUE_URL")] == [2]


def test_with_a_cap_a_stopped_task_launches_the_longest_parked_job(
    world: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a tracker with the runner's launch configuration (a cap), as the construct sets it,
    # ECS (moto) with the cluster and task definition, a running job and two parked ones
    ecs = boto3.client("ecs", endpoint_url=world["AWS_ENDPOINT_URL"])
    target = moto_launch_target(world["AWS_ENDPOINT_URL"], CLUSTER.rsplit("/", 1)[1])
    launch = {**target, "CLUSTER_ARN": CLUSTER, "MAX_RUNNING_TASKS": "1"}
    for name, value in {**world, **launch}.items():
        monkeypatch.setenv(name, value)
    sys.modules.pop("s3fargate.tracker.handler", None)
    module = importlib.import_module("s3fargate.tracker.handler")
    try:
        store = _store(world)
        store.apply("job-1", Launched(REF, 1, ARN))
        for n in (2, 3):
            ref = ObjectRef(bucket="example-inbox", key=f"incoming/waiting {n}.csv", size=n)
            store.apply(f"job-{n}", Waiting(ref, 1, "cap", parked=True))
        # WHEN job-1's task stops
        assert _deliver(module, "fargate-stopped-exit-0") == {"batchItemFailures": []}
        # THEN the longest-waiting parked job runs in its slot, with its own job id and token
        released = store.get("job-2")
        assert released is not None
        assert (released.status, released.parked, released.attempts) == (
            JobStatus.PENDING,
            False,
            1,
        )
        (task,) = ecs.describe_tasks(cluster=CLUSTER, tasks=[released.task_arn or ""])["tasks"]
        overrides = task["overrides"]["containerOverrides"][0]["environment"]
        env = {e["name"]: e["value"] for e in overrides}
        assert (env["S3_KEY"], env["S3FARGATE_JOB_ID"]) == ("incoming/waiting 2.csv", "job-2")
        still = store.get("job-3")
        assert still is not None
        assert (still.status, still.parked) == (JobStatus.WAITING, True)
    finally:
        sys.modules.pop("s3fargate.tracker.handler", None)


def test_a_failed_job_s_reason_quotes_the_end_of_its_task_s_log(
    world: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the task's awslogs stream in CloudWatch Logs, ending with the SDK's error line
    logs = boto3.client("logs", endpoint_url=world["AWS_ENDPOINT_URL"])
    group = f"tasks-{uuid.uuid4().hex[:8]}"
    stream = "task/task/c9f8a1b2d3e44f5a9b8c7d6e5f4a3b2c"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    error = {
        "level": "ERROR",
        "message": "processing failed: ValueError: bad row 7",
        "failure": "ValueError: bad row 7",
        "exit_code": 1,
    }
    now = int(time.time() * 1000)  # CloudWatch refuses events older than 14 days
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[
            {"timestamp": now - 1, "message": '{"level":"INFO","message":"start"}'},
            {"timestamp": now, "message": json.dumps(error)},
        ],
    )
    for name, value in {**world, "TASK_LOG_GROUP": group}.items():
        monkeypatch.setenv(name, value)
    sys.modules.pop("s3fargate.tracker.handler", None)
    module = importlib.import_module("s3fargate.tracker.handler")
    try:
        _store(world).apply("job-1", Launched(REF, 1, ARN))
        # WHEN ECS reports the task stopped with exit code 1
        _deliver(module, "fargate-stopped-exit-1")
    finally:
        sys.modules.pop("s3fargate.tracker.handler", None)
    # THEN the job's reason says why, in the task's own words
    row = _store(world).get("job-1")
    assert row is not None
    assert row.status is JobStatus.FAILED
    assert row.reason == "exited with code 1: ValueError: bad row 7"
