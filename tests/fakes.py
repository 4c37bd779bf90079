"""A fake ECS client for the failure paths moto cannot produce (failures, throttling, conflicts)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from s3fargate.taskrunner.ecs_api import list_tasks_paginator

if TYPE_CHECKING:
    from botocore.paginate import Paginator

Behaviour = Callable[[dict[str, Any]], dict[str, Any]]


def client_error(code: str, message: str = "boom", status: int = 400, **extra: Any) -> ClientError:
    """A botocore ClientError as the ECS client raises it."""
    response: dict[str, Any] = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
        **extra,
    }
    return ClientError(response, "RunTask")  # type: ignore[arg-type]


def started(request: dict[str, Any]) -> dict[str, Any]:
    """RunTask success: one task."""
    token = request["clientToken"][:12]
    return {"tasks": [{"taskArn": f"arn:aws:ecs:eu-west-1:111122223333:task/c/{token}"}]}


@dataclass
class FakeEcs:
    """Answers RunTask per object key; records every call. Unlisted keys start a task."""

    by_key: dict[str, Behaviour | Exception] = field(default_factory=dict)
    active_tasks: int = 0
    list_error: Exception | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)
    list_calls: list[dict[str, Any]] = field(default_factory=list)

    def run_task(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        env = {
            e["name"]: e["value"]
            for e in kwargs["overrides"]["containerOverrides"][0]["environment"]
        }
        behaviour = self.by_key.get(env["S3_KEY"], started)
        if isinstance(behaviour, Exception):
            raise behaviour
        return behaviour(kwargs)

    def list_tasks(self, **kwargs: Any) -> dict[str, Any]:
        self.list_calls.append(kwargs)
        if self.list_error:
            raise self.list_error
        # Serve the count in pages of 100 to exercise pagination.
        offset = int(kwargs.get("nextToken", "0"))
        page = min(100, self.active_tasks - offset)
        result: dict[str, Any] = {
            "taskArns": [f"arn:task/{i}" for i in range(offset, offset + page)]
        }
        if offset + page < self.active_tasks:
            result["nextToken"] = str(offset + page)
        return result

    def get_paginator(self, operation_name: str) -> Paginator:
        assert operation_name == "list_tasks"
        return list_tasks_paginator(self.list_tasks)

    @property
    def launched_keys(self) -> list[str]:
        return [
            next(
                e["value"]
                for e in c["overrides"]["containerOverrides"][0]["environment"]
                if e["name"] == "S3_KEY"
            )
            for c in self.calls
        ]
