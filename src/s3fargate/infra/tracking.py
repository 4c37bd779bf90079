"""``JobTracking``: the job ledger, the tracker and reconciler, retries and notifications.

ECS task-state-change events of this pipeline's tasks go from an EventBridge rule to an SQS
queue (with its own dead-letter queue) that the tracker Lambda reads; the reconciler runs on a
schedule; jobs that end badly, and any message in a dead-letter queue, are announced on an
encrypted SNS topic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from s3fargate import contracts as c
from s3fargate.events.ecs import ECS_SOURCE, TASK_STATE_CHANGE, tracked_statuses
from s3fargate.infra import nag
from s3fargate.ledger import store as ledger_store
from s3fargate.tracker import metrics as jm

if TYPE_CHECKING:
    from collections.abc import Mapping

    from aws_cdk import aws_ecs as ecs

TRACKER_HANDLER = "s3fargate.tracker.handler.handler"
RECONCILER_HANDLER = "s3fargate.tracker.handler.reconcile"
#: How often the reconciler looks for jobs whose events were lost.
RECONCILE_EVERY = Duration.minutes(5)
#: EventBridge retries a run it could not hand to Lambda this often, within one period (the
#: next run does the same work); what it never hands over waits in a dead-letter queue.
RECONCILE_DELIVERY_RETRIES = 2
#: Consecutive periods in which every reconciler run failed before the alarm fires.
RECONCILER_FAILING_PERIODS = 2
TRACKER_TIMEOUT = Duration.seconds(60)
RECONCILER_TIMEOUT = Duration.minutes(5)


#: The failed-jobs alarm: over this share of the jobs ending in one window failed.
FAILED_JOBS_ALARM_PERCENT = 10
FAILED_JOBS_WINDOW_MINUTES = 15


def job_metric(
    pipeline_id: str, name: str, statistic: str, period: Duration | None = None
) -> cloudwatch.Metric:
    """One of the tracker's per-job metrics for this pipeline."""
    return cloudwatch.Metric(
        namespace=jm.NAMESPACE,
        metric_name=name,
        dimensions_map=jm.dimensions(pipeline_id),
        statistic=statistic,
        period=period or Duration.minutes(5),
    )


class JobTracking(Construct):
    """The ledger table, the tracker and reconciler Lambdas, the topic and the alarms.

    Created by :class:`S3TriggeredFargateTask`; its resources are attributes: ``table``,
    ``topic``, ``events_queue``, ``events_dead_letter_queue``, ``rule``, ``tracker``,
    ``reconciler``, ``schedule``, ``reconciler_dead_letter_queue``, ``alarms``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        pipeline_id: str,
        cluster: ecs.ICluster,
        dead_letter_queue: sqs.IQueue,
        notification_email: str | None,
        table_props: Mapping[str, Any] | None,
        track_running: bool,
        code: lambda_.Code,
        runtime: lambda_.Runtime,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self._cluster = cluster
        self.table = self._table(table_props)
        self.topic = self._topic(notification_email)
        self.events_dead_letter_queue = sqs.Queue(
            self,
            "EventsDeadLetterQueue",
            retention_period=Duration.days(c.DLQ_RETENTION_DAYS),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        self.events_queue = sqs.Queue(
            self,
            "EventsQueue",
            visibility_timeout=Duration.seconds(6 * int(TRACKER_TIMEOUT.to_seconds())),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=c.DEFAULT_MAX_RECEIVE_COUNT,
                queue=self.events_dead_letter_queue,
            ),
        )
        # Only this cluster's tasks started by this pipeline (pipelines may share a cluster), and
        # only the changes the tracker uses: each event costs requests.
        self.rule = events.Rule(
            self,
            "TaskStateChanges",
            description="s3fargate: this pipeline's ECS task state changes to the tracker",
            event_pattern=events.EventPattern(
                source=[ECS_SOURCE],
                detail_type=[TASK_STATE_CHANGE],
                detail={
                    "clusterArn": [cluster.cluster_arn],
                    "startedBy": [pipeline_id],
                    "lastStatus": list(tracked_statuses(running=track_running)),
                },
            ),
            targets=[targets.SqsQueue(self.events_queue)],
        )

        def function(name: str, handler: str, timeout: Duration, what: str) -> lambda_.Function:
            return lambda_.Function(
                self,
                name,
                description=f"s3fargate: {what}",
                runtime=runtime,
                architecture=lambda_.Architecture.ARM_64,
                handler=handler,
                code=code,
                timeout=timeout,
                memory_size=256,
                log_group=logs.LogGroup(self, f"{name}Logs", retention=log_retention),
            )

        self.tracker = function(
            "Tracker", TRACKER_HANDLER, TRACKER_TIMEOUT, "job status from ECS task state changes"
        )
        self.tracker.add_event_source(
            sources.SqsEventSource(
                self.events_queue,
                batch_size=c.TRACKER_BATCH_SIZE,
                max_concurrency=c.TRACKER_MAX_CONCURRENCY,
                report_batch_item_failures=True,
            )
        )
        self.reconciler = function(
            "Reconciler",
            RECONCILER_HANDLER,
            RECONCILER_TIMEOUT,
            "finds jobs whose events were lost",
        )
        self.reconciler_dead_letter_queue = sqs.Queue(
            self,
            "ReconcilerDeadLetterQueue",
            retention_period=Duration.days(c.DLQ_RETENTION_DAYS),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        self.schedule = events.Rule(
            self,
            "ReconcileSchedule",
            description="s3fargate: run the reconciler",
            schedule=events.Schedule.rate(RECONCILE_EVERY),
            targets=[
                targets.LambdaFunction(
                    self.reconciler,
                    retry_attempts=RECONCILE_DELIVERY_RETRIES,
                    max_event_age=RECONCILE_EVERY,
                    dead_letter_queue=self.reconciler_dead_letter_queue,
                )
            ],
        )
        for fn in (self.tracker, self.reconciler):
            self._grant_job_writes(fn)
        self._grant_describe_tasks(self.reconciler)
        self.alarms = [
            self._dead_letter_alarm("DeadLetterAlarm", dead_letter_queue, "uploads"),
            self._dead_letter_alarm(
                "EventsDeadLetterAlarm", self.events_dead_letter_queue, "task state changes"
            ),
            self._dead_letter_alarm(
                "ReconcilerDeadLetterAlarm",
                self.reconciler_dead_letter_queue,
                "reconciler runs EventBridge could not start",
            ),
            self._reconciler_failing_alarm(),
            self._failed_jobs_alarm(pipeline_id),
        ]
        self._acknowledge_nag_findings()

    # --- builders ---------------------------------------------------------------------------
    def _table(self, table_props: Mapping[str, Any] | None) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            "Table",
            **{
                "partition_key": dynamodb.Attribute(
                    name=ledger_store.KEY_ATTRIBUTE, type=dynamodb.AttributeType.STRING
                ),
                "billing_mode": dynamodb.BillingMode.PAY_PER_REQUEST,
                "point_in_time_recovery_specification": (
                    dynamodb.PointInTimeRecoverySpecification(point_in_time_recovery_enabled=True)
                ),
                "encryption": dynamodb.TableEncryption.AWS_MANAGED,
                "time_to_live_attribute": ledger_store.TTL_ATTRIBUTE,
                "removal_policy": RemovalPolicy.RETAIN,
                **(table_props or {}),
            },
        )
        table.add_global_secondary_index(
            index_name=ledger_store.STATUS_INDEX,
            partition_key=dynamodb.Attribute(
                name=ledger_store.STATUS_ATTRIBUTE, type=dynamodb.AttributeType.STRING
            ),
            sort_key=dynamodb.Attribute(
                name=ledger_store.UPDATED_ATTRIBUTE, type=dynamodb.AttributeType.NUMBER
            ),
        )
        return table

    def _topic(self, notification_email: str | None) -> sns.Topic:
        # A customer managed key: CloudWatch alarms cannot publish to a topic encrypted with
        # the AWS managed SNS key.
        key = kms.Key(
            self,
            "TopicKey",
            description="s3fargate: encrypts the notification topic",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # Against the confused deputy, AWS advises aws:SourceArn with the exact ARN, or
        # aws:SourceAccount where any resource of the account may be served
        # (https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html). The alarms'
        # ARNs cannot be named here: each alarm names the topic and the topic names this key, so
        # the key would depend on the alarms that depend on it (a CloudFormation cycle). The key
        # therefore serves this account's alarms only, and the topic policy, which names each
        # alarm's ARN (_dead_letter_alarm), decides which of them may publish. The service
        # principal and actions are those SNS documents for AWS services publishing to an
        # encrypted topic (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html).
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" is this key
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            )
        )
        topic = sns.Topic(
            self,
            "Notifications",
            display_name="s3fargate job failures",
            master_key=key,
            enforce_ssl=True,
        )
        if notification_email:
            topic.add_subscription(subscriptions.EmailSubscription(notification_email))
        return topic

    def _dead_letter_alarm(self, name: str, queue: sqs.IQueue, what: str) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            name,
            alarm_description=f"s3fargate: {what} are waiting in a dead-letter queue",
            metric=queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(1), statistic="Maximum"
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        return self._publishing(name, alarm)

    def _reconciler_failing_alarm(self) -> cloudwatch.Alarm:
        """Alarm when the reconciler failed in every period of ``RECONCILER_FAILING_PERIODS``
        in a row: lost task events would then go unnoticed."""
        alarm = cloudwatch.Alarm(
            self,
            "ReconcilerFailingAlarm",
            alarm_description="s3fargate: the reconciler keeps failing (see its log group); "
            "jobs whose task events were lost are not being settled",
            metric=self.reconciler.metric_errors(period=RECONCILE_EVERY, statistic="Sum"),
            threshold=1,
            evaluation_periods=RECONCILER_FAILING_PERIODS,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        return self._publishing("ReconcilerFailingAlarm", alarm)

    def _failed_jobs_alarm(self, pipeline_id: str) -> cloudwatch.Alarm:
        """Alarm when more than ``FAILED_JOBS_ALARM_PERCENT`` of the jobs that ended in a
        window failed (the tracker's metrics; no jobs: not breaching)."""
        period = Duration.minutes(FAILED_JOBS_WINDOW_MINUTES)
        rate = cloudwatch.MathExpression(
            # A window where every job failed has no JobsSucceeded datapoint: FILL makes it 0.
            expression="100 * FILL(bad, 0) / (FILL(ok, 0) + FILL(bad, 0))",
            using_metrics={
                "ok": job_metric(pipeline_id, jm.SUCCEEDED, "Sum", period),
                "bad": job_metric(pipeline_id, jm.FAILED, "Sum", period),
            },
            label="failed jobs (%)",
            period=period,
        )
        alarm = cloudwatch.Alarm(
            self,
            "FailedJobsAlarm",
            alarm_description=f"s3fargate: over {FAILED_JOBS_ALARM_PERCENT}% of the jobs that "
            f"ended in {FAILED_JOBS_WINDOW_MINUTES} minutes failed",
            metric=rate,
            threshold=FAILED_JOBS_ALARM_PERCENT,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        return self._publishing("FailedJobsAlarm", alarm)

    def _publishing(self, name: str, alarm: cloudwatch.Alarm) -> cloudwatch.Alarm:
        """``alarm``, publishing to the topic."""
        alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        # enforce_ssl gives the topic a policy of its own, which replaces SNS's default policy:
        # without this statement CloudWatch may not publish the alarm. Conditioned on this
        # alarm's exact ARN, so CloudWatch publishes here for this alarm and no other.
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid=f"{name}Publishes",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={"ArnEquals": {"aws:SourceArn": alarm.alarm_arn}},
            )
        )
        return alarm

    # --- grants ------------------------------------------------------------------------------
    def _grant_job_writes(self, fn: lambda_.Function) -> None:
        """Read and conditionally write rows (and, under a cap, the slot counter: a
        transaction's Update is authorised as UpdateItem), list by status on the status index
        only, notify (the construct lets them queue retries on its queue)."""
        fn.add_to_role_policy(
            iam.PolicyStatement(
                sid="RecordJobs",
                actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
                resources=[self.table.table_arn],
            )
        )
        fn.add_to_role_policy(
            iam.PolicyStatement(
                sid="ListJobsByStatus",
                actions=["dynamodb:Query"],
                resources=[f"{self.table.table_arn}/index/{ledger_store.STATUS_INDEX}"],
            )
        )
        self.topic.grant_publish(fn)

    def _grant_describe_tasks(self, fn: lambda_.Function) -> None:
        fn.add_to_role_policy(
            iam.PolicyStatement(
                sid="DescribeThisClustersTasks",
                actions=["ecs:DescribeTasks"],
                resources=[self._task_arns()],
                conditions={"ArnEquals": {"ecs:cluster": self._cluster.cluster_arn}},
            )
        )

    def _task_arns(self) -> str:
        return Stack.of(self).format_arn(
            service="ecs", resource="task", resource_name=f"{self._cluster.cluster_name}/*"
        )

    def _acknowledge_nag_findings(self) -> None:
        nag.acknowledge(
            self.reconciler_dead_letter_queue,
            "AwsSolutions-SQS3",
            "It is the dead-letter queue of the reconciler's schedule target (EventBridge), "
            "which cdk-nag does not recognise as one; its depth alarms to the topic.",
        )
        for fn in (self.tracker, self.reconciler):
            nag.acknowledge(
                fn,
                nag.LAMBDA_BASIC_EXECUTION,
                "AWS's managed policy for Lambda's own logging (CreateLogStream, PutLogEvents).",
            )
            nag.acknowledge(
                fn,
                "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
                "SNS needs GenerateDataKey* on the topic's own key to publish encrypted messages.",
            )
            nag.acknowledge(
                fn,
                "AwsSolutions-IAM5[Action::kms:ReEncrypt*]",
                "Granted by CDK's topic.grantPublish on the topic's own key only.",
            )
        nag.acknowledge(
            self.reconciler,
            nag.wildcard_finding(self, self._task_arns()),
            "DescribeTasks on this cluster's task ARNs, the narrowest scope ECS offers.",
        )
