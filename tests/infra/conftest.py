"""Synthesize once per test session: one app holding every variant under test."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from typing import TYPE_CHECKING

from aws_cdk import Acknowledgment, App, Duration, Stack, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks

from s3fargate.infra import FargatePrices, S3FargateStack, S3TriggeredFargateTask, TaskSize

if TYPE_CHECKING:
    from pathlib import Path


@dataclass
class Synth:
    """The synthesized app: stacks by name, their templates, and the cloud assembly folder."""

    stacks: dict[str, Stack]
    templates: dict[str, Template]
    outdir: Path

    def construct(self, name: str) -> S3TriggeredFargateTask:
        stack = self.stacks[name]
        assert isinstance(stack, S3FargateStack)
        return stack.pipeline

    def resolve(self, name: str, value: object) -> object:
        return self.stacks[name].resolve(value)


def task_definition_family_arn(pipeline: S3TriggeredFargateTask) -> str:
    """Every revision of the pipeline's task definition family (``…:task-definition/F:*``)."""
    return Stack.of(pipeline).format_arn(
        service="ecs",
        resource="task-definition",
        resource_name=f"{pipeline.task_definition.family}:*",
    )


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = App(outdir=str(outdir))
    stacks: dict[str, Stack] = {
        "default": S3FargateStack(app, "Default"),
        "private": S3FargateStack(
            app,
            "Private",
            pipeline_props={
                "network": "private",
                "capacity_provider": "FARGATE_SPOT",
                "max_running_tasks": 8,
                "cpu": 1024,
                "memory_limit_mib": 4096,
                "ephemeral_storage_gib": 100,
                "suffix": ".csv",
                "noncurrent_version_expiration_days": 30,
                "max_receive_count": 50,
                "runner_timeout": Duration.seconds(120),
                "max_concurrency": 5,
                "notification_email": "ops@example.com",
                "max_attempts": 5,
                "retry_exit_codes": [75, 111],
                "job_ttl_days": 30,
                "track_running": True,
                "task_sizes": [
                    TaskSize(up_to_bytes=2**30, cpu=512, memory_limit_mib=2048),
                    TaskSize(
                        up_to_bytes=None,
                        cpu=4096,
                        memory_limit_mib=16384,
                        ephemeral_storage_gib=120,
                    ),
                ],
                "spot_fallback_after": 2,
                "fargate_prices": FargatePrices(
                    vcpu_hour=0.03238, gb_hour=0.00356, storage_gb_hour=0.000111
                ),
            },
        ),
    }
    existing = Stack(app, "Existing")
    vpc = ec2.Vpc(existing, "TheirVpc", max_azs=2)
    bucket = s3.Bucket(existing, "TheirBucket", enforce_ssl=True)
    S3TriggeredFargateTask(
        existing,
        "Files",
        existing_bucket_obj=bucket,
        existing_vpc=vpc,
        vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
        task_image=ecs.ContainerImage.from_registry("public.ecr.aws/docker/library/busybox:1.36"),
        allow_all_outbound=True,
        cpu_architecture=ecs.CpuArchitecture.ARM64,
    )
    stacks["existing"] = existing
    # Two pipelines on one cluster: each must see only its own tasks.
    shared = Stack(app, "Shared")
    shared_vpc = ec2.Vpc(shared, "SharedVpc", max_azs=2, nat_gateways=0)
    cluster = ecs.Cluster(shared, "SharedCluster", vpc=shared_vpc)
    for name in ("Videos", "Documents"):
        S3TriggeredFargateTask(
            shared, name, existing_vpc=shared_vpc, existing_cluster=cluster, assign_public_ip=True
        )
    stacks["shared"] = shared
    # The "existing" resources are the user's: the user acknowledges their own findings.
    Validations.of(bucket).acknowledge(
        Acknowledgment(id="AwsSolutions-S1", reason="test fixture: the user's own bucket")
    )
    for theirs in (vpc, shared_vpc):
        Validations.of(theirs).acknowledge(
            Acknowledgment(id="AwsSolutions-VPC7", reason="test fixture: the user's own VPC")
        )
    Validations.of(cluster).acknowledge(
        Acknowledgment(id="AwsSolutions-ECS4", reason="test fixture: the user's own cluster")
    )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()  # runs cdk-nag over every stack: raises on any unacknowledged finding
    templates = {name: Template.from_stack(stack) for name, stack in stacks.items()}
    return Synth(stacks=stacks, templates=templates, outdir=outdir)
