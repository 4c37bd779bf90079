"""The slice of the ECS API the runner uses, so a local launcher can stand in for ECS."""

from __future__ import annotations

from typing import Any, Protocol


class EcsApi(Protocol):
    """What the runner calls: boto3's ECS client, or :class:`s3fargate.local.LocalEcs`."""

    def run_task(self, **kwargs: Any) -> Any:
        """ECS RunTask."""

    def list_tasks(self, **kwargs: Any) -> Any:
        """ECS ListTasks."""
