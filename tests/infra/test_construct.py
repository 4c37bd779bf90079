"""Every wire of the synthesized template, asserted without hash-suffixed logical IDs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aws_cdk.assertions import Capture, Match

from s3fargate.infra import assets
from s3fargate.infra.assets import BundleError, locked_versions
from tests.infra.conftest import task_definition_family_arn

if TYPE_CHECKING:
    from aws_cdk.assertions import Template

    from tests.infra.conftest import Synth

ROOT = Path(__file__).resolve().parents[2]


def _runner_env(synth: Synth, name: str) -> dict[str, Any]:
    functions = synth.templates[name].find_resources(
        "AWS::Lambda::Function",
        {"Properties": {"Handler": "s3fargate.taskrunner.handler.handler"}},
    )
    assert len(functions) == 1
    (function,) = functions.values()
    return function["Properties"]["Environment"]["Variables"]


def _statements(synth: Synth, name: str, sid: str) -> list[dict[str, Any]]:
    found = []
    for policy in synth.templates[name].find_resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement.get("Sid") == sid:
                found.append(statement)
    return found


def _launch_statement(synth: Synth, name: str, sid: str) -> dict[str, Any]:
    """The statement ``sid``, the same in the runner's, tracker's and reconciler's policies."""
    found = _statements(synth, name, sid)
    assert len(found) == 3, found  # the runner, the tracker and the reconciler launch tasks
    assert all(statement == found[0] for statement in found)
    return found[0]


def test_runner_environment_points_at_this_cluster_task_and_subnets(synth: Synth) -> None:
    pipeline = synth.construct("default")
    env = _runner_env(synth, "default")
    assert env["CLUSTER_ARN"] == synth.resolve("default", pipeline.cluster.cluster_arn)
    assert env["TASK_DEFINITION_ARN"] == synth.resolve(
        "default", pipeline.task_definition.task_definition_arn
    )
    assert env["CONTAINER_NAME"] == "task"
    assert env["SECURITY_GROUPS"] == synth.resolve(
        "default", pipeline.security_group.security_group_id
    )
    assert env["ASSIGN_PUBLIC_IP"] == "ENABLED"
    public = pipeline.vpc.public_subnets
    first, second = (synth.resolve("default", s.subnet_id) for s in public)
    assert env["SUBNETS"] == {"Fn::Join": ["", [first, ",", second]]}
    assert len(public) == 2
    assert "CAPACITY_PROVIDER" not in env
    assert "MAX_RUNNING_TASKS" not in env


def test_runner_environment_options(synth: Synth) -> None:
    env = _runner_env(synth, "private")
    assert env["ASSIGN_PUBLIC_IP"] == "DISABLED"
    assert env["CAPACITY_PROVIDER"] == "FARGATE_SPOT"
    assert env["MAX_RUNNING_TASKS"] == "8"
    private = synth.construct("private").vpc.isolated_subnets
    first, second = (synth.resolve("private", s.subnet_id) for s in private)
    assert env["SUBNETS"] == {"Fn::Join": ["", [first, ",", second]]}


def test_run_task_is_limited_to_this_task_definition_family_and_cluster(synth: Synth) -> None:
    pipeline = synth.construct("default")
    statement = _launch_statement(synth, "default", "RunTaskOnThisClusterOnly")
    assert statement["Action"] == "ecs:RunTask"
    assert statement["Effect"] == "Allow"
    # Every revision of this family: during a stack update the functions still launch the
    # previous revision after the policy has changed.
    assert statement["Resource"] == synth.resolve("default", task_definition_family_arn(pipeline))
    (definition,) = synth.templates["default"].find_resources("AWS::ECS::TaskDefinition").values()
    family = definition["Properties"]["Family"]
    assert statement["Resource"]["Fn::Join"][1][-1] == f":task-definition/{family}:*"
    assert statement["Condition"] == {
        "ArnEquals": {"ecs:cluster": synth.resolve("default", pipeline.cluster.cluster_arn)}
    }


def test_pass_role_is_exactly_the_two_task_roles_and_only_to_ecs_tasks(synth: Synth) -> None:
    pipeline = synth.construct("default")
    statement = _launch_statement(synth, "default", "PassTaskRolesToEcsOnly")
    assert statement["Action"] == "iam:PassRole"
    expected = [
        synth.resolve("default", pipeline.task_definition.task_role.role_arn),
        synth.resolve("default", pipeline.task_definition.execution_role.role_arn),
    ]
    assert statement["Resource"] == expected
    assert statement["Condition"] == {
        "StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    }


def test_tagging_is_scoped_to_this_cluster_and_nothing_lists_tasks(synth: Synth) -> None:
    pipeline = synth.construct("default")
    # The ledger keeps the cap: no launcher counts tasks with ListTasks, so none may.
    policies = synth.templates["default"].find_resources("AWS::IAM::Policy")
    granted = json.dumps([p["Properties"]["PolicyDocument"] for p in policies.values()])
    assert "ecs:ListTasks" not in granted
    tagging = _launch_statement(synth, "default", "TagTasksAtLaunch")
    assert tagging["Action"] == "ecs:TagResource"
    assert tagging["Condition"] == {"StringEquals": {"ecs:CreateAction": "RunTask"}}
    cluster_name = synth.resolve("default", pipeline.cluster.cluster_name)
    assert cluster_name in tagging["Resource"]["Fn::Join"][1]


def test_task_role_reads_input_prefix_and_writes_results_prefix_only(synth: Synth) -> None:
    pipeline = synth.construct("default")
    bucket_arn = synth.resolve("default", pipeline.bucket.bucket_arn)
    role = synth.resolve("default", pipeline.task_definition.task_role.role_name)
    policies = [
        p
        for p in synth.templates["default"].find_resources("AWS::IAM::Policy").values()
        if role in p["Properties"]["Roles"]
    ]
    assert len(policies) == 1
    statements = policies[0]["Properties"]["PolicyDocument"]["Statement"]
    assert statements == [
        {
            "Sid": "ReadInputObjects",
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Effect": "Allow",
            "Resource": {"Fn::Join": ["", [bucket_arn, "/incoming/*"]]},
        },
        {
            "Sid": "WriteResults",
            "Action": ["s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"],
            "Effect": "Allow",
            "Resource": {"Fn::Join": ["", [bucket_arn, "/results/*"]]},
        },
    ]


def test_bucket_removes_incomplete_multipart_uploads_after_a_day(synth: Synth) -> None:
    # A task killed with SIGKILL cannot abort its outputs' uploads: the bucket does it.
    synth.templates["default"].has_resource_properties(
        "AWS::S3::Bucket",
        {
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [
                        {
                            "Id": "AbortIncompleteMultipartUploads",
                            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                            "Status": "Enabled",
                        }
                    ]
                )
            }
        },
    )


def test_results_can_be_recovered_for_a_week_by_default(synth: Synth) -> None:
    # A task that overwrites or deletes an object (results included) leaves its old version;
    # old versions expire after 7 days (30 where configured), and so do lone delete markers.
    for variant, days in (("default", 7), ("private", 30)):
        synth.templates[variant].has_resource_properties(
            "AWS::S3::Bucket",
            {
                "VersioningConfiguration": {"Status": "Enabled"},
                "LifecycleConfiguration": {
                    "Rules": Match.array_with(
                        [
                            {
                                "Id": "ExpireNoncurrentVersions",
                                "NoncurrentVersionExpiration": {"NoncurrentDays": days},
                                "ExpiredObjectDeleteMarker": True,
                                "Status": "Enabled",
                            }
                        ]
                    )
                },
            },
        )


def _egress(template: Template) -> list[dict[str, object]]:
    (group,) = [
        g
        for g in template.find_resources("AWS::EC2::SecurityGroup").values()
        if "s3fargate tasks" in g["Properties"]["GroupDescription"]
    ]
    return list(group["Properties"].get("SecurityGroupEgress", []))


def test_tasks_may_reach_only_https_by_default(synth: Synth) -> None:
    # A parser exploited by an upload gets no channel out beyond HTTPS to the AWS APIs.
    for variant in ("default", "private"):
        (rule,) = _egress(synth.templates[variant])
        assert rule["IpProtocol"] == "tcp", (variant, rule)
        assert (rule["FromPort"], rule["ToPort"]) == (443, 443), (variant, rule)
        assert rule["CidrIp"] == "0.0.0.0/0", (variant, rule)


def test_allow_all_outbound_opens_the_tasks_egress(synth: Synth) -> None:
    (rule,) = _egress(synth.templates["existing"])
    assert rule["IpProtocol"] == "-1"
    assert rule["CidrIp"] == "0.0.0.0/0"


def test_the_reconcilers_schedule_retries_keeps_what_fails_and_alarms(synth: Synth) -> None:
    template = synth.templates["default"]
    tracking = synth.construct("default").tracking
    dlq = synth.resolve("default", tracking.reconciler_dead_letter_queue.queue_arn)
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "rate(5 minutes)",
            "Targets": [
                Match.object_like(
                    {
                        "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 300},
                        "DeadLetterConfig": {"Arn": dlq},
                    }
                )
            ],
        },
    )
    topic = synth.resolve("default", synth.construct("default").topic.topic_arn)
    reconciler = synth.resolve("default", tracking.reconciler.function_name)
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "Errors",
            "Namespace": "AWS/Lambda",
            "Dimensions": [{"Name": "FunctionName", "Value": reconciler}],
            "EvaluationPeriods": 2,
            "Threshold": 1,
            "AlarmActions": [topic],
        },
    )


def test_notification_sends_object_created_under_the_prefix_to_the_queue(synth: Synth) -> None:
    pipeline = synth.construct("default")
    synth.templates["default"].has_resource_properties(
        "Custom::S3BucketNotifications",
        {
            "BucketName": synth.resolve("default", pipeline.bucket.bucket_name),
            "NotificationConfiguration": {
                "QueueConfigurations": [
                    {
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {
                            "Key": {"FilterRules": [{"Name": "prefix", "Value": "incoming/"}]}
                        },
                        "QueueArn": synth.resolve("default", pipeline.queue.queue_arn),
                    }
                ]
            },
        },
    )


def test_suffix_filter_is_added(synth: Synth) -> None:
    rules = Capture()
    synth.templates["private"].has_resource_properties(
        "Custom::S3BucketNotifications",
        {
            "NotificationConfiguration": {
                "QueueConfigurations": [{"Filter": {"Key": {"FilterRules": rules}}}]
            }
        },
    )
    assert sorted(rules.as_array(), key=lambda r: r["Name"]) == [
        {"Name": "prefix", "Value": "incoming/"},
        {"Name": "suffix", "Value": ".csv"},
    ]


def test_queue_redrive_visibility_and_encryption(synth: Synth) -> None:
    pipeline = synth.construct("default")
    template = synth.templates["default"]
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {
            "RedrivePolicy": {
                "deadLetterTargetArn": synth.resolve(
                    "default", pipeline.dead_letter_queue.queue_arn
                ),
                "maxReceiveCount": 5,
            },
            "VisibilityTimeout": 360,  # 6 x the runner's 60 s timeout
            "SqsManagedSseEnabled": True,
        },
    )
    template.has_resource_properties(
        "AWS::SQS::Queue", {"MessageRetentionPeriod": 14 * 86400, "SqsManagedSseEnabled": True}
    )
    synth.templates["private"].has_resource_properties(
        "AWS::SQS::Queue",
        {"RedrivePolicy": Match.object_like({"maxReceiveCount": 50}), "VisibilityTimeout": 720},
    )


def test_queues_refuse_insecure_transport(synth: Synth) -> None:
    policies = synth.templates["default"].find_resources("AWS::SQS::QueuePolicy")
    denies = [
        s
        for p in policies.values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny" and s.get("Sid") != "OnlyThisAccountsBucket"
    ]
    # the upload queue, the events queue, their dead-letter queues, the reconciler's
    assert len(denies) == 5
    for deny in denies:
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_event_source_reports_batch_item_failures(synth: Synth) -> None:
    pipeline = synth.construct("default")
    synth.templates["default"].has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": synth.resolve("default", pipeline.queue.queue_arn),
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "BatchSize": 10,
            # Measured with the simulator: eight runners keep RunTask near its 20 calls/s.
            "ScalingConfig": {"MaximumConcurrency": 8},
        },
    )
    synth.templates["private"].has_resource_properties(
        "AWS::Lambda::EventSourceMapping", {"ScalingConfig": {"MaximumConcurrency": 5}}
    )


def test_bucket_is_private_tls_only_encrypted_and_retained(synth: Synth) -> None:
    template = synth.templates["default"]
    template.has_resource(
        "AWS::S3::Bucket",
        {
            "Properties": Match.object_like(
                {
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": True,
                        "BlockPublicPolicy": True,
                        "IgnorePublicAcls": True,
                        "RestrictPublicBuckets": True,
                    },
                    "BucketEncryption": {
                        "ServerSideEncryptionConfiguration": [
                            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                        ]
                    },
                }
            ),
            "DeletionPolicy": "Retain",
        },
    )
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )
    synth.templates["private"].has_resource_properties(
        "AWS::S3::Bucket", {"VersioningConfiguration": {"Status": "Enabled"}}
    )


def test_default_network_is_two_public_subnets_without_nat(synth: Synth) -> None:
    template = synth.templates["default"]
    template.resource_count_is("AWS::EC2::NatGateway", 0)
    template.resource_count_is("AWS::EC2::Subnet", 2)
    template.resource_count_is("AWS::EC2::InternetGateway", 1)
    template.resource_count_is("AWS::EC2::VPCEndpoint", 0)
    groups = template.find_resources("AWS::EC2::SecurityGroup")
    (group,) = groups.values()
    assert "SecurityGroupIngress" not in group["Properties"]


def test_private_network_uses_endpoints_and_no_internet(synth: Synth) -> None:
    template = synth.templates["private"]
    template.resource_count_is("AWS::EC2::InternetGateway", 0)
    template.resource_count_is("AWS::EC2::NatGateway", 0)
    services = [
        json.dumps(e["Properties"]["ServiceName"])
        for e in template.find_resources("AWS::EC2::VPCEndpoint").values()
    ]
    assert len(services) == 4
    for name in ('".s3"', "ecr.api", "ecr.dkr", ".logs"):
        assert any(name in s for s in services), (name, services)


def test_cluster_has_fargate_and_spot_capacity_providers(synth: Synth) -> None:
    synth.templates["default"].has_resource_properties(
        "AWS::ECS::ClusterCapacityProviderAssociations",
        {"CapacityProviders": Match.array_with(["FARGATE", "FARGATE_SPOT"])},
    )


def test_task_definition_default_size_image_and_logs(synth: Synth) -> None:
    pipeline = synth.construct("default")
    synth.templates["default"].has_resource_properties(
        "AWS::ECS::TaskDefinition",
        {
            "Cpu": "256",
            "Memory": "512",
            "NetworkMode": "awsvpc",
            "RequiresCompatibilities": ["FARGATE"],
            "RuntimePlatform": {"CpuArchitecture": "X86_64", "OperatingSystemFamily": "LINUX"},
            "ContainerDefinitions": [
                Match.object_like(
                    {
                        "Name": "task",
                        "Environment": [
                            {"Name": "INPUT_PREFIX", "Value": "incoming/"},
                            {"Name": "RESULTS_PREFIX", "Value": "results/"},
                        ],
                        "LogConfiguration": {
                            "LogDriver": "awslogs",
                            "Options": Match.object_like(
                                {
                                    "awslogs-group": synth.resolve(
                                        "default", pipeline.log_group.log_group_name
                                    ),
                                    "awslogs-stream-prefix": "task",
                                }
                            ),
                        },
                    }
                )
            ],
        },
    )
    synth.templates["default"].has_resource_properties(
        "AWS::Logs::LogGroup", {"RetentionInDays": 30}
    )


def test_task_definition_options(synth: Synth) -> None:
    synth.templates["private"].has_resource_properties(
        "AWS::ECS::TaskDefinition",
        {
            "Cpu": "1024",
            "Memory": "4096",
            "EphemeralStorage": {"SizeInGiB": 100},
            # Fargate Spot runs X86_64 only.
            "RuntimePlatform": {"CpuArchitecture": "X86_64", "OperatingSystemFamily": "LINUX"},
        },
    )
    synth.templates["existing"].has_resource_properties(
        "AWS::ECS::TaskDefinition",
        {"RuntimePlatform": {"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"}},
    )


def test_functions_run_the_latest_python_with_the_locked_powertools_bundled(synth: Synth) -> None:
    # GIVEN the synthesized stack
    template = synth.templates["default"]
    functions = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": Match.string_like_regexp("^s3fargate")}}
    )
    # THEN each of our functions runs python3.14 on arm64 with no layer: no SSM parameter to
    # resolve (none exists in GovCloud or China), nothing resolved at deploy time
    assert len(functions) == 3
    for function in functions.values():
        properties = function["Properties"]
        assert (properties["Runtime"], properties["Architectures"]) == ("python3.14", ["arm64"])
        assert "Layers" not in properties
    assert "Parameters" not in template.to_json() or not any(
        "powertools" in json.dumps(p) for p in template.to_json()["Parameters"].values()
    )
    # AND the asset carries the version of Powertools that uv.lock pins
    (asset,) = [
        p
        for p in synth.outdir.iterdir()
        if p.name.startswith("asset.") and (p / "aws_lambda_powertools").is_dir()
    ]
    version = (asset / "aws_lambda_powertools" / "shared" / "version.py").read_text()
    locked = locked_versions(ROOT / "uv.lock")["aws-lambda-powertools"]
    assert f'VERSION = "{locked}"' in version


def test_bundling_refuses_a_powertools_other_than_the_locked_one(tmp_path: Path) -> None:
    lock = tmp_path / "uv.lock"
    lock.write_text('[[package]]\nname = "aws-lambda-powertools"\nversion = "0.0.1"\n')
    pinned = locked_versions(lock)["aws-lambda-powertools"]
    with pytest.raises(BundleError, match=r"uv.lock pins 0.0.1: run `make synth`"):
        assets._bundle("aws-lambda-powertools", tmp_path / "asset", pinned)


def test_outputs_name_what_a_user_needs(synth: Synth) -> None:
    outputs = synth.templates["default"].to_json()["Outputs"]
    assert set(outputs) == {
        "BucketName",
        "QueueUrl",
        "DeadLetterQueueUrl",
        "ClusterArn",
        "TaskDefinitionArn",
        "TaskLogGroup",
        "RunnerLogGroup",
        "JobsTableName",
        "NotificationTopicArn",
        "InputPrefix",
        "ResultsPrefix",
        "TaskContainerName",
    }


def test_existing_bucket_and_vpc_are_used_as_given(synth: Synth) -> None:
    template = synth.templates["existing"]
    template.resource_count_is("AWS::S3::Bucket", 1)  # theirs, no second bucket
    template.resource_count_is("AWS::EC2::VPC", 1)
    env = _runner_env(synth, "existing")
    assert env["ASSIGN_PUBLIC_IP"] == "DISABLED"  # private subnets chosen: no public IP


@pytest.mark.parametrize("name", ["default", "private", "existing"])
def test_every_variant_has_exactly_one_runner_and_task_definition(synth: Synth, name: str) -> None:
    template = synth.templates[name]
    template.resource_count_is("AWS::ECS::TaskDefinition", 1)
    # the runner on the upload queue, the tracker on the events queue
    template.resource_count_is("AWS::Lambda::EventSourceMapping", 2)
