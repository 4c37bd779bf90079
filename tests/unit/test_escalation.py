"""One size up on resource kills, Spot's fallback to On-Demand, and each job's cost."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from s3fargate.events.ecs import LOCAL_SHUTDOWN_REASON, parse_task_state_change
from s3fargate.ledger import (
    Admitted,
    Job,
    JobStatus,
    ObjectRef,
    Policy,
    RetryRequested,
    TaskChanged,
    apply,
)
from s3fargate.sizing import TaskSize, TaskSizes
from s3fargate.tracker.actions import JobActions
from s3fargate.tracker.billing import task_cost
from s3fargate.tracker.metrics import COST, FAILED, RETRIED, RUN_TIME, SUCCEEDED, job_figures
from tests.builders import ecs_event

JOB = "job-1"
GIB = 1024**3
SIZES = TaskSizes(
    (
        TaskSize(up_to_bytes=GIB, cpu=256, memory_limit_mib=512),
        TaskSize(up_to_bytes=10 * GIB, cpu=1024, memory_limit_mib=4096),
        TaskSize(up_to_bytes=None, cpu=4096, memory_limit_mib=16384),
    )
)
SIZED = Policy(max_attempts=5, task_sizes=SIZES)
SMALL = ObjectRef(bucket="inbox", key="incoming/a.csv", size=1024)


def _stop(name: str, attempt: int, *, exit_code: int | None = None, arn: str = "") -> TaskChanged:
    event = ecs_event(
        name, job_id=JOB, attempt=attempt, task_arn=arn or f"arn:aws:ecs:r:1:task/c/t{attempt}"
    )
    if exit_code is not None:
        event["detail"]["containers"][0]["exitCode"] = exit_code
    change = parse_task_state_change(event)
    return TaskChanged(change, cost_usd=task_cost(change))


def _launch(row: Job | None, attempt: int, policy: Policy, ref: ObjectRef = SMALL) -> Job:
    decision = apply(row, Admitted(ref, attempt), job_id=JOB, policy=policy, now_ms=attempt)
    assert decision.row is not None
    return decision.row


def _after(row: Job, change: TaskChanged, policy: Policy) -> tuple[Job, int | None]:
    decision = apply(row, change, job_id=JOB, policy=policy, now_ms=10_000)
    assert decision.row is not None
    return decision.row, decision.retry.attempt if decision.retry else None


def test_an_out_of_memory_task_is_retried_one_size_up_until_it_fits() -> None:
    row = _launch(None, 1, SIZED)
    row, retry = _after(row, _stop("fargate-stopped-oom", 1), SIZED)
    assert row.status is JobStatus.RETRYING
    assert retry == 2
    assert row.size_up == 1
    assert "attempt 1 out of memory" in (row.reason or "")
    assert "attempt 2 runs one size up, at 1 vCPU, 4 GiB" in (row.reason or "")
    # The runner's next attempt reads size_up from the retry message.
    assert SIZES.for_attempt(row.size, row.size_up) == SIZES.sizes[1]
    row = _launch(row, 2, SIZED)
    row, _ = _after(row, _stop("fargate-stopped-exit-0", 2), SIZED)
    assert row.status is JobStatus.SUCCEEDED
    assert row.size_up == 1


def test_past_the_largest_size_an_out_of_memory_task_fails_as_without_sizes() -> None:
    big = ObjectRef(bucket="inbox", key="incoming/big.bin", size=20 * GIB)
    row = _launch(None, 1, SIZED, big)
    row, retry = _after(row, _stop("fargate-stopped-oom", 1), SIZED)
    assert row.status is JobStatus.FAILED
    assert retry is None
    assert "out of memory (exit 137" in (row.reason or "")
    assert "raise memory_limit_mib of the largest task size" in (row.reason or "")
    plain = _launch(None, 1, Policy())
    plain, _ = _after(plain, _stop("fargate-stopped-oom", 1), Policy())
    assert plain.status is JobStatus.FAILED
    assert (plain.reason or "").endswith("raise memory_limit_mib")


def test_a_task_out_of_disk_is_retried_one_size_up() -> None:
    disks = Policy(
        max_attempts=3,
        task_sizes=TaskSizes(
            (
                TaskSize(up_to_bytes=GIB, cpu=256, memory_limit_mib=512),
                TaskSize(up_to_bytes=None, cpu=256, memory_limit_mib=512, ephemeral_storage_gib=80),
            )
        ),
    )
    row = _launch(None, 1, disks)
    row, retry = _after(row, _stop("fargate-stopped-exit-1", 1, exit_code=5), disks)
    assert row.status is JobStatus.RETRYING
    assert retry == 2
    assert row.size_up == 1
    assert "out of disk space" in (row.reason or "")
    plain = _launch(None, 1, Policy())
    plain, _ = _after(plain, _stop("fargate-stopped-exit-1", 1, exit_code=5), Policy())
    assert plain.status is JobStatus.FAILED
    assert "raise ephemeral_storage_gib" in (plain.reason or "")


def test_escalation_counts_against_max_attempts() -> None:
    policy = Policy(max_attempts=1, task_sizes=SIZES)
    row = _launch(None, 1, policy)
    row, retry = _after(row, _stop("fargate-stopped-oom", 1), policy)
    assert row.status is JobStatus.FAILED
    assert retry is None
    assert "gave up after 1 attempt(s)" in (row.reason or "")
    assert "max_attempts 1 reached before the next size, 1 vCPU, 4 GiB" in (row.reason or "")


def test_after_one_spot_interruption_the_next_attempts_run_on_demand() -> None:
    policy = Policy(max_attempts=3)
    row = _launch(None, 1, policy)
    row, retry = _after(row, _stop("spot-interruption", 1), policy)
    assert row.status is JobStatus.RETRYING
    assert retry == 2
    assert row.spot_interruptions == 1
    assert row.on_demand
    assert "runs On-Demand" in (row.reason or "")
    body = _retry_body(row)
    assert body["on_demand"] is True
    assert body["size_up"] == 0


def test_without_a_fallback_every_attempt_stays_on_spot() -> None:
    policy = Policy(max_attempts=3, spot_fallback_after=None)
    row = _launch(None, 1, policy)
    row, _ = _after(row, _stop("spot-interruption", 1), policy)
    row = _launch(row, 2, policy)
    row, _ = _after(row, _stop("spot-interruption", 2, arn="arn:aws:ecs:r:1:task/c/t2"), policy)
    assert row.spot_interruptions == 2
    assert not row.on_demand


def test_a_fallback_after_two_waits_for_the_second_interruption() -> None:
    policy = Policy(max_attempts=4, spot_fallback_after=2)
    row = _launch(None, 1, policy)
    row, _ = _after(row, _stop("spot-interruption", 1), policy)
    assert not row.on_demand
    row = _launch(row, 2, policy)
    row, _ = _after(row, _stop("spot-interruption", 2), policy)
    assert row.on_demand


def test_the_cost_adds_up_over_attempts_and_a_repeated_stop_adds_nothing() -> None:
    row = _launch(None, 1, SIZED)
    first = _stop("fargate-stopped-oom", 1)
    row, _ = _after(row, first, SIZED)
    assert first.cost_usd is not None
    assert row.cost_usd == pytest.approx(first.cost_usd)
    assert row.attempt_sizes == ("1: 0.25 vCPU, 0.5 GiB",)
    # The same stop again, even under a newer version, is already counted.
    again = _stop("fargate-stopped-oom", 1)
    event = ecs_event("fargate-stopped-oom", job_id=JOB, attempt=1, version=99)
    event["detail"]["taskArn"] = again.event.task_arn
    repeated = TaskChanged(parse_task_state_change(event), cost_usd=first.cost_usd)
    decision = apply(row, repeated, job_id=JOB, policy=SIZED, now_ms=11_000)
    assert (decision.row or row).cost_usd == pytest.approx(first.cost_usd)
    row = _launch(row, 2, SIZED)
    second = _stop("spot-interruption", 2)
    row, _ = _after(row, second, SIZED)
    assert second.cost_usd is not None
    assert row.cost_usd == pytest.approx(first.cost_usd + second.cost_usd)
    assert row.attempt_sizes[-1] == "2: 0.25 vCPU, 0.5 GiB, Spot"


def test_metrics_count_outcomes_retries_cost_and_run_time_once() -> None:
    row = _launch(None, 1, SIZED)
    decision = apply(row, _stop("fargate-stopped-oom", 1), job_id=JOB, policy=SIZED, now_ms=5)
    names = [name for name, _ in job_figures(decision)]
    assert RETRIED in names
    assert COST in names
    assert RUN_TIME in names
    assert SUCCEEDED not in names
    assert FAILED not in names
    assert decision.row is not None
    row = _launch(decision.row, 2, SIZED)
    decision = apply(row, _stop("fargate-stopped-exit-0", 2), job_id=JOB, policy=SIZED, now_ms=6)
    assert [n for n, _ in job_figures(decision) if n in (SUCCEEDED, FAILED)] == [SUCCEEDED]


def _retry_body(row: Job) -> dict[str, object]:
    sent: list[dict[str, object]] = []

    class Sqs:
        def send_message(self, **kw: object) -> None:
            import json

            sent.append(json.loads(str(kw["MessageBody"])))

    JobActions(sqs=Sqs(), queue_url="q").queue_attempt(row, _order(row))  # type: ignore[arg-type]
    return sent[0]


def _order(row: Job) -> object:
    from s3fargate.ledger import RetryOrder

    return RetryOrder(attempt=row.attempts + 1, delay_s=0)


def test_the_new_fields_survive_a_round_trip_through_dynamodb_s_types() -> None:
    from s3fargate.ledger.store import from_item, to_item

    job = Job(
        job_id=JOB,
        bucket="inbox",
        key="incoming/a.csv",
        status=JobStatus.RETRYING,
        size_up=2,
        spot_interruptions=1,
        on_demand=True,
        attempt_sizes=("1: 0.25 vCPU, 0.5 GiB, Spot",),
        cost_usd=0.000315420,
        accounted_attempts=1,
    )
    item = to_item(job)
    assert item["cost_usd"] == {"N": "0.00031542"}
    assert item["on_demand"] == {"BOOL": True}
    back = from_item(item)
    assert back == job
    assert isinstance(back.cost_usd, float)
    whole = from_item(to_item(replace(job, cost_usd=2.0)))
    assert whole.cost_usd == 2.0
    assert isinstance(whole.cost_usd, float)


def test_a_repeated_stop_of_an_escalated_attempt_skips_no_size_and_orders_no_second_retry() -> None:
    row = _launch(None, 1, SIZED)
    row, _ = _after(row, _stop("fargate-stopped-oom", 1), SIZED)
    assert row.size_up == 1
    event = ecs_event("fargate-stopped-oom", job_id=JOB, attempt=1, version=50)
    event["detail"]["taskArn"] = row.task_arn
    decision = apply(
        row, TaskChanged(parse_task_state_change(event)), job_id=JOB, policy=SIZED, now_ms=20_000
    )
    assert decision.retry is None
    after = decision.row or row
    assert after.size_up == 1
    assert after.status is JobStatus.RETRYING


def test_an_operator_retry_of_a_job_out_of_memory_runs_one_size_up() -> None:
    policy = Policy(max_attempts=1, task_sizes=SIZES)
    row = _launch(None, 1, policy)
    row, _ = _after(row, _stop("fargate-stopped-oom", 1), policy)
    assert row.status is JobStatus.FAILED
    assert row.size_up == 0
    decision = apply(row, RetryRequested("by hand"), job_id=JOB, policy=policy, now_ms=30_000)
    assert decision.row is not None
    assert decision.retry is not None
    assert decision.row.size_up == 1
    assert _retry_body(decision.row)["size_up"] == 1


def test_exit_5_listed_in_retry_exit_codes_is_retried_as_listed_not_resized() -> None:
    policy = Policy(max_attempts=3, task_sizes=SIZES, retry_exit_codes=frozenset({5}))
    row = _launch(None, 1, policy)
    row, retry = _after(row, _stop("fargate-stopped-exit-1", 1, exit_code=5), policy)
    assert row.status is JobStatus.RETRYING
    assert retry == 2
    assert row.size_up == 0


def test_a_disk_kill_does_not_grow_to_a_size_with_no_more_disk() -> None:
    # SIZES' first two sizes both have the default 20 GiB.
    row = _launch(None, 1, SIZED)
    row, retry = _after(row, _stop("fargate-stopped-exit-1", 1, exit_code=5), SIZED)
    assert row.status is JobStatus.FAILED
    assert retry is None
    assert "raise ephemeral_storage_gib of the next task size" in (row.reason or "")


def test_the_price_is_the_size_runtask_asked_for_and_the_wait_runs_from_the_upload() -> None:
    event = ecs_event("fargate-stopped-oom", job_id=JOB, attempt=1)
    event["detail"]["overrides"].update(
        {"cpu": "1024", "memory": "4096", "ephemeralStorage": {"sizeInGiB": 50}}
    )
    change = parse_task_state_change(event)
    assert (change.cpu, change.memory_mib, change.ephemeral_gib) == (1024, 4096, 50)
    job = Job(
        job_id=JOB,
        bucket="b",
        key="k",
        status=JobStatus.RUNNING,
        event_time="2026-11-29T10:15:01Z",
        created_at=1_764_411_302_000,
    )
    assert job.uploaded_at == int(datetime(2026, 11, 29, 10, 15, 1, tzinfo=UTC).timestamp() * 1000)


def _terminated(attempt: int, reason: str) -> TaskChanged:
    event = ecs_event(
        "spot-termination-notice",
        job_id=JOB,
        attempt=attempt,
        task_arn=f"arn:aws:ecs:r:1:task/c/t{attempt}",
    )
    event["detail"]["stoppedReason"] = reason
    return TaskChanged(parse_task_state_change(event))


def test_the_local_pipelines_own_stop_runs_the_job_again_without_spending_an_attempt() -> None:
    # GIVEN a job allowed one attempt, whose task the stopping local pipeline ended
    policy = Policy(max_attempts=1)
    row = _launch(None, 1, policy)
    # WHEN its stop arrives (TerminationNotice, with the stand-in's reason), twice
    row, retry = _after(row, _terminated(1, LOCAL_SHUTDOWN_REASON), policy)
    again = apply(row, _terminated(1, LOCAL_SHUTDOWN_REASON), job_id=JOB, policy=policy, now_ms=1)
    # THEN it runs again, and the attempt is not counted (once, however often it is told)
    assert row.status is JobStatus.RETRYING
    assert retry == 2
    assert row.free_attempts == 1
    assert again.row is None
    assert again.retry is None
    assert "not counted as an attempt" in (row.reason or "")
    # AND its next attempt still has the whole budget: the platform stopping it fails it
    row = _launch(row, 2, policy)
    row, retry = _after(row, _terminated(2, "Host EC2 (instance i-1) stopped"), policy)
    assert row.status is JobStatus.FAILED
    assert retry is None


def test_a_termination_notice_on_aws_spends_an_attempt() -> None:
    policy = Policy(max_attempts=1)
    row, _ = _after(_launch(None, 1, policy), _terminated(1, "Host is retiring"), policy)
    assert row.status is JobStatus.FAILED
    assert row.free_attempts == 0
