"""Builds the runner from an environment and a client factory: the Lambda handler's way, and
the simulator's (with simulated clients and a virtual clock)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from s3fargate.launching.config import RunnerConfig
from s3fargate.taskrunner.runner import TaskRunner

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from aws_lambda_powertools import Logger

    from s3fargate.taskrunner.ledger_recorder import LedgerRecorder


def ledger_recorder(
    config: RunnerConfig, client: Callable[[str], Any], *, clock: Callable[[], int] | None = None
) -> LedgerRecorder | None:
    """The ledger recorder when ``JOBS_TABLE`` is set; otherwise the runner keeps no ledger."""
    if config.jobs_table is None:
        return None
    from s3fargate.ledger import LedgerStore, Slots
    from s3fargate.ledger.notifications import Notifier
    from s3fargate.ledger.store import now_ms
    from s3fargate.taskrunner.ledger_recorder import LedgerRecorder

    notifier = (
        Notifier(sns=client("sns"), topic_arn=config.notification_topic_arn)
        if config.notification_topic_arn
        else None
    )
    store = LedgerStore(
        dynamodb=client("dynamodb"),
        table=config.jobs_table,
        policy=config.policy,
        clock=clock or now_ms,
        slots=Slots(config.pipeline_id, config.max_running_tasks),
    )
    return LedgerRecorder(store, max_receive_count=config.max_receive_count, notifier=notifier)


def build_runner(
    environ: Mapping[str, str],
    client: Callable[[str], Any],
    *,
    logger: Logger | None = None,
    clock: Callable[[], int] | None = None,
) -> TaskRunner:
    """The runner as the Lambda builds it, from an environment and a client factory.

    The simulator builds it the same way, with simulated clients and its virtual clock.
    """
    config = RunnerConfig.from_env(environ)
    return TaskRunner(
        config=config,
        ecs=client("ecs"),
        logger=logger,
        recorder=ledger_recorder(config, client, clock=clock),
    )
