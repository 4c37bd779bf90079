"""Lambda entry point: ``s3fargate.taskrunner.handler.handler``.

Configuration is read and the clients created at import, which is Lambda's cold start:
a missing or invalid variable fails the init with one error naming every problem, and warm
invocations reuse the clients.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from s3fargate.lambda_runtime.clients import create_client
from s3fargate.lambda_runtime.settings import SERVICE_NAMES, Function
from s3fargate.taskrunner.factory import build_runner

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


logger = Logger(service=SERVICE_NAMES[Function.RUNNER])
runner = build_runner(os.environ, create_client, logger=logger)
config = runner.config


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Launch one Fargate task per created object; return SQS partial batch failures.

    Every log line carries the request id and whether this was a cold start.
    """
    return runner.handle(event, context)
