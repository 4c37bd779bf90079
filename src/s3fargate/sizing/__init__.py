"""Task sizes by object size, and what a Fargate task costs: pure rules the construct, the
runner, the tracker, the local pipeline and the simulator share (no AWS calls)."""

from s3fargate.sizing.pricing import (
    FargatePrices,
    TaskBill,
    billed_seconds,
    prices_for,
    region_of,
    task_bill,
)
from s3fargate.sizing.sizes import (
    FARGATE_MEMORY_BY_CPU,
    TaskSize,
    TaskSizes,
    read_concurrency_for,
)

__all__ = [
    "FARGATE_MEMORY_BY_CPU",
    "FargatePrices",
    "TaskBill",
    "TaskSize",
    "TaskSizes",
    "billed_seconds",
    "prices_for",
    "read_concurrency_for",
    "region_of",
    "task_bill",
]
