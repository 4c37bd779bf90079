"""The ledger store against DynamoDB on the moto server: conditional writes, no lost update."""

from __future__ import annotations

import dataclasses
import threading
from typing import TYPE_CHECKING, Any

import pytest

from s3fargate.events.ecs import parse_task_state_change
from s3fargate.ledger import (
    JobStatus,
    Launched,
    LedgerStore,
    ObjectRef,
    Policy,
    TaskChanged,
    Waiting,
)
from s3fargate.ledger.store import from_item, to_item
from tests.builders import ecs_event
from tests.functional.conftest import new_ledger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

REF = ObjectRef(bucket="inbox", key="incoming/ünï code+plus.csv", etag="e1", size=10)


@pytest.fixture
def store(dynamodb: DynamoDBClient) -> LedgerStore:
    return new_ledger(dynamodb, policy=Policy())


def test_rows_round_trip_through_dynamodb(store: LedgerStore) -> None:
    decision = store.apply("j1", Launched(REF, 1, "arn:task/1"))
    assert decision.row is not None
    assert store.get("j1") == decision.row
    assert from_item(to_item(decision.row)) == decision.row


def test_a_duplicate_change_writes_nothing(store: LedgerStore) -> None:
    first = store.apply("j1", Launched(REF, 1, "arn:task/1"))
    again = store.apply("j1", Launched(REF, 1, "arn:task/1"))
    assert first.row is not None
    assert again.row is None
    row = store.get("j1")
    assert row is not None
    assert row.revision == first.row.revision


def test_a_stale_writer_loses_its_condition_and_reapplies(
    store: LedgerStore, dynamodb: DynamoDBClient
) -> None:
    # GIVEN a writer that read the row before another writer moved it on
    store.apply("j1", Launched(REF, 1, "arn:task/1"))
    stale = store.get("j1")
    assert stale is not None
    running = ecs_event("fargate-running", job_id="j1", task_arn="arn:task/1")
    store.apply("j1", TaskChanged(parse_task_state_change(running)))
    # WHEN the stale writer puts its version of the row
    older = dataclasses.replace(stale, revision=stale.revision - 1)
    written = store._put(stale, old=older)
    # THEN DynamoDB refuses it, and the row stays as the other writer left it
    assert written is False
    row = store.get("j1")
    assert row is not None
    assert row.status is JobStatus.RUNNING


def test_concurrent_writers_lose_no_update(store: LedgerStore) -> None:
    # GIVEN many jobs, each receiving its launch and its RUNNING event from racing threads
    jobs = [f"job-{i}" for i in range(12)]
    errors: list[BaseException] = []

    def launch(job: str) -> None:
        try:
            store.apply(job, Launched(REF, 1, f"arn:task/{job}"))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    def run(job: str) -> None:
        try:
            event = ecs_event("fargate-running", job_id=job, task_arn=f"arn:task/{job}")
            store.apply(job, TaskChanged(parse_task_state_change(event)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=f, args=(j,)) for j in jobs for f in (launch, run)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # THEN every job is running, with its launch recorded: neither write was lost
    assert errors == []
    for job in jobs:
        row = store.get(job)
        assert row is not None
        assert row.status is JobStatus.RUNNING
        assert row.launched_at is not None
        assert row.task_arns == (f"arn:task/{job}",)


def test_status_index_lists_quiet_jobs(store: LedgerStore) -> None:
    store.apply("a", Waiting(REF, 1, "cap"))
    store.apply("b", Launched(REF, 1, "arn:task/b"))
    assert [j.job_id for j in store.jobs_with_status(JobStatus.WAITING)] == ["a"]
    assert [j.job_id for j in store.jobs_with_status(JobStatus.PENDING, updated_before=1)] == []
    assert sorted(j.job_id for j in store.jobs()) == ["a", "b"]


def test_follower_sees_every_new_and_changed_row_without_rescanning(store: LedgerStore) -> None:
    from s3fargate.local.console import LedgerFollower

    follower = LedgerFollower(store)
    assert follower.jobs() == []
    store.apply("a", Waiting(REF, 1, "cap"))
    assert [(j.job_id, j.status) for j in follower.jobs()] == [("a", JobStatus.WAITING)]
    store.apply("a", Launched(REF, 1, "arn:task/a"))
    store.apply("b", Launched(REF, 1, "arn:task/b"))
    rows = {j.job_id: j.status for j in follower.jobs()}
    assert rows == {"a": JobStatus.PENDING, "b": JobStatus.PENDING}
    # after the first scan, only recent rows are read
    calls: list[str] = []
    original = store.jobs

    def counting_scan() -> Any:
        calls.append("scan")
        return original()

    store.jobs = counting_scan  # type: ignore[method-assign]
    follower.jobs()
    assert calls == []
