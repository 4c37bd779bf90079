"""Every delivery into a resource of the default stack, proved by evaluating its policies.

Each delivery is a request as AWS makes it (principal, action, resource ARN, condition keys)
evaluated by ``iam_eval`` against the resolved template's resource, key and identity policies:
a delivery passes when IAM would allow it, not when a policy merely contains the right strings.
The negative cases prove the conditions bite.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import pytest
from aws_cdk import CfnElement, Stack

from s3fargate.ledger.store import STATUS_INDEX
from tests.infra.iam_eval import (
    ACCOUNT,
    OTHER_ACCOUNT,
    REGION,
    Decision,
    Request,
    ResolvedTemplate,
    evaluate,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from constructs import IConstruct

    from s3fargate.infra import S3TriggeredFargateTask
    from tests.infra.conftest import Synth

STACK = "default"
TLS = {"aws:SecureTransport": True}
#: What Lambda's SQS event source does with the function's role.
POLL_ACTIONS = (
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
)
#: What SNS asks KMS for when a principal publishes to an encrypted topic.
KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")


@dataclass(frozen=True)
class Delivery:
    """One request that a part of the pipeline makes into a resource of the stack."""

    source: str  # logical id of the sender: a bucket, rule, alarm, function or role
    target: str  # logical id of the resource whose policy decides
    request: Request
    role: str | None = None  # logical id of the IAM role that signs the request, if any

    @property
    def name(self) -> str:
        return f"{self.source} -> {self.target}: {self.request.action} {self.request.resource}"

    def with_context(self, **context: str | bool) -> Delivery:
        request = replace(self.request, context={**self.request.context, **context})
        return replace(self, request=request)


def decide(template: ResolvedTemplate, delivery: Delivery) -> Decision:
    """IAM's answer to the delivery's request, from the template's policies."""
    return evaluate(
        delivery.request,
        resource_policy=template.resource_policy(delivery.target),
        identity_policies=(
            template.identity_policies(delivery.role) if delivery.role is not None else ()
        ),
        key_policy=template.resources[delivery.target]["Type"] == "AWS::KMS::Key",
    )


@pytest.fixture(scope="module")
def template(synth: Synth) -> ResolvedTemplate:
    return ResolvedTemplate(synth.templates[STACK].to_json())


@pytest.fixture(scope="module")
def pipeline(synth: Synth) -> S3TriggeredFargateTask:
    return synth.construct(STACK)


def logical_id(synth: Synth, construct: IConstruct) -> str:
    """The logical id CloudFormation knows the construct's resource by."""
    element = construct.node.default_child
    assert isinstance(element, CfnElement)
    return str(synth.resolve(STACK, Stack.of(element).get_logical_id(element)))


# --- the deliveries, found in the template -----------------------------------------------------
def _from_service(
    service: str, action: str, source_arn: str, resource: str, **context: str
) -> Request:
    # A service acting for a resource of this account says which, for confused-deputy checks.
    keys = {"aws:SourceArn": source_arn, "aws:SourceAccount": ACCOUNT, **TLS, **context}
    return Request(service, action, resource, keys)


def _key_context(template: ResolvedTemplate, topic: str) -> dict[str, str]:
    # SNS calls KMS for the publisher, with the topic as encryption context.
    return {
        "kms:ViaService": f"sns.{REGION}.amazonaws.com",
        "kms:EncryptionContext:aws:sns:topicArn": template.arn(topic),
    }


def _topic_key(template: ResolvedTemplate, topic: str) -> str | None:
    """The logical id of the key that encrypts the topic, if one does."""
    key = template.resolve(template.resources[topic]["Properties"].get("KmsMasterKeyId"))
    return None if key is None else template.logical_id(key)


def bucket_notifications(template: ResolvedTemplate) -> Iterator[Delivery]:
    """S3 event notifications: S3 sends each to its queue."""
    for notifications in template.of_type("Custom::S3BucketNotifications").values():
        properties = template.resolve(notifications["Properties"])
        bucket = template.logical_id(properties["BucketName"])
        for config in properties["NotificationConfiguration"].get("QueueConfigurations", []):
            queue = template.logical_id(config["QueueArn"])
            request = _from_service(
                "s3.amazonaws.com", "sqs:SendMessage", template.arn(bucket), config["QueueArn"]
            )
            yield Delivery(bucket, queue, request)


def rule_targets(template: ResolvedTemplate) -> Iterator[Delivery]:
    """EventBridge rules: EventBridge sends to each target queue or invokes each function."""
    actions = {
        "AWS::SQS::Queue": "sqs:SendMessage",
        "AWS::Lambda::Function": "lambda:InvokeFunction",
    }
    for rule, resource in template.of_type("AWS::Events::Rule").items():
        for target in template.resolve(resource["Properties"].get("Targets", [])):
            assert "RoleArn" not in target, "a target reached through a role: model it"
            receiver = template.logical_id(target["Arn"])
            action = actions[template.resources[receiver]["Type"]]
            request = _from_service(
                "events.amazonaws.com", action, template.arn(rule), target["Arn"]
            )
            yield Delivery(rule, receiver, request)
            # What EventBridge could not deliver, it sends to the target's dead-letter queue.
            dead_letters = target.get("DeadLetterConfig", {}).get("Arn")
            if dead_letters is not None:
                request = _from_service(
                    "events.amazonaws.com", "sqs:SendMessage", template.arn(rule), dead_letters
                )
                yield Delivery(rule, template.logical_id(dead_letters), request)


def alarm_actions(template: ResolvedTemplate) -> Iterator[Delivery]:
    """CloudWatch alarms: CloudWatch publishes to each topic they name, through its key."""
    for alarm, resource in template.of_type("AWS::CloudWatch::Alarm").items():
        properties = template.resolve(resource["Properties"])
        actions = {
            arn
            for name in ("AlarmActions", "OKActions", "InsufficientDataActions")
            for arn in properties.get(name, [])
        }
        for arn in sorted(actions):
            topic = template.logical_id(arn)
            publish = _from_service(
                "cloudwatch.amazonaws.com", "sns:Publish", template.arn(alarm), arn
            )
            yield Delivery(alarm, topic, publish)
            key = _topic_key(template, topic)
            if key is not None:
                for action in KEY_ACTIONS:
                    request = _from_service(
                        "cloudwatch.amazonaws.com",
                        action,
                        template.arn(alarm),
                        template.arn(key),
                        **_key_context(template, topic),
                    )
                    yield Delivery(alarm, key, request)


def event_source_polls(template: ResolvedTemplate) -> Iterator[Delivery]:
    """Lambda's event sources: the function's role receives and deletes the queue's messages."""
    for mapping in template.of_type("AWS::Lambda::EventSourceMapping").values():
        properties = template.resolve(mapping["Properties"])
        function = template.logical_id(properties["FunctionName"])
        queue = template.logical_id(properties["EventSourceArn"])
        role = template.role_of_function(function)
        for action in POLL_ACTIONS:
            request = Request(template.arn(role), action, properties["EventSourceArn"], TLS)
            yield Delivery(function, queue, request, role=role)


def function_calls(
    synth: Synth, template: ResolvedTemplate, pipeline: S3TriggeredFargateTask
) -> Iterator[Delivery]:
    """What the Lambdas' code calls: notices, ledger rows and the status index, retry requests."""
    tracking = pipeline.tracking
    topic, table, queue = (
        logical_id(synth, r) for r in (pipeline.topic, pipeline.table, pipeline.queue)
    )
    key = _topic_key(template, topic)
    assert key is not None
    every_function: list[tuple[str, str, str, dict[str, str]]] = [
        (topic, "sns:Publish", template.arn(topic), {}),
        *((key, a, template.arn(key), _key_context(template, topic)) for a in KEY_ACTIONS),
        (table, "dynamodb:GetItem", template.arn(table), {}),
        (table, "dynamodb:PutItem", template.arn(table), {}),
    ]
    trackers_too: list[tuple[str, str, str, dict[str, str]]] = [
        (table, "dynamodb:Query", f"{template.arn(table)}/index/{STATUS_INDEX}", {}),
        (queue, "sqs:SendMessage", template.arn(queue), {}),
    ]
    for fn, calls in (
        (pipeline.runner, every_function),
        (tracking.tracker, every_function + trackers_too),
        (tracking.reconciler, every_function + trackers_too),
    ):
        function = logical_id(synth, fn)
        role = template.role_of_function(function)
        for target, action, resource, context in calls:
            request = Request(template.arn(role), action, resource, {**TLS, **context})
            yield Delivery(function, target, request, role=role)


def task_objects(
    synth: Synth, template: ResolvedTemplate, pipeline: S3TriggeredFargateTask
) -> Iterator[Delivery]:
    """The task's reads of its input and writes of its result and outputs (multipart
    uploads: completed, aborted, or deleted when the task fails after completing them)."""
    bucket = logical_id(synth, pipeline.bucket)
    role = logical_id(synth, pipeline.task_definition.task_role)
    output = f"{pipeline.results_prefix}data.csv/sub/out ü.parquet"
    objects = [
        ("s3:GetObject", f"{pipeline.input_prefix}data.csv"),
        ("s3:PutObject", f"{pipeline.results_prefix}data.csv.json"),
        ("s3:PutObject", output),
        ("s3:AbortMultipartUpload", output),
        ("s3:DeleteObject", output),
    ]
    for action, key in objects:
        request = Request(template.arn(role), action, f"{template.arn(bucket)}/{key}", TLS)
        yield Delivery(role, bucket, request, role=role)


def service_deliveries(template: ResolvedTemplate) -> list[Delivery]:
    return [
        *bucket_notifications(template),
        *rule_targets(template),
        *alarm_actions(template),
    ]


@pytest.fixture(scope="module")
def deliveries(
    synth: Synth, template: ResolvedTemplate, pipeline: S3TriggeredFargateTask
) -> list[Delivery]:
    return [
        *service_deliveries(template),
        *event_source_polls(template),
        *function_calls(synth, template, pipeline),
        *task_objects(synth, template, pipeline),
    ]


# --- allowed ---------------------------------------------------------------------------------
def test_every_delivery_is_allowed(template: ResolvedTemplate, deliveries: list[Delivery]) -> None:
    refused = {d.name: decide(template, d) for d in deliveries}
    assert {name: d for name, d in refused.items() if d is not Decision.ALLOWED} == {}


def test_the_services_deliver_what_the_pipeline_wires(
    synth: Synth, template: ResolvedTemplate, pipeline: S3TriggeredFargateTask
) -> None:
    """The deliveries found in the template are the pipeline's: none missed, none extra."""
    tracking = pipeline.tracking
    ids = {
        name: logical_id(synth, construct)
        for name, construct in {
            "bucket": pipeline.bucket,
            "queue": pipeline.queue,
            "rule": tracking.rule,
            "events": tracking.events_queue,
            "schedule": tracking.schedule,
            "reconciler": tracking.reconciler,
            "reconciler-dlq": tracking.reconciler_dead_letter_queue,
            "topic": pipeline.topic,
            "runner": pipeline.runner,
            "tracker": tracking.tracker,
        }.items()
    }
    alarms = [logical_id(synth, alarm) for alarm in tracking.alarms]
    key = _topic_key(template, ids["topic"])
    expected = {
        (ids["bucket"], ids["queue"], "sqs:SendMessage"),
        (ids["rule"], ids["events"], "sqs:SendMessage"),
        (ids["schedule"], ids["reconciler"], "lambda:InvokeFunction"),
        (ids["schedule"], ids["reconciler-dlq"], "sqs:SendMessage"),
        *((alarm, ids["topic"], "sns:Publish") for alarm in alarms),
        *((alarm, key, action) for alarm in alarms for action in KEY_ACTIONS),
    }
    found = {(d.source, d.target, d.request.action) for d in service_deliveries(template)}
    assert len(alarms) == 5
    assert found == expected
    polls = {(d.source, d.target) for d in event_source_polls(template)}
    assert polls == {(ids["runner"], ids["queue"]), (ids["tracker"], ids["events"])}


# --- not allowed -----------------------------------------------------------------------------
def _elsewhere(arn: str, account: str | None = None) -> str:
    """Another resource of the same type: another name, and another account if given."""
    parts = arn.split(":", 5)
    if account is not None and parts[4]:
        parts[4] = account
    return ":".join(parts) + "-other"


@pytest.mark.parametrize("account", [ACCOUNT, OTHER_ACCOUNT], ids=["this account", "another"])
def test_a_service_acting_for_another_resource_is_not_allowed(
    template: ResolvedTemplate, account: str
) -> None:
    checked = []
    for delivery in service_deliveries(template):
        is_key = template.resources[delivery.target]["Type"] == "AWS::KMS::Key"
        if is_key and account == ACCOUNT:
            # The key trusts this account's alarms (see tracking.py); which alarms may publish
            # is the topic policy's decision, checked on the sns:Publish delivery.
            continue
        source = str(delivery.request.context["aws:SourceArn"])
        foreign = delivery.with_context(
            **{"aws:SourceArn": _elsewhere(source, account), "aws:SourceAccount": account}
        )
        checked.append((foreign.name, decide(template, foreign)))
    assert checked
    # Refused: implicitly, or explicitly (the upload queue denies other accounts' buckets).
    refused = (Decision.NOT_ALLOWED, Decision.DENIED)
    assert [(name, decision in refused) for name, decision in checked] == [
        (name, True) for name, _ in checked
    ]


def test_a_service_the_policies_do_not_name_is_not_allowed(
    template: ResolvedTemplate,
) -> None:
    for delivery in service_deliveries(template):
        # A service none of these policies names, acting for the same source.
        request = replace(delivery.request, principal="lambda.amazonaws.com")
        impostor = replace(delivery, request=request)
        assert decide(template, impostor) is Decision.NOT_ALLOWED, impostor.name


def test_insecure_transport_is_denied_where_tls_is_enforced(
    synth: Synth,
    template: ResolvedTemplate,
    pipeline: S3TriggeredFargateTask,
    deliveries: list[Delivery],
) -> None:
    # The resources created with enforce_ssl=True.
    enforced = {
        logical_id(synth, r)
        for r in (pipeline.bucket, pipeline.queue, pipeline.tracking.events_queue, pipeline.topic)
    }
    insecure = [
        d.with_context(**{"aws:SecureTransport": False}) for d in deliveries if d.target in enforced
    ]
    assert {d.target for d in insecure} == enforced
    decisions = {d.name: decide(template, d) for d in insecure}
    assert {name: d for name, d in decisions.items() if d is not Decision.DENIED} == {}


def test_the_runner_cannot_query_the_ledger(
    synth: Synth, template: ResolvedTemplate, pipeline: S3TriggeredFargateTask
) -> None:
    runner = logical_id(synth, pipeline.runner)
    role = template.role_of_function(runner)
    table = logical_id(synth, pipeline.table)
    for resource in (template.arn(table), f"{template.arn(table)}/index/{STATUS_INDEX}"):
        request = Request(template.arn(role), "dynamodb:Query", resource, TLS)
        delivery = Delivery(runner, table, request, role=role)
        assert decide(template, delivery) is Decision.NOT_ALLOWED, resource


def test_the_task_cannot_delete_abort_or_write_outside_the_results_prefix(
    synth: Synth, template: ResolvedTemplate, pipeline: S3TriggeredFargateTask
) -> None:
    bucket = logical_id(synth, pipeline.bucket)
    role = logical_id(synth, pipeline.task_definition.task_role)
    for action in ("s3:DeleteObject", "s3:AbortMultipartUpload", "s3:PutObject"):
        for key in (f"{pipeline.input_prefix}data.csv", "elsewhere/data.csv"):
            request = Request(template.arn(role), action, f"{template.arn(bucket)}/{key}", TLS)
            delivery = Delivery(role, bucket, request, role=role)
            assert decide(template, delivery) is Decision.NOT_ALLOWED, (action, key)


def test_s3_sending_for_a_bucket_of_another_account_is_denied(template: ResolvedTemplate) -> None:
    # GIVEN the bucket's own ARN (which names no account), but another account's bucket
    deliveries = list(bucket_notifications(template))
    assert deliveries
    for delivery in deliveries:
        foreign = delivery.with_context(**{"aws:SourceAccount": OTHER_ACCOUNT})
        # THEN the queue refuses it
        assert decide(template, foreign) is Decision.DENIED
