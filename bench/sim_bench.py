"""Burst benchmarks: 10,000 uploads at once, 60 s tasks at 0.25 vCPU, in the simulator.

(a) the default Fargate quota (6 vCPU) with max_running_tasks 24;
(b) a 4,000-vCPU quota;
(c) a cap far below the quota (2,000 uploads, 100 vCPU, max_running_tasks 24): only the cap
    holds the line, so the peak of running tasks shows whether it is a ceiling.
For each: makespan against the physical bound (target <= 1.05x), nothing lost, dead-lettered
or duplicated, at most 15 requests per object, and the simulation under 60 s of wall time.
The original design (S3 -> Lambda -> RunTask, failures ignored) runs beside ours on the same
uploads. Then the backlog alternatives on 2,000 uploads under the cap.
"""

from __future__ import annotations

from s3fargate.props import PipelineProps
from s3fargate.sim import Scenario, simulate
from s3fargate.sim.scenario import Backlog, Design

UPLOADS = 10_000
TARGET_RATIO = 1.05
TARGET_REQUESTS = 15.0
TARGET_WALL_S = 60.0
CAP_24 = PipelineProps(max_running_tasks=24)
SCENARIOS = {
    "a: 6 vCPU quota, max_running 24": Scenario(uploads=UPLOADS, vcpu_quota=6, props=CAP_24),
    "b: 4,000 vCPU quota": Scenario(uploads=UPLOADS, vcpu_quota=4000),
    "c: 100 vCPU quota, max_running 24": Scenario(uploads=2000, vcpu_quota=100, props=CAP_24),
}


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main() -> None:
    for name, scenario in SCENARIOS.items():
        ours = simulate(scenario)
        original = simulate(
            Scenario(**{**_fields(scenario), "design": Design.ORIGINAL})  # same uploads, seed
        )
        clean = not (ours.lost or ours.dead_lettered or ours.duplicate_tasks or ours.failed)
        print(f"\n({name})")
        print(
            f"  s3fargate: makespan {ours.makespan_s:,.0f} s vs bound {ours.bound_s:,.0f} s "
            f"= {ours.ratio:.3f}x "
            f"(target <= {TARGET_RATIO}: {_verdict(ours.ratio <= TARGET_RATIO)})"
        )
        print(
            f"  s3fargate: succeeded {ours.succeeded:,}/{ours.objects:,}, lost {ours.lost}, "
            f"dead-lettered {ours.dead_lettered}, duplicate tasks {ours.duplicate_tasks} "
            f"({_verdict(clean)})"
        )
        print(
            f"  s3fargate: {ours.requests_per_object:.2f} requests per object "
            f"{_by_service(ours.requests, ours.objects)} "
            f"(target <= {TARGET_REQUESTS:g}: "
            f"{_verdict(ours.requests_per_object <= TARGET_REQUESTS)})"
        )
        cap = scenario.props.max_running_tasks
        print(
            f"  s3fargate: peak {ours.peak_running:,} tasks running"
            + (f" (cap {cap}: {_verdict(ours.peak_running <= cap)})" if cap else "")
            + f"; broken promises: {ours.violations or 'none'}"
        )
        print(
            f"  s3fargate: simulated {ours.makespan_s / 3600:.2f} h in {ours.wall_s:.1f} s of wall "
            f"time (target < {TARGET_WALL_S:g}: {_verdict(ours.wall_s < TARGET_WALL_S)})"
        )
        print(
            f"  original:  succeeded {original.succeeded:,}, lost {original.lost:,} "
            f"({original.lost / original.objects:.0%}), duplicate tasks "
            f"{original.duplicate_tasks}, throttled RunTask calls {original.throttled:,}"
        )
        print(
            f"  cost: s3fargate ${ours.cost.total:,.2f} (Fargate ${ours.cost.fargate:,.2f}), "
            f"original ${original.cost.total:,.2f} for {original.succeeded:,} objects processed"
        )
    print("\n(backlog alternatives: 2,000 uploads, 6 vCPU, max_running 24)")
    for backlog, receives in (
        (Backlog.WAITING_ROOM, 5),
        (Backlog.QUEUE, 5),
        (Backlog.QUEUE, 1000),
    ):
        result = simulate(
            Scenario(
                uploads=2000,
                backlog=backlog,
                props=PipelineProps(max_running_tasks=24, max_receive_count=receives),
            )
        )
        print(
            f"  {backlog.value:12} max_receive_count {receives:>4}: ratio {result.ratio:6.3f}, "
            f"succeeded {result.succeeded:,}, dead-lettered {result.dead_lettered:,}, "
            f"{result.requests_per_object:7.1f} requests/object"
        )


def _fields(scenario: Scenario) -> dict[str, object]:
    return {name: getattr(scenario, name) for name in scenario.__dataclass_fields__}


def _by_service(requests: dict[str, int], objects: int) -> str:
    parts = ", ".join(f"{k} {v / objects:.2f}" for k, v in sorted(requests.items()))
    return f"[{parts}]"


if __name__ == "__main__":
    main()
