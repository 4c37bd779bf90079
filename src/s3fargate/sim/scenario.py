"""What to simulate: the uploads, the task, the account's limits and the pipeline's settings."""

from __future__ import annotations

import enum
import math
import random
from dataclasses import dataclass

from s3fargate import contracts as c
from s3fargate.lambda_runtime.settings import EVENT_SOURCE_LIMITS
from s3fargate.options import flags_of, option, options_from
from s3fargate.props import PROPS_GROUP, PipelineProps
from s3fargate.sizing.sizes import parse_bytes

#: AWS's documented limits (docs/design.md, "AWS limits").
RUNTASK_CALLS_PER_S = 20.0
LAUNCH_BURST = 100
LAUNCHES_PER_S = 20.0
DEFAULT_VCPU_QUOTA = 6.0
#: Fargate task start: about 30-60 s (image pull, ENI attachment).
START_SECONDS = (30.0, 60.0)


class Design(enum.StrEnum):
    """Which pipeline runs the uploads."""

    #: This project: queue, runner, ledger, tracker, waiting room, retries.
    S3FARGATE = "s3fargate"
    #: S3 invokes a Lambda that calls RunTask; failures ignored; Lambda's two async retries.
    ORIGINAL = "original"


class Backlog(enum.StrEnum):
    """How uploads over the cap wait (measured alternatives; docs/simulator.md)."""

    #: This project: parked in the ledger's waiting room, launched as slots free up.
    WAITING_ROOM = "waiting-room"
    #: The record fails and its message comes back after the visibility timeout (receives
    #: count toward ``max_receive_count``).
    QUEUE = "queue"


#: The help's sections for a scenario's options.
BURST, ACCOUNT, FAILURES, RUN = "burst", "account", "failures", "run"
OPTION_GROUPS = {
    BURST: "the burst and the task",
    ACCOUNT: "the account and the pipeline's Lambda",
    **PROPS_GROUP,
    FAILURES: "Fargate's failures",
    RUN: "the run and its report",
}


class ScenarioError(c.UserError, ValueError):
    """A scenario that cannot be simulated; the message names the option and what is allowed."""


#: S3's largest object: 5 TiB.
MAX_OBJECT_BYTES = 5 * 1024**4
#: Each upload's object size when no --object-sizes is given.
DEFAULT_OBJECT_SIZE = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ObjectSizes:
    """Object sizes drawn log-uniformly between ``low`` and ``high`` bytes."""

    low: int
    high: int

    @classmethod
    def parse(cls, text: str) -> ObjectSizes:
        """``1MB-50GB`` (units as ``--task-size``'s ``up_to_bytes``)."""
        low_text, sep, high_text = text.partition("-")
        try:
            low, high = parse_bytes(low_text), parse_bytes(high_text)
        except ValueError as exc:
            raise ScenarioError(f"--object-sizes {text!r}: {exc}") from None
        if not sep or low is None or high is None or not 0 < low <= high:
            raise ScenarioError(f"--object-sizes must be LOW-HIGH, 0 < LOW <= HIGH, got {text!r}")
        if high > MAX_OBJECT_BYTES:
            raise ScenarioError(
                f"--object-sizes {text!r}: S3 holds objects of at most 5 TiB "
                f"({MAX_OBJECT_BYTES:,} bytes)"
            )
        return cls(low, high)

    def draw(self, rng: random.Random) -> int:
        """One size."""
        return int(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))


@dataclass(frozen=True, slots=True)
class Durations:
    """Task run times: ``low``-``high`` seconds, uniform (``low == high``: fixed)."""

    low: float
    high: float

    @classmethod
    def parse(cls, text: str) -> Durations:
        """``"60"`` or ``"30-90"``."""
        parts = text.strip().split("-", 1)
        try:
            low = float(parts[0])
            high = float(parts[1]) if len(parts) == 2 else low
        except ValueError:
            raise ScenarioError(
                f"--task-seconds must be seconds (60) or a range (30-90), got {text!r}"
            ) from None
        if not (0 < low <= high) or not math.isfinite(high):
            raise ScenarioError(f"--task-seconds must be positive, low before high, got {text!r}")
        return cls(low, high)

    @property
    def mean(self) -> float:
        """The mean run time."""
        return (self.low + self.high) / 2

    def __str__(self) -> str:
        return f"{self.low:g}" if self.low == self.high else f"{self.low:g}-{self.high:g}"


@dataclass(frozen=True, slots=True)
class Scenario:
    """One simulated burst. Defaults are the construct's defaults and AWS's default limits."""

    # --- the burst and the task -------------------------------------------------------------
    uploads: int = option(1000, group=BURST, metavar="N", help="objects uploaded at once")
    #: Uploads land evenly over this many seconds (0: all at once).
    upload_seconds: float = option(
        0.0, group=BURST, metavar="S", help="spread the uploads evenly over S seconds"
    )
    task_seconds: Durations = option(
        Durations(60.0, 60.0),
        group=BURST,
        metavar="T",
        parse=Durations.parse,
        help="each task's run time: seconds (60) or a uniform range (30-90)",
    )
    # In vCPUs and GB here; on the command line in the construct's CPU units and MiB.
    cpu: float = option(
        0.25,
        group=BURST,
        metavar="UNITS",
        scale=1024,
        help="CPU per task in CPU units, as the construct's cpu (256 = 0.25 vCPU)",
    )
    memory_gb: float = option(
        0.5,
        group=BURST,
        flag="--memory",
        metavar="MIB",
        scale=1024,
        help="memory per task in MiB, as the construct's memory_limit_mib",
    )
    object_sizes: ObjectSizes | None = option(
        None,
        group=BURST,
        metavar="LOW-HIGH",
        parse=ObjectSizes.parse,
        help="object sizes, log-uniform between two sizes (1MB-50GB); default: 1 MiB each",
    )
    memory_per_gb: float = option(
        0.0,
        group=BURST,
        metavar="MIB",
        help="memory a task needs per GB of its object, in MiB: a task with less is killed for "
        "memory, as ECS kills it (0: every task fits)",
    )
    seconds_per_gb: float = option(
        0.0, group=BURST, metavar="S", help="run time a task adds per GB of its object"
    )
    # --- the account and the pipeline -------------------------------------------------------
    vcpu_quota: float = option(
        DEFAULT_VCPU_QUOTA,
        group=ACCOUNT,
        metavar="V",
        help="Fargate vCPUs the account may run at once (On-Demand or Spot)",
    )
    spot_vcpu_quota: float = DEFAULT_VCPU_QUOTA
    max_concurrency: int = option(
        c.DEFAULT_MAX_CONCURRENCY,
        group=ACCOUNT,
        metavar="N",
        help="the construct's max_concurrency (runner Lambdas)",
    )
    batch_size: int = option(
        c.DEFAULT_BATCH_SIZE, group=ACCOUNT, metavar="N", help="the construct's batch_size"
    )
    #: The construct's ``max_batching_window`` (seconds) for the runner's event source.
    batching_window_s: float = option(
        0.0,
        group=ACCOUNT,
        flag="--batching-window",
        metavar="S",
        help="the construct's max_batching_window, in seconds",
    )
    # --- the pipeline's behaviour: the construct's props ------------------------------------
    props: PipelineProps = options_from(PipelineProps)
    # --- Fargate's failures -----------------------------------------------------------------
    spot: bool = option(False, group=FAILURES, help="run tasks on Fargate Spot")
    spot_interruption_rate: float = option(
        0.0, group=FAILURES, metavar="P", help="share of Spot tasks interrupted while running"
    )
    start_failure_rate: float = option(
        0.0, group=FAILURES, metavar="P", help="share of tasks that fail to start"
    )
    #: S3 delivers at least once: this share of notifications arrives twice.
    duplicate_rate: float = option(
        0.001, group=FAILURES, metavar="P", help="share of S3 notifications delivered twice"
    )
    # --- the run ----------------------------------------------------------------------------
    design: Design = option(
        Design.S3FARGATE,
        group=RUN,
        parse=Design,
        choices=tuple(d.value for d in Design),
        help="which pipeline to simulate",
    )
    seed: int = option(1, group=RUN, help="the same seed, the same run")
    backlog: Backlog = Backlog.WAITING_ROOM

    def object_size_list(self) -> list[int]:
        """Each upload's object size, the same for every run of this seed (and design)."""
        if self.object_sizes is None:
            return [DEFAULT_OBJECT_SIZE] * self.uploads
        rng = random.Random(f"object-sizes-{self.seed}")  # noqa: S311 -- a simulation
        return [self.object_sizes.draw(rng) for _ in range(self.uploads)]

    def check(self) -> None:
        """Refuse what cannot be simulated, naming every problem.

        Raises:
            ScenarioError: one line per bad option.
        """
        problems = self._infinite()
        if problems:
            raise ScenarioError("; ".join(problems))
        if not 1 <= self.uploads <= 1_000_000:
            problems.append(f"--uploads must be 1-1000000, got {self.uploads}")
        # Options in the construct's vocabulary: CPU units (1024 = 1 vCPU) and MiB.
        if self.cpu not in (0.25, 0.5, 1, 2, 4, 8, 16):
            problems.append(
                "--cpu must be a Fargate CPU value in CPU units (256 512 1024 2048 4096 8192 "
                f"16384), got {self.cpu * 1024:g}"
            )
        if not 0.5 <= self.memory_gb <= 120:
            problems.append(f"--memory must be 512-122880 MiB, got {self.memory_gb * 1024:g}")
        quota = self.spot_vcpu_quota if self.spot else self.vcpu_quota
        if quota < self.cpu:
            problems.append(
                f"--vcpu-quota {quota:g} is below one task's {self.cpu:g} vCPU (--cpu "
                f"{self.cpu * 1024:g}): nothing could run"
            )
        limits = EVENT_SOURCE_LIMITS
        # The pipeline's settings and Lambda's event source: the construct's ranges.
        for flag, value, (low, high) in (
            ("--max-concurrency", self.max_concurrency, limits.max_concurrency),
            (
                "--batch-size",
                self.batch_size,
                limits.batch_size(windowed=self.batching_window_s > 0),
            ),
            ("--batching-window", self.batching_window_s, limits.batching_window_s),
        ):
            if value is not None and not low <= value <= high:
                problems.append(f"{flag} must be {low}-{high}, got {value:g}")
        for name, rate in (
            ("--spot-interruption-rate", self.spot_interruption_rate),
            ("--start-failure-rate", self.start_failure_rate),
            ("--duplicate-rate", self.duplicate_rate),
        ):
            if not 0 <= rate < 1:
                problems.append(f"{name} must be at least 0 and below 1, got {rate:g}")
        problems += self._sizing_problems()
        if self.spot_interruption_rate and not self.spot:
            problems.append("--spot-interruption-rate needs --spot (On-Demand is not interrupted)")
        if not 0 <= self.upload_seconds <= 86_400:
            problems.append(f"--upload-seconds must be 0-86400, got {self.upload_seconds:g}")
        if problems:
            raise ScenarioError("; ".join(problems))

    def warnings(self) -> list[str]:
        """What is allowed but will not do what it seems to: said before the run."""
        found = []
        if self.object_sizes is not None and not (self.memory_per_gb or self.seconds_per_gb):
            found.append(
                "--object-sizes changes nothing without --memory-per-gb or --seconds-per-gb: "
                "every task runs as long and fits as any other"
            )
        fallback = self.props.spot_fallback_after
        if self.spot and fallback is not None and fallback >= self.props.max_attempts:
            found.append(
                f"--spot-fallback-after {fallback} is not below --max-attempts "
                f"{self.props.max_attempts}: a job's attempts run out before it falls back "
                "to On-Demand"
            )
        return found

    def _sizing_problems(self) -> list[str]:
        # The pipeline's behaviour: refused as the construct refuses it, named by its flag.
        problems = self.props.problems(flags_of(PipelineProps))
        if not (0 <= self.memory_per_gb <= 1e6 and 0 <= self.seconds_per_gb <= 1e6):
            problems.append("--memory-per-gb and --seconds-per-gb must be 0-1000000")
        return problems

    def _infinite(self) -> list[str]:
        """Options that are not finite numbers (``inf``, ``nan``), each named once."""
        problems: list[str] = []
        for flag, number in (
            ("--cpu", self.cpu),
            ("--memory", self.memory_gb),
            ("--vcpu-quota", self.vcpu_quota),
            ("--vcpu-quota", self.spot_vcpu_quota),
            ("--upload-seconds", self.upload_seconds),
            ("--batching-window", self.batching_window_s),
            ("--spot-interruption-rate", self.spot_interruption_rate),
            ("--start-failure-rate", self.start_failure_rate),
            ("--duplicate-rate", self.duplicate_rate),
        ):
            if not math.isfinite(number):
                problems.append(f"{flag} must be a finite number, got {number:g}")
        return list(dict.fromkeys(problems))

    @property
    def tasks_at_once(self) -> int:
        """How many tasks can run together: the vCPU quota, and the cap if lower."""
        quota = self.spot_vcpu_quota if self.spot else self.vcpu_quota
        by_quota = int(quota / self.cpu + 1e-9)
        cap = self.props.max_running_tasks
        return min(by_quota, cap) if cap else by_quota

    def bound_s(self) -> float:
        """The lower bound on the makespan with mean start and run times (docs/simulator.md):
        what the ratio is measured against.

        The largest of the launch floor, ``(N - burst) / rate + start + T``, the quota bound
        and the last upload's own arrival plus ``start + T``. With one size the quota bound is
        ``ceil(N / tasks at once) * (start + T)``; with task sizes (or run times that grow with
        the object) every task counts at its own size and time: the vCPU-seconds of all tasks
        over the quota, their seconds over the cap, and the longest task.
        """
        return self._bound(sum(START_SECONDS) / 2, self.task_seconds.mean)

    def floor_s(self) -> float:
        """The same bound with the shortest start and run times: no run can end sooner unless
        more tasks ran at once than the quota and the cap allow."""
        return self._bound(START_SECONDS[0], self.task_seconds.low)

    def _tasks(self, start: float, run: float) -> list[tuple[float, float]]:
        """Each upload's first task: its vCPUs and its start-to-stop seconds."""
        sizes = self.props.sizes
        tasks = []
        for size in self.object_size_list():
            vcpus = sizes.for_attempt(size, 0).cpu / 1024 if sizes else self.cpu
            tasks.append((vcpus, start + run + self.seconds_per_gb * size / 1e9))
        return tasks

    def _bound(self, start: float, run: float) -> float:
        cycle = start + run
        launch_floor = max(self.uploads - LAUNCH_BURST, 0) / LAUNCHES_PER_S + cycle
        last_upload = self.upload_seconds * (self.uploads - 1) / self.uploads + cycle
        if not self.props.task_sizes and not self.seconds_per_gb:
            quota_bound = math.ceil(self.uploads / self.tasks_at_once) * cycle
            return max(launch_floor, quota_bound, last_upload)
        tasks = self._tasks(start, run)
        quota = self.spot_vcpu_quota if self.spot else self.vcpu_quota
        busy = [
            sum(vcpus * seconds for vcpus, seconds in tasks) / quota,
            max(seconds for _, seconds in tasks),
        ]
        cap = self.props.max_running_tasks
        if cap:
            busy.append(sum(seconds for _, seconds in tasks) / cap)
        return max(launch_floor, last_upload, *busy)
