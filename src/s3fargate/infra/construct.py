"""``S3TriggeredFargateTask``: S3 upload -> SQS -> runner Lambda -> one Fargate task per object."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import TYPE_CHECKING, Any, Literal

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from s3fargate import contracts as c
from s3fargate.infra import nag
from s3fargate.infra import validation as v
from s3fargate.infra.assets import example_task_context, lambda_code_dir
from s3fargate.infra.dashboard import pipeline_dashboard
from s3fargate.infra.tracking import JobTracking
from s3fargate.lambda_runtime.settings import (
    EVENT_SOURCE_LIMITS,
    Function,
    PipelineSettings,
)
from s3fargate.props import PipelineProps

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from s3fargate.sizing import FargatePrices, TaskSize

Network = Literal["public", "private"]
CapacityProvider = Literal["FARGATE", "FARGATE_SPOT"]
RUNNER_HANDLER = "s3fargate.taskrunner.handler.handler"
RUNNER_RUNTIME = lambda_.Runtime.PYTHON_3_14
#: Days a replaced or deleted object's old version is kept (a task's mistake, or an attack
#: through one, can be undone meanwhile).
DEFAULT_NONCURRENT_VERSION_DAYS = 7
#: The only traffic a task may start: HTTPS, to S3, ECR, CloudWatch Logs and STS. DNS to the
#: VPC's resolver is not subject to security groups.
TASK_EGRESS_PORT = 443


def pipeline_id_for(scope: Construct) -> str:
    """A stable id for the construct at this path (ECS ``startedBy``: 128 characters at most)."""
    digest = hashlib.sha256(scope.node.path.encode("utf-8")).hexdigest()[:16]
    return f"s3fargate-{digest}"


class S3TriggeredFargateTask(Construct):
    """Runs one ECS Fargate task for every object created under ``input_prefix``.

    The minimal use is one statement, ``S3TriggeredFargateTask(self, "Files")``: a new bucket
    (no public access, TLS only, SSE-S3, versioned: what a task overwrites can be recovered),
    a queue with a dead-letter queue, the runner Lambda, a 2-AZ VPC without NAT gateways, a
    cluster and a 256/512 task running the example task, whose only way out is HTTPS.
    Each main resource can instead be passed in (``existing_*``) or configured (``*_props``),
    not both. Invalid props raise ``ValueError`` before synthesis.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        existing_bucket_obj: s3.IBucket | None = None,
        bucket_props: Mapping[str, Any] | None = None,
        versioned: bool = True,
        noncurrent_version_expiration_days: int | None = DEFAULT_NONCURRENT_VERSION_DAYS,
        input_prefix: str = c.DEFAULT_INPUT_PREFIX,
        results_prefix: str = c.DEFAULT_RESULTS_PREFIX,
        suffix: str | None = None,
        queue_props: Mapping[str, Any] | None = None,
        max_receive_count: int = c.DEFAULT_MAX_RECEIVE_COUNT,
        runner_timeout: Duration | None = None,
        runner_memory_mib: int = 256,
        batch_size: int = c.DEFAULT_BATCH_SIZE,
        max_batching_window: Duration | None = None,
        max_concurrency: int | None = c.DEFAULT_MAX_CONCURRENCY,
        max_running_tasks: int | None = None,
        network: Network = "public",
        existing_vpc: ec2.IVpc | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        assign_public_ip: bool | None = None,
        allow_all_outbound: bool = False,
        existing_cluster: ecs.ICluster | None = None,
        capacity_provider: CapacityProvider = "FARGATE",
        task_image: ecs.ContainerImage | None = None,
        container_name: str = "task",
        cpu: int = 256,
        memory_limit_mib: int = 512,
        ephemeral_storage_gib: int | None = None,
        cpu_architecture: ecs.CpuArchitecture | None = None,
        task_environment: Mapping[str, str] | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        max_attempts: int = c.DEFAULT_MAX_ATTEMPTS,
        retry_exit_codes: Sequence[int] = (),
        retry_delay_s: int = c.DEFAULT_RETRY_DELAY_S,
        notification_email: str | None = None,
        table_props: Mapping[str, Any] | None = None,
        job_ttl_days: int = c.DEFAULT_JOB_TTL_DAYS,
        track_running: bool = False,
        task_sizes: Sequence[TaskSize] | None = None,
        spot_fallback_after: int | None = c.DEFAULT_SPOT_FALLBACK_AFTER,
        fargate_prices: FargatePrices | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        runner_timeout = runner_timeout or Duration.seconds(60)
        # --- validate everything before creating anything ----------------------------------
        v.check_exclusive(existing_bucket_obj=existing_bucket_obj, bucket_props=bucket_props)
        if existing_vpc is not None and network == "private":
            raise ValueError(
                "network='private' creates a VPC with endpoints; with existing_vpc, choose its "
                "subnets with vpc_subnets and set assign_public_ip instead"
            )
        # The pipeline's behaviour (refused as `dev` and `simulate` refuse it), then the
        # functions' settings: validated here, rendered into each environment below.
        props = PipelineProps(
            max_running_tasks=max_running_tasks,
            max_receive_count=max_receive_count,
            max_attempts=max_attempts,
            retry_exit_codes=tuple(retry_exit_codes),
            retry_delay_s=retry_delay_s,
            track_running=track_running,
            task_sizes=tuple(task_sizes or ()),
            spot_fallback_after=spot_fallback_after,
        ).checked()
        settings = props.to_settings(
            input_prefix=input_prefix,
            results_prefix=results_prefix,
            job_ttl_days=job_ttl_days,
            capacity_provider=None if capacity_provider == "FARGATE" else capacity_provider,
            fargate_prices=fargate_prices,
        )
        settings.check()
        v.check_task_size(cpu, memory_limit_mib)
        v.check_ephemeral_storage(ephemeral_storage_gib)
        v.check_ranges(
            max_concurrency=(max_concurrency, *EVENT_SOURCE_LIMITS.max_concurrency),
            runner_memory_mib=(runner_memory_mib, 128, 10240),
            noncurrent_version_expiration_days=(noncurrent_version_expiration_days, 1, 36500),
            batch_size=(
                batch_size,
                *EVENT_SOURCE_LIMITS.batch_size(windowed=max_batching_window is not None),
            ),
        )
        v.check_choices(
            network=(network, ("public", "private")),
            capacity_provider=(capacity_provider, ("FARGATE", "FARGATE_SPOT")),
        )
        if vpc_subnets is not None and existing_vpc is None:
            raise ValueError("vpc_subnets selects subnets of existing_vpc: pass existing_vpc too")
        visibility_s = v.check_queue_visibility(int(runner_timeout.to_seconds()))
        architecture = cpu_architecture or ecs.CpuArchitecture.X86_64
        arm64 = cpu_architecture is not None and v.architecture_name(architecture) == "ARM64"
        spot = v.check_spot(capacity_provider, arm64=arm64, existing_cluster=existing_cluster)
        image = task_image or self._example_image(arm64=arm64)

        self.input_prefix = input_prefix
        self.results_prefix = results_prefix
        #: RunTask ``startedBy`` of this pipeline's tasks: unique per construct, so pipelines
        #: sharing a cluster never count or track each other's tasks.
        self.pipeline_id = pipeline_id_for(self)
        # Each builder returns what it creates; the attributes are the construct's public API.
        self.bucket: s3.IBucket = existing_bucket_obj or self._new_bucket(
            versioned, noncurrent_version_expiration_days, bucket_props
        )
        self.dead_letter_queue = self._dead_letter_queue()
        self.queue = self._queue(visibility_s, props.max_receive_count, queue_props)
        self._notify_queue_of_uploads(suffix)

        self.vpc, subnets, public_ip = self._network(network, existing_vpc, vpc_subnets)
        public_ip = public_ip if assign_public_ip is None else assign_public_ip
        self.security_group = self._task_security_group(allow_all_outbound)
        if existing_vpc is None and network == "private":
            self._add_endpoints(self.vpc)
        self.cluster = self._cluster(existing_cluster, spot=spot)

        self.log_group = logs.LogGroup(self, "TaskLogs", retention=log_retention)
        self.task_definition = self._task_definition(
            cpu, memory_limit_mib, ephemeral_storage_gib, architecture
        )
        self.container = self._container(container_name, image, task_environment)
        wildcard_resources = self._grant_task_data_access()

        code = lambda_.Code.from_asset(lambda_code_dir())
        self.tracking = JobTracking(
            self,
            "Jobs",
            pipeline_id=self.pipeline_id,
            cluster=self.cluster,
            dead_letter_queue=self.dead_letter_queue,
            table_props=table_props,
            notification_email=notification_email,
            track_running=props.track_running,
            code=code,
            runtime=RUNNER_RUNTIME,
            log_retention=log_retention,
        )
        self.table = self.tracking.table
        self.topic = self.tracking.topic
        self.dashboard = pipeline_dashboard(
            self,
            "Dashboard",
            pipeline_id=self.pipeline_id,
            queue=self.queue,
            dead_letter_queue=self.dead_letter_queue,
        )

        self.runner_log_group = logs.LogGroup(self, "RunnerLogs", retention=log_retention)
        self.runner = self._runner(timeout=runner_timeout, memory_mib=runner_memory_mib, code=code)
        #: Every setting of the three functions; each gets the variables its code reads.
        self.settings = self._configure_functions(settings, container_name, subnets, public_ip)
        #: The functions that call RunTask: the runner, the tracker (it launches parked jobs as
        #: tasks stop) and the reconciler (it tops up), all exactly as the runner does.
        self.launchers = list(self.functions.values())
        self._grant_runner_ledger()
        self.event_source = sources.SqsEventSource(
            self.queue,
            batch_size=batch_size,
            max_batching_window=max_batching_window,
            max_concurrency=max_concurrency,
            report_batch_item_failures=True,
        )
        self.runner.add_event_source(self.event_source)
        for fn in self.launchers:
            wildcard_resources += self._grant_launch(fn)
        self._acknowledge_nag_findings(
            created_bucket=existing_bucket_obj is None,
            created_vpc=existing_vpc is None,
            wildcard_resources=wildcard_resources,
        )

    # --- builders: each creates one part and returns it -------------------------------------
    def _new_bucket(
        self,
        versioned: bool,
        noncurrent_days: int | None,
        bucket_props: Mapping[str, Any] | None,
    ) -> s3.Bucket:
        """No public access, TLS only, SSE-S3, owner-enforced, retained on stack deletion;
        multipart uploads left incomplete (a task killed before it could abort its outputs)
        are removed after a day. Versioned: an object a task overwrites or deletes keeps its
        old version for ``noncurrent_days`` (then it expires, and so do delete markers left
        with nothing behind them)."""
        bucket = s3.Bucket(
            self,
            "Bucket",
            **{
                "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
                "enforce_ssl": True,
                "encryption": s3.BucketEncryption.S3_MANAGED,
                "versioned": versioned,
                "removal_policy": RemovalPolicy.RETAIN,
                "auto_delete_objects": False,
                "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
                **(bucket_props or {}),
            },
        )
        bucket.add_lifecycle_rule(
            id="AbortIncompleteMultipartUploads",
            abort_incomplete_multipart_upload_after=Duration.days(1),
        )
        if (bucket_props or {}).get("versioned", versioned) and noncurrent_days is not None:
            bucket.add_lifecycle_rule(
                id="ExpireNoncurrentVersions",
                noncurrent_version_expiration=Duration.days(noncurrent_days),
                expired_object_delete_marker=True,
            )
        return bucket

    def _dead_letter_queue(self) -> sqs.Queue:
        return sqs.Queue(
            self,
            "DeadLetterQueue",
            retention_period=Duration.days(c.DLQ_RETENTION_DAYS),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )

    def _queue(
        self, visibility_s: int, max_receive_count: int, queue_props: Mapping[str, Any] | None
    ) -> sqs.Queue:
        return sqs.Queue(
            self,
            "Queue",
            **{
                "visibility_timeout": Duration.seconds(visibility_s),
                "encryption": sqs.QueueEncryption.SQS_MANAGED,
                "enforce_ssl": True,
                "dead_letter_queue": sqs.DeadLetterQueue(
                    max_receive_count=max_receive_count, queue=self.dead_letter_queue
                ),
                **(queue_props or {}),
            },
        )

    def _notify_queue_of_uploads(self, suffix: str | None) -> None:
        key_filter = s3.NotificationKeyFilter(prefix=self.input_prefix, suffix=suffix)
        self.bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED, s3n.SqsDestination(self.queue), key_filter
        )
        # The CDK's statement lets S3 send for the bucket's ARN, which names no account: a
        # bucket of that name re-created in another account would be let in too. AWS's advice
        # against the confused deputy is both keys; this adds the account.
        self.queue.add_to_resource_policy(
            iam.PolicyStatement(
                sid="OnlyThisAccountsBucket",
                effect=iam.Effect.DENY,
                principals=[iam.ServicePrincipal("s3.amazonaws.com")],
                actions=["sqs:SendMessage"],
                resources=[self.queue.queue_arn],
                conditions={"StringNotEquals": {"aws:SourceAccount": self.bucket.env.account}},
            )
        )

    def _task_security_group(self, allow_all_outbound: bool) -> ec2.SecurityGroup:
        """No inbound traffic; outbound HTTPS only, unless ``allow_all_outbound``: a task that
        parses untrusted bytes gets no channel out beyond the AWS APIs it needs."""
        group = ec2.SecurityGroup(
            self,
            "TaskSecurityGroup",
            vpc=self.vpc,
            description=(
                "s3fargate tasks: no inbound, all outbound"
                if allow_all_outbound
                else "s3fargate tasks: no inbound, outbound HTTPS to S3, ECR, logs and STS only"
            ),
            allow_all_outbound=allow_all_outbound,
        )
        if not allow_all_outbound:
            group.add_egress_rule(
                ec2.Peer.any_ipv4(),
                ec2.Port.tcp(TASK_EGRESS_PORT),
                "HTTPS to S3, ECR, CloudWatch Logs and STS",
            )
        return group

    def _cluster(self, existing_cluster: ecs.ICluster | None, *, spot: bool) -> ecs.ICluster:
        """The cluster the tasks run on: a new one with Fargate's capacity providers, or the
        user's (with FARGATE_SPOT associated when this pipeline launches on Spot)."""
        if existing_cluster is None:
            return self._new_cluster()
        if spot and isinstance(existing_cluster, ecs.Cluster):
            existing_cluster.enable_fargate_capacity_providers()
        return existing_cluster

    def _new_cluster(self) -> ecs.Cluster:
        return ecs.Cluster(
            self,
            "Cluster",
            vpc=self.vpc,
            enable_fargate_capacity_providers=True,
            container_insights_v2=ecs.ContainerInsights.ENABLED,
        )

    def _task_definition(
        self,
        cpu: int,
        memory_limit_mib: int,
        ephemeral_storage_gib: int | None,
        architecture: ecs.CpuArchitecture,
    ) -> ecs.FargateTaskDefinition:
        return ecs.FargateTaskDefinition(
            self,
            "TaskDefinition",
            cpu=cpu,
            memory_limit_mib=memory_limit_mib,
            ephemeral_storage_gib=ephemeral_storage_gib,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=architecture,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )

    def _container(
        self,
        container_name: str,
        image: ecs.ContainerImage,
        task_environment: Mapping[str, str] | None,
    ) -> ecs.ContainerDefinition:
        return self.task_definition.add_container(
            container_name,
            container_name=container_name,
            image=image,
            logging=ecs.LogDriver.aws_logs(
                stream_prefix=c.TASK_LOG_STREAM_PREFIX, log_group=self.log_group
            ),
            environment={
                c.ENV_INPUT_PREFIX: self.input_prefix,
                c.ENV_RESULTS_PREFIX: self.results_prefix,
                **(task_environment or {}),
            },
        )

    def _configure_functions(
        self,
        settings: PipelineSettings,
        container_name: str,
        subnets: ec2.SelectedSubnets,
        public_ip: bool,
    ) -> PipelineSettings:
        """Complete the settings with what was created, and give each function the variables
        its code reads (``PipelineSettings.from_environment`` parses them back)."""
        settings = dataclasses.replace(
            settings,
            cluster_arn=self.cluster.cluster_arn,
            task_definition_arn=self.task_definition.task_definition_arn,
            container_name=container_name,
            subnets=tuple(subnet.subnet_id for subnet in subnets.subnets),
            security_groups=(self.security_group.security_group_id,),
            assign_public_ip="ENABLED" if public_ip else "DISABLED",
            pipeline_id=self.pipeline_id,
            jobs_table=self.table.table_name,
            notification_topic_arn=self.topic.topic_arn,
            queue_url=self.queue.queue_url,
            task_log_group=self.log_group.log_group_name,
        )
        if not settings.subnets:
            raise ValueError(
                "the subnet selection is empty: tasks need at least one subnet "
                "(check vpc_subnets against existing_vpc)"
            )
        self.functions = {
            Function.RUNNER: self.runner,
            Function.TRACKER: self.tracking.tracker,
            Function.RECONCILER: self.tracking.reconciler,
        }
        for function, fn in self.functions.items():
            for name, value in settings.environment(function).items():
                fn.add_environment(name, value)
        for fn in (self.tracking.tracker, self.tracking.reconciler):
            fn.add_to_role_policy(
                iam.PolicyStatement(
                    sid="QueueRetries",
                    actions=["sqs:SendMessage"],
                    resources=[self.queue.queue_arn],
                )
            )
            self._grant_result_checks(fn)
            self._grant_failure_reads(fn, container_name)
        return settings

    def _grant_result_checks(self, fn: lambda_.Function) -> None:
        """HeadObject on the results prefix: a job is recorded with a result only when its
        result document is in the bucket (HeadObject needs ``s3:GetObject``)."""
        fn.add_to_role_policy(
            iam.PolicyStatement(
                sid="CheckResultsWritten",
                actions=["s3:GetObject"],
                resources=[self.bucket.arn_for_objects(f"{self.results_prefix}*")],
            )
        )
        if self.bucket.encryption_key is not None:
            self.bucket.encryption_key.grant_decrypt(fn)

    def _runner(
        self, *, timeout: Duration, memory_mib: int, code: lambda_.Code
    ) -> lambda_.Function:
        return lambda_.Function(
            self,
            "Runner",
            description="s3fargate: one ECS Fargate RunTask per object created in the bucket",
            runtime=RUNNER_RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=RUNNER_HANDLER,
            code=code,
            timeout=timeout,
            memory_size=memory_mib,
            log_group=self.runner_log_group,
        )

    def _example_image(self, *, arm64: bool) -> ecs.ContainerImage:
        platform = ecr_assets.Platform.LINUX_ARM64 if arm64 else ecr_assets.Platform.LINUX_AMD64
        return ecs.ContainerImage.from_asset(
            str(example_task_context()), file="task/Dockerfile", platform=platform
        )

    def _network(
        self,
        network: Network,
        existing_vpc: ec2.IVpc | None,
        vpc_subnets: ec2.SubnetSelection | None,
    ) -> tuple[ec2.IVpc, ec2.SelectedSubnets, bool]:
        if existing_vpc is not None:
            selection = vpc_subnets or ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC)
            chosen = existing_vpc.select_subnets(
                availability_zones=selection.availability_zones,
                one_per_az=selection.one_per_az,
                subnet_filters=selection.subnet_filters,
                subnet_group_name=selection.subnet_group_name,
                subnets=selection.subnets,
                subnet_type=selection.subnet_type,
            )
            return existing_vpc, chosen, chosen.has_public
        # "public", as the original: public subnets and a public IP, so no NAT gateway needed.
        # "private": no internet route at all; S3, ECR and logs through VPC endpoints.
        subnet_type = (
            ec2.SubnetType.PUBLIC if network == "public" else ec2.SubnetType.PRIVATE_ISOLATED
        )
        vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(name=network, subnet_type=subnet_type, cidr_mask=24)
            ],
        )
        return vpc, vpc.select_subnets(subnet_type=subnet_type), network == "public"

    def _add_endpoints(self, vpc: ec2.IVpc) -> None:
        """S3 (gateway), ECR and CloudWatch Logs (interface): all an isolated task needs."""
        vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)
        endpoint_group = ec2.SecurityGroup(
            self,
            "EndpointSecurityGroup",
            vpc=vpc,
            description="s3fargate VPC endpoints: HTTPS from the tasks only",
            allow_all_outbound=False,
        )
        endpoint_group.add_ingress_rule(
            self.security_group, ec2.Port.tcp(443), "HTTPS from s3fargate tasks"
        )
        for name, service in (
            ("EcrApi", ec2.InterfaceVpcEndpointAwsService.ECR),
            ("EcrDocker", ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER),
            ("Logs", ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS),
        ):
            vpc.add_interface_endpoint(
                name, service=service, security_groups=[endpoint_group], open=False
            )

    def _grant_task_data_access(self) -> list[str]:
        """Read the input prefix, write the results prefix: nothing else in the bucket.

        Returns the wildcard resources granted (key prefixes), for cdk-nag.
        """
        role = self.task_definition.task_role
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadInputObjects",
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[self.bucket.arn_for_objects(f"{self.input_prefix}*")],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="WriteResults",
                # Outputs are multipart uploads, completed only when the task succeeds and
                # aborted (or, once completed, deleted) when it does not.
                actions=["s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"],
                resources=[self.bucket.arn_for_objects(f"{self.results_prefix}*")],
            )
        )
        if self.bucket.encryption_key is not None:
            self.bucket.encryption_key.grant_decrypt(role)
            self.bucket.encryption_key.grant_encrypt(role)
        return [
            self.bucket.arn_for_objects(f"{self.input_prefix}*"),
            self.bucket.arn_for_objects(f"{self.results_prefix}*"),
        ]

    def _grant_launch(self, fn: lambda_.Function) -> list[str]:
        """As the ECS documentation scopes it: RunTask on the task definition, only on this
        cluster; PassRole on exactly the two roles, only to ECS tasks. (No ListTasks: the
        ledger keeps the cap.)

        Returns the wildcard resources granted (this cluster's task ARNs, the task definition's
        revisions), for cdk-nag.
        """
        stack = Stack.of(self)
        cluster_condition = {"ArnEquals": {"ecs:cluster": self.cluster.cluster_arn}}
        # Every revision of the family, as AWS's examples grant it: on a stack update
        # CloudFormation changes the policies before the functions' environment, and a grant on
        # one revision would refuse every launch in between.
        task_definitions = stack.format_arn(
            service="ecs",
            resource="task-definition",
            resource_name=f"{self.task_definition.family}:*",
        )
        fn.add_to_role_policy(
            iam.PolicyStatement(
                sid="RunTaskOnThisClusterOnly",
                actions=["ecs:RunTask"],
                resources=[task_definitions],
                conditions=cluster_condition,
            )
        )
        task_arns = stack.format_arn(
            service="ecs", resource="task", resource_name=f"{self.cluster.cluster_name}/*"
        )
        fn.add_to_role_policy(
            iam.PolicyStatement(
                sid="TagTasksAtLaunch",
                actions=["ecs:TagResource"],
                resources=[task_arns],
                conditions={"StringEquals": {"ecs:CreateAction": "RunTask"}},
            )
        )
        roles = [self.task_definition.task_role.role_arn]
        if self.task_definition.execution_role is not None:
            roles.append(self.task_definition.execution_role.role_arn)
        fn.add_to_role_policy(
            iam.PolicyStatement(
                sid="PassTaskRolesToEcsOnly",
                actions=["iam:PassRole"],
                resources=roles,
                conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
            )
        )
        return [task_arns, task_definitions]

    def _grant_failure_reads(self, fn: lambda_.Function, container_name: str) -> None:
        """GetLogEvents on the task container's log streams alone: a failed job's reason
        quotes the end of its task's log."""
        streams = Stack.of(self).format_arn(
            service="logs",
            resource="log-group",
            resource_name=(
                f"{self.log_group.log_group_name}:log-stream:"
                f"{c.TASK_LOG_STREAM_PREFIX}/{container_name}/*"
            ),
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        fn.add_to_role_policy(
            iam.PolicyStatement(
                sid="ReadFailedTasksLogs", actions=["logs:GetLogEvents"], resources=[streams]
            )
        )
        nag.acknowledge(
            fn,
            nag.wildcard_finding(fn, streams),
            "The wildcard is this pipeline's task container's log streams (one per task), "
            "the narrowest scope CloudWatch Logs offers for reading a task's log.",
        )

    def _grant_runner_ledger(self) -> None:
        """Record launches (conditional writes on a row; under a cap, the slot counter's
        UpdateItem in the same transaction, which IAM authorises item by item) and announce
        dead-lettered jobs."""
        self.runner.add_to_role_policy(
            iam.PolicyStatement(
                sid="RecordJobs",
                actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
                resources=[self.table.table_arn],  # the table only: the runner lists nothing
            )
        )
        self.topic.grant_publish(self.runner)

    def _acknowledge_nag_findings(
        self, *, created_bucket: bool, created_vpc: bool, wildcard_resources: list[str]
    ) -> None:
        """Acknowledge each AwsSolutions finding on what this construct creates, with why."""
        if created_bucket:
            nag.acknowledge(
                self.bucket,
                "AwsSolutions-S1",
                "Server access logs need a separate log bucket whose retention is an account "
                "decision; pass bucket_props={'server_access_logs_bucket': ...} to enable them.",
            )
        if created_vpc:
            nag.acknowledge(
                self.vpc,
                "AwsSolutions-VPC7",
                "Flow logs add per-GB charges to a VPC that carries only task egress to AWS "
                "services; pass existing_vpc with flow logs where the account requires them.",
            )
        nag.acknowledge(
            self.task_definition,
            "AwsSolutions-ECS2",
            "The container environment holds INPUT_PREFIX and RESULTS_PREFIX, never secrets.",
        )
        nag.acknowledge(
            self.runner,
            nag.LAMBDA_BASIC_EXECUTION,
            "AWS's managed policy for Lambda's own logging (CreateLogStream, PutLogEvents).",
        )
        for action in ("kms:GenerateDataKey*", "kms:ReEncrypt*"):
            nag.acknowledge(
                self.runner,
                f"AwsSolutions-IAM5[Action::{action}]",
                "Granted by CDK's topic.grantPublish on the notification topic's own key only.",
            )
        # Only on the role whose statements need '*', so a new '*' elsewhere still fails.
        if self.task_definition.execution_role is not None:
            nag.acknowledge(
                self.task_definition.execution_role,
                "AwsSolutions-IAM5[Resource::*]",
                "ecr:GetAuthorizationToken has no resource-level scope.",
            )
        for resource in wildcard_resources:
            nag.acknowledge(
                self,
                nag.wildcard_finding(self, resource),
                "The wildcard is a key prefix (input or results), this cluster's task ARNs or "
                "the revisions of this pipeline's task definition family, the narrowest scope S3 "
                "and ECS offer for these actions.",
            )
        # The CDK's own helper Lambda that configures bucket notifications (one per stack).
        helper = Stack.of(self).node.try_find_child(
            "BucketNotificationsHandler050a0587b7544547bf325f094a3db834"
        )
        if helper is not None:
            for rule, reason in (
                (
                    nag.LAMBDA_BASIC_EXECUTION,
                    "CDK's bucket-notification helper logs to CloudWatch.",
                ),
                ("AwsSolutions-IAM5[Resource::*]", "s3:PutBucketNotification takes '*' here."),
                ("AwsSolutions-L1", "The CDK pins the helper's runtime; not ours to change."),
            ):
                nag.acknowledge(helper, rule, reason)
