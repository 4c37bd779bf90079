"""Lambda entry point: ``s3fargate.taskrunner.handler.handler``.

Configuration is read and the clients created at import, which is Lambda's cold start:
a missing or invalid variable fails the init with one error naming every problem, and warm
invocations reuse the clients.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from s3fargate.taskrunner.clients import create_client, create_ecs_client
from s3fargate.taskrunner.config import RunnerConfig
from s3fargate.taskrunner.runner import TaskRunner

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from s3fargate.taskrunner.recorder import LaunchRecorder


def _recorder(config: RunnerConfig) -> LaunchRecorder | None:
    """The ledger recorder when ``JOBS_TABLE`` is set; otherwise the runner keeps no ledger."""
    if config.jobs_table is None:
        return None
    from s3fargate.ledger import LedgerStore
    from s3fargate.ledger.notifications import Notifier
    from s3fargate.taskrunner.ledger_recorder import LedgerRecorder

    notifier = (
        Notifier(sns=create_client("sns"), topic_arn=config.notification_topic_arn)
        if config.notification_topic_arn
        else None
    )
    store = LedgerStore(dynamodb=create_client("dynamodb"), table=config.jobs_table)
    return LedgerRecorder(store, max_receive_count=config.max_receive_count, notifier=notifier)


logger = Logger(service="s3fargate-runner")
config = RunnerConfig.from_env(os.environ)
runner = TaskRunner(
    config=config, ecs=create_ecs_client(), logger=logger, recorder=_recorder(config)
)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Launch one Fargate task per created object; return SQS partial batch failures.

    Every log line carries the request id and whether this was a cold start.
    """
    return runner.handle(event, context)
