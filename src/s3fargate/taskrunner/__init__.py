"""The runner Lambda: S3 events in (via SQS), one ECS Fargate RunTask per object out
(through :mod:`s3fargate.launching`).

The Lambda entry point is :func:`s3fargate.taskrunner.handler.handler`; import it only in
the Lambda (it reads the environment at import).
"""

from s3fargate.lambda_runtime.exceptions import ConfigurationError
from s3fargate.taskrunner.exceptions import RecordFailedError
from s3fargate.taskrunner.runner import TaskRunner

__all__ = ["ConfigurationError", "RecordFailedError", "TaskRunner"]
