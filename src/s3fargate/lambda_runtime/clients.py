"""The runner's and tracker's AWS clients: created once per container, with botocore's standard
retry mode."""

from __future__ import annotations

from typing import Any

import botocore.session
from botocore.config import Config

#: Standard mode retries throttling and 5xx with exponential backoff and jitter; what is still
#: failing after that returns to SQS, which retries later.
MAX_ATTEMPTS = 5
RETRY_CONFIG = Config(retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS}, connect_timeout=5)


def create_client(service: str) -> Any:
    """A client with retries configured (honours ``AWS_ENDPOINT_URL``).

    Built from botocore directly: the runner needs no boto3 resources or s3transfer, whose
    imports would add about half of boto3's import time to every cold start.
    """
    return botocore.session.get_session().create_client(service, config=RETRY_CONFIG)
