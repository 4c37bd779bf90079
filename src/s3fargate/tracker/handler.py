"""Lambda entry points: ``s3fargate.tracker.handler.handler`` (task-state-change events from
SQS) and ``s3fargate.tracker.handler.reconcile`` (the schedule).

Configuration is read and the clients created at import (the cold start).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics

from s3fargate.lambda_runtime.clients import create_client
from s3fargate.lambda_runtime.settings import ENV_SERVICE_NAME, SERVICE_NAMES, Function
from s3fargate.tracker.factory import build_tracker
from s3fargate.tracker.metrics import NAMESPACE, SERVICE, flush

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

# One module serves two functions: each names its log lines as its environment says.
logger = Logger(service=os.environ.get(ENV_SERVICE_NAME) or SERVICE_NAMES[Function.TRACKER])
# Figures go to the log in CloudWatch's embedded metric format, flushed after each invocation.
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
parts = build_tracker(os.environ, create_client, logger=logger, metrics=metrics)
config, tracker, reconciler = parts.config, parts.tracker, parts.reconciler


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Apply an SQS batch of ECS task-state-change events; return partial batch failures."""
    try:
        return tracker.handle(event, context)
    finally:
        flush(metrics)


@logger.inject_lambda_context(clear_state=True)
def reconcile(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """One reconciler pass (scheduled every 5 minutes)."""
    try:
        report = reconciler.run()
    finally:
        flush(metrics)
    logger.info("reconciled", extra=vars(report))
    return vars(report)
