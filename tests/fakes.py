"""Fakes for what moto cannot produce: RunTask failures, throttling and conflicts; dropped S3
connections and objects overwritten in the middle of a read."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError, ReadTimeoutError

from s3fargate.lambda_runtime.paginators import list_tasks_paginator
from s3fargate.wire import wire_format

if TYPE_CHECKING:
    from botocore.paginate import Paginator

Behaviour = Callable[[dict[str, Any]], dict[str, Any]]


_ECS = wire_format("ecs")


def client_error(code: str, message: str = "boom", status: int = 400, **fields: Any) -> ClientError:
    """The ClientError the ECS client raises for RunTask's error answer ``code`` (``fields``:
    the error's modeled members), as botocore parses it from the wire."""
    return _ECS.error("RunTask", code, message, status, **fields)


def started(request: dict[str, Any]) -> dict[str, Any]:
    """RunTask success: one task (the wire document)."""
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
        _ECS.check_request("run_task", kwargs)
        self.calls.append(kwargs)
        env = {
            e["name"]: e["value"]
            for e in kwargs["overrides"]["containerOverrides"][0]["environment"]
        }
        behaviour = self.by_key.get(env["S3_KEY"], started)
        if isinstance(behaviour, Exception):
            raise behaviour
        return _ECS.response("run_task", behaviour(kwargs))

    def list_tasks(self, **kwargs: Any) -> dict[str, Any]:
        _ECS.check_request("list_tasks", kwargs)
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
        return _ECS.response("list_tasks", result)

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


class FakeBody:
    """A GetObject body over ``data``; raises ``drop`` once when ``drop_at`` bytes are read."""

    def __init__(self, store: FakeS3, data: bytes, drop_at: int | None) -> None:
        self._store = store
        self._data = data
        self._position = 0
        self._drop_at = drop_at
        self.closed = False
        store.open_bodies += 1
        store.max_open_bodies = max(store.max_open_bodies, store.open_bodies)

    def read(self, size: int) -> bytes:
        if self._drop_at is not None and self._position >= self._drop_at:
            self._drop_at = None
            raise ReadTimeoutError(endpoint_url="http://s3")
        end = len(self._data) if self._drop_at is None else min(len(self._data), self._drop_at)
        chunk = self._data[self._position : min(self._position + size, end)]
        self._position += len(chunk)
        self._store.bytes_served += len(chunk)
        return chunk

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._store.open_bodies -= 1


@dataclass
class FakeS3:
    """GetObject over one object, as S3 answers it: ranges (206 + ContentRange), 416 for a
    range of an empty object, ``If-Match`` against the current ETag, errors by code.

    ``drops`` maps a call number (1-based) to the byte of that body after which the
    connection drops once. ``overwrite_after_calls`` replaces the object (new ETag) after
    that many calls, as an upload during the read would.
    """

    data: bytes
    error: str | None = None
    drops: dict[int, int] = field(default_factory=dict)
    overwrite_after_calls: int | None = None
    etag: str = '"etag-1"'
    calls: list[dict[str, Any]] = field(default_factory=list)
    open_bodies: int = 0
    max_open_bodies: int = 0
    bytes_served: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def get_object(self, **kwargs: Any) -> dict[str, Any]:
        with self._lock:
            self.calls.append(kwargs)
            number = len(self.calls)
            if self.overwrite_after_calls is not None and number > self.overwrite_after_calls:
                self.etag = '"etag-2"'
        if self.error:
            raise ClientError({"Error": {"Code": self.error, "Message": "nope"}}, "GetObject")
        if "IfMatch" in kwargs and kwargs["IfMatch"] != self.etag:
            raise ClientError(
                {"Error": {"Code": "PreconditionFailed", "Message": "At least one failed"}},
                "GetObject",
            )
        size = len(self.data)
        response: dict[str, Any] = {"ETag": self.etag, "ContentType": "text/plain"}
        if "Range" in kwargs:
            first, _, last = kwargs["Range"].removeprefix("bytes=").partition("-")
            start = int(first)
            if start >= size:
                raise ClientError(
                    {"Error": {"Code": "InvalidRange", "Message": "not satisfiable"}}, "GetObject"
                )
            end = min(int(last), size - 1) if last else size - 1
            response["ContentRange"] = f"bytes {start}-{end}/{size}"
        else:
            start, end = 0, size - 1
        body = self.data[start : end + 1]
        response["ContentLength"] = len(body)
        response["Body"] = FakeBody(self, body, self.drops.get(number))
        return response
