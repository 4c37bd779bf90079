"""Create the bucket, queue, dead-letter queue and notification, as the CDK construct does."""

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
    from mypy_boto3_sqs import SQSClient

    from s3fargate.local.config import LocalConfig

NOTIFICATION_ID = "s3fargate-incoming"


@dataclass(frozen=True, slots=True)
class Queues:
    """The pipeline's queue and its dead-letter queue."""

    url: str
    arn: str
    dlq_url: str
    dlq_arn: str


def provision(s3: S3Client, sqs: SQSClient, config: LocalConfig) -> Queues:
    """Create (or reuse) everything; idempotent, so a restart finds what it left."""
    try:
        s3.create_bucket(Bucket=config.bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in (
            "BucketAlreadyOwnedByYou",
            "BucketAlreadyExists",
        ):
            raise
    dlq_url = sqs.create_queue(
        QueueName=f"{config.queue_name}-dlq",
        Attributes={"MessageRetentionPeriod": str(c.DLQ_RETENTION_DAYS * 86400)},
    )["QueueUrl"]
    dlq_arn = _arn(sqs, dlq_url)
    url = sqs.create_queue(QueueName=config.queue_name)["QueueUrl"]
    sqs.set_queue_attributes(
        QueueUrl=url,
        Attributes={
            "VisibilityTimeout": str(config.visibility_timeout),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": config.max_receive_count}
            ),
        },
    )
    arn = _arn(sqs, url)
    rules: list[FilterRuleTypeDef] = [{"Name": "prefix", "Value": config.input_prefix}]
    if config.suffix:
        rules.append({"Name": "suffix", "Value": config.suffix})
    queue_config: QueueConfigurationTypeDef = {
        "Id": NOTIFICATION_ID,
        "QueueArn": arn,
        "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": rules}},
    }
    s3.put_bucket_notification_configuration(
        Bucket=config.bucket,
        NotificationConfiguration={"QueueConfigurations": [queue_config]},
    )
    return Queues(url=url, arn=arn, dlq_url=dlq_url, dlq_arn=dlq_arn)


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
