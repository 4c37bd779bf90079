"""Create what the CDK construct creates: queues with dead-letter queues, the jobs table, the
topic, the bucket and its notification."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from s3fargate import contracts as c
from s3fargate.ledger import store as ledger_store

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import FilterRuleTypeDef, QueueConfigurationTypeDef
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

    from s3fargate.local.config import LocalConfig

NOTIFICATION_ID = "s3fargate-incoming"


@dataclass(frozen=True, slots=True)
class Queue:
    """A queue's URL and ARN."""

    url: str
    arn: str


@dataclass(frozen=True, slots=True)
class Resources:
    """Everything the construct would create that the local pipeline uses."""

    queue: Queue
    dead_letter_queue: Queue
    #: Where the ECS stand-in's task-state-change events go (the EventBridge rule's target).
    events_queue: Queue
    events_dead_letter_queue: Queue
    jobs_table: str
    topic_arn: str
    #: Subscribed to the topic, so the terminal can show what operators would be told.
    notifications_queue: Queue


def provision(
    *, s3: S3Client, sqs: SQSClient, dynamodb: DynamoDBClient, sns: SNSClient, config: LocalConfig
) -> Resources:
    """Create (or reuse) everything; idempotent, so a restart finds what it left.

    The queues, table and topic come first and the bucket's notification right after the
    bucket, so the pipeline is wired before it is announced.
    """
    name = config.resource_name
    dlq = _queue(sqs, f"{name}-dlq", {"MessageRetentionPeriod": str(c.DLQ_RETENTION_DAYS * 86400)})
    redrive = _redrive(config.visibility_timeout, config.props.max_receive_count, dlq)
    queue = _queue(sqs, name, redrive)
    events_dlq = _queue(
        sqs, f"{name}-events-dlq", {"MessageRetentionPeriod": str(c.DLQ_RETENTION_DAYS * 86400)}
    )
    events = _queue(
        sqs,
        f"{name}-events",
        _redrive(config.visibility_timeout, c.DEFAULT_MAX_RECEIVE_COUNT, events_dlq),
    )
    table = f"{name}-jobs"
    create_jobs_table(dynamodb, table)
    topic_arn = sns.create_topic(Name=f"{name}-notifications")["TopicArn"]
    notifications = _queue(sqs, f"{name}-notifications", {})
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=notifications.arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    _create_bucket(s3, config.bucket)
    rules: list[FilterRuleTypeDef] = [{"Name": "prefix", "Value": config.input_prefix}]
    if config.suffix:
        rules.append({"Name": "suffix", "Value": config.suffix})
    queue_config: QueueConfigurationTypeDef = {
        "Id": NOTIFICATION_ID,
        "QueueArn": queue.arn,
        "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": rules}},
    }
    s3.put_bucket_notification_configuration(
        Bucket=config.bucket,
        NotificationConfiguration={"QueueConfigurations": [queue_config]},
    )
    return Resources(
        queue=queue,
        dead_letter_queue=dlq,
        events_queue=events,
        events_dead_letter_queue=events_dlq,
        jobs_table=table,
        topic_arn=topic_arn,
        notifications_queue=notifications,
    )


def _create_bucket(s3: S3Client, bucket: str) -> None:
    """The bucket, versioned as the construct's is (tasks then read the exact version that
    triggered them, with ``s3:GetObjectVersion``)."""
    try:
        s3.create_bucket(Bucket=bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in (
            "BucketAlreadyOwnedByYou",
            "BucketAlreadyExists",
        ):
            raise
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})


def _redrive(visibility_timeout: int, max_receive_count: int, dlq: Queue) -> dict[str, str]:
    return {
        "VisibilityTimeout": str(visibility_timeout),
        "RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": dlq.arn, "maxReceiveCount": max_receive_count}
        ),
    }


def _queue(sqs: SQSClient, name: str, attributes: dict[str, str]) -> Queue:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    if attributes:
        # Set after creation: a queue that exists keeps working with the new settings.
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)  # type: ignore[arg-type]
    return Queue(url=url, arn=_arn(sqs, url))


def create_jobs_table(dynamodb: DynamoDBClient, name: str) -> None:
    """The ledger's table as the construct creates it: on-demand, the status index, TTL."""
    try:
        dynamodb.create_table(
            TableName=name,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": ledger_store.KEY_ATTRIBUTE, "AttributeType": "S"},
                {"AttributeName": ledger_store.STATUS_ATTRIBUTE, "AttributeType": "S"},
                {"AttributeName": ledger_store.UPDATED_ATTRIBUTE, "AttributeType": "N"},
            ],
            KeySchema=[{"AttributeName": ledger_store.KEY_ATTRIBUTE, "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": ledger_store.STATUS_INDEX,
                    "KeySchema": [
                        {"AttributeName": ledger_store.STATUS_ATTRIBUTE, "KeyType": "HASH"},
                        {"AttributeName": ledger_store.UPDATED_ATTRIBUTE, "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        )
    except dynamodb.exceptions.ResourceInUseException:
        return  # a restart against a persistent server finds it
    dynamodb.get_waiter("table_exists").wait(TableName=name)
    dynamodb.update_time_to_live(
        TableName=name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": ledger_store.TTL_ATTRIBUTE},
    )


def _arn(sqs: SQSClient, url: str) -> str:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return attrs["QueueArn"]
