"""Task sizes by object size, and Fargate's bill: boundaries and hand-worked prices."""

from __future__ import annotations

import pytest

from s3fargate.events.ecs import parse_task_state_change
from s3fargate.sizing import (
    FargatePrices,
    TaskSize,
    TaskSizes,
    billed_seconds,
    prices_for,
    read_concurrency_for,
    task_bill,
)
from s3fargate.sizing.sizes import FARGATE_MEMORY_BY_CPU, TaskSizeError, task_size_problem
from s3fargate.tracker.billing import task_cost
from tests.builders import ecs_event

GIB = 1024**3
SIZES = TaskSizes(
    (
        TaskSize(up_to_bytes=GIB, cpu=256, memory_limit_mib=1024),
        TaskSize(up_to_bytes=8 * GIB, cpu=1024, memory_limit_mib=4096, ephemeral_storage_gib=40),
        TaskSize(up_to_bytes=None, cpu=4096, memory_limit_mib=16384, ephemeral_storage_gib=120),
    )
)
#: us-east-1, Linux/x86 (aws.amazon.com/fargate/pricing).
X86 = prices_for("us-east-1", "x86_64")


@pytest.mark.parametrize(
    ("object_size", "index"),
    [
        (0, 0),
        (GIB, 0),  # exactly the bound: that size
        (GIB + 1, 1),  # one byte over: the next
        (8 * GIB, 1),
        (8 * GIB + 1, 2),
        (50 * 10**12, 2),  # beyond every bound: the last
        (None, 2),  # unknown: the largest, as nothing says a smaller one holds it
    ],
)
def test_each_object_gets_the_first_size_whose_bound_holds_it(
    object_size: int | None, index: int
) -> None:
    assert SIZES.index_for(object_size) == index


def test_an_attempt_moves_up_one_size_per_step_and_stops_at_the_largest() -> None:
    assert SIZES.for_attempt(10, 0) == SIZES.sizes[0]
    assert SIZES.for_attempt(10, 1) == SIZES.sizes[1]
    assert SIZES.for_attempt(10, 5) == SIZES.sizes[2]
    assert SIZES.can_grow(10, 1)
    assert not SIZES.can_grow(10, 2)
    assert not SIZES.can_grow(None, 0)
    assert not TaskSizes().can_grow(10, 0)


@pytest.mark.parametrize(
    ("sizes", "problem"),
    [
        ([TaskSize(None, 256, 4096)], "memory_limit_mib=4096 is not valid with cpu=256"),
        ([TaskSize(None, 300, 1024)], "cpu=300 is not a Fargate CPU value"),
        ([TaskSize(None, 256, 512, ephemeral_storage_gib=20)], "21-200 GiB"),
        ([TaskSize(None, 256, 512, ephemeral_storage_gib=201)], "21-200 GiB"),
        ([TaskSize(GIB, 256, 512)], "the last size must have up_to_bytes=None"),
        ([TaskSize(None, 256, 512), TaskSize(None, 512, 1024)], "only the last size"),
        (
            [TaskSize(GIB, 256, 512), TaskSize(GIB, 512, 1024), TaskSize(None, 1024, 2048)],
            "must grow",
        ),
        ([TaskSize(-1, 256, 512), TaskSize(None, 512, 1024)], "whole number of bytes"),
    ],
)
def test_sizes_fargate_refuses_or_out_of_order_are_refused(
    sizes: list[TaskSize], problem: str
) -> None:
    with pytest.raises(TaskSizeError, match=problem):
        TaskSizes(tuple(sizes)).check()


def test_sizes_travel_as_one_variable_and_come_back_equal() -> None:
    text = SIZES.encode()
    assert text == f"{GIB}:256:1024,{8 * GIB}:1024:4096:40,*:4096:16384:120"
    assert TaskSizes.decode(text) == SIZES
    with pytest.raises(TaskSizeError, match="up_to_bytes:cpu:memory_limit_mib"):
        TaskSizes.decode("1:256")
    with pytest.raises(TaskSizeError, match="whole number or"):
        TaskSizes.decode("x:256:512")


def test_labels_and_read_concurrency_grow_with_the_size() -> None:
    assert SIZES.sizes[1].label == "1 vCPU, 4 GiB, 40 GiB disk"
    assert SIZES.sizes[0].label == "0.25 vCPU, 1 GiB"
    assert [read_concurrency_for(cpu) for cpu in (256, 1024, 16384)] == [4, 8, 32]
    assert read_concurrency_for(128) == 4


# --- the bill ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("start_ms", "stop_ms", "seconds"),
    [
        (0, 10_000, 60),  # a ten-second task is billed a minute
        (0, 60_000, 60),
        (0, 60_001, 61),  # whole seconds, rounded up
        (1_000, 3_601_000, 3600),
        (None, 5_000, 0),  # never pulled its image: nothing billed
        (5_000, None, 0),
    ],
)
def test_billed_seconds_per_second_with_a_one_minute_minimum(
    start_ms: int | None, stop_ms: int | None, seconds: int
) -> None:
    assert billed_seconds(start_ms, stop_ms) == seconds


def test_an_hour_of_one_vcpu_and_two_gib_on_demand() -> None:
    bill = task_bill(cpu=1024, memory_mib=2048, seconds=3600, prices=X86)
    # 1 vCPU x $0.04048 + 2 GB x $0.004445
    assert bill.usd == pytest.approx(0.04048 + 2 * 0.004445)


def test_a_short_task_pays_the_minute_minimum() -> None:
    seconds = billed_seconds(0, 10_000)
    bill = task_bill(cpu=256, memory_mib=512, seconds=seconds, prices=X86)
    # 60 s of (0.25 x 0.04048 + 0.5 x 0.004445) per hour
    assert bill.usd == pytest.approx((0.01012 + 0.0022225) / 60)


def test_storage_beyond_twenty_gib_is_billed_and_the_first_twenty_are_not() -> None:
    base = task_bill(cpu=1024, memory_mib=2048, seconds=3600, prices=X86, ephemeral_gib=20)
    more = task_bill(cpu=1024, memory_mib=2048, seconds=3600, prices=X86, ephemeral_gib=120)
    assert more.usd - base.usd == pytest.approx(100 * 0.000111)
    assert task_bill(cpu=1024, memory_mib=2048, seconds=3600, prices=X86).usd == base.usd


def test_spot_is_billed_at_its_share_of_on_demand_and_arm_at_its_own_prices() -> None:
    on_demand = task_bill(cpu=2048, memory_mib=4096, seconds=600, prices=X86)
    spot = task_bill(cpu=2048, memory_mib=4096, seconds=600, prices=X86, spot=True)
    assert spot.usd == pytest.approx(0.3 * on_demand.usd)
    arm = task_bill(
        cpu=1024, memory_mib=1024, seconds=3600, prices=prices_for("us-east-1", "arm64")
    )
    assert arm.usd == pytest.approx(0.03238 + 0.00356)


def test_a_region_without_list_prices_is_priced_at_us_east_1_and_says_so() -> None:
    prices = prices_for("ap-south-2", "x86_64")
    assert prices.vcpu_hour == X86.vcpu_hour
    assert "ap-south-2 priced at us-east-1" in prices.source


def test_prices_travel_as_json_and_bad_ones_are_refused() -> None:
    prices = FargatePrices(vcpu_hour=0.05, gb_hour=0.005, storage_gb_hour=0.0001, spot_share=0.4)
    assert FargatePrices.decode(prices.encode()) == prices
    with pytest.raises(ValueError, match="vcpu_hour"):
        FargatePrices.decode('{"gb_hour": 1}')
    with pytest.raises(ValueError, match="spot_share=2"):
        FargatePrices.decode(
            '{"vcpu_hour": 1, "gb_hour": 1, "storage_gb_hour": 0, "spot_share": 2}'
        )


def test_a_stopped_task_event_is_priced_from_its_image_pull_to_its_stop() -> None:
    # fargate-stopped-oom: 256 CPU, 512 MiB, pull 10:15:20.443, stop 10:16:52.331 -> 92 s
    change = parse_task_state_change(ecs_event("fargate-stopped-oom"))
    assert (change.cpu, change.memory_mib, change.ephemeral_gib) == (256, 512, 20)
    assert change.architecture == "x86_64"
    expected = (0.25 * 0.04048 + 0.5 * 0.004445) * 92 / 3600
    assert task_cost(change) == pytest.approx(expected)
    spot = parse_task_state_change(ecs_event("spot-interruption"))
    assert task_cost(spot) == pytest.approx(0.3 * expected)
    own = FargatePrices(vcpu_hour=1.0, gb_hour=0.0, storage_gb_hour=0.0)
    assert task_cost(change, own) == pytest.approx(0.25 * 92 / 3600)


def test_a_running_task_is_not_priced() -> None:
    assert task_cost(parse_task_state_change(ecs_event("fargate-running"))) is None


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("up_to_bytes=1GiB,cpu=1024,memory_limit_mib=4096", TaskSize(GIB, 1024, 4096)),
        ("up_to_bytes=500MB,cpu=256,memory_limit_mib=512", TaskSize(500 * 10**6, 256, 512)),
        ("up_to_bytes=1048576,cpu=256,memory_limit_mib=512", TaskSize(2**20, 256, 512)),
        (
            "cpu=4096,memory_limit_mib=16384,ephemeral_storage_gib=100",
            TaskSize(None, 4096, 16384, 100),
        ),
        ("up_to_bytes=none, cpu=512, memory_limit_mib=1024", TaskSize(None, 512, 1024)),
    ],
)
def test_a_size_as_a_person_writes_it(text: str, size: TaskSize) -> None:
    assert TaskSize.parse(text) == size


def test_a_failed_job_s_notice_says_what_it_cost() -> None:
    from s3fargate.ledger import Job, JobStatus
    from s3fargate.ledger.notifications import job_summary

    job = Job(
        job_id="j",
        bucket="b",
        key="incoming/a",
        status=JobStatus.FAILED,
        cost_usd=0.0123,
        attempt_sizes=("1: 0.25 vCPU, 0.5 GiB",),
    )
    summary = job_summary(job)
    assert summary["cost_usd"] == 0.0123
    assert summary["attempt_sizes"] == ["1: 0.25 vCPU, 0.5 GiB"]


def test_the_fargate_table_is_exactly_what_aws_documents() -> None:
    # AWS, "Fargate task sizes": each CPU value with its memory values in MiB.
    gib = 1024
    documented = {
        256: [512, 1 * gib, 2 * gib],
        512: [g * gib for g in range(1, 5)],
        1024: [g * gib for g in range(2, 9)],
        2048: [g * gib for g in range(4, 17)],
        4096: [g * gib for g in range(8, 31)],
        8192: [g * gib for g in range(16, 61, 4)],
        16384: [g * gib for g in range(32, 121, 8)],
    }
    assert {cpu: list(memory) for cpu, memory in FARGATE_MEMORY_BY_CPU.items()} == documented
    assert task_size_problem(256, 1536) == (
        "memory_limit_mib=1536 is not valid with cpu=256: Fargate allows 512, 1024 or 2048 MiB "
        "for that CPU"
    )


def test_a_public_ipv4_address_is_billed_by_the_hour_spot_or_not() -> None:
    # Amazon VPC: $0.005 per public IPv4 address per hour; Fargate's own share is what Spot
    # discounts, the address is not.
    hour = task_bill(cpu=256, memory_mib=512, seconds=3600, prices=X86, public_ip=True)
    fargate = 0.25 * 0.04048 + 0.5 * 0.004445
    assert hour.usd == pytest.approx(fargate + 0.005)
    assert hour.usd / fargate == pytest.approx(1.405, abs=0.001)  # 29% of the bill
    spot = task_bill(cpu=256, memory_mib=512, seconds=3600, prices=X86, public_ip=True, spot=True)
    assert spot.usd == pytest.approx(fargate * 0.3 + 0.005)


@pytest.mark.parametrize(("assign", "public"), [("ENABLED", True), ("DISABLED", False)])
def test_the_tracker_prices_the_address_only_where_tasks_get_one(assign: str, public: bool) -> None:
    from s3fargate.lambda_runtime.settings import PipelineSettings
    from s3fargate.tracker.config import TrackerConfig

    settings = PipelineSettings(
        cluster_arn="arn:aws:ecs:us-east-1:111122223333:cluster/c",
        jobs_table="jobs",
        queue_url="https://sqs.us-east-1.amazonaws.com/111122223333/q",
        assign_public_ip=assign,
    )
    config = TrackerConfig.from_settings(settings)
    assert config.public_ip is public
    change = parse_task_state_change(ecs_event("fargate-stopped-exit-0"))
    with_address = task_cost(change, public_ip=True)
    without = task_cost(change)
    assert with_address is not None
    assert without is not None
    assert with_address > without
