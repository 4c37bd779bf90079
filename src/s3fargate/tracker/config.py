"""The tracker's and reconciler's configuration: their view of the pipeline's settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from s3fargate import contracts as c
from s3fargate.lambda_runtime.settings import Function, PipelineSettings
from s3fargate.ledger import Policy

if TYPE_CHECKING:
    from collections.abc import Mapping

    from s3fargate.sizing import FargatePrices


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    """Where the ledger is, how jobs are retried, which tasks are this pipeline's."""

    jobs_table: str
    queue_url: str
    cluster_arn: str
    pipeline_id: str = c.STARTED_BY
    container_name: str | None = None
    notification_topic_arn: str | None = None
    task_log_group: str | None = None
    reconcile_after_s: int = c.DEFAULT_RECONCILE_AFTER_S
    policy: Policy = field(default_factory=Policy)
    #: The prices tasks are billed at (None: the list prices of the cluster's region).
    fargate_prices: FargatePrices | None = None
    #: Tasks get a public IPv4 address (billed by the hour).
    public_ip: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> TrackerConfig:
        """Read and validate the tracker's settings from its environment.

        Raises:
            ConfigurationError: naming every missing or invalid variable.
        """
        return cls.from_settings(PipelineSettings.from_environment(environ, Function.TRACKER))

    @classmethod
    def from_settings(cls, settings: PipelineSettings) -> TrackerConfig:
        """The tracking configuration in ``settings`` (the table and queue are required)."""
        return cls(
            jobs_table=settings.jobs_table or "",
            queue_url=settings.queue_url or "",
            cluster_arn=settings.cluster_arn,
            pipeline_id=settings.pipeline_id,
            container_name=settings.container_name or None,
            notification_topic_arn=settings.notification_topic_arn,
            task_log_group=settings.task_log_group,
            reconcile_after_s=settings.reconcile_after_s,
            policy=settings.policy,
            fargate_prices=settings.fargate_prices,
            public_ip=settings.assign_public_ip == "ENABLED",
        )
