"""Builds the tracker and reconciler from an environment and a client factory: the Lambda
handlers' way, and the simulator's (with simulated clients and a virtual clock)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from s3fargate.lambda_runtime.settings import SERVICE_NAMES, Function, PipelineSettings
from s3fargate.ledger import LedgerStore, Slots
from s3fargate.ledger.notifications import Notifier
from s3fargate.ledger.store import now_ms
from s3fargate.tracker.actions import JobActions
from s3fargate.tracker.config import TrackerConfig
from s3fargate.tracker.metrics import JobMetrics
from s3fargate.tracker.reconciler import Reconciler
from s3fargate.tracker.task_logs import TaskLogs
from s3fargate.tracker.tracker import Tracker

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from aws_lambda_powertools import Metrics

    from s3fargate.tracker.waiting_room import WaitingRoom


@dataclass(frozen=True, slots=True)
class TrackerParts:
    """The tracker and the reconciler, sharing one store and one set of clients."""

    config: TrackerConfig
    tracker: Tracker
    reconciler: Reconciler


def waiting_room(
    settings: PipelineSettings,
    store: LedgerStore,
    ecs: Any,
    logger: Logger | None,
) -> WaitingRoom | None:
    """The waiting room, when the settings hold the runner's launch configuration (the
    construct sets it): the tracker launches parked jobs with the runner's own configuration and
    request building."""
    if not settings.task_definition_arn:
        return None
    from s3fargate.launching.config import RunnerConfig
    from s3fargate.launching.launcher import RunTaskLauncher
    from s3fargate.tracker.waiting_room import WaitingRoom

    runner_config = RunnerConfig.from_settings(settings)
    return WaitingRoom(
        config=runner_config,
        store=store,
        launcher=RunTaskLauncher(ecs=ecs, config=runner_config),
        ecs=ecs,
        logger=logger,
    )


def build_tracker(
    environ: Mapping[str, str],
    client: Callable[[str], Any],
    *,
    logger: Logger | None = None,
    clock: Callable[[], int] = now_ms,
    metrics: Metrics | None = None,
) -> TrackerParts:
    """The tracker and reconciler as the Lambdas build them, from an environment and a client
    factory (the simulator passes simulated clients and its virtual clock). With ``metrics``
    (the Lambdas'), both record per-job figures into it."""
    settings = PipelineSettings.from_environment(environ, Function.TRACKER)
    config = TrackerConfig.from_settings(settings)
    store = LedgerStore(
        dynamodb=client("dynamodb"),
        table=config.jobs_table,
        policy=config.policy,
        clock=clock,
        slots=Slots(settings.pipeline_id, settings.max_running_tasks),
    )
    actions = JobActions(
        sqs=client("sqs"),
        queue_url=config.queue_url,
        notifier=Notifier(sns=client("sns"), topic_arn=config.notification_topic_arn)
        if config.notification_topic_arn
        else None,
        container_name=config.container_name,
    )
    # One ECS client for the reconciler's DescribeTasks and the waiting room's launches.
    ecs = client("ecs")
    room = waiting_room(settings, store, ecs, logger)
    figures = JobMetrics(metrics, pipeline_id=settings.pipeline_id) if metrics else None
    tracker = Tracker(
        config=config,
        store=store,
        actions=actions,
        logger=logger,
        waiting_room=room,
        s3=client("s3"),
        metrics=figures,
        task_logs=TaskLogs(
            client("logs"),
            log_group=config.task_log_group,
            container_name=config.container_name,
            logger=logger or Logger(service=SERVICE_NAMES[Function.TRACKER]),
        )
        if config.task_log_group and config.container_name
        else None,
    )
    reconciler = Reconciler(
        config=config,
        store=store,
        tracker=tracker,
        actions=actions,
        ecs=ecs,
        clock=clock,
        waiting_room=room,
        metrics=figures,
    )
    return TrackerParts(config=config, tracker=tracker, reconciler=reconciler)
