"""The pure transition function: every status change, never backwards, order-independent."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s3fargate.events.ecs import parse_task_state_change
from s3fargate.ledger import (
    Admitted,
    DeadLettered,
    Job,
    JobStatus,
    Launched,
    ObjectRef,
    Policy,
    RetryOrder,
    RetryRequested,
    TaskChanged,
    TaskLost,
    Waiting,
    apply,
)
from tests.builders import ecs_event

if TYPE_CHECKING:
    from s3fargate.ledger import Change, Decision

JOB = "job-1"
REF = ObjectRef(
    bucket="example-inbox",
    key="incoming/red flower ü.jpg",
    etag="d41d8cd98f00b204e9800998ecf8427e",
    size=1024,
    event_time="2026-11-29T10:15:01Z",
)
POLICY = Policy(max_attempts=3, retry_exit_codes=frozenset({75}))
ARN = "arn:aws:ecs:eu-west-1:111122223333:task/s3fargate-cluster/c9f8a1b2d3e44f5a9b8c7d6e5f4a3b2c"
ARN2 = "arn:aws:ecs:eu-west-1:111122223333:task/s3fargate-cluster/second"


def _task(
    name: str,
    *,
    attempt: int = 1,
    arn: str = ARN,
    version: int | None = None,
    result_written: bool = True,
) -> Change:
    event = ecs_event(name, job_id=JOB, attempt=attempt, task_arn=arn, version=version)
    return TaskChanged(parse_task_state_change(event), result_written=result_written)


def _run(*changes: Change, policy: Policy = POLICY, row: Job | None = None) -> Job | None:
    for now, change in enumerate(changes, start=1):
        decision = apply(row, change, job_id=JOB, policy=policy, now_ms=now * 1000)
        row = decision.row or row
    return row


def _last(*changes: Change, row: Job | None = None) -> Decision:
    for now, change in enumerate(changes[:-1], start=1):
        row = apply(row, change, job_id=JOB, policy=POLICY, now_ms=now * 1000).row or row
    return apply(row, changes[-1], job_id=JOB, policy=POLICY, now_ms=99_000)


def _status(row: Job | None) -> JobStatus:
    assert row is not None
    return row.status


def test_the_happy_path() -> None:
    row = _run(
        Waiting(REF, 1, "MAX_RUNNING_TASKS reached", receive_count=1),
        Launched(REF, 1, ARN),
        _task("fargate-pending"),
        _task("fargate-running"),
        _task("fargate-stopped-exit-0"),
    )
    assert row is not None
    assert row.status is JobStatus.SUCCEEDED
    assert row.attempts == 1
    assert row.task_arns == (ARN,)
    assert row.exit_code == 0
    assert row.stop_code == "EssentialContainerExited"
    assert row.result_key == "results/red flower ü.jpg.json"
    assert row.launched_at == 1_795_947_306_806  # ECS's createdAt
    assert row.started_at is not None
    assert row.stopped_at is not None
    assert row.started_at < row.stopped_at
    assert row.revision == 5


def test_waiting_then_dead_lettered_notifies_once() -> None:
    decision = _last(
        Waiting(REF, 1, "capacity", receive_count=4), DeadLettered(REF, 1, "capacity", 5)
    )
    assert decision.row is not None
    assert decision.row.status is JobStatus.DEAD_LETTERED
    assert decision.notify
    assert "dead-letter queue after 5 receives" in (decision.row.reason or "")


@pytest.mark.parametrize(
    ("event", "status", "retry", "notify", "reason"),
    [
        ("fargate-stopped-exit-0", JobStatus.SUCCEEDED, None, False, None),
        ("fargate-stopped-exit-1", JobStatus.FAILED, None, True, "exited with code 1"),
        ("fargate-stopped-oom", JobStatus.FAILED, None, True, "raise memory_limit_mib"),
        ("fargate-user-initiated", JobStatus.CANCELLED, None, False, "stopped by a user"),
        ("fargate-task-failed-to-start", JobStatus.RETRYING, 2, False, "CannotPullContainer"),
        ("fargate-resource-initialization-error", JobStatus.RETRYING, 2, False, "Resource"),
        ("spot-interruption", JobStatus.RETRYING, 2, False, "SpotInterruption"),
        ("spot-termination-notice", JobStatus.RETRYING, 2, False, "TerminationNotice"),
        ("fargate-service-scheduler", JobStatus.RETRYING, 2, False, "ServiceScheduler"),
    ],
)
def test_each_way_a_task_stops(
    event: str, status: JobStatus, retry: int | None, notify: bool, reason: str | None
) -> None:
    decision = _last(Launched(REF, 1, ARN), _task("fargate-running"), _task(event))
    assert decision.row is not None
    assert decision.row.status is status
    assert decision.notify is notify
    assert (decision.retry.attempt if decision.retry else None) == retry
    if reason is None:
        assert decision.row.reason is None
    else:
        assert reason in (decision.row.reason or "")


def test_listed_exit_code_is_retried_and_others_are_not() -> None:
    stopped = parse_task_state_change(ecs_event("fargate-stopped-exit-1", job_id=JOB))
    container = replace(stopped.containers[0], exit_code=75)
    change = TaskChanged(replace(stopped, containers=(container,)))
    decision = _last(Launched(REF, 1, ARN), change)
    assert decision.row is not None
    assert decision.row.status is JobStatus.RETRYING
    assert decision.retry == RetryOrder(attempt=2, delay_s=30)


def test_platform_stops_retry_with_growing_delays_then_fail_and_notify() -> None:
    row = None
    delays = []
    for attempt, arn in enumerate((ARN, ARN2, ARN + "3"), start=1):
        row = _run(Launched(REF, attempt, arn), row=row)
        decision = apply(
            row,
            _task("spot-interruption", attempt=attempt, arn=arn),
            job_id=JOB,
            policy=POLICY,
            now_ms=50_000,
        )
        row = decision.row
        delays.append(decision.retry.delay_s if decision.retry else None)
    assert delays == [30, 60, None]
    assert row is not None
    assert row.status is JobStatus.FAILED
    assert row.attempts == 3
    assert row.reason is not None
    assert row.reason.startswith("gave up after 3 attempt(s); last: SpotInterruption")


def test_a_new_attempt_clears_the_previous_task_details() -> None:
    row = _run(
        Launched(REF, 1, ARN),
        _task("spot-interruption"),
        Launched(REF, 2, ARN2),
    )
    assert row is not None
    assert row.status is JobStatus.PENDING
    assert row.attempts == 2
    assert row.task_arns == (ARN, ARN2)
    assert row.exit_code is None
    assert row.stop_code is None


def test_final_states_absorb_every_later_change() -> None:
    done = _run(Launched(REF, 1, ARN), _task("fargate-stopped-exit-0"))
    for change in (
        _task("fargate-running", version=9),
        _task("fargate-stopped-exit-1", version=9),
        Waiting(REF, 2, "late"),
        Launched(REF, 2, ARN2),
        DeadLettered(REF, 2, "late", 5),
        TaskLost(ARN, "gone"),
    ):
        assert apply(done, change, job_id=JOB, policy=POLICY, now_ms=1).row is None


def test_late_running_after_stopped_changes_nothing() -> None:
    row = _run(Launched(REF, 1, ARN), _task("spot-interruption"))
    assert _status(row) is JobStatus.RETRYING
    # the RUNNING event (version 3) arrives after the STOPPED one (version 5)
    assert apply(row, _task("fargate-running"), job_id=JOB, policy=POLICY, now_ms=1).row is None


def test_events_of_an_earlier_attempt_change_nothing() -> None:
    row = _run(Launched(REF, 1, ARN), _task("spot-interruption"), Launched(REF, 2, ARN2))
    late = _task("fargate-stopped-exit-1", attempt=1, arn=ARN, version=7)
    assert apply(row, late, job_id=JOB, policy=POLICY, now_ms=1).row is None


def test_events_before_the_launch_is_recorded_create_the_row_from_the_overrides() -> None:
    row = _run(_task("fargate-running"))
    assert row is not None
    assert row.status is JobStatus.RUNNING
    assert (row.bucket, row.key, row.size) == ("example-inbox", "incoming/red flower ü.jpg", 1024)
    assert row.task_arns == (ARN,)
    # the runner's record of the same launch then only fills in what is missing
    after = _run(Launched(REF, 1, ARN), row=row)
    assert after is not None
    assert after.status is JobStatus.RUNNING
    assert after.launched_at is not None


def test_waiting_for_an_attempt_already_launched_changes_nothing() -> None:
    row = _run(Launched(REF, 1, ARN))
    assert apply(row, Waiting(REF, 1, "x"), job_id=JOB, policy=POLICY, now_ms=1).row is None


def test_lost_task_is_retried() -> None:
    decision = _last(Launched(REF, 1, ARN), _task("fargate-running"), TaskLost(ARN, "MISSING"))
    assert decision.row is not None
    assert decision.row.status is JobStatus.RETRYING
    assert decision.retry == RetryOrder(attempt=2, delay_s=30)


def test_lost_report_for_another_task_changes_nothing() -> None:
    row = _run(Launched(REF, 1, ARN))
    assert apply(row, TaskLost(ARN2, "?"), job_id=JOB, policy=POLICY, now_ms=1).row is None


def test_operator_retry_of_a_failed_job() -> None:
    failed = _run(Launched(REF, 1, ARN), _task("fargate-stopped-exit-1"))
    decision = apply(failed, RetryRequested("fixed the input"), job_id=JOB, policy=POLICY, now_ms=5)
    assert decision.row is not None
    assert decision.row.status is JobStatus.RETRYING
    assert decision.retry == RetryOrder(attempt=2, delay_s=0)
    running = _run(Launched(REF, 1, ARN))
    assert apply(running, RetryRequested("x"), job_id=JOB, policy=POLICY, now_ms=5).row is None


def test_ttl_is_set_from_the_policy() -> None:
    row = _run(Waiting(REF, 1, "x"), policy=replace(POLICY, ttl_days=2))
    assert row is not None
    assert row.expires_at == (1000 + 2 * 86_400_000) // 1000


# --- order independence -----------------------------------------------------------------------
TASK_LIVES = {
    "success": [
        "fargate-provisioning",
        "fargate-pending",
        "fargate-running",
        "fargate-stopped-exit-0",
    ],
    "failure": ["fargate-pending", "fargate-running", "fargate-stopped-exit-1"],
    "oom": ["fargate-pending", "fargate-running", "fargate-stopped-oom"],
    "spot": ["fargate-pending", "spot-running", "spot-interruption"],
    "never-started": ["fargate-provisioning", "fargate-pending", "fargate-task-failed-to-start"],
    "cancelled": ["fargate-pending", "fargate-running", "fargate-user-initiated"],
}
#: Bookkeeping that records *when* changes were written, not what the job is.
BOOKKEEPING = {"updated_at": 0, "revision": 0, "created_at": 0, "expires_at": None}


def _state(row: Job | None) -> Job | None:
    return replace(row, **BOOKKEEPING) if row is not None else None


def _task_life(life: str) -> list[Change]:
    # The corpus gives the stopped events version 4-5 and the others 1-3: in lifecycle order.
    return [_task(name, version=i) for i, name in enumerate(TASK_LIVES[life], start=1)]


@settings(max_examples=300, deadline=None)
@given(
    life=st.sampled_from(sorted(TASK_LIVES)),
    launched_first=st.booleans(),
    data=st.data(),
)
def test_any_order_and_duplicates_end_in_the_in_order_row(
    life: str, launched_first: bool, data: st.DataObject
) -> None:
    # GIVEN a task's events in lifecycle order, and the runner's record of its launch
    events = _task_life(life)
    launch: list[Change] = [Launched(REF, 1, ARN)]
    in_order = _run(*(launch + events if launched_first else events + launch))
    # WHEN they arrive in any order, with any of them repeated
    repeated = data.draw(st.lists(st.sampled_from(events), max_size=6))
    shuffled = data.draw(st.permutations(events + repeated + launch))
    delivered = _run(*shuffled)
    # THEN the job ends in the same state
    assert _state(delivered) == _state(in_order)


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_status_never_moves_back_to_an_earlier_stage(data: st.DataObject) -> None:
    rank = {
        JobStatus.WAITING: 0,
        JobStatus.PENDING: 1,
        JobStatus.RUNNING: 2,
    }
    events = _task_life("success")
    order = data.draw(st.permutations([Launched(REF, 1, ARN), *events]))
    row: Job | None = None
    for now, change in enumerate(order, start=1):
        new = apply(row, change, job_id=JOB, policy=POLICY, now_ms=now).row
        if new is not None and row is not None and not row.status.final:
            assert new.status.final or rank[new.status] >= rank[row.status]
        if row is not None and row.status.final:
            assert new is None or new.status is row.status  # a late launch record adds details
        row = new or row


def test_a_parked_job_waits_in_the_ledger_until_launched() -> None:
    parked = _run(Waiting(REF, 1, "MAX_RUNNING_TASKS=24 tasks are pending or running", parked=True))
    assert parked is not None
    assert (parked.status, parked.parked, parked.attempts) == (JobStatus.WAITING, True, 0)
    launched = _run(Launched(REF, 1, ARN), row=parked)
    assert launched is not None
    assert (launched.status, launched.parked, launched.attempts) == (JobStatus.PENDING, False, 1)


def test_a_task_event_unparks_a_job_whose_launch_record_was_lost() -> None:
    parked = _run(Waiting(REF, 1, "cap", parked=True))
    row = _run(_task("fargate-running"), row=parked)
    assert row is not None
    assert (row.status, row.parked) == (JobStatus.RUNNING, False)


def test_a_retry_parked_by_the_cap_keeps_its_attempt_count() -> None:
    # Attempt 1 was interrupted; attempt 2 meets the cap and is parked.
    row = _run(Launched(REF, 1, ARN), _task("spot-interruption"))
    assert _status(row) is JobStatus.RETRYING
    row = _run(Waiting(REF, 2, "cap", parked=True), row=row)
    assert row is not None
    assert (row.status, row.parked, row.attempts) == (JobStatus.WAITING, True, 1)


# --- slots under the cap ------------------------------------------------------------------------
def test_an_admitted_attempt_holds_a_slot_until_its_task_stops() -> None:
    admitted = _run(Admitted(REF, 1))
    assert admitted is not None
    assert (admitted.status, admitted.attempts, admitted.holds_slot) == (JobStatus.PENDING, 1, True)
    assert admitted.attempt_task_arn is None
    launched = _run(Launched(REF, 1, ARN), row=admitted)
    assert launched is not None
    assert (launched.attempt_task_arn, launched.holds_slot) == (ARN, True)
    running = _run(_task("fargate-running"), row=launched)
    assert running is not None
    assert running.holds_slot
    stopped = _run(_task("fargate-stopped-exit-0"), row=running)
    assert stopped is not None
    assert (stopped.status, stopped.holds_slot) == (JobStatus.SUCCEEDED, False)


@pytest.mark.parametrize(
    "ending",
    [
        pytest.param(_task("spot-interruption"), id="retrying"),
        pytest.param(_task("fargate-stopped-exit-1"), id="failed"),
        pytest.param(TaskLost(ARN, "gone"), id="lost"),
        pytest.param(_task("fargate-user-initiated"), id="cancelled"),
    ],
)
def test_every_end_of_a_task_gives_its_slot_back(ending: Change) -> None:
    row = _run(Admitted(REF, 1), Launched(REF, 1, ARN), ending)
    assert row is not None
    assert row.status in (
        JobStatus.RETRYING,
        JobStatus.FAILED,
        JobStatus.CANCELLED,
    )
    assert not row.holds_slot


def test_a_redelivered_admission_takes_no_second_slot() -> None:
    decision = _last(Admitted(REF, 1), Admitted(REF, 1))
    assert decision.row is None  # nothing to write: no second slot


def test_a_failed_launch_after_admission_waits_and_gives_its_slot_back() -> None:
    # GIVEN an admitted attempt whose RunTask failed
    for change in (
        Waiting(REF, 1, "capacity", receive_count=1),
        Waiting(REF, 1, "in the waiting room: quota", parked=True),
        DeadLettered(REF, 1, "access denied", receive_count=5),
    ):
        row = _run(Admitted(REF, 1), change)
        assert row is not None
        # THEN it is as if never admitted: no attempt counted, no slot held
        assert row.attempts == 0
        assert not row.holds_slot
        assert row.status in (JobStatus.WAITING, JobStatus.DEAD_LETTERED)
    # AND a retry's admission counts its attempt again
    retried = _run(Admitted(REF, 1), Waiting(REF, 1, "x"), Admitted(REF, 1), Launched(REF, 1, ARN))
    assert retried is not None
    assert (retried.attempts, retried.task_arns, retried.holds_slot) == (1, (ARN,), True)


def test_a_launched_attempt_is_not_reverted_by_a_late_wait() -> None:
    row = _run(Admitted(REF, 1), Launched(REF, 1, ARN), Waiting(REF, 1, "late"))
    assert row is not None
    assert (row.status, row.holds_slot) == (JobStatus.PENDING, True)


def test_a_success_without_a_result_document_names_no_result() -> None:
    row = _run(Launched(REF, 1, ARN), _task("fargate-stopped-exit-0", result_written=False))
    assert row is not None
    assert (row.status, row.result_key) == (JobStatus.SUCCEEDED, None)
    assert row.reason == "succeeded without a result document"


def test_an_overwritten_object_ends_its_job_superseded_not_failed() -> None:
    event = ecs_event("fargate-stopped-exit-1", job_id=JOB, attempt=1, task_arn=ARN)
    event["detail"]["containers"][0]["exitCode"] = 4
    decision = _last(Launched(REF, 1, ARN), TaskChanged(parse_task_state_change(event)))
    assert decision.row is not None
    assert decision.row.status is JobStatus.CANCELLED
    assert (decision.row.reason or "").startswith("superseded")
    assert not decision.notify
    assert decision.retry is None
