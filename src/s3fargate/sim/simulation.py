"""Run one scenario and report: makespan against the bound, what became of each object, requests
and cost."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from s3fargate.sim.designs import OriginalPipeline, S3FargatePipeline
from s3fargate.sim.metrics import Sample
from s3fargate.sim.pricing import Cost, cost_of
from s3fargate.sim.scenario import Design
from s3fargate.sim.world import World

if TYPE_CHECKING:
    from collections.abc import Callable, Generator

    import simpy

    from s3fargate.sim.scenario import Scenario

#: A simulation that has not settled after this much virtual time is stopped (and says so).
HORIZON_S = 30 * 86_400.0
#: How often the pipeline is looked at: for the chart and to notice that it has settled.
SAMPLES = 400


@dataclass
class Result:
    """What one simulated burst came to."""

    scenario: Scenario
    makespan_s: float
    bound_s: float
    objects: int
    succeeded: int
    failed: int
    lost: int
    dead_lettered: int
    duplicate_tasks: int
    tasks: int
    throttled: int
    quota_refusals: int
    #: Tasks killed for memory, and Spot tasks interrupted.
    out_of_memory: int
    interrupted: int
    requests: dict[str, int]
    requests_by_operation: dict[str, int]
    cost: Cost
    peak_running: int
    #: Slots the ledger's counter still says are held at the end (0 when every job settled).
    slots_held: int
    settled: bool
    wall_s: float
    samples: list[Sample] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        """Makespan over the bound (1.0 is the best any design can do)."""
        return self.makespan_s / self.bound_s if self.bound_s else 0.0

    @property
    def requests_per_object(self) -> float:
        """SQS, Lambda, ECS, DynamoDB and SNS requests, over the objects."""
        return sum(self.requests.values()) / self.objects

    @property
    def violations(self) -> list[str]:
        """Promises this run broke; each is an error in itself."""
        found: list[str] = []
        cap = self.scenario.props.max_running_tasks
        if cap is not None and self.peak_running > cap:
            found.append(f"{self.peak_running} tasks ran at once, over the cap of {cap}")
        floor = self.scenario.floor_s()
        # Each task at its own size and time: no run that finished every object beats it.
        if self.succeeded == self.objects and self.makespan_s < floor:
            found.append(
                f"makespan {self.makespan_s:.0f} s is below the physical floor {floor:.0f} s: "
                "more tasks ran at once than the quota and the cap allow"
            )
        if self.slots_held:
            found.append(f"{self.slots_held} slots still held after every job settled")
        return found

    def as_dict(self) -> dict[str, Any]:
        """The JSON document of ``s3fargate simulate --json``."""
        s = self.scenario
        return {
            "design": s.design.value,
            "makespan_s": round(self.makespan_s, 1),
            "bound_s": round(self.bound_s, 1),
            "ratio": round(self.ratio, 4),
            "objects": self.objects,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "lost": self.lost,
            "dead_lettered": self.dead_lettered,
            "duplicate_tasks": self.duplicate_tasks,
            "tasks": self.tasks,
            "throttled_requests": self.throttled,
            "quota_refusals": self.quota_refusals,
            "out_of_memory_kills": self.out_of_memory,
            "spot_interruptions": self.interrupted,
            "peak_running": self.peak_running,
            "violations": self.violations,
            "requests_per_object": round(self.requests_per_object, 2),
            "requests": dict(sorted(self.requests.items())),
            "requests_by_operation": dict(sorted(self.requests_by_operation.items())),
            "cost_usd": self.cost.as_dict(),
            "settled": self.settled,
            "wall_s": round(self.wall_s, 2),
            "scenario": {
                "uploads": s.uploads,
                "task_seconds": str(s.task_seconds),
                "cpu": s.cpu,
                "memory_gb": s.memory_gb,
                "vcpu_quota": s.spot_vcpu_quota if s.spot else s.vcpu_quota,
                "max_running": s.props.max_running_tasks,
                "max_concurrency": s.max_concurrency,
                "batch_size": s.batch_size,
                "batching_window_s": s.batching_window_s,
                "max_receive_count": s.props.max_receive_count,
                "spot": s.spot,
                "spot_interruption_rate": s.spot_interruption_rate,
                "start_failure_rate": s.start_failure_rate,
                "duplicate_rate": s.duplicate_rate,
                "seed": s.seed,
                "object_sizes": None
                if s.object_sizes is None
                else [s.object_sizes.low, s.object_sizes.high],
                "memory_per_gb": s.memory_per_gb,
                "seconds_per_gb": s.seconds_per_gb,
                "task_sizes": [size.encode() for size in s.props.task_sizes],
                "spot_fallback_after": s.props.spot_fallback_after,
            },
        }


def simulate(scenario: Scenario, *, progress: Callable[[float, int], None] | None = None) -> Result:
    """Simulate ``scenario`` until every object is settled (or the 30-day horizon).

    ``progress(virtual_seconds, settled_objects)`` is called as the simulation advances.

    Raises:
        ScenarioError: the scenario cannot be simulated.
    """
    scenario.check()
    started = time.perf_counter()
    world = World(scenario)
    pipeline: S3FargatePipeline | OriginalPipeline = (
        S3FargatePipeline(world) if scenario.design == Design.S3FARGATE else OriginalPipeline(world)
    )
    pipeline.start()
    samples: list[Sample] = []
    step = max(scenario.bound_s() / SAMPLES, 1.0)
    done = world.env.process(_watch(world, pipeline, step, samples, progress))
    world.env.run(until=done)
    settled = bool(done.value)
    counts = pipeline.outcome()
    fates = world.fates.values()
    last_stop = world.ecs.last_stop
    return Result(
        scenario=scenario,
        makespan_s=last_stop,
        bound_s=scenario.bound_s(),
        objects=scenario.uploads,
        succeeded=sum(1 for f in fates if f.succeeded_at is not None),
        failed=counts["failed"],
        lost=counts["lost"],
        dead_lettered=counts["dead_lettered"],
        duplicate_tasks=sum(f.duplicates for f in fates),
        tasks=world.ecs.totals.launched,
        throttled=world.ecs.totals.throttled,
        quota_refusals=world.ecs.totals.quota_refusals,
        out_of_memory=world.ecs.totals.out_of_memory,
        interrupted=world.ecs.totals.interrupted,
        requests=dict(world.requests.by_service),
        requests_by_operation=dict(world.requests.by_operation),
        cost=cost_of(world),
        peak_running=world.ecs.totals.peak_running,
        slots_held=pipeline.slots_held() if settled else 0,
        settled=settled,
        wall_s=time.perf_counter() - started,
        samples=samples,
    )


def _watch(
    world: World,
    pipeline: S3FargatePipeline | OriginalPipeline,
    step: float,
    samples: list[Sample],
    progress: Callable[[float, int], None] | None,
) -> Generator[simpy.Event, Any, bool]:
    env = world.env
    while env.now < HORIZON_S:
        yield env.timeout(step)
        samples.append(Sample(env.now, world.ecs.running, pipeline.waiting()))
        if progress is not None:
            progress(env.now, sum(1 for f in world.fates.values() if f.succeeded_at is not None))
        if len(world.fates) == world.scenario.uploads and pipeline.settled():
            return True
    return False
