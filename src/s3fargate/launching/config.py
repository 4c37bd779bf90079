"""The runner's configuration: its view of the pipeline's settings, read once at cold start."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from s3fargate import contracts as c
from s3fargate.lambda_runtime.exceptions import ConfigurationError
from s3fargate.lambda_runtime.settings import Function, PipelineSettings
from s3fargate.ledger import Policy

if TYPE_CHECKING:
    from collections.abc import Mapping

    from s3fargate.lambda_runtime.settings import AssignPublicIp
    from s3fargate.sizing import TaskSizes


@dataclass(frozen=True, slots=True)
class RunnerConfig:
    """Where and how the runner launches tasks (docs/design.md, "Settings")."""

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
    #: How long the rows the runner creates are kept, and where results land.
    policy: Policy = field(default_factory=Policy)

    @property
    def task_sizes(self) -> TaskSizes:
        """Sizes by object size (empty: the task definition's size for every task)."""
        return self.policy.task_sizes

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RunnerConfig:
        """Read and validate the runner's settings from its environment.

        Raises:
            ConfigurationError: naming every missing or invalid variable.
        """
        return cls.from_settings(PipelineSettings.from_environment(environ, Function.RUNNER))

    @classmethod
    def from_settings(cls, settings: PipelineSettings) -> RunnerConfig:
        """The launch configuration in ``settings``.

        Raises:
            ConfigurationError: a setting that launching needs is missing.
        """
        missing = [
            name
            for name, value in (
                (c.ENV_CLUSTER_ARN, settings.cluster_arn),
                (c.ENV_TASK_DEFINITION_ARN, settings.task_definition_arn),
                (c.ENV_CONTAINER_NAME, settings.container_name),
                (c.ENV_SUBNETS, settings.subnets),
            )
            if not value
        ]
        if missing:
            raise ConfigurationError([f"{name} is required to launch tasks" for name in missing])
        return cls(
            cluster_arn=settings.cluster_arn,
            task_definition_arn=settings.task_definition_arn,
            container_name=settings.container_name,
            subnets=settings.subnets,
            security_groups=settings.security_groups,
            assign_public_ip=settings.assign_public_ip,
            capacity_provider=settings.capacity_provider,
            max_running_tasks=settings.max_running_tasks,
            pipeline_id=settings.pipeline_id,
            jobs_table=settings.jobs_table,
            max_receive_count=settings.max_receive_count,
            notification_topic_arn=settings.notification_topic_arn,
            policy=settings.policy,
        )
