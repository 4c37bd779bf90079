"""The AWS document corpus (tests/aws): wire documents that match botocore's model, events in
their documented shapes, and s3fargate's parsers reading every one of them."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ParamValidationError

from s3fargate.events import (
    EventSourceKind,
    ObjectCreated,
    Skipped,
    SkipReason,
    parse_event,
    parse_message_body,
)
from s3fargate.events.ecs import LIFECYCLE, parse_task_state_change
from s3fargate.lambda_runtime.paginators import list_tasks_paginator
from s3fargate.launching import RunnerConfig, run_task_request
from tests.aws import (
    event_names,
    load_document,
    load_event,
    load_response,
    operation_model,
    response_names,
    validate_request,
    wire_problems,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from botocore.model import Shape

DOC_SITES = ("https://docs.aws.amazon.com/", "https://repost.aws/knowledge-center/")
#: The top-level fields every EventBridge event has (EventBridge's event structure).
EVENTBRIDGE_FIELDS = {
    "version",
    "id",
    "detail-type",
    "source",
    "account",
    "time",
    "region",
    "resources",
    "detail",
}
#: The fields of one record of an S3 event notification (eventVersion 2.x).
S3_RECORD_FIELDS = {
    "eventVersion",
    "eventSource",
    "awsRegion",
    "eventTime",
    "eventName",
    "userIdentity",
    "requestParameters",
    "responseElements",
    "s3",
}
#: The fields of one record of the event Lambda's SQS event source delivers.
SQS_RECORD_FIELDS = {
    "messageId",
    "receiptHandle",
    "body",
    "attributes",
    "messageAttributes",
    "md5OfBody",
    "eventSource",
    "eventSourceARN",
    "awsRegion",
}
ECS_EVENTS = [n for n in event_names() if load_document(n).service == "ecs"]
OBJECT_EVENTS = [n for n in event_names() if load_document(n).service in ("s3", "sqs")]
ECS_EVENT_TIMES = (
    "createdAt",
    "connectivityAt",
    "pullStartedAt",
    "pullStoppedAt",
    "startedAt",
    "stoppingAt",
    "executionStoppedAt",
    "stoppedAt",
    "updatedAt",
)


def _timestamps(
    shape: Shape, wire: Any, parsed: Any, path: str = ""
) -> Iterator[tuple[str, Any, Any]]:
    """Every timestamp member in ``wire`` with its value in botocore's ``parsed`` answer."""
    if shape.type_name == "timestamp":
        yield path, wire, parsed
    elif shape.type_name == "structure":
        for key, item in wire.items():
            member = shape.members[key]  # type: ignore[attr-defined]
            yield from _timestamps(member, item, parsed[key], f"{path}.{key}")
    elif shape.type_name == "list":
        for i, (item, parsed_item) in enumerate(zip(wire, parsed, strict=True)):
            yield from _timestamps(shape.member, item, parsed_item, f"{path}[{i}]")  # type: ignore[attr-defined]


# --- every document --------------------------------------------------------------------


def test_corpus_is_not_empty() -> None:
    assert len(response_names()) >= 12
    assert len(event_names()) >= 6


@pytest.mark.parametrize("name", response_names() + event_names())
def test_every_document_names_its_documentation_page(name: str) -> None:
    document = load_document(name)
    assert document.source.startswith(DOC_SITES)
    assert all(url.startswith(DOC_SITES) for url in document.see_also)
    assert document.note
    assert isinstance(document.body, dict)


# --- ECS API responses -----------------------------------------------------------------


@pytest.mark.parametrize("name", response_names())
def test_response_body_has_only_members_of_the_output_shape(name: str) -> None:
    # GIVEN a response exactly as ECS sends it over HTTP
    document = load_document(name)
    assert document.operation is not None
    # WHEN walked against the operation's output shape, member by member
    output = operation_model(document.service, document.operation).output_shape
    # THEN every field is one the model knows, with the JSON type the protocol sends
    assert wire_problems(output, document.body) == []


@pytest.mark.parametrize("name", response_names())
def test_response_parses_with_botocore_as_boto3_returns_it(name: str) -> None:
    document = load_document(name)
    assert document.operation is not None
    parsed = load_response(name)
    metadata = parsed.pop("ResponseMetadata")
    assert metadata["HTTPStatusCode"] == document.http_status == 200
    assert metadata["RequestId"] == (document.headers or {})["x-amzn-RequestId"]
    assert set(parsed) == set(document.body)
    output = operation_model(document.service, document.operation).output_shape
    for path, wire, value in _timestamps(output, document.body, parsed):
        assert isinstance(wire, float), path
        assert isinstance(value, datetime), path
        assert value.tzinfo is not None, path
        assert value.timestamp() == pytest.approx(wire, abs=1e-6), path


@pytest.mark.parametrize("name", [n for n in response_names() if n.startswith("describe-tasks-")])
def test_describe_tasks_times_come_back_as_datetimes(name: str) -> None:
    for task in load_response(name)["tasks"]:
        assert isinstance(task["createdAt"], datetime)
        if task["lastStatus"] == "STOPPED":
            assert isinstance(task["stoppedAt"], datetime)
            assert task["stoppedAt"] > task["createdAt"]


@pytest.mark.parametrize("name", response_names())
def test_recorded_request_is_valid_for_its_operation(name: str) -> None:
    document = load_document(name)
    assert document.operation is not None
    assert document.request is not None
    validate_request(document.service, document.operation, document.request)


def test_wire_check_names_a_misspelt_member_and_an_iso_timestamp() -> None:
    body = copy.deepcopy(load_document("describe-tasks-running").body)
    task = body["tasks"][0]
    task["lastStatuss"] = task.pop("lastStatus")
    task["containers"][0]["exitcode"] = 0
    task["createdAt"] = "2026-11-29T10:21:04.118Z"
    output = operation_model("ecs", "DescribeTasks").output_shape
    problems = wire_problems(output, body)
    assert any(p.startswith("body.tasks[0].lastStatuss: not a member of Task") for p in problems)
    assert any(p.startswith("body.tasks[0].containers[0].exitcode: not a member") for p in problems)
    assert any(p.startswith("body.tasks[0].createdAt: expected timestamp") for p in problems)
    assert len(problems) == 3


def test_wire_check_names_an_unknown_enum_value() -> None:
    body = copy.deepcopy(load_document("describe-tasks-stopped-exit-0").body)
    body["tasks"][0]["stopCode"] = "EssentialContainerExit"
    problems = wire_problems(operation_model("ecs", "DescribeTasks").output_shape, body)
    assert problems == [
        "body.tasks[0].stopCode: 'EssentialContainerExit' is not one of TaskStopCode's values"
    ]


def test_validate_request_rejects_what_botocore_would() -> None:
    with pytest.raises(ParamValidationError, match="launchtype"):
        validate_request("ecs", "RunTask", {"taskDefinition": "td:1", "launchtype": "FARGATE"})
    with pytest.raises(ParamValidationError, match="tasks"):
        validate_request("ecs", "DescribeTasks", {"cluster": "c"})


@pytest.mark.parametrize("capacity_provider", [None, "FARGATE_SPOT"])
def test_runners_run_task_request_is_valid(capacity_provider: str | None) -> None:
    config = RunnerConfig(
        cluster_arn="arn:aws:ecs:eu-west-1:111122223333:cluster/s3fargate-cluster",
        task_definition_arn="arn:aws:ecs:eu-west-1:111122223333:task-definition/td:1",
        container_name="task",
        subnets=("subnet-1", "subnet-2"),
        security_groups=("sg-1",),
        capacity_provider=capacity_provider,
    )
    obj = ObjectCreated(
        bucket="example-inbox",
        key="incoming/a+b % = €.txt",
        size=311,
        etag="6f5902ac237024bdd0c176cb93063dc4",
        version_id="v1",
        sequencer="00674B1B3D4E5F6071",
        event_name="ObjectCreated:Put",
        event_time=None,
        source=EventSourceKind.S3_NOTIFICATION,
    )
    validate_request("ecs", "RunTask", run_task_request(obj, config))


def test_run_task_success_places_one_provisioning_task() -> None:
    response = load_response("run-task-provisioning")
    assert response["failures"] == []
    (task,) = response["tasks"]
    assert (task["lastStatus"], task["desiredStatus"]) == ("PROVISIONING", "RUNNING")
    assert isinstance(task["createdAt"], datetime)
    request = load_document("run-task-provisioning").request or {}
    assert task["overrides"]["containerOverrides"] == request["overrides"]["containerOverrides"]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        (
            "run-task-capacity-unavailable",
            "Capacity is unavailable at this time. "
            "Please try again later or in a different availability zone",
        ),
        ("run-task-resource-memory", "RESOURCE:MEMORY"),
    ],
)
def test_run_task_failures_come_back_with_http_200_and_no_task(name: str, reason: str) -> None:
    response = load_response(name)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert response["tasks"] == []
    assert [f["reason"] for f in response["failures"]] == [reason]


@pytest.mark.parametrize(
    ("name", "last_status", "stop_code", "exit_code", "container_reason"),
    [
        ("describe-tasks-running", "RUNNING", None, None, None),
        ("describe-tasks-stopped-exit-0", "STOPPED", "EssentialContainerExited", 0, None),
        ("describe-tasks-task-failed-to-start", "STOPPED", "TaskFailedToStart", None, "Cannot"),
        (
            "describe-tasks-oom",
            "STOPPED",
            "EssentialContainerExited",
            137,
            "OutOfMemoryError: Container killed due to memory usage",
        ),
        ("describe-tasks-spot-interruption", "STOPPED", "SpotInterruption", 143, None),
    ],
)
def test_describe_tasks_documents_say_how_the_task_ended(
    name: str,
    last_status: str,
    stop_code: str | None,
    exit_code: int | None,
    container_reason: str | None,
) -> None:
    (task,) = load_response(name)["tasks"]
    (container,) = task["containers"]
    assert task["lastStatus"] == last_status
    assert task.get("stopCode") == stop_code
    assert container.get("exitCode") == exit_code
    if container_reason is None:
        assert "reason" not in container
    else:
        assert container["reason"].startswith(container_reason)
    if stop_code == "TaskFailedToStart":
        assert "startedAt" not in task


def test_describe_tasks_missing_names_the_task_it_was_asked_for() -> None:
    response = load_response("describe-tasks-missing")
    request = load_document("describe-tasks-missing").request or {}
    assert response["tasks"] == []
    assert response["failures"] == [{"arn": request["tasks"][0], "reason": "MISSING"}]


def test_list_tasks_pages_hand_over_the_next_token() -> None:
    first, last = load_response("list-tasks-page-1"), load_response("list-tasks-page-2")
    assert (load_document("list-tasks-page-2").request or {})["nextToken"] == first["nextToken"]
    assert "nextToken" not in last
    empty = load_response("list-tasks-empty")
    assert empty["taskArns"] == []
    assert "nextToken" not in empty


def test_botocores_paginator_walks_both_list_tasks_pages() -> None:
    pages = {None: load_response("list-tasks-page-1")}
    pages[pages[None]["nextToken"]] = load_response("list-tasks-page-2")
    calls: list[dict[str, Any]] = []

    def list_tasks(**request: Any) -> dict[str, Any]:
        calls.append(request)
        validate_request("ecs", "ListTasks", request)
        return pages[request.get("nextToken")]

    request = load_document("list-tasks-page-1").request or {}
    paginator = list_tasks_paginator(list_tasks)
    arns = [
        arn
        for page in paginator.paginate(
            cluster=request["cluster"],
            startedBy=request["startedBy"],
            desiredStatus=request["desiredStatus"],
            PaginationConfig={"PageSize": request["maxResults"]},
        )
        for arn in page["taskArns"]
    ]
    assert len(arns) == 5
    assert len(calls) == 2


# --- events -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", event_names())
def test_event_has_the_documented_top_level_fields(name: str) -> None:
    document = load_document(name)
    event = load_event(name)
    json.loads(json.dumps(event))  # plain JSON, nothing a parser made
    if document.service == "ecs" or document.event == "Object Created":
        assert set(event) == EVENTBRIDGE_FIELDS
        assert event["detail-type"] == document.event
        assert event["version"] == "0"
    elif document.service == "s3":
        assert set(event) == {"Records"}
        for record in event["Records"]:
            assert set(record) == S3_RECORD_FIELDS
            assert f"s3:{record['eventName']}" == document.event
    else:
        assert set(event) == {"Records"}
        for record in event["Records"]:
            assert set(record) == SQS_RECORD_FIELDS
            assert record["eventSource"] == "aws:sqs"
            assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()  # noqa: S324


@pytest.mark.parametrize("name", ECS_EVENTS)
def test_ecs_event_times_are_iso_strings(name: str) -> None:
    detail = load_event(name)["detail"]
    for field in ECS_EVENT_TIMES:
        if field in detail:
            assert isinstance(detail[field], str)
            assert detail[field].endswith("Z")
            datetime.fromisoformat(detail[field])


@pytest.mark.parametrize("name", ECS_EVENTS)
def test_ecs_event_detail_fields_are_task_fields(name: str) -> None:
    # The detail resembles DescribeTasks' Task; updatedAt is the event's own.
    task_shape = operation_model("ecs", "DescribeTasks").output_shape.members["tasks"].member
    detail = load_event(name)["detail"]
    assert set(detail) - set(task_shape.members) <= {"updatedAt"}
    for container in detail["containers"]:
        assert set(container) <= set(task_shape.members["containers"].member.members)


@pytest.mark.parametrize("name", ECS_EVENTS)
def test_task_state_change_parser_accepts_every_ecs_event(name: str) -> None:
    event = load_event(name)
    change = parse_task_state_change(event)
    assert change.task_arn == event["detail"]["taskArn"]
    assert change.last_status in LIFECYCLE
    assert parse_task_state_change(json.dumps(event)) == change


def test_event_without_capacity_provider_reads_the_launch_type() -> None:
    change = parse_task_state_change(load_event("ecs-task-running-launch-type-only"))
    assert change.capacity_provider == "FARGATE"
    assert change.job_id is None
    assert change.container_name is None
    assert not change.stopped


def test_deprovisioning_task_is_not_yet_stopped() -> None:
    change = parse_task_state_change(load_event("ecs-task-deprovisioning"))
    assert change.last_status == "DEPROVISIONING"
    assert not change.stopped
    assert change.lifecycle_rank == LIFECYCLE.index("DEPROVISIONING")
    assert (change.stop_code, change.exit_code) == ("EssentialContainerExited", 0)
    assert change.stopped_at is None
    assert change.job_id is not None
    assert change.attempt == 1


@pytest.mark.parametrize("name", OBJECT_EVENTS)
def test_event_parser_accepts_every_s3_eventbridge_and_sqs_event(name: str) -> None:
    event = load_event(name)
    if load_document(name).service == "sqs":
        items = [
            item
            for record in event["Records"]
            for item in parse_message_body(record["body"], message_id=record["messageId"])
        ]
    else:
        items = parse_event(event)
    assert items
    assert all(isinstance(item, ObjectCreated | Skipped) for item in items)


@pytest.mark.parametrize(
    ("name", "key", "event_name", "source"),
    [
        (
            "s3-notification-complete-multipart-upload",
            "incoming/videos/2026 Q4/launch (1080p).mp4",
            "ObjectCreated:CompleteMultipartUpload",
            EventSourceKind.S3_NOTIFICATION,
        ),
        (
            "s3-notification-put-plus-and-percent",
            "incoming/a+b % = €.txt",
            "ObjectCreated:Put",
            EventSourceKind.S3_NOTIFICATION,
        ),
        (
            "eventbridge-object-created-multipart",
            "incoming/a+b (final).csv",
            "Object Created",
            EventSourceKind.EVENTBRIDGE,
        ),
    ],
)
def test_object_keys_are_decoded_as_their_source_encodes_them(
    name: str, key: str, event_name: str, source: EventSourceKind
) -> None:
    (obj,) = parse_event(load_event(name))
    assert isinstance(obj, ObjectCreated)
    assert (obj.bucket, obj.key, obj.event_name, obj.source) == (
        "example-inbox",
        key,
        event_name,
        source,
    )


def test_multipart_notification_carries_size_and_no_version() -> None:
    (obj,) = parse_event(load_event("s3-notification-complete-multipart-upload"))
    assert isinstance(obj, ObjectCreated)
    assert obj.size == 5 * 1024**3
    assert obj.version_id is None
    assert obj.etag is not None
    assert obj.etag.endswith("-640")


def test_sqs_batch_yields_the_test_event_then_the_upload() -> None:
    records = load_event("sqs-batch-s3-notifications")["Records"]
    first, second = (parse_message_body(r["body"], message_id=r["messageId"]) for r in records)
    assert [type(i) for i in first] == [Skipped]
    assert first[0].reason is SkipReason.TEST_EVENT  # type: ignore[union-attr]
    (obj,) = second
    assert isinstance(obj, ObjectCreated)
    assert obj.key == "incoming/2026-11/Q4 summary été.pdf"
    assert obj.origin_id == f"{records[1]['messageId']}#0"
