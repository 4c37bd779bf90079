"""What a stopped task cost, from what ECS says about it (its size, capacity and times)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from s3fargate.sizing import billed_seconds, prices_for, region_of, task_bill
from s3fargate.sizing.pricing import SPOT_CAPACITY

if TYPE_CHECKING:
    from s3fargate.events.ecs import TaskStateChange
    from s3fargate.sizing import FargatePrices


def task_cost(
    change: TaskStateChange, prices: FargatePrices | None = None, *, public_ip: bool = False
) -> float | None:
    """USD AWS bills for the stopped task ``change`` describes: from its image pull's start
    to its stop, at its size, On-Demand or Spot, and its public IPv4 address when the pipeline
    assigns one; ``prices`` None: the list prices of the cluster's region for the task's
    architecture. None when the task has not stopped or ECS does not say its size; 0.0 when it
    never began pulling its image (nothing is billed)."""
    if not change.stopped or change.cpu is None or change.memory_mib is None:
        return None
    seconds = billed_seconds(change.pull_started_at, change.stopped_at)
    if seconds == 0:
        return 0.0
    bill = task_bill(
        cpu=change.cpu,
        memory_mib=change.memory_mib,
        ephemeral_gib=change.ephemeral_gib,
        seconds=seconds,
        spot=change.capacity_provider == SPOT_CAPACITY,
        public_ip=public_ip,
        prices=prices or prices_for(region_of(change.cluster_arn), change.architecture),
    )
    return bill.usd
