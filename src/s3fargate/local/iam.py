"""IAM in the local pipeline: each component (runner, tracker, reconciler, task) calls with an
identity of its own, and every call is authorised against the role policies the construct
synthesizes for it (:mod:`s3fargate.iam.snapshot`), as IAM does on AWS.

The embedded server checks the calls made over HTTP (S3, SQS, DynamoDB, SNS), whatever
client makes them — the task's own tools included; the ECS stand-in checks RunTask, ListTasks
and DescribeTasks in ``dev``. ``--task-policy FILE`` adds statements to the task role (as a
stack would with ``task_role.add_to_principal_policy``); ``--no-iam`` turns the check off.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from s3fargate.iam import Authority, Identity, World, needs
from s3fargate.iam.snapshot import component_policies
from s3fargate.lambda_runtime.paginators import list_tasks_paginator
from s3fargate.local.config import LocalConfigError
from s3fargate.local.ecs import LOCAL_CLUSTER, LOCAL_FAMILY
from s3fargate.local.tasklog import LOCAL_TASK_LOG_GROUP
from s3fargate.rundir.credentials import COMPONENT_KEYS, LOCAL_ACCOUNT, LOCAL_REGION
from s3fargate.wire import wire_format

if TYPE_CHECKING:
    from pathlib import Path

    from botocore.paginate import Paginator

    from s3fargate.iam.policy import Policy
    from s3fargate.local.resources import Resources
    from s3fargate.local.tasklog import LocalLogStreams

#: The local names of what the construct creates beside the resources the embedded server
#: and the ECS stand-in hold: the task's two roles, and the key it encrypts the topic with.
LOCAL_TASK_ROLE = "s3fargate-local-task"
LOCAL_EXECUTION_ROLE = "s3fargate-local-execution"
LOCAL_TOPIC_KEY = "s3fargate-local-topic-key"
_HINTS = {
    "task": "the task role lacks it: grant it in your stack "
    "(pipeline.task_definition.task_role.add_to_principal_policy(...)) and locally with "
    "s3fargate dev --task-policy FILE; dev --no-iam turns the check off",
}
_OUR_HINT = "the construct does not grant it to the {name}: a bug of s3fargate's own policies"


def role_arn(name: str) -> str:
    """The local ARN of role ``name``."""
    return f"arn:aws:iam::{LOCAL_ACCOUNT}:role/{name}"


def read_task_policy(path: Path) -> Policy:
    """A policy document (``{"Version": …, "Statement": [...]}``) to add to the task role.

    Raises:
        LocalConfigError: it is not one.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LocalConfigError(f"--task-policy {path}: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("Statement"), list | dict):
        raise LocalConfigError(
            f"--task-policy {path}: not an IAM policy document (an object with a Statement)"
        )
    return document


def local_authority(
    resources: Resources,
    *,
    bucket: str,
    task_policy: Policy | None = None,
    record: Path | None = None,
) -> Authority:
    """The components' identities, each with the construct's policies for its role rendered
    with the local pipeline's names."""
    topic = resources.topic_arn
    names = {
        "account": LOCAL_ACCOUNT,
        "region": LOCAL_REGION,
        "bucket": bucket,
        "queue": _name_of(resources.queue.arn),
        "events_queue": _name_of(resources.events_queue.arn),
        "table": resources.jobs_table,
        "topic": _name_of(topic),
        "topic_key": LOCAL_TOPIC_KEY,
        "cluster": LOCAL_CLUSTER,
        "family": LOCAL_FAMILY,
        "task_role": LOCAL_TASK_ROLE,
        "execution_role": LOCAL_EXECUTION_ROLE,
        "task_log_group": LOCAL_TASK_LOG_GROUP,
    }
    policies = component_policies(names)
    if task_policy is not None:
        policies["task"] = [*policies["task"], task_policy]
    world = World(
        account=LOCAL_ACCOUNT,
        region=LOCAL_REGION,
        topic_keys={topic: f"arn:aws:kms:{LOCAL_REGION}:{LOCAL_ACCOUNT}:key/{LOCAL_TOPIC_KEY}"},
        task_definition_roles={
            LOCAL_FAMILY: (role_arn(LOCAL_TASK_ROLE), role_arn(LOCAL_EXECUTION_ROLE))
        },
    )
    identities = {
        COMPONENT_KEYS[name]: Identity(
            name=name,
            role_arn=role_arn(LOCAL_TASK_ROLE if name == "task" else f"s3fargate-local-{name}"),
            policies=tuple(policies[name]),
            hint=_HINTS.get(name, _OUR_HINT.format(name=name)),
        )
        for name in COMPONENT_KEYS
    }
    return Authority(identities=identities, world=world, record=record)


def _name_of(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


_ECS = wire_format("ecs")


class AuthorizedEcs:
    """The ECS stand-in as one component calls it: each call authorised against the
    component's role first, refused as ECS refuses it (``AccessDeniedException``)."""

    def __init__(self, ecs: Any, authority: Authority, component: str) -> None:
        self._ecs = ecs
        self._authority = authority
        self._identity = authority.identity_named(component)

    def run_task(self, **request: Any) -> dict[str, Any]:
        """RunTask, if the role may (RunTask, PassRole on the task's roles, TagResource)."""
        self._authorize("RunTask", request)
        result: dict[str, Any] = self._ecs.run_task(**request)
        return result

    def list_tasks(self, **request: Any) -> dict[str, Any]:
        """ListTasks, if the role may."""
        self._authorize("ListTasks", request)
        result: dict[str, Any] = self._ecs.list_tasks(**request)
        return result

    def describe_tasks(self, **request: Any) -> dict[str, Any]:
        """DescribeTasks, if the role may (each task of the request)."""
        self._authorize("DescribeTasks", request)
        result: dict[str, Any] = self._ecs.describe_tasks(**request)
        return result

    def get_paginator(self, operation_name: str) -> Paginator[Any]:
        """``get_paginator("list_tasks")``, each page authorised."""
        if operation_name != "list_tasks":
            raise ValueError(f"the local ECS stand-in has no paginator for {operation_name!r}")
        return list_tasks_paginator(self.list_tasks)

    def _authorize(self, operation: str, request: dict[str, Any]) -> None:
        denial = self._authority.check(
            self._identity, needs("ecs", operation, request, self._authority.world)
        )
        if denial is not None:
            raise _ECS.error(operation, "AccessDeniedException", denial.message)


_LOGS = wire_format("logs")


class AuthorizedLogs:
    """The task log streams as one component reads them: each call authorised against the
    component's role first, refused as CloudWatch Logs refuses it (``AccessDeniedException``)."""

    def __init__(self, logs: LocalLogStreams, authority: Authority, component: str) -> None:
        self._logs = logs
        self._authority = authority
        self._identity = authority.identity_named(component)

    def get_log_events(self, **request: Any) -> dict[str, Any]:
        """GetLogEvents, if the role may read the stream."""
        denial = self._authority.check(
            self._identity, needs("logs", "GetLogEvents", request, self._authority.world)
        )
        if denial is not None:
            raise _LOGS.error("get_log_events", "AccessDeniedException", denial.message)
        return self._logs.get_log_events(**request)
