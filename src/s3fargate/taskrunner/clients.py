"""The runner's and tracker's AWS clients: created once per container, with botocore's standard
retry mode."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import botocore.session
from botocore.config import Config

if TYPE_CHECKING:
    from s3fargate.taskrunner.ecs_api import EcsApi

#: Standard mode retries throttling and 5xx with exponential backoff and jitter; what is still
#: failing after that returns to SQS, which retries later.
RETRY_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5)


def create_client(service: str) -> Any:
    """A client with retries configured (honours ``AWS_ENDPOINT_URL``).

    Built from botocore directly: the runner needs no boto3 resources or s3transfer, whose
    imports would add about half of boto3's import time to every cold start.
    """
    return botocore.session.get_session().create_client(service, config=RETRY_CONFIG)


def create_ecs_client() -> EcsApi:
    """The ECS client."""
    return cast("EcsApi", create_client("ecs"))
