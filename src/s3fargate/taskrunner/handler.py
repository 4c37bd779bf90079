"""Lambda entry point: ``s3fargate.taskrunner.handler.handler``.

Configuration is read and the ECS client created at import, which is Lambda's cold start:
a missing or invalid variable fails the init with one error naming every problem, and warm
invocations reuse the client.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from s3fargate.taskrunner.clients import create_ecs_client
from s3fargate.taskrunner.config import RunnerConfig
from s3fargate.taskrunner.runner import TaskRunner

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

runner = TaskRunner(config=RunnerConfig.from_env(os.environ), ecs=create_ecs_client())


def handler(event: dict[str, Any], context: LambdaContext | None) -> dict[str, Any]:
    """Launch one Fargate task per created object; return SQS partial batch failures."""
    return runner.handle(event, context)
