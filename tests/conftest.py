"""Shared fixtures: fake credentials (nothing may reach AWS) and one moto server per session."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from s3fargate.local.server import LocalServer

if TYPE_CHECKING:
    from collections.abc import Iterator

# Set before any client exists: a test can never sign a request with real credentials.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
)
os.environ.pop("AWS_PROFILE", None)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A real moto server on 127.0.0.1 (HTTP), shared by the session's functional tests."""
    with LocalServer() as server:
        yield server.endpoint
