"""The runner's outcome per record: exactly the records that launched nothing come back."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import pytest
from aws_lambda_powertools import Logger
from botocore.exceptions import EndpointConnectionError

from s3fargate.launching import Launched, LaunchError, RunnerConfig
from s3fargate.taskrunner import RecordFailedError, TaskRunner
from tests.builders import (
    eventbridge_object_created,
    load_event,
    s3_notification,
    sqs_event,
    sqs_record,
)
from tests.fakes import FakeEcs, client_error

if TYPE_CHECKING:
    from s3fargate.events import MalformedEventError, ObjectCreated

CONFIG = RunnerConfig(
    cluster_arn="arn:aws:ecs:eu-west-1:111122223333:cluster/c",
    task_definition_arn="arn:aws:ecs:eu-west-1:111122223333:task-definition/t:1",
    container_name="task",
    subnets=("subnet-1", "subnet-2"),
    security_groups=("sg-1",),
)


def _runner(ecs: FakeEcs, **overrides: Any) -> TaskRunner:
    config = replace(CONFIG, **overrides)
    return TaskRunner(config=config, ecs=ecs)


def _batch(*keys: str) -> dict[str, Any]:
    return sqs_event(*(sqs_record(s3_notification(k), message_id=f"id-{k}") for k in keys))


def _failed_ids(response: dict[str, Any]) -> list[str]:
    return sorted(f["itemIdentifier"] for f in response["batchItemFailures"])


def test_all_launched_means_no_failures() -> None:
    ecs = FakeEcs()
    response = _runner(ecs).handle(_batch("incoming/a", "incoming/b c"))
    assert response == {"batchItemFailures": []}
    assert ecs.launched_keys == ["incoming/a", "incoming/b c"]


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(
            lambda _: {
                "tasks": [],
                "failures": [{"reason": "Capacity is unavailable at this time"}],
            },
            id="capacity-failures-http-200",
        ),
        pytest.param(
            lambda _: {"tasks": [], "failures": [{"arn": "x", "reason": "RESOURCE:MEMORY"}]},
            id="resource-failures-http-200",
        ),
        pytest.param(lambda _: {"tasks": [], "failures": []}, id="empty-response"),
        pytest.param(client_error("ThrottlingException", "Rate exceeded"), id="throttling"),
        pytest.param(client_error("ServerException", "internal", status=500), id="5xx"),
        pytest.param(client_error("ServiceUnavailable", "later", status=503), id="503"),
        pytest.param(client_error("AccessDeniedException", "no", status=403), id="access-denied"),
        pytest.param(client_error("InvalidParameterException", "bad subnet"), id="invalid-param"),
        pytest.param(client_error("ClusterNotFoundException", "gone"), id="cluster-not-found"),
        pytest.param(EndpointConnectionError(endpoint_url="https://ecs"), id="connection-error"),
    ],
)
def test_one_failing_record_returns_exactly_its_id(failure: Any) -> None:
    # GIVEN a batch of three where ECS fails only the middle object
    ecs = FakeEcs(by_key={"incoming/bad": failure})
    # WHEN the runner handles it
    response = _runner(ecs).handle(_batch("incoming/ok1", "incoming/bad", "incoming/ok2"))
    # THEN only that record is returned for redelivery, and the others launched
    assert _failed_ids(response) == ["id-incoming/bad"]
    assert ecs.launched_keys == ["incoming/ok1", "incoming/bad", "incoming/ok2"]


def test_whole_batch_failing_is_reported_not_raised() -> None:
    ecs = FakeEcs(by_key={"incoming/a": client_error("ThrottlingException")})
    response = _runner(ecs).handle(_batch("incoming/a"))
    assert _failed_ids(response) == ["id-incoming/a"]


def test_conflict_for_same_token_counts_as_launched() -> None:
    conflict = client_error(
        "ConflictException",
        "token in use",
        resourceIds=["arn:aws:ecs:eu-west-1:111122223333:task/c/existing"],
    )
    ecs = FakeEcs(by_key={"incoming/dup": conflict})
    response = _runner(ecs).handle(_batch("incoming/dup"))
    assert response == {"batchItemFailures": []}


def test_malformed_body_fails_only_its_record() -> None:
    event = sqs_event(
        sqs_record("this is not json", message_id="bad-1"),
        sqs_record(s3_notification("incoming/good"), message_id="good-1"),
        sqs_record({"some": "other message"}, message_id="bad-2"),
    )
    ecs = FakeEcs()
    response = _runner(ecs).handle(event)
    assert _failed_ids(response) == ["bad-1", "bad-2"]
    assert ecs.launched_keys == ["incoming/good"]


def test_test_event_and_deletes_and_folders_are_acknowledged_without_launch() -> None:
    event = sqs_event(
        sqs_record(load_event("s3-test-event"), message_id="t"),
        sqs_record(
            s3_notification("incoming/x", event_name="ObjectRemoved:Delete"), message_id="d"
        ),
        sqs_record(s3_notification("incoming/dir/", size=0), message_id="f"),
    )
    ecs = FakeEcs()
    assert _runner(ecs).handle(event) == {"batchItemFailures": []}
    assert ecs.calls == []


def test_eventbridge_body_launches_raw_key() -> None:
    ecs = FakeEcs()
    event = sqs_event(sqs_record(eventbridge_object_created("incoming/a+b.csv"), message_id="e"))
    assert _runner(ecs).handle(event) == {"batchItemFailures": []}
    assert ecs.launched_keys == ["incoming/a+b.csv"]


def test_message_with_two_objects_fails_if_either_fails_but_tries_both() -> None:
    first = s3_notification("incoming/one")
    second = s3_notification("incoming/two")
    body = {"Records": first["Records"] + second["Records"]}
    ecs = FakeEcs(by_key={"incoming/one": client_error("ThrottlingException")})
    response = _runner(ecs).handle(sqs_event(sqs_record(body, message_id="m")))
    assert _failed_ids(response) == ["m"]
    assert ecs.launched_keys == ["incoming/one", "incoming/two"]


def test_running_task_cap_defers_records_beyond_it() -> None:
    # GIVEN 3 of this runner's tasks active and a cap of 5
    ecs = FakeEcs(active_tasks=3)
    runner = _runner(ecs, max_running_tasks=5)
    # WHEN a batch of four arrives
    response = runner.handle(_batch("incoming/1", "incoming/2", "incoming/3", "incoming/4"))
    # THEN two launch and the last two wait in the queue
    assert ecs.launched_keys == ["incoming/1", "incoming/2"]
    assert _failed_ids(response) == ["id-incoming/3", "id-incoming/4"]
    # ListTasks was asked once, for this runner's tasks only
    assert len(ecs.list_calls) == 1
    assert ecs.list_calls[0]["startedBy"] == "s3fargate"
    assert ecs.list_calls[0]["desiredStatus"] == "RUNNING"
    assert ecs.list_calls[0]["cluster"] == CONFIG.cluster_arn


def test_running_task_cap_counts_every_page() -> None:
    ecs = FakeEcs(active_tasks=250)
    response = _runner(ecs, max_running_tasks=251).handle(_batch("incoming/1", "incoming/2"))
    assert ecs.launched_keys == ["incoming/1"]
    assert _failed_ids(response) == ["id-incoming/2"]
    assert len(ecs.list_calls) == 3


def test_cap_slot_is_given_back_when_a_launch_fails() -> None:
    ecs = FakeEcs(active_tasks=0, by_key={"incoming/1": client_error("ThrottlingException")})
    response = _runner(ecs, max_running_tasks=1).handle(_batch("incoming/1", "incoming/2"))
    assert _failed_ids(response) == ["id-incoming/1"]
    assert ecs.launched_keys == ["incoming/1", "incoming/2"]


def test_cap_count_failure_fails_records_instead_of_launching_blind() -> None:
    ecs = FakeEcs(list_error=client_error("AccessDeniedException", status=403))
    response = _runner(ecs, max_running_tasks=3).handle(_batch("incoming/1"))
    assert _failed_ids(response) == ["id-incoming/1"]
    assert ecs.calls == []


def test_no_cap_never_lists_tasks() -> None:
    ecs = FakeEcs()
    _runner(ecs).handle(_batch("incoming/1"))
    assert ecs.list_calls == []


def test_direct_s3_notification_launches() -> None:
    ecs = FakeEcs()
    result = _runner(ecs).handle(s3_notification("incoming/direct file.csv"))
    assert result == {"launched": 1, "skipped": 0}
    assert ecs.launched_keys == ["incoming/direct file.csv"]


def test_direct_bare_eventbridge_event_launches_raw_key() -> None:
    ecs = FakeEcs()
    _runner(ecs).handle(eventbridge_object_created("incoming/a+b"))
    assert ecs.launched_keys == ["incoming/a+b"]


def test_direct_event_failure_raises_so_lambda_retries() -> None:
    ecs = FakeEcs(by_key={"incoming/x": client_error("ThrottlingException")})
    with pytest.raises(RecordFailedError, match="ThrottlingException"):
        _runner(ecs).handle(s3_notification("incoming/x"))


def test_log_lines_are_structured_json_per_record() -> None:
    stream = io.StringIO()
    logger = Logger(service="test-runner-structured-logs", stream=stream)
    ecs = FakeEcs(by_key={"incoming/bad": client_error("AccessDeniedException", "denied", 403)})
    TaskRunner(config=CONFIG, ecs=ecs, logger=logger).handle(
        _batch("incoming/good", "incoming/bad")
    )
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    by_key = {line["key"]: line for line in lines if "key" in line}
    assert by_key["incoming/good"]["outcome"] == "launched"
    assert by_key["incoming/good"]["task_arn"].startswith("arn:aws:ecs:")
    assert by_key["incoming/good"]["bucket"] == "example-inbox"
    assert by_key["incoming/bad"]["outcome"] == "failed"
    assert by_key["incoming/bad"]["retryable"] is False
    assert "AccessDeniedException: denied" in by_key["incoming/bad"]["reason"]


@dataclass
class RecordingRecorder:
    """Keeps every call the runner makes to its recorder."""

    calls: list[tuple[str, str | None, str | None, int | None]] = field(default_factory=list)

    def admit(self, obj: ObjectCreated) -> bool:
        return False  # keeps no cap: the runner counts ListTasks itself

    def launched(self, obj: ObjectCreated, launched: Launched) -> None:
        self.calls.append(("launched", obj.key, launched.task_arn, None))

    def not_launched(
        self, obj: ObjectCreated, error: LaunchError, *, receive_count: int | None
    ) -> None:
        self.calls.append(("not_launched", obj.key, error.code, receive_count))

    def malformed(
        self, message_id: str | None, error: MalformedEventError, *, receive_count: int | None
    ) -> None:
        self.calls.append(("malformed", message_id, error.reason[:6], receive_count))


def test_recorder_hears_of_every_object_and_unreadable_message() -> None:
    # GIVEN a batch with a launch, a capacity failure on the 3rd receive, and a non-JSON body
    ecs = FakeEcs(by_key={"incoming/full": client_error("ThrottlingException", "slow down")})
    full = sqs_record(s3_notification("incoming/full"), message_id="m-full")
    full["attributes"]["ApproximateReceiveCount"] = "3"
    event = sqs_event(
        sqs_record(s3_notification("incoming/ok"), message_id="m-ok"),
        full,
        sqs_record("not json", message_id="m-bad"),
    )
    recorder = RecordingRecorder()
    # WHEN the runner handles it
    response = TaskRunner(config=CONFIG, ecs=ecs, recorder=recorder).handle(event)
    # THEN the recorder heard of each outcome with its receive count
    assert _failed_ids(response) == ["m-bad", "m-full"]
    task_arn = ecs.calls[0]["clientToken"][:12]
    assert recorder.calls == [
        ("launched", "incoming/ok", f"arn:aws:ecs:eu-west-1:111122223333:task/c/{task_arn}", None),
        ("not_launched", "incoming/full", "ThrottlingException", 3),
        ("malformed", "m-bad", "body i", 1),
    ]


@dataclass
class ParkingRecorder(RecordingRecorder):
    """A recorder with a waiting room: every refused record it is offered, it parks."""

    def park(self, obj: ObjectCreated, error: LaunchError) -> bool:
        self.calls.append(("parked", obj.key, error.code, None))
        return True


def test_with_a_cap_records_beyond_it_are_parked_not_failed() -> None:
    # GIVEN 3 of this runner's tasks active, a cap of 4, and a recorder with a waiting room
    ecs = FakeEcs(active_tasks=3)
    recorder = ParkingRecorder()
    runner = TaskRunner(config=replace(CONFIG, max_running_tasks=4), ecs=ecs, recorder=recorder)
    # WHEN three records arrive
    response = runner.handle(_batch("incoming/1", "incoming/2", "incoming/3"))
    # THEN one launches, two are parked, and no message comes back from the queue
    assert _failed_ids(response) == []
    assert ecs.launched_keys == ["incoming/1"]
    assert [c[:3] for c in recorder.calls[1:]] == [
        ("parked", "incoming/2", "MaxRunningTasks"),
        ("parked", "incoming/3", "MaxRunningTasks"),
    ]


def test_with_a_cap_a_vcpu_quota_refusal_is_parked_too() -> None:
    # Runners racing for the last slots: Fargate refuses in RunTask's failures (HTTP 200).
    def quota(_: dict[str, Any]) -> dict[str, Any]:
        reason = "You've reached the limit on the number of vCPUs you can run concurrently"
        return {"tasks": [], "failures": [{"reason": reason}]}

    ecs = FakeEcs(by_key={"incoming/2": quota})
    recorder = ParkingRecorder()
    runner = TaskRunner(config=replace(CONFIG, max_running_tasks=10), ecs=ecs, recorder=recorder)
    response = runner.handle(_batch("incoming/1", "incoming/2"))
    assert _failed_ids(response) == []
    assert ("parked", "incoming/2", "VcpuQuotaReached", None) in recorder.calls


def test_a_vcpu_quota_refusal_is_parked_without_a_cap_too() -> None:
    def quota(_: dict[str, Any]) -> dict[str, Any]:
        return {"tasks": [], "failures": [{"reason": "limit on the number of vCPUs reached"}]}

    recorder = ParkingRecorder()
    runner = TaskRunner(config=CONFIG, ecs=FakeEcs(by_key={"incoming/1": quota}), recorder=recorder)
    response = runner.handle(_batch("incoming/1"))
    assert _failed_ids(response) == []
    assert [c[0] for c in recorder.calls] == ["parked"]


def test_without_a_ledger_a_refused_record_waits_in_the_queue() -> None:
    runner = _runner(FakeEcs(active_tasks=2), max_running_tasks=2)
    response = runner.handle(_batch("incoming/1"))
    assert _failed_ids(response) == ["id-incoming/1"]


def test_other_failures_are_never_parked() -> None:
    ecs = FakeEcs(by_key={"incoming/1": client_error("ThrottlingException")})
    recorder = ParkingRecorder()
    runner = TaskRunner(config=replace(CONFIG, max_running_tasks=5), ecs=ecs, recorder=recorder)
    response = runner.handle(_batch("incoming/1"))
    assert _failed_ids(response) == ["id-incoming/1"]
    assert [c[0] for c in recorder.calls] == ["not_launched"]
