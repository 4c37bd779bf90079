"""Simulated ECS on Fargate: RunTask's limits, the vCPU quota, task lifecycles and events.

- RunTask requests: 20 per second (burst and sustained) -> ``ThrottlingException``.
- Task launches: a token bucket per capacity (On-Demand, Spot), 100 burst, 20 per second
  -> ``ThrottlingException``.
- The vCPU quota per capacity: a launch beyond it is refused in RunTask's ``failures``
  (HTTP 200), as Fargate does.
- ``clientToken``: the same token returns the task it started.
- Tasks take 30-60 s to start, run for the scenario's durations, may fail to start or be
  interrupted (Spot), and report every change as an ECS task-state-change event.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from s3fargate import contracts as c
from s3fargate.events.ecs import (
    EXITED_REASON,
    OOM_EXIT_CODE,
    OOM_REASON,
    SPOT_INTERRUPTED_REASON,
    StopCode,
    TaskView,
    describe_task,
    ecs_timestamp,
    state_change_event,
)
from s3fargate.sim.bridge import client_error
from s3fargate.sim.metrics import ObjectFate
from s3fargate.sim.scenario import LAUNCH_BURST, LAUNCHES_PER_S, RUNTASK_CALLS_PER_S, START_SECONDS
from s3fargate.sim.tokens import TokenBucket
from s3fargate.sizing import billed_seconds, prices_for, task_bill
from s3fargate.sizing.pricing import SPOT_CAPACITY as SPOT
from s3fargate.sizing.sizes import CPU_UNITS_PER_VCPU, DEFAULT_EPHEMERAL_GIB

if TYPE_CHECKING:
    import random
    from collections.abc import Callable, Generator

    import simpy

    from s3fargate.sim.scenario import Scenario

#: Virtual time 0 is this instant; events and ledger rows carry real-looking timestamps.
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
ACCOUNT = "000000000000"
CLUSTER_ARN = f"arn:aws:ecs:sim:{ACCOUNT}:cluster/s3fargate"
TASK_DEFINITION_ARN = f"arn:aws:ecs:sim:{ACCOUNT}:task-definition/s3fargate-task:1"
#: DescribeTasks forgets a stopped task after about an hour.
FORGET_AFTER_S = 3600.0
QUOTA_REASON = "You've reached the limit on the number of vCPUs you can run concurrently"
#: The simulated tasks run in us-east-1, on x86.
PRICES = prices_for("us-east-1", "x86_64")


def iso(t: float) -> str:
    """Virtual time ``t`` as an event writes it (ISO 8601)."""
    return ecs_timestamp(EPOCH.timestamp() + t)


def epoch(t: float) -> float:
    """Virtual time ``t`` as the API sends it on the wire (epoch seconds)."""
    return round(EPOCH.timestamp() + t, 3)


@dataclass(eq=False)
class Task:
    """One Fargate task."""

    arn: str
    capacity: str
    started_by: str
    overrides: dict[str, Any]
    key: str
    created_at: float
    version: int = 0
    last_status: str = "PROVISIONING"
    started_at: float | None = None
    stopped_at: float | None = None
    stop_code: str | None = None
    stopped_reason: str | None = None
    exit_code: int | None = None
    #: The task's size as RunTask set it (CPU units, MiB) and its object's size in bytes.
    cpu: int = 256
    memory_mib: int = 512
    ephemeral_gib: int = DEFAULT_EPHEMERAL_GIB
    object_size: int = 0
    container_reason: str | None = None

    def describe(self, when: Callable[[float], Any] = epoch) -> dict[str, Any]:
        """The task as DescribeTasks shows it on the wire, or (``when=iso``) as the event's
        ``detail`` does (virtual times)."""
        return describe_task(self.view(), when)

    def view(self) -> TaskView:
        """What ECS knows about the task."""
        return TaskView(
            arn=self.arn,
            cluster_arn=CLUSTER_ARN,
            task_definition_arn=TASK_DEFINITION_ARN,
            last_status=self.last_status,
            started_by=self.started_by,
            capacity=self.capacity,
            cpu=self.cpu,
            memory_mib=self.memory_mib,
            ephemeral_gib=self.ephemeral_gib,
            version=self.version,
            created_at=self.created_at,
            overrides=self.overrides,
            # The image pull starts as the task is provisioned (billing starts there).
            pull_started_at=self.created_at,
            started_at=self.started_at,
            stopped_at=self.stopped_at,
            stop_code=self.stop_code,
            stopped_reason=self.stopped_reason,
            exit_code=self.exit_code,
            container_reason=self.container_reason,
        )


@dataclass
class EcsTotals:
    """What ECS did, for the report."""

    launched: int = 0
    throttled: int = 0
    quota_refusals: int = 0
    interrupted: int = 0
    failed_to_start: int = 0
    #: Tasks killed for memory (their size too small for their object).
    out_of_memory: int = 0
    #: What Fargate billed, in USD (per task: its size, per second, one-minute minimum).
    fargate_usd: float = 0.0
    #: Each task's public IPv4 address (Amazon VPC bills it by the hour).
    public_ipv4_usd: float = 0.0
    vcpu_seconds: float = 0.0
    gb_seconds: float = 0.0
    peak_running: int = 0


@dataclass(eq=False)
class Ecs:
    """The ECS API (RunTask, ListTasks, DescribeTasks) and Fargate behind it."""

    env: simpy.Environment
    scenario: Scenario
    rng: random.Random
    #: Called with each task-state-change event (EventBridge's part).
    emit: Callable[[dict[str, Any]], None]
    fates: dict[str, ObjectFate]
    totals: EcsTotals = field(default_factory=EcsTotals)
    _api: TokenBucket = field(
        default_factory=lambda: TokenBucket(RUNTASK_CALLS_PER_S, RUNTASK_CALLS_PER_S)
    )
    _launches: dict[str, TokenBucket] = field(default_factory=dict)
    _vcpus: dict[str, float] = field(default_factory=dict)
    _tokens: dict[str, Task] = field(default_factory=dict)
    _tasks: dict[str, Task] = field(default_factory=dict)
    _active: dict[str, Task] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    #: When the last task stopped (the makespan).
    last_stop: float = 0.0

    @property
    def running(self) -> int:
        """Tasks not yet stopped (they hold vCPUs)."""
        return len(self._active)

    def run_task(self, **request: Any) -> Any:
        """RunTask: one task (``count`` is always 1 for this pipeline)."""
        now = self.env.now
        if not self._api.take(now):
            self.totals.throttled += 1
            raise client_error("ThrottlingException", "Rate exceeded", "RunTask")
        token = request.get("clientToken")
        if token and token in self._tokens:
            return {"tasks": [self._tokens[token].describe()], "failures": []}
        strategy = request.get("capacityProviderStrategy") or []
        capacity = strategy[0]["capacityProvider"] if strategy else "FARGATE"
        quota = self.scenario.spot_vcpu_quota if capacity == SPOT else self.scenario.vcpu_quota
        if self._vcpus.get(capacity, 0.0) + self._vcpu_of(request) > quota + 1e-9:
            self.totals.quota_refusals += 1
            return {"tasks": [], "failures": [{"reason": QUOTA_REASON}]}
        bucket = self._launches.setdefault(capacity, TokenBucket(LAUNCH_BURST, LAUNCHES_PER_S))
        if not bucket.take(now):
            self.totals.throttled += 1
            raise client_error(
                "ThrottlingException", "Rate exceeded (Fargate task launches)", "RunTask"
            )
        task = self._new_task(request, capacity)
        if token:
            self._tokens[token] = task
        self.env.process(self._lifecycle(task))
        return {"tasks": [task.describe()], "failures": []}

    def list_tasks(self, **request: Any) -> Any:
        """ListTasks by ``startedBy`` and ``desiredStatus=RUNNING``, paginated."""
        started_by = request.get("startedBy")
        if request.get("desiredStatus", "RUNNING") != "RUNNING":
            raise client_error("InvalidParameterException", "only RUNNING", "ListTasks")
        arns = [t.arn for t in self._active.values() if started_by in (None, t.started_by)]
        start = int(request.get("nextToken") or 0)
        size = int(request.get("maxResults") or 100)
        answer: dict[str, Any] = {"taskArns": arns[start : start + size]}
        if start + size < len(arns):
            answer["nextToken"] = str(start + size)
        return answer

    def describe_tasks(self, **request: Any) -> Any:
        """DescribeTasks: up to 100 tasks; forgotten ones are ``MISSING``."""
        tasks, failures = [], []
        for arn in request.get("tasks") or []:
            task = self._tasks.get(arn)
            gone = task is None or (
                task.stopped_at is not None and self.env.now - task.stopped_at > FORGET_AFTER_S
            )
            if gone or task is None:
                failures.append({"arn": arn, "reason": "MISSING"})
            else:
                tasks.append(task.describe())
        return {"tasks": tasks, "failures": failures}

    # --- Fargate ------------------------------------------------------------------------------
    def _size_of(self, request: dict[str, Any]) -> tuple[int, int]:
        """CPU units and MiB: RunTask's overrides, else the task definition's."""
        overrides = request.get("overrides") or {}
        cpu = int(overrides.get("cpu") or round(self.scenario.cpu * CPU_UNITS_PER_VCPU))
        memory = int(overrides.get("memory") or round(self.scenario.memory_gb * 1024))
        return cpu, memory

    def _vcpu_of(self, request: dict[str, Any]) -> float:
        return self._size_of(request)[0] / CPU_UNITS_PER_VCPU

    def _new_task(self, request: dict[str, Any], capacity: str) -> Task:
        overrides = request.get("overrides") or {}
        environment = {
            e["name"]: e["value"]
            for o in overrides.get("containerOverrides", [])
            for e in o.get("environment", [])
        }
        task_env = c.TaskEnvironment.of(environment)
        key = task_env.key
        cpu, memory = self._size_of(request)
        task = Task(
            cpu=cpu,
            memory_mib=memory,
            ephemeral_gib=int(
                (overrides.get("ephemeralStorage") or {}).get("sizeInGiB") or DEFAULT_EPHEMERAL_GIB
            ),
            object_size=task_env.size or 0,
            arn=f"arn:aws:ecs:sim:{ACCOUNT}:task/s3fargate/{next(self._ids):08x}",
            capacity=capacity,
            started_by=str(request.get("startedBy") or ""),
            overrides=overrides,
            key=key,
            created_at=self.env.now,
        )
        self._tasks[task.arn] = task
        self._active[task.arn] = task
        self._vcpus[capacity] = self._vcpus.get(capacity, 0.0) + cpu / CPU_UNITS_PER_VCPU
        self.totals.launched += 1
        self.totals.peak_running = max(self.totals.peak_running, len(self._active))
        fate = self.fates.setdefault(key, ObjectFate(key))
        if fate.active or fate.succeeded_at is not None:
            fate.duplicates += 1
        fate.tasks += 1
        fate.active += 1
        return task

    def _lifecycle(self, task: Task) -> Generator[simpy.Event, Any, None]:
        scenario, rng = self.scenario, self.rng
        self._change(task, "PENDING")
        start = rng.uniform(*START_SECONDS)
        if rng.random() < scenario.start_failure_rate:
            yield self.env.timeout(rng.uniform(0, start))
            self.totals.failed_to_start += 1
            self._stop(
                task, None, StopCode.TASK_FAILED_TO_START, "CannotPullContainerError: simulated"
            )
            return
        yield self.env.timeout(start)
        task.started_at = self.env.now
        self._change(task, "RUNNING")
        gigabytes = task.object_size / 1e9
        duration = rng.uniform(scenario.task_seconds.low, scenario.task_seconds.high)
        duration += scenario.seconds_per_gb * gigabytes
        if scenario.memory_per_gb * gigabytes > task.memory_mib:
            # Memory grows as the object is read: the kill comes part-way through.
            yield self.env.timeout(rng.uniform(0.1, 0.9) * duration)
            self.totals.out_of_memory += 1
            task.container_reason = OOM_REASON
            self._stop(task, OOM_EXIT_CODE, StopCode.ESSENTIAL_CONTAINER_EXITED, EXITED_REASON)
            return
        if task.capacity == SPOT and rng.random() < scenario.spot_interruption_rate:
            yield self.env.timeout(rng.uniform(0, duration))
            self.totals.interrupted += 1
            self._stop(task, 143, StopCode.SPOT_INTERRUPTION, SPOT_INTERRUPTED_REASON)
            return
        yield self.env.timeout(duration)
        self._stop(task, 0, StopCode.ESSENTIAL_CONTAINER_EXITED, EXITED_REASON)

    def _stop(self, task: Task, exit_code: int | None, stop_code: str, reason: str) -> None:
        task.stopped_at = self.last_stop = self.env.now
        task.exit_code, task.stop_code, task.stopped_reason = exit_code, stop_code, reason
        del self._active[task.arn]
        vcpu = task.cpu / CPU_UNITS_PER_VCPU
        self._vcpus[task.capacity] -= vcpu
        seconds = billed_seconds(round(task.created_at * 1000), round(task.stopped_at * 1000))
        self.totals.vcpu_seconds += seconds * vcpu
        self.totals.gb_seconds += seconds * task.memory_mib / 1024
        bill = task_bill(
            cpu=task.cpu,
            memory_mib=task.memory_mib,
            seconds=seconds,
            prices=PRICES,
            spot=task.capacity == SPOT,
            public_ip=True,  # the construct's default network gives each task one
        )
        self.totals.fargate_usd += bill.fargate_usd
        self.totals.public_ipv4_usd += bill.public_ipv4_usd
        fate = self.fates[task.key]
        fate.active -= 1
        if exit_code == 0 and fate.succeeded_at is None:
            fate.succeeded_at = self.env.now
        self._change(task, "STOPPED")

    def _change(self, task: Task, status: str) -> None:
        task.last_status = status
        task.version += 1
        self.emit(
            state_change_event(
                task.view(),
                account=ACCOUNT,
                region="sim",
                time=iso(self.env.now),
                event_id=f"event-{task.arn.rsplit('/', 1)[-1]}-{task.version}",
                when=iso,
            )
        )
