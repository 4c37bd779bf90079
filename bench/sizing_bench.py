"""Right-sizing benchmarks in the simulator, each against its baseline run in the same process.

(a) 1,000 objects, 1 MB-50 GB log-uniform, memory need 400 MiB per GB, 10 s per GB: four
    task sizes against one size fitting the largest object (4 vCPU, 24 GiB). Targets: no job
    fails for memory, cost <= 0.5x, makespan <= 1.1x. Run with an unbounded vCPU quota (the
    same tasks at once in both) and with a 256-vCPU quota (small tasks fit more at once).
(b) 2,000 objects on Fargate Spot, 5% interrupted, 300-900 s tasks, spot_fallback_after 1,
    against the same burst On-Demand. Targets: every object succeeds, cost < 0.5x.
"""

from __future__ import annotations

import dataclasses

from s3fargate.props import PipelineProps
from s3fargate.sim import Durations, Scenario, simulate
from s3fargate.sim.scenario import ObjectSizes
from s3fargate.sizing import TaskSize

SIZES = (
    TaskSize(up_to_bytes=10**9, cpu=256, memory_limit_mib=1024),
    TaskSize(up_to_bytes=8 * 10**9, cpu=1024, memory_limit_mib=4096),
    TaskSize(up_to_bytes=25 * 10**9, cpu=2048, memory_limit_mib=12288),
    TaskSize(up_to_bytes=None, cpu=4096, memory_limit_mib=24576),
)
TARGET_COST = 0.5
TARGET_MAKESPAN = 1.1


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _sized(quota: float) -> None:
    sized_scenario = Scenario(
        uploads=1000,
        object_sizes=ObjectSizes(10**6, 50 * 10**9),
        memory_per_gb=400,
        seconds_per_gb=10,
        vcpu_quota=quota,
        props=PipelineProps(task_sizes=SIZES),
    )
    largest = SIZES[-1]
    single_scenario = dataclasses.replace(
        sized_scenario,
        props=PipelineProps(),
        cpu=largest.cpu / 1024,
        memory_gb=largest.memory_limit_mib / 1024,
    )
    sized, single = simulate(sized_scenario), simulate(single_scenario)
    cost = sized.cost.fargate / single.cost.fargate
    makespan = sized.makespan_s / single.makespan_s
    print(f"\n(a) 1,000 objects 1 MB-50 GB, vCPU quota {quota:,.0f}")
    print(
        f"  sized: succeeded {sized.succeeded:,}, killed for memory {sized.out_of_memory} "
        f"({_verdict(sized.out_of_memory == 0 and sized.succeeded == sized.objects)})"
    )
    print(
        f"  cost: sized ${sized.cost.fargate:,.2f} vs one size ${single.cost.fargate:,.2f} "
        f"= {cost:.2f}x (target <= {TARGET_COST}: {_verdict(cost <= TARGET_COST)})"
    )
    print(
        f"  makespan: sized {sized.makespan_s:,.0f} s vs one size {single.makespan_s:,.0f} s "
        f"= {makespan:.2f}x (target <= {TARGET_MAKESPAN}: "
        f"{_verdict(makespan <= TARGET_MAKESPAN)})"
    )


def _spot() -> None:
    spot_scenario = Scenario(
        uploads=2000,
        task_seconds=Durations(300, 900),
        spot=True,
        spot_interruption_rate=0.05,
        vcpu_quota=1000,
        spot_vcpu_quota=1000,
    )
    on_demand_scenario = dataclasses.replace(spot_scenario, spot=False, spot_interruption_rate=0)
    spot, on_demand = simulate(spot_scenario), simulate(on_demand_scenario)
    cost = spot.cost.fargate / on_demand.cost.fargate
    print("\n(b) 2,000 objects on Spot, 5% interrupted, spot_fallback_after 1")
    print(
        f"  succeeded {spot.succeeded:,}/{spot.objects:,} after {spot.interrupted} "
        f"interruptions ({_verdict(spot.succeeded == spot.objects)})"
    )
    print(
        f"  cost: Spot ${spot.cost.fargate:,.2f} vs On-Demand ${on_demand.cost.fargate:,.2f} "
        f"= {cost:.2f}x (target < {TARGET_COST}: {_verdict(cost < TARGET_COST)})"
    )
    never = simulate(
        dataclasses.replace(spot_scenario, props=PipelineProps(spot_fallback_after=None))
    )
    print(
        f"  without the fallback (spot_fallback_after None): succeeded {never.succeeded:,}, "
        f"failed {never.failed}"
    )


def main() -> None:
    for quota in (10_000.0, 256.0):
        _sized(quota)
    _spot()


if __name__ == "__main__":
    main()
