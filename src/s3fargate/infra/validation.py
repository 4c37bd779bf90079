"""Checks on construct props that run before synthesis, each failing with ValueError."""

from __future__ import annotations

from aws_cdk import App, Stack
from aws_cdk import aws_ecs as ecs

from s3fargate.sizing.sizes import ephemeral_storage_problem, task_size_problem

MAX_VISIBILITY_TIMEOUT_S = 12 * 3600


def check_task_size(cpu: int, memory_mib: int) -> None:
    """Refuse CPU/memory pairs Fargate does not run."""
    problem = task_size_problem(cpu, memory_mib)
    if problem:
        raise ValueError(problem)


def check_ephemeral_storage(gib: int | None) -> None:
    """Refuse ephemeral storage outside Fargate's 21-200 GiB (None keeps the 20 GiB default)."""
    problem = ephemeral_storage_problem(gib)
    if problem:
        raise ValueError(problem)


def check_range(name: str, value: int | None, low: int, high: int) -> None:
    """Refuse ``value`` outside ``low..high`` (None is allowed: the option is unset)."""
    if value is not None and not low <= value <= high:
        raise ValueError(f"{name}={value} is out of range {low}-{high}")


def check_ranges(**values: tuple[int | None, int, int]) -> None:
    """:func:`check_range` for each ``name=(value, low, high)``."""
    for name, (value, low, high) in values.items():
        check_range(name, value, low, high)


def check_choices(**values: tuple[str, tuple[str, ...]]) -> None:
    """Refuse each ``name=(value, choices)`` whose value is not one of its choices."""
    for name, (value, choices) in values.items():
        if value not in choices:
            raise ValueError(f"{name}={value!r}: use {' or '.join(repr(x) for x in choices)}")


def architecture_name(architecture: ecs.CpuArchitecture) -> str:
    """``ARM64`` or ``X86_64``: what a task definition renders for ``architecture`` (jsii hands
    out a new Python object for each use of ``CpuArchitecture.ARM64``, so ``==`` cannot tell).
    Rendered by a throwaway task definition in an app of its own."""
    probe = Stack(App(), "ArchitectureProbe")
    definition = ecs.FargateTaskDefinition(
        probe, "Probe", runtime_platform=ecs.RuntimePlatform(cpu_architecture=architecture)
    )
    rendered = probe.resolve(definition.node.default_child.runtime_platform)  # type: ignore[union-attr]
    return str(rendered["cpuArchitecture"])


def check_spot(
    capacity_provider: str, *, arm64: bool, existing_cluster: ecs.ICluster | None
) -> bool:
    """Whether the tasks run on Fargate Spot; refuse it where AWS cannot run it: on ARM64, and
    on a cluster whose capacity providers this stack cannot associate (ECS uses only providers
    already associated)."""
    spot = capacity_provider == "FARGATE_SPOT"
    imported_cluster = existing_cluster is not None and not isinstance(
        existing_cluster, ecs.Cluster
    )
    if spot and arm64:
        raise ValueError(
            "capacity_provider='FARGATE_SPOT' with cpu_architecture=ARM64: Fargate Spot runs "
            "X86_64 tasks only; use X86_64, or capacity_provider='FARGATE' for ARM64"
        )
    if spot and imported_cluster:
        raise ValueError(
            "capacity_provider='FARGATE_SPOT' with an imported existing_cluster: RunTask may "
            "only name capacity providers associated with the cluster. Pass the ecs.Cluster "
            "construct itself (its Fargate capacity providers are then enabled), or use "
            "capacity_provider='FARGATE'"
        )
    return spot


def check_queue_visibility(runner_timeout_s: int) -> int:
    """The queue's visibility timeout: 6x the runner's timeout (AWS's advice), at most 12 h."""
    visibility = 6 * runner_timeout_s
    if visibility > MAX_VISIBILITY_TIMEOUT_S:
        raise ValueError(
            f"runner timeout {runner_timeout_s}s needs a visibility timeout of {visibility}s, "
            f"over SQS's 12 h limit: use a runner timeout of at most 7200s"
        )
    return visibility


def check_exclusive(**options: object) -> None:
    """Refuse passing an existing resource and props for a new one at the same time."""
    given = [name for name, value in options.items() if value is not None]
    if len(given) > 1:
        raise ValueError(
            f"pass either {' or '.join(options)}, not both: an existing resource is used as is"
        )
