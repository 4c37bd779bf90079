"""The slice of the ECS API the runner uses, so a local stand-in can take ECS's place."""

from __future__ import annotations

from typing import Any, Protocol


class EcsApi(Protocol):
    """What the runner calls: boto3's ECS client, or :class:`s3fargate.local.ecs.LocalEcs`."""

    def run_task(self, **kwargs: Any) -> Any:
        """ECS RunTask."""

    def get_paginator(self, operation_name: str) -> Any:
        """A paginator; the runner asks for ``"list_tasks"``."""
