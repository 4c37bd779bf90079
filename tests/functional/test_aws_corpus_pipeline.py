"""The runner, the tracker and the reconciler on AWS's own documents (tests/aws/): ECS answers
as boto3 parses them from the wire, events as AWS delivers them; DynamoDB, SQS and SNS on the
moto server."""

from __future__ import annotations

import dataclasses
import json
import uuid
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from s3fargate.events.ecs import parse_task_state_change
from s3fargate.lambda_runtime.paginators import list_tasks_paginator
from s3fargate.lambda_runtime.settings import Function, PipelineSettings
from s3fargate.ledger import JobStatus, Launched, LedgerStore, ObjectRef
from s3fargate.local.resources import create_jobs_table
from s3fargate.taskrunner.factory import build_runner
from s3fargate.tracker.factory import build_tracker
from tests.aws import load_event, load_response, validate_request
from tests.builders import lambda_context, sqs_event, sqs_record

if TYPE_CHECKING:
    from collections.abc import Callable

CLUSTER = "arn:aws:ecs:eu-west-1:111122223333:cluster/s3fargate-cluster"


class CorpusEcs:
    """ECS answering from the corpus: each call validated as botocore validates it, each
    answer a corpus response as boto3 parses it."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self._answers = {operation: list(names) for operation, names in answers.items()}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _answer(self, operation: str, wire_name: str, request: dict[str, Any]) -> Any:
        validate_request("ecs", wire_name, request)
        self.calls.append((operation, request))
        return load_response(self._answers[operation].pop(0))

    def run_task(self, **request: Any) -> Any:
        return self._answer("run_task", "RunTask", request)

    def list_tasks(self, **request: Any) -> Any:
        return self._answer("list_tasks", "ListTasks", request)

    def describe_tasks(self, **request: Any) -> Any:
        return self._answer("describe_tasks", "DescribeTasks", request)

    def get_paginator(self, operation: str) -> Any:
        assert operation == "list_tasks"
        return list_tasks_paginator(self.list_tasks)


@pytest.fixture
def settings(moto_endpoint: str) -> PipelineSettings:
    suffix = uuid.uuid4().hex[:8]
    dynamodb = boto3.client("dynamodb", endpoint_url=moto_endpoint)
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint)
    sns = boto3.client("sns", endpoint_url=moto_endpoint)
    table = f"jobs-{suffix}"
    create_jobs_table(dynamodb, table)
    return PipelineSettings(
        cluster_arn=CLUSTER,
        task_definition_arn="arn:aws:ecs:eu-west-1:111122223333:task-definition/s3fargate:7",
        container_name="task",
        subnets=("subnet-0b2c3d4e5f6071829",),
        security_groups=("sg-0a1b2c3d4e5f60718",),
        jobs_table=table,
        queue_url=sqs.create_queue(QueueName=f"runner-{suffix}")["QueueUrl"],
        notification_topic_arn=sns.create_topic(Name=f"topic-{suffix}")["TopicArn"],
        max_attempts=3,
        retry_delay_s=0,
        reconcile_after_s=1,
        job_ttl_days=7,
    )


def _clients(endpoint: str, ecs: CorpusEcs) -> Callable[[str], Any]:
    def client(service: str) -> Any:
        return ecs if service == "ecs" else boto3.client(service, endpoint_url=endpoint)

    return client


def _store(settings: PipelineSettings, endpoint: str) -> LedgerStore:
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint)
    return LedgerStore(dynamodb=dynamodb, table=settings.jobs_table or "", policy=settings.policy)


def _job_of(task: dict[str, Any]) -> tuple[str, ObjectRef]:
    env = {
        e["name"]: e["value"]
        for o in task["overrides"]["containerOverrides"]
        for e in o.get("environment", [])
    }
    ref = ObjectRef(bucket=env["S3_BUCKET"], key=env["S3_KEY"], size=int(env["S3_SIZE"]))
    return env["S3FARGATE_JOB_ID"], ref


@pytest.mark.parametrize(
    ("name", "status", "reason"),
    [
        ("describe-tasks-stopped-exit-0", JobStatus.SUCCEEDED, None),
        ("describe-tasks-oom", JobStatus.FAILED, "memory"),
        ("describe-tasks-spot-interruption", JobStatus.RETRYING, "SpotInterruption"),
        ("describe-tasks-task-failed-to-start", JobStatus.RETRYING, "TaskFailedToStart"),
        ("describe-tasks-running", JobStatus.RUNNING, None),
    ],
)
def test_reconciler_settles_quiet_jobs_from_describe_tasks_as_boto3_parses_it(
    settings: PipelineSettings,
    moto_endpoint: str,
    name: str,
    status: JobStatus,
    reason: str | None,
) -> None:
    # GIVEN a pending job whose events were lost, and ECS's DescribeTasks answer for its task
    # (epoch timestamps on the wire, datetime objects from boto3)
    (task,) = load_response(name)["tasks"]
    job_id, ref = _job_of(task)
    store = _store(settings, moto_endpoint)
    store.apply(job_id, Launched(ref, 1, task["taskArn"]))
    ecs = CorpusEcs({"describe_tasks": [name], "list_tasks": ["list-tasks-empty"] * 5})
    parts = build_tracker(
        settings.environment(Function.RECONCILER),
        _clients(moto_endpoint, ecs),
        clock=lambda: (store.get(job_id).updated_at or 0) + 5_000,  # type: ignore[union-attr]
    )
    # WHEN the reconciler runs
    report = parts.reconciler.run()
    # THEN the job is settled as the task's event would have settled it
    assert (report.checked, report.lost) == (1, 0)
    row = store.get(job_id)
    assert row is not None
    assert row.status is status
    if reason:
        assert reason in (row.reason or "") + (row.stop_code or "")
    if task.get("startedAt"):
        assert row.started_at == int(task["startedAt"].timestamp() * 1000)


def test_reconciler_retries_a_task_ecs_answers_missing(
    settings: PipelineSettings, moto_endpoint: str
) -> None:
    # GIVEN a running job whose task ECS has forgotten (DescribeTasks: failure MISSING)
    (failure,) = load_response("describe-tasks-missing")["failures"]
    ref = ObjectRef(bucket="example-inbox", key="incoming/old.csv", size=3)
    store = _store(settings, moto_endpoint)
    store.apply("job-missing", Launched(ref, 1, failure["arn"]))
    ecs = CorpusEcs({"describe_tasks": ["describe-tasks-missing"], "list_tasks": []})
    parts = build_tracker(
        settings.environment(Function.RECONCILER),
        _clients(moto_endpoint, ecs),
        clock=lambda: 10**13,
    )
    # WHEN the reconciler runs
    report = parts.reconciler.run()
    # THEN the attempt is lost and retried
    assert report.lost == 1
    row = store.get("job-missing")
    assert row is not None
    assert (row.status, row.stop_code) == (JobStatus.RETRYING, "TaskLost")


@pytest.mark.parametrize(
    ("answer", "launched"),
    [("run-task-provisioning", True), ("run-task-capacity-unavailable", False)],
)
def test_runner_reads_run_task_answers_as_ecs_sends_them(
    settings: PipelineSettings, moto_endpoint: str, answer: str, launched: bool
) -> None:
    # GIVEN an upload of the corpus's SQS batch, and ECS's RunTask answer (HTTP 200 both:
    # a task, or only `failures`)
    ecs = CorpusEcs({"run_task": [answer], "list_tasks": []})
    runner = build_runner(settings.environment(Function.RUNNER), _clients(moto_endpoint, ecs))
    event = load_event("s3-notification-put-plus-and-percent")
    record = sqs_record(json.dumps(event), message_id="m-1")
    # WHEN the runner handles it
    result = runner.handle(sqs_event(record), lambda_context())
    # THEN the request was one AWS accepts, the key decoded; a `failures` answer is a failure
    ((operation, request),) = ecs.calls
    assert operation == "run_task"
    env = {
        e["name"]: e["value"] for e in request["overrides"]["containerOverrides"][0]["environment"]
    }
    assert env["S3_KEY"] == "incoming/a+b % = €.txt"
    failures = [f["itemIdentifier"] for f in result["batchItemFailures"]]
    assert failures == ([] if launched else ["m-1"])
    row = _store(settings, moto_endpoint).get(env["S3FARGATE_JOB_ID"])
    assert row is not None
    assert row.status is (JobStatus.PENDING if launched else JobStatus.WAITING)
    # AND the row the runner created expires after the configured days, not the default 90
    assert row.expires_at is not None
    assert row.expires_at - row.created_at // 1000 == 7 * 86_400


def test_runner_counts_running_tasks_over_every_list_tasks_page(
    settings: PipelineSettings, moto_endpoint: str
) -> None:
    # GIVEN a cap of 6 and no ledger (which would keep the cap itself), and ECS listing 5
    # running tasks over two pages
    capped = dataclasses.replace(settings, max_running_tasks=6, jobs_table=None)
    ecs = CorpusEcs({"list_tasks": ["list-tasks-page-1", "list-tasks-page-2"], "run_task": []})
    runner = build_runner(capped.environment(Function.RUNNER), _clients(moto_endpoint, ecs))
    batch = load_event("sqs-batch-s3-notifications")
    # WHEN a batch with a test event and an upload arrives: one slot is free
    ecs._answers["run_task"] = ["run-task-provisioning"]
    result = runner.handle(batch, lambda_context())
    # THEN both pages were read (the second with the first's token), one task launched
    listed = [request for operation, request in ecs.calls if operation == "list_tasks"]
    assert len(listed) == 2
    assert listed[1]["nextToken"] == load_response("list-tasks-page-1")["nextToken"]
    assert [op for op, _ in ecs.calls].count("run_task") == 1
    assert result["batchItemFailures"] == []


@pytest.mark.parametrize(
    ("name", "applied"),
    [("ecs-task-running-launch-type-only", False), ("ecs-task-deprovisioning", True)],
)
def test_tracker_takes_ecs_events_as_eventbridge_delivers_them(
    settings: PipelineSettings, moto_endpoint: str, name: str, applied: bool
) -> None:
    # GIVEN an ECS task-state-change event in an SQS batch, as the rule delivers it, and (for
    # an event of one of our tasks) its job launched
    event = load_event(name)
    change = parse_task_state_change(event)
    store = _store(settings, moto_endpoint)
    if change.job_id:
        ref = ObjectRef(bucket="example-inbox", key=change.environment.get("S3_KEY", "k"))
        store.apply(change.job_id, Launched(ref, change.attempt or 1, change.task_arn))
    ecs = CorpusEcs({})
    parts = build_tracker(settings.environment(Function.TRACKER), _clients(moto_endpoint, ecs))
    cluster_settings = dataclasses.replace(parts.config, cluster_arn=change.cluster_arn)
    parts.tracker.config = cluster_settings
    record = sqs_record(json.dumps(event), message_id="e-1")
    # WHEN the tracker handles it
    result = parts.tracker.handle(sqs_event(record), lambda_context())
    # THEN it is never a failure of the batch; an event of a job's task moves its row on
    assert result == {"batchItemFailures": []}
    if applied:
        assert change.job_id is not None
        row = store.get(change.job_id)
        assert row is not None
        assert row.task_version == change.version
        assert row.status is JobStatus.PENDING  # DEPROVISIONING: not stopped yet
    else:
        assert change.job_id is None  # a task without our overrides changes no row
        assert change.capacity_provider == "FARGATE"  # read from launchType alone
