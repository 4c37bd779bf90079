"""Outputs stay in bounded memory at any length, up to S3's 5 TiB object limit (arithmetic)."""

from __future__ import annotations

import threading

import pytest

from s3fargate.task.outputs import (
    MAX_OBJECT_SIZE,
    MAX_PARTS,
    MEMORY_BUDGET,
    MIN_PART_SIZE,
    _ByteBudget,
    memory_bound,
    stream_part_size,
)

MiB = 2**20
GiB = 2**30


def _part_size_when(first: int, written: int) -> tuple[int, int]:
    """The part number and size a stream has reached once ``written`` bytes went out."""
    total = 0
    for number in range(1, MAX_PARTS + 1):
        size = stream_part_size(first, number)
        total += size
        if total >= written:
            return number, size
    raise AssertionError(f"{written:,} bytes do not fit in {MAX_PARTS:,} parts of first {first}")


@pytest.mark.parametrize("first", [MIN_PART_SIZE, 6 * MiB, 8 * MiB, MEMORY_BUDGET])
def test_any_stream_reaches_s3s_largest_object_within_its_parts(first: int) -> None:
    number, size = _part_size_when(first, MAX_OBJECT_SIZE)
    assert number <= MAX_PARTS
    assert size <= GiB


@pytest.mark.parametrize(
    ("written", "bound"),
    [(10**9, 72 * MiB), (100 * 10**9, 384 * MiB), (10**12, 2 * GiB), (MAX_OBJECT_SIZE, 2 * GiB)],
)
@pytest.mark.parametrize("first", [MIN_PART_SIZE, 6 * MiB, 8 * MiB])
def test_a_long_stream_holds_a_bounded_number_of_bytes(
    first: int, written: int, bound: int
) -> None:
    # The documented bounds (docs/tasks.md): under 128 MiB to about 15 GB written, 384 MiB at
    # 100 GB, and never more than 2 GiB up to 5 TiB.
    _, size = _part_size_when(first, written)
    assert memory_bound(size) <= bound


def test_a_part_larger_than_the_budget_goes_alone_and_smaller_ones_share_it() -> None:
    budget = _ByteBudget(64)
    budget.acquire(100)  # larger than the budget, but nothing else is held: it goes
    entered = threading.Event()

    def second() -> None:
        budget.acquire(10)
        entered.set()

    thread = threading.Thread(target=second)
    thread.start()
    assert not entered.wait(0.05)  # waits while the large part is held
    budget.release(100)
    assert entered.wait(5)
    thread.join()
    budget.acquire(54)  # 10 + 54 fit in 64 together
    budget.release(64)
