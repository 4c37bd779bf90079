"""The CDK construct and the example stack (needs the ``cdk`` extra)."""

from s3fargate.infra.construct import S3TriggeredFargateTask
from s3fargate.infra.stack import S3FargateStack
from s3fargate.sizing import FargatePrices, TaskSize

__all__ = ["FargatePrices", "S3FargateStack", "S3TriggeredFargateTask", "TaskSize"]
