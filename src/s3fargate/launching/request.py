"""Build the RunTask request for one object: pure functions, no I/O."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from s3fargate import contracts as c
from s3fargate.ledger import identity
from s3fargate.sizing import read_concurrency_for

if TYPE_CHECKING:
    from s3fargate.events import ObjectCreated
    from s3fargate.launching.config import RunnerConfig
    from s3fargate.sizing import TaskSize

#: ECS limit on the serialized container overrides.
MAX_OVERRIDES_CHARS = 8192
#: ECS limit on a tag value, in Unicode characters.
MAX_TAG_VALUE_CHARS = 256
TAG_BUCKET = "s3fargate:bucket"
TAG_KEY = "s3fargate:key"
_TAG_SAFE_PUNCTUATION = frozenset(" _.:/=+-@")


class OverridesTooLargeError(ValueError):
    """The container overrides exceed ECS's 8,192-character limit."""


class ResultKeyTooLongError(ValueError):
    """The object's result key would pass S3's 1,024-byte limit: its task could never write
    its result document."""


def job_id_of(obj: ObjectCreated) -> str:
    """The ledger's id for the upload event ``obj`` is (or, for a retry, names)."""
    return obj.job_id or identity.job_id(
        bucket=obj.bucket,
        key=obj.key,
        version_id=obj.version_id,
        etag=obj.etag,
        sequencer=obj.sequencer,
        event_time=obj.event_time,
        origin_id=obj.origin_id,
    )


def client_token(obj: ObjectCreated) -> str:
    """A deterministic RunTask ``clientToken`` (64 hex characters, within ECS's 64 limit).

    One per attempt of the job: a redelivered notification (same bucket, key, version or
    ETag, sequencer) maps to the same token and ECS starts no second task, while a new upload
    of the same key, or a new attempt, gets a new one.
    """
    return identity.client_token(job_id_of(obj), obj.attempt)


def task_environment(obj: ObjectCreated, size: TaskSize | None = None) -> c.TaskEnvironment:
    """The task environment of docs/design.md: bucket from the event, the exact decoded key,
    its version, ETag and size, the job and attempt it runs (read back from task-state-change
    events), and, at a task size, the ranged GETs for its share of the network."""
    return c.TaskEnvironment(
        bucket=obj.bucket,
        key=obj.key,
        version_id=obj.version_id or None,
        etag=obj.etag or None,
        size=obj.size,
        job_id=job_id_of(obj),
        attempt=obj.attempt,
        read_concurrency=read_concurrency_for(size.cpu) if size is not None else None,
    )


def tag_value(text: str) -> str:
    """Make ``text`` a valid ECS tag value.

    Tag values allow Unicode letters, digits, spaces and ``_ . : / = + - @`` up to 256
    characters and may not start with ``aws:``; S3 keys allow anything, so other characters
    become ``_``. The exact key is in the task environment; the tag is for finding tasks.
    """
    safe = "".join(ch if ch.isalnum() or ch in _TAG_SAFE_PUNCTUATION else "_" for ch in text)
    if safe[:4].lower() == "aws:":
        safe = "_" + safe  # the aws: prefix is reserved for AWS in tag keys and values
    return safe[:MAX_TAG_VALUE_CHARS]


def size_of(obj: ObjectCreated, config: RunnerConfig) -> TaskSize | None:
    """The task size ``obj``'s attempt runs at (None: the task definition's)."""
    sizes = config.task_sizes
    return sizes.for_attempt(obj.size, obj.size_up) if sizes else None


def task_overrides(obj: ObjectCreated, config: RunnerConfig) -> dict[str, Any]:
    """RunTask ``overrides``: the job's environment for the container, and, with task sizes,
    the task-level CPU, memory and storage of the attempt's size.

    The container definition sets no CPU or memory of its own, so the container gets the
    whole task and needs no container-level values.
    """
    overrides: dict[str, Any] = {}
    size = size_of(obj, config)
    if size is not None:
        overrides["cpu"] = str(size.cpu)
        overrides["memory"] = str(size.memory_limit_mib)
        if size.ephemeral_storage_gib is not None:
            overrides["ephemeralStorage"] = {"sizeInGiB": size.ephemeral_storage_gib}
    environment = task_environment(obj, size).override()
    overrides["containerOverrides"] = [{"name": config.container_name, "environment": environment}]
    return overrides


def capacity_of(obj: ObjectCreated, config: RunnerConfig) -> str | None:
    """The capacity provider of ``obj``'s attempt (None: the ``FARGATE`` launch type, which
    runs On-Demand on any cluster, with no capacity provider to associate)."""
    if obj.on_demand:
        return None
    return config.capacity_provider


def run_task_request(obj: ObjectCreated, config: RunnerConfig) -> dict[str, Any]:
    """The keyword arguments of ``ecs.run_task`` that launch one task for ``obj``.

    Raises:
        OverridesTooLargeError: the overrides would exceed ECS's limit.
        ResultKeyTooLongError: the object's result key would exceed S3's limit.
    """
    problem = c.result_key_problem(
        obj.key,
        input_prefix=config.policy.input_prefix,
        results_prefix=config.policy.results_prefix,
    )
    if problem:
        raise ResultKeyTooLongError(f"not launched: {problem}")
    overrides = task_overrides(obj, config)
    size = len(json.dumps(overrides, ensure_ascii=False))
    if size > MAX_OVERRIDES_CHARS:
        raise OverridesTooLargeError(
            f"container overrides are {size} characters, over ECS's {MAX_OVERRIDES_CHARS}"
        )
    awsvpc: dict[str, Any] = {
        "subnets": list(config.subnets),
        "assignPublicIp": config.assign_public_ip,
    }
    if config.security_groups:
        awsvpc["securityGroups"] = list(config.security_groups)
    request: dict[str, Any] = {
        "cluster": config.cluster_arn,
        "taskDefinition": config.task_definition_arn,
        "count": 1,
        "startedBy": config.pipeline_id,
        "clientToken": client_token(obj),
        "overrides": overrides,
        "networkConfiguration": {"awsvpcConfiguration": awsvpc},
        "tags": [
            {"key": TAG_BUCKET, "value": tag_value(obj.bucket)},
            {"key": TAG_KEY, "value": tag_value(obj.key)},
        ],
        "enableECSManagedTags": True,
    }
    capacity = capacity_of(obj, config)
    if capacity:
        request["capacityProviderStrategy"] = [{"capacityProvider": capacity, "weight": 1}]
    else:
        request["launchType"] = "FARGATE"
    return request
