"""What every Lambda of the pipeline shares: its settings (read from the environment), AWS
clients with the retry configuration, botocore's paginators and configuration errors."""

from s3fargate.lambda_runtime.clients import MAX_ATTEMPTS, RETRY_CONFIG, create_client
from s3fargate.lambda_runtime.exceptions import ConfigurationError
from s3fargate.lambda_runtime.paginators import botocore_paginator, list_tasks_paginator
from s3fargate.lambda_runtime.settings import Function, PipelineSettings

__all__ = [
    "MAX_ATTEMPTS",
    "RETRY_CONFIG",
    "ConfigurationError",
    "Function",
    "PipelineSettings",
    "botocore_paginator",
    "create_client",
    "list_tasks_paginator",
]
