"""Lambda entry points: ``s3fargate.tracker.handler.handler`` (task-state-change events from
SQS) and ``s3fargate.tracker.handler.reconcile`` (the schedule).

Configuration is read and the clients created at import (the cold start).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from s3fargate.ledger import LedgerStore
from s3fargate.ledger.notifications import Notifier
from s3fargate.ledger.store import now_ms
from s3fargate.taskrunner.clients import create_client
from s3fargate.tracker.actions import JobActions
from s3fargate.tracker.config import TrackerConfig
from s3fargate.tracker.reconciler import Reconciler
from s3fargate.tracker.tracker import Tracker

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger(service="s3fargate-tracker")
config = TrackerConfig.from_env(os.environ)
store = LedgerStore(
    dynamodb=create_client("dynamodb"), table=config.jobs_table, policy=config.policy
)
actions = JobActions(
    sqs=create_client("sqs"),
    queue_url=config.queue_url,
    notifier=Notifier(sns=create_client("sns"), topic_arn=config.notification_topic_arn)
    if config.notification_topic_arn
    else None,
    container_name=config.container_name,
)
tracker = Tracker(config=config, store=store, actions=actions, logger=logger)
reconciler = Reconciler(
    config=config,
    store=store,
    tracker=tracker,
    actions=actions,
    ecs=create_client("ecs"),
    clock=now_ms,
)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Apply an SQS batch of ECS task-state-change events; return partial batch failures."""
    return tracker.handle(event, context)


@logger.inject_lambda_context(clear_state=True)
def reconcile(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """One reconciler pass (scheduled every 5 minutes)."""
    report = reconciler.run()
    logger.info("reconciled", extra=vars(report))
    return vars(report)
