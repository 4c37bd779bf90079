"""The runner's configuration, read once from the environment at cold start."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from s3fargate import contracts as c
from s3fargate.taskrunner.env import EnvReader

if TYPE_CHECKING:
    from collections.abc import Mapping

AssignPublicIp = Literal["ENABLED", "DISABLED"]


@dataclass(frozen=True, slots=True)
class RunnerConfig:
    """Where and how the runner launches tasks (docs/design.md, "Runner configuration")."""

    cluster_arn: str
    task_definition_arn: str
    container_name: str
    subnets: tuple[str, ...]
    security_groups: tuple[str, ...] = ()
    assign_public_ip: AssignPublicIp = "ENABLED"
    capacity_provider: str | None = None
    max_running_tasks: int | None = None
    #: RunTask ``startedBy``: this pipeline's tasks, and only them, for the cap and the tracker.
    pipeline_id: str = c.STARTED_BY
    #: The job ledger's table; None launches with no ledger.
    jobs_table: str | None = None
    #: The queue's ``maxReceiveCount``: a record failing its last receive is dead-lettered.
    max_receive_count: int | None = None
    #: Where jobs that end badly are announced.
    notification_topic_arn: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RunnerConfig:
        """Read and validate the configuration.

        Raises:
            ConfigurationError: naming every missing or invalid variable.
        """
        env = EnvReader(environ)
        problems = env.problems
        cluster = env.required(c.ENV_CLUSTER_ARN)
        task_definition = env.required(c.ENV_TASK_DEFINITION_ARN)
        container = env.required(c.ENV_CONTAINER_NAME)
        subnets = _split_list(environ.get(c.ENV_SUBNETS, ""))
        if not subnets:
            problems.append(f"{c.ENV_SUBNETS} is required: a comma-separated list of subnet ids")
        security_groups = _split_list(environ.get(c.ENV_SECURITY_GROUPS, ""))

        public_ip = environ.get(c.ENV_ASSIGN_PUBLIC_IP, "ENABLED").strip().upper() or "ENABLED"
        if public_ip not in ("ENABLED", "DISABLED"):
            problems.append(
                f"{c.ENV_ASSIGN_PUBLIC_IP} must be ENABLED or DISABLED, got "
                f"{environ[c.ENV_ASSIGN_PUBLIC_IP]!r}"
            )

        capacity_provider = environ.get(c.ENV_CAPACITY_PROVIDER, "").strip() or None

        max_running = _positive_int(environ, c.ENV_MAX_RUNNING_TASKS, problems)

        pipeline_id = env.pipeline_id()
        max_receive_count = _positive_int(environ, c.ENV_MAX_RECEIVE_COUNT, problems)
        env.check()
        return cls(
            cluster_arn=cluster,
            task_definition_arn=task_definition,
            container_name=container,
            subnets=subnets,
            security_groups=security_groups,
            assign_public_ip="ENABLED" if public_ip == "ENABLED" else "DISABLED",
            capacity_provider=capacity_provider,
            max_running_tasks=max_running,
            pipeline_id=pipeline_id,
            jobs_table=env.optional(c.ENV_JOBS_TABLE),
            max_receive_count=max_receive_count,
            notification_topic_arn=env.optional(c.ENV_NOTIFICATION_TOPIC_ARN),
        )


def _positive_int(environ: Mapping[str, str], name: str, problems: list[str]) -> int | None:
    """An optional whole number of at least 1 (unset: None)."""
    raw = environ.get(name, "").strip()
    if not raw:
        return None
    value = int(raw) if raw.isdigit() else 0
    if value < 1:
        problems.append(f"{name} must be a whole number of at least 1, got {raw!r}")
        return None
    return value


def _split_list(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())
