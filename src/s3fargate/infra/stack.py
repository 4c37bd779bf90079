"""The example stack: the construct with its defaults (the example task), and its outputs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_cdk import CfnOutput, Stack

from s3fargate.contracts import StackOutput
from s3fargate.infra.construct import S3TriggeredFargateTask

if TYPE_CHECKING:
    from constructs import Construct


class S3FargateStack(Stack):
    """Deploys :class:`S3TriggeredFargateTask` and outputs what a user needs to use it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        pipeline_props: dict[str, Any] | None = None,
        **stack_props: Any,
    ) -> None:
        super().__init__(scope, construct_id, **stack_props)
        self.pipeline = S3TriggeredFargateTask(self, "Pipeline", **(pipeline_props or {}))
        p = self.pipeline
        out = StackOutput
        outputs = {
            out.BUCKET: (p.bucket.bucket_name, "upload files under the input prefix here"),
            out.QUEUE_URL: (p.queue.queue_url, "S3 notifications wait here for the runner"),
            out.DEAD_LETTER_QUEUE_URL: (p.dead_letter_queue.queue_url, "events that failed"),
            out.CLUSTER_ARN: (p.cluster.cluster_arn, "where the tasks run"),
            out.TASK_DEFINITION_ARN: (p.task_definition.task_definition_arn, "the task"),
            out.TASK_LOG_GROUP: (p.log_group.log_group_name, "the tasks' output"),
            out.RUNNER_LOG_GROUP: (p.runner_log_group.log_group_name, "the runner's JSON logs"),
            out.JOBS_TABLE: (p.table.table_name, "the job ledger: one row per upload event"),
            out.NOTIFICATION_TOPIC_ARN: (p.topic.topic_arn, "failed and dead-lettered jobs"),
            out.INPUT_PREFIX: (p.input_prefix, "objects created under it launch tasks"),
            out.RESULTS_PREFIX: (p.results_prefix, "where results are written"),
            out.TASK_CONTAINER_NAME: (p.container.container_name, "the container of the logs"),
        }
        for name, (value, description) in outputs.items():
            CfnOutput(self, name, value=value, description=description)
