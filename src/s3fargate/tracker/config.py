"""The tracker's and reconciler's configuration, read once from the environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from s3fargate import contracts as c
from s3fargate.ledger import Policy
from s3fargate.taskrunner.env import EnvReader

if TYPE_CHECKING:
    from collections.abc import Mapping

ENV_RECONCILE_AFTER_S = "RECONCILE_AFTER_S"
#: The first retry's delay; each later one doubles it, up to SQS's 900 s.
ENV_RETRY_DELAY_S = "RETRY_DELAY_S"
DEFAULT_RETRY_DELAY_S = 30
#: A pending or running job with no event for this long is checked with DescribeTasks.
DEFAULT_RECONCILE_AFTER_S = 600


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
    reconcile_after_s: int = DEFAULT_RECONCILE_AFTER_S
    policy: Policy = field(default_factory=Policy)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> TrackerConfig:
        """Read and validate the configuration.

        Raises:
            ConfigurationError: naming every missing or invalid variable.
        """
        env = EnvReader(environ)
        problems = env.problems

        def number(name: str, default: int, low: int, high: int) -> int:
            raw = environ.get(name, "").strip()
            if not raw:
                return default
            if not raw.isdigit() or not low <= int(raw) <= high:
                problems.append(f"{name} must be a whole number {low}-{high}, got {raw!r}")
                return default
            return int(raw)

        table = env.required(c.ENV_JOBS_TABLE)
        queue_url = env.required(c.ENV_QUEUE_URL)
        cluster = env.required(c.ENV_CLUSTER_ARN)
        pipeline_id = env.pipeline_id()
        max_attempts = number(c.ENV_MAX_ATTEMPTS, c.DEFAULT_MAX_ATTEMPTS, 1, 100)
        ttl_days = number(c.ENV_JOB_TTL_DAYS, c.DEFAULT_JOB_TTL_DAYS, 1, 3650)
        reconcile_after = number(ENV_RECONCILE_AFTER_S, DEFAULT_RECONCILE_AFTER_S, 1, 86_400)
        retry_delay = number(ENV_RETRY_DELAY_S, DEFAULT_RETRY_DELAY_S, 0, 900)
        retry_codes: set[int] = set()
        for part in environ.get(c.ENV_RETRY_EXIT_CODES, "").split(","):
            if not part.strip():
                continue
            if not part.strip().isdigit() or not 1 <= int(part) <= 255:
                problems.append(
                    f"{c.ENV_RETRY_EXIT_CODES} must list exit codes 1-255, got {part.strip()!r}"
                )
                continue
            retry_codes.add(int(part))
        input_prefix = environ.get(c.ENV_INPUT_PREFIX, c.DEFAULT_INPUT_PREFIX)
        results_prefix = environ.get(c.ENV_RESULTS_PREFIX, c.DEFAULT_RESULTS_PREFIX)
        try:
            c.check_prefixes(input_prefix, results_prefix)
        except c.PrefixOverlapError as exc:
            problems.append(str(exc))
        env.check()
        return cls(
            jobs_table=table,
            queue_url=queue_url,
            cluster_arn=cluster,
            pipeline_id=pipeline_id,
            container_name=env.optional(c.ENV_CONTAINER_NAME),
            notification_topic_arn=env.optional(c.ENV_NOTIFICATION_TOPIC_ARN),
            task_log_group=env.optional(c.ENV_TASK_LOG_GROUP),
            reconcile_after_s=reconcile_after,
            policy=Policy(
                max_attempts=max_attempts,
                retry_exit_codes=frozenset(retry_codes),
                base_delay_s=retry_delay,
                input_prefix=input_prefix,
                results_prefix=results_prefix,
                ttl_days=ttl_days,
            ),
        )
