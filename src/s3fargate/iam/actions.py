"""What IAM authorises for each API call the pipeline makes: the actions, on which resource
ARNs, with which condition keys (AWS's Service Authorization Reference, and each service's own
rules where an operation is authorised as something else).

Only the operations the runner, tracker, reconciler and tasks call are listed; any other
raises :class:`UnmodeledOperationError`, so a new call is authorised only once it is modeled
here (fail closed). Irregular names are AWS's: ``HeadObject`` is ``s3:GetObject`` (or
``s3:GetObjectVersion`` with a version id), the parts of a multipart upload are
``s3:PutObject``, ``ListObjectsV2`` is ``s3:ListBucket`` (with ``s3:prefix``); a
``TransactWriteItems`` is authorised item by item by the underlying ``PutItem``,
``UpdateItem``, ``DeleteItem`` and ``ConditionCheckItem``; ``RunTask`` needs
``iam:PassRole`` on the task definition's roles (with ``iam:PassedToService``) and, with
tags, ``ecs:TagResource`` (``ecs:CreateAction``); publishing to a topic encrypted with a KMS
key needs ``kms:GenerateDataKey`` and ``kms:Decrypt`` on the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

Context = dict[str, str | bool]


class UnmodeledOperationError(NotImplementedError):
    """An API operation whose IAM authorisation is not modeled here."""


@dataclass(frozen=True, slots=True)
class Need:
    """One authorisation a call needs: an action on a resource, with condition keys."""

    action: str
    resource: str
    context: Context = field(default_factory=dict)


@dataclass(frozen=True)
class World:
    """What the authorisation of a call depends on beyond its parameters.

    ``topic_keys``: each encrypted topic's KMS key ARN; ``task_definition_roles``: each task
    definition family's task and execution role ARNs (what RunTask passes).
    """

    account: str
    region: str
    partition: str = "aws"
    topic_keys: Mapping[str, str] = field(default_factory=dict)
    task_definition_roles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def arn(self, service: str, resource: str) -> str:
        """An ARN of this account and Region."""
        return f"arn:{self.partition}:{service}:{self.region}:{self.account}:{resource}"

    def queue(self, url: str) -> str:
        """The ARN of the queue at ``url``."""
        return self.arn("sqs", urlparse(url).path.rstrip("/").rsplit("/", 1)[-1])

    def table(self, name: str) -> str:
        """The ARN of table ``name`` (or ``name`` if it is one)."""
        return name if name.startswith("arn:") else self.arn("dynamodb", f"table/{name}")

    def cluster(self, name: str | None) -> str:
        """The ARN of cluster ``name`` (ECS's ``default`` when none)."""
        name = name or "default"
        return name if name.startswith("arn:") else self.arn("ecs", f"cluster/{name}")


def needs(service: str, operation: str, params: Mapping[str, Any], world: World) -> list[Need]:
    """What IAM checks for ``operation`` of ``service`` with ``params`` (the API's own
    parameters, as boto3 takes them).

    Raises:
        UnmodeledOperationError: the operation is not one of the pipeline's.
    """
    rule = _RULES.get((service, operation))
    if rule is None:
        raise UnmodeledOperationError(
            f"{service}:{operation} is not an operation the pipeline's components call; its "
            "IAM authorisation is not modeled (s3fargate.iam.actions)"
        )
    return rule(params, world)


# --- S3 ------------------------------------------------------------------------------------------
def _object(params: Mapping[str, Any], world: World) -> str:
    return f"arn:{world.partition}:s3:::{params['Bucket']}/{params['Key']}"


def _bucket(params: Mapping[str, Any], world: World) -> str:
    return f"arn:{world.partition}:s3:::{params['Bucket']}"


def _read(params: Mapping[str, Any], world: World) -> list[Need]:
    action = "s3:GetObjectVersion" if params.get("VersionId") else "s3:GetObject"
    return [Need(action, _object(params, world))]


def _write(params: Mapping[str, Any], world: World) -> list[Need]:
    return [Need("s3:PutObject", _object(params, world))]


def _delete(params: Mapping[str, Any], world: World) -> list[Need]:
    action = "s3:DeleteObjectVersion" if params.get("VersionId") else "s3:DeleteObject"
    return [Need(action, _object(params, world))]


def _list(params: Mapping[str, Any], world: World) -> list[Need]:
    context: Context = {}
    for key, name in (("s3:prefix", "Prefix"), ("s3:delimiter", "Delimiter")):
        if params.get(name) is not None:
            context[key] = str(params[name])
    return [Need("s3:ListBucket", _bucket(params, world), context)]


def list_bucket_need(bucket: str, world: World) -> Need:
    """What S3 checks before it answers a missing key 404 rather than 403."""
    return _list({"Bucket": bucket}, world)[0]


# --- SQS, SNS, DynamoDB --------------------------------------------------------------------------
def _queue(action: str) -> Callable[[Mapping[str, Any], World], list[Need]]:
    return lambda params, world: [Need(action, world.queue(params["QueueUrl"]))]


def _publish(params: Mapping[str, Any], world: World) -> list[Need]:
    topic = str(params["TopicArn"])
    found = [Need("sns:Publish", topic)]
    key = world.topic_keys.get(topic)
    if key is not None:  # SNS encrypts the message with the topic's key, as the publisher
        found += [Need("kms:GenerateDataKey", key), Need("kms:Decrypt", key)]
    return found


def _item(action: str) -> Callable[[Mapping[str, Any], World], list[Need]]:
    return lambda params, world: [Need(action, world.table(params["TableName"]))]


def _query(params: Mapping[str, Any], world: World) -> list[Need]:
    table = world.table(params["TableName"])
    index = params.get("IndexName")
    return [Need("dynamodb:Query", f"{table}/index/{index}" if index else table)]


def _scan(params: Mapping[str, Any], world: World) -> list[Need]:
    table = world.table(params["TableName"])
    index = params.get("IndexName")
    return [Need("dynamodb:Scan", f"{table}/index/{index}" if index else table)]


#: TransactWriteItems has no action of its own: each item is its underlying write.
_TRANSACT_ITEM_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}


def _transact(params: Mapping[str, Any], world: World) -> list[Need]:
    return [
        Need(_TRANSACT_ITEM_ACTIONS[kind], world.table(item["TableName"]))
        for entry in params["TransactItems"]
        for kind, item in entry.items()
    ]


# --- ECS -----------------------------------------------------------------------------------------
def _run_task(params: Mapping[str, Any], world: World) -> list[Need]:
    cluster = world.cluster(params.get("cluster"))
    definition = str(params["taskDefinition"])
    if not definition.startswith("arn:"):
        definition = world.arn("ecs", f"task-definition/{definition}")
    found = [Need("ecs:RunTask", definition, {"ecs:cluster": cluster})]
    family = definition.rsplit("/", 1)[-1].split(":")[0]
    overrides = params.get("overrides") or {}
    roles = {
        *world.task_definition_roles.get(family, ()),
        *(overrides.get(name) for name in ("taskRoleArn", "executionRoleArn")),
    }
    passed: Context = {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    found += [Need("iam:PassRole", role, passed) for role in sorted(r for r in roles if r)]
    if params.get("tags"):
        name = cluster.rsplit("/", 1)[-1]
        task = world.arn("ecs", f"task/{name}/*")
        found.append(Need("ecs:TagResource", task, {"ecs:CreateAction": "RunTask"}))
    return found


def _list_tasks(params: Mapping[str, Any], world: World) -> list[Need]:
    # ListTasks has no resource-level scope: the condition key names the cluster.
    return [Need("ecs:ListTasks", "*", {"ecs:cluster": world.cluster(params.get("cluster"))})]


def _log_events(params: Mapping[str, Any], world: World) -> list[Need]:
    """GetLogEvents is authorised on the log stream."""
    group, stream = params.get("logGroupName", ""), params.get("logStreamName", "")
    return [Need("logs:GetLogEvents", world.arn("logs", f"log-group:{group}:log-stream:{stream}"))]


def _describe_tasks(params: Mapping[str, Any], world: World) -> list[Need]:
    cluster = world.cluster(params.get("cluster"))
    name = cluster.rsplit("/", 1)[-1]
    return [
        Need(
            "ecs:DescribeTasks",
            task if task.startswith("arn:") else world.arn("ecs", f"task/{name}/{task}"),
            {"ecs:cluster": cluster},
        )
        for task in params.get("tasks", ())
    ]


_RULES: dict[tuple[str, str], Callable[[Mapping[str, Any], World], list[Need]]] = {
    ("s3", "GetObject"): _read,
    ("s3", "HeadObject"): _read,
    ("s3", "PutObject"): _write,
    ("s3", "CreateMultipartUpload"): _write,
    ("s3", "UploadPart"): _write,
    ("s3", "CompleteMultipartUpload"): _write,
    ("s3", "AbortMultipartUpload"): lambda p, w: [Need("s3:AbortMultipartUpload", _object(p, w))],
    ("s3", "DeleteObject"): _delete,
    ("s3", "ListObjectsV2"): _list,
    ("s3", "ListObjects"): _list,
    ("sqs", "SendMessage"): _queue("sqs:SendMessage"),
    ("sqs", "SendMessageBatch"): _queue("sqs:SendMessage"),
    ("sqs", "ReceiveMessage"): _queue("sqs:ReceiveMessage"),
    ("sqs", "DeleteMessage"): _queue("sqs:DeleteMessage"),
    ("sqs", "DeleteMessageBatch"): _queue("sqs:DeleteMessage"),
    ("sqs", "ChangeMessageVisibility"): _queue("sqs:ChangeMessageVisibility"),
    ("sqs", "ChangeMessageVisibilityBatch"): _queue("sqs:ChangeMessageVisibility"),
    ("sqs", "GetQueueAttributes"): _queue("sqs:GetQueueAttributes"),
    ("sns", "Publish"): _publish,
    ("dynamodb", "GetItem"): _item("dynamodb:GetItem"),
    ("dynamodb", "PutItem"): _item("dynamodb:PutItem"),
    ("dynamodb", "UpdateItem"): _item("dynamodb:UpdateItem"),
    ("dynamodb", "DeleteItem"): _item("dynamodb:DeleteItem"),
    ("dynamodb", "Query"): _query,
    ("dynamodb", "Scan"): _scan,
    ("dynamodb", "TransactWriteItems"): _transact,
    ("ecs", "RunTask"): _run_task,
    ("ecs", "ListTasks"): _list_tasks,
    ("ecs", "DescribeTasks"): _describe_tasks,
    ("logs", "GetLogEvents"): _log_events,
}
#: The operations modeled here (a test checks each against botocore's service models).
MODELED = frozenset(_RULES)
