"""The waiting room against DynamoDB on the moto server, and the simulator's table against it."""

from __future__ import annotations

import random
import threading
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

import pytest

from s3fargate.events.ecs import parse_task_state_change
from s3fargate.lambda_runtime.paginators import botocore_paginator
from s3fargate.launching import RunnerConfig
from s3fargate.launching.launcher import RunTaskLauncher
from s3fargate.ledger import (
    Admitted,
    JobStatus,
    Launched,
    LedgerStore,
    ObjectRef,
    Slots,
    SlotsFullError,
    TaskChanged,
    Waiting,
)
from s3fargate.ledger.identity import version_claim_key
from s3fargate.ledger.store import Claim, VersionClaimedError
from s3fargate.sim.dynamodb import DynamoDb
from s3fargate.tracker.waiting_room import WaitingRoom
from s3fargate.wire import wire_format
from tests.builders import ecs_event
from tests.fakes import FakeEcs
from tests.functional.conftest import new_ledger

if TYPE_CHECKING:
    from botocore.paginate import Paginator
    from mypy_boto3_dynamodb import DynamoDBClient

CONFIG = RunnerConfig(
    cluster_arn="arn:aws:ecs:eu-west-1:111122223333:cluster/c",
    task_definition_arn="arn:aws:ecs:eu-west-1:111122223333:task-definition/t:1",
    container_name="task",
    subnets=("subnet-1",),
    max_running_tasks=4,
)


class Clock:
    """A clock the test moves: rows are ordered by when they were written."""

    def __init__(self) -> None:
        self.ms = 1_000_000

    def __call__(self) -> int:
        self.ms += 1000
        return self.ms


@pytest.fixture
def store(dynamodb: DynamoDBClient) -> LedgerStore:
    return new_ledger(dynamodb, clock=Clock())


def _ref(n: int) -> ObjectRef:
    return ObjectRef(bucket="inbox", key=f"incoming/file {n} ü.csv", etag=f"e{n}", size=n)


def _park(store: LedgerStore, *numbers: int) -> None:
    for n in numbers:
        store.apply(f"job-{n}", Waiting(_ref(n), 1, "cap", parked=True), new=True)


def _room(store: LedgerStore, ecs: FakeEcs) -> WaitingRoom:
    return WaitingRoom(
        config=CONFIG,
        store=store,
        launcher=RunTaskLauncher(ecs=ecs, config=CONFIG),
        ecs=ecs,
    )


def _direct(table: DynamoDb) -> Any:
    """The simulator's table as a synchronous client (no virtual time needed here)."""

    class Direct:
        def __getattr__(self, name: str) -> Any:
            return getattr(table, name)

        def get_paginator(self, operation: str) -> Paginator[Any]:
            return botocore_paginator("dynamodb", operation, getattr(table, operation))

    return Direct()


def test_parked_jobs_are_listed_longest_waiting_first_skipping_queued_ones(
    store: LedgerStore,
) -> None:
    # GIVEN more waiting rows still in the queue than one page, then three parked jobs
    for n in range(30):
        store.apply(f"queued-{n}", Waiting(_ref(100 + n), 1, "throttled", receive_count=1))
    _park(store, 1, 2, 3)
    # THEN the parked ones come back, oldest first, as many as asked
    assert [j.job_id for j in store.parked_jobs(2)] == ["job-1", "job-2"]
    assert [j.job_id for j in store.parked_jobs(10)] == ["job-1", "job-2", "job-3"]
    assert store.parked_jobs(0) == []


def test_release_launches_the_oldest_parked_jobs_with_their_own_tokens(
    store: LedgerStore,
) -> None:
    _park(store, 1, 2, 3)
    ecs = FakeEcs()
    assert _room(store, ecs).release(2) == 2
    assert ecs.launched_keys == ["incoming/file 1 ü.csv", "incoming/file 2 ü.csv"]
    assert [c["clientToken"] for c in ecs.calls] == ["job-1", "job-2"]
    first = store.get("job-1")
    assert first is not None
    assert (first.status, first.parked, first.attempts) == (JobStatus.PENDING, False, 1)
    third = store.get("job-3")
    assert third is not None
    assert (third.status, third.parked) == (JobStatus.WAITING, True)


def test_a_tracker_that_loses_the_race_launches_the_next_job(store: LedgerStore) -> None:
    # GIVEN two parked jobs, and another tracker that records job-1's launch while this one
    # is calling RunTask for it (same clientToken: ECS started one task)
    _park(store, 1, 2)
    other = FakeEcs()

    class Racing(FakeEcs):
        def run_task(self, **kwargs: Any) -> dict[str, Any]:
            if kwargs["clientToken"] == "job-1" and not other.calls:
                _room(store, other).release(1)
            return super().run_task(**kwargs)

    ecs = Racing()
    # WHEN this tracker releases one slot
    launched = _room(store, ecs).release(1)
    # THEN it counted only its own launch: job-2, so the freed slot is not lost
    assert launched == 1
    assert [c["clientToken"] for c in ecs.calls] == ["job-1", "job-2"]
    assert [store.get(j).status for j in ("job-1", "job-2")] == [  # type: ignore[union-attr]
        JobStatus.PENDING,
        JobStatus.PENDING,
    ]


def test_a_failed_launch_leaves_the_job_parked(store: LedgerStore) -> None:
    _park(store, 1, 2)

    def quota(_: dict[str, Any]) -> dict[str, Any]:
        reason = "You've reached the limit on the number of vCPUs you can run concurrently"
        return {"tasks": [], "failures": [{"reason": reason}]}

    ecs = FakeEcs(by_key={"incoming/file 1 ü.csv": quota})
    assert _room(store, ecs).release(2) == 0
    assert len(ecs.calls) == 1  # the second would fail the same way: it waits its turn
    assert [j.job_id for j in store.parked_jobs(5)] == ["job-1", "job-2"]


def test_top_up_fills_the_free_slots_under_the_cap(store: LedgerStore) -> None:
    _park(store, 1, 2, 3, 4, 5)
    ecs = FakeEcs(active_tasks=2)
    assert _room(store, ecs).top_up() == 2  # cap 4, two active
    assert len(ecs.list_calls) == 1
    assert [j.job_id for j in store.parked_jobs(5)] == ["job-3", "job-4", "job-5"]


def test_the_simulators_table_answers_the_store_as_dynamodb_does(store: LedgerStore) -> None:
    # The same writes through the same store, on moto and on the simulator's table.
    simulated = LedgerStore(
        dynamodb=_direct(DynamoDb(store.table)), table=store.table, clock=Clock()
    )
    for ledger in (store, simulated):
        for n in range(30):
            ledger.apply(f"queued-{n}", Waiting(_ref(100 + n), 1, "throttled", receive_count=1))
        _park(ledger, 1, 2, 3)
        ledger.apply("job-2", Launched(_ref(2), 1, "arn:task/2"))
        ledger.apply("job-9", Launched(_ref(9), 1, "arn:task/9"), new=True)
        ledger.apply("job-9", Launched(_ref(9), 1, "arn:task/9"), new=True)  # guessed wrong
    assert store.parked_jobs(5) == simulated.parked_jobs(5)
    for status in JobStatus:
        assert list(store.jobs_with_status(status)) == list(simulated.jobs_with_status(status))
        assert list(store.jobs_with_status(status, updated_before=1_010_000)) == list(
            simulated.jobs_with_status(status, updated_before=1_010_000)
        )
    assert sorted(j.job_id for j in store.jobs()) == sorted(j.job_id for j in simulated.jobs())
    row = store.get("job-9")
    assert row is not None
    assert row == simulated.get("job-9")
    assert row.revision == 1
    stale = replace(row, revision=0)
    assert store.apply_if_unchanged(stale, Launched(_ref(9), 2, "x")) is None
    assert simulated.apply_if_unchanged(stale, Launched(_ref(9), 2, "x")) is None


def test_slots_hold_the_cap_on_dynamodb_and_on_the_simulators_table(
    store: LedgerStore,
) -> None:
    # GIVEN the same store on moto and on the simulator's table, with a cap of 2
    slots = Slots("pipeline-a", 2)
    capped = replace_store(store, slots=slots)
    simulated = LedgerStore(
        dynamodb=_direct(DynamoDb(store.table)), table=store.table, clock=Clock(), slots=slots
    )
    for ledger in (capped, simulated):
        # WHEN three jobs ask for a slot
        ledger.apply("a", Admitted(_ref(1), 1))
        ledger.apply("b", Admitted(_ref(2), 1))
        with pytest.raises(SlotsFullError):
            ledger.apply("c", Admitted(_ref(3), 1))
        # THEN two hold one, the third wrote nothing
        assert ledger.slots_held() == 2
        assert ledger.get("c") is None
        # WHEN one task stops, its slot goes back and the third job gets it
        ledger.apply("a", Launched(_ref(1), 1, "arn:task/a"))
        stopped = ecs_event("fargate-stopped-exit-0", job_id="a", task_arn="arn:task/a")
        ledger.apply("a", TaskChanged(parse_task_state_change(stopped)))
        assert ledger.slots_held() == 1
        ledger.apply("c", Admitted(_ref(3), 1))
        assert ledger.slots_held() == 2
        # AND a failed launch gives its slot back as it parks
        ledger.apply("c", Waiting(_ref(3), 1, "quota", parked=True))
        assert ledger.slots_held() == 1
        # AND another pipeline's counter is its own
        other = replace_store(ledger, slots=Slots("pipeline-b", 1))
        other.apply("d", Admitted(_ref(4), 1))
        assert (ledger.slots_held(), other.slots_held()) == (1, 1)
        # AND listings never show the counters
        assert {j.job_id for j in ledger.jobs()} == {"a", "b", "c", "d"}


def test_racing_admissions_never_pass_the_cap(store: LedgerStore) -> None:
    # GIVEN 24 writers admitting 24 jobs at once under a cap of 5
    capped = replace_store(store, slots=Slots("racing", 5))
    admitted: list[str] = []
    refused: list[str] = []
    lock = threading.Lock()

    def admit(n: int) -> None:
        try:
            capped.apply(f"race-{n}", Admitted(_ref(n), 1))
        except SlotsFullError:
            with lock:
                refused.append(f"race-{n}")
        else:
            with lock:
                admitted.append(f"race-{n}")

    threads = [threading.Thread(target=admit, args=(n,)) for n in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN exactly five hold a slot, the counter says five, the rest wrote nothing
    assert len(admitted) == 5
    assert len(refused) == 19
    assert capped.slots_held() == 5
    holding = [j for j in capped.jobs() if j.job_id.startswith("race-") and j.holds_slot]
    assert sorted(j.job_id for j in holding) == sorted(admitted)


def replace_store(store: LedgerStore, *, slots: Slots) -> LedgerStore:
    """The same table and clock, with ``slots``."""
    return LedgerStore(dynamodb=store._dynamodb, table=store.table, clock=store._clock, slots=slots)


def test_one_processing_per_object_version_on_dynamodb_and_on_the_simulators_table(
    store: LedgerStore,
) -> None:
    simulated = LedgerStore(
        dynamodb=_direct(DynamoDb(store.table)), table=store.table, clock=Clock()
    )
    for ledger in (store, simulated):
        version = version_claim_key(bucket="b", key="incoming/a", etag="e1")
        # GIVEN an upload whose job claimed its version (its sequencer is its token)
        ledger.apply("up-1", Admitted(_ref(1), 1, False), claim=Claim(version, "up-1", "seq-1"))
        # WHEN backfill finds the same version, THEN it may not have it
        with pytest.raises(VersionClaimedError) as info:
            ledger.apply("bf-1", Admitted(_ref(1), 1, False), claim=Claim(version, "bf-1", None))
        assert info.value.claimed_by == "up-1"
        assert ledger.get("bf-1") is None  # nothing written
        # AND S3 delivering the same upload again (same token) is refused too
        with pytest.raises(VersionClaimedError):
            ledger.apply(
                "up-1b", Admitted(_ref(1), 1, False), claim=Claim(version, "up-1b", "seq-1")
            )
        # AND the same job writing again keeps its claim
        ledger.apply(
            "up-1", Launched(_ref(1), 1, "arn:task/1"), claim=Claim(version, "up-1", "seq-1")
        )
        # AND another upload of the same bytes (its own sequencer) gets its own job
        ledger.apply("up-2", Admitted(_ref(1), 1, False), claim=Claim(version, "up-2", "seq-2"))
        assert ledger.claim_holder(version) == "up-2"

        other = version_claim_key(bucket="b", key="incoming/c", etag="e3")
        # GIVEN backfill claimed a version first (at the table's clock)
        ledger.apply("bf-3", Admitted(_ref(3), 1, False), claim=Claim(other, "bf-3", None))
        # WHEN the upload it found arrives (it happened before the claim), THEN it is refused
        with pytest.raises(VersionClaimedError):
            ledger.apply(
                "up-3", Admitted(_ref(3), 1, False), claim=Claim(other, "up-3", "s", event_at=0)
            )
        # AND an upload that happened after the claim is a new upload: its own job
        later = 10**13
        ledger.apply(
            "up-4", Admitted(_ref(3), 1, False), claim=Claim(other, "up-4", "s", event_at=later)
        )
        # AND a takeover succeeds only from the job that has the claim
        with pytest.raises(VersionClaimedError):
            ledger.apply(
                "bf-5",
                Admitted(_ref(3), 1, False),
                claim=Claim(other, "bf-5", None, takeover_from="bf-3"),
            )
        ledger.apply(
            "bf-6",
            Admitted(_ref(3), 1, False),
            claim=Claim(other, "bf-6", None, takeover_from="up-4"),
        )
        assert ledger.claim_holder(other) == "bf-6"
        # AND listings never show the claims
        assert all(not j.job_id.startswith("version#") for j in ledger.jobs())


class _Contended:
    """The moto client, but DynamoDB cancels a share of the writes for contention alone, as
    it does when transactions meet on the slot counter (moto never does): a transaction with
    ``TransactionConflict`` among its reasons, a PutItem with ``TransactionConflictException``,
    both as botocore parses them from DynamoDB's wire format."""

    def __init__(self, dynamodb: DynamoDBClient, share: float, seed: int) -> None:
        self._dynamodb = dynamodb
        self._share = share
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.cancelled = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._dynamodb, name)

    def _unlucky(self) -> bool:
        with self._lock:
            unlucky = self._random.random() < self._share
            self.cancelled += unlucky
            return unlucky

    def transact_write_items(self, **request: Any) -> Any:
        if self._unlucky():
            reasons = [{"Code": "None"} for _ in request["TransactItems"]]
            reasons[-1] = {"Code": "TransactionConflict", "Message": "Transaction is ongoing"}
            raise _DYNAMODB.error(
                "TransactWriteItems",
                "TransactionCanceledException",
                "Transaction cancelled, please refer cancellation reasons for specific reasons "
                "[None, TransactionConflict]",
                CancellationReasons=reasons,
            )
        return self._dynamodb.transact_write_items(**request)

    def put_item(self, **request: Any) -> Any:
        if self._unlucky():
            raise _DYNAMODB.error(
                "PutItem",
                "TransactionConflictException",
                "Transaction request cannot include multiple operations on one item",
            )
        return self._dynamodb.put_item(**request)


_DYNAMODB = wire_format("dynamodb")


def test_racing_writers_on_a_contended_counter_all_succeed(store: LedgerStore) -> None:
    # GIVEN DynamoDB cancelling 40% of the writes for contention, and 16 writers admitting
    # and then ending jobs under a cap of 16 (every job fits: only contention could fail one)
    contended = _Contended(store._dynamodb, share=0.4, seed=7)
    capped = LedgerStore(
        dynamodb=cast("DynamoDBClient", contended),
        table=store.table,
        clock=store._clock,
        slots=Slots("contended", 16),
        sleep=lambda _seconds: None,  # the backoff's length is not what this test is about
    )
    failures: list[BaseException] = []

    def admit_and_end(n: int) -> None:
        try:
            capped.apply(f"hot-{n}", Admitted(_ref(n), 1))
            stopped = ecs_event("fargate-stopped-exit-0", job_id=f"hot-{n}", attempt=1)
            capped.apply(f"hot-{n}", TaskChanged(parse_task_state_change(stopped)))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=admit_and_end, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN no writer failed for contention alone, and the counter is back to zero
    assert contended.cancelled > 0
    assert failures == []
    assert capped.slots_held() == 0
    rows = [j for j in capped.jobs() if j.job_id.startswith("hot-")]
    assert len(rows) == 16
    assert all(not row.holds_slot for row in rows)
