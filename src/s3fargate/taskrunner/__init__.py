"""The runner Lambda: S3 events in (via SQS), one ECS Fargate RunTask per object out.

The Lambda entry point is :func:`s3fargate.taskrunner.handler.handler`; import it only in
the Lambda (it reads the environment at import).
"""

from s3fargate.lambda_runtime.exceptions import ConfigurationError
from s3fargate.taskrunner.config import RunnerConfig
from s3fargate.taskrunner.exceptions import LaunchError, RecordFailedError
from s3fargate.taskrunner.launcher import Launched, RunTaskLauncher
from s3fargate.taskrunner.request import client_token, run_task_request
from s3fargate.taskrunner.runner import TaskRunner

__all__ = [
    "ConfigurationError",
    "LaunchError",
    "Launched",
    "RecordFailedError",
    "RunTaskLauncher",
    "RunnerConfig",
    "TaskRunner",
    "client_token",
    "run_task_request",
]
