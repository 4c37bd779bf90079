"""Fixtures shared by the functional tests that use the ledger on the moto server."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from s3fargate.ledger import LedgerStore
from s3fargate.local.resources import create_jobs_table

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


@pytest.fixture
def dynamodb(moto_endpoint: str) -> DynamoDBClient:
    """A DynamoDB client on the moto server."""
    return boto3.client("dynamodb", endpoint_url=moto_endpoint)


def new_ledger(dynamodb: DynamoDBClient, **options: Any) -> LedgerStore:
    """A fresh jobs table (as the construct creates it) and a store on it."""
    table = f"jobs-{uuid.uuid4().hex[:8]}"
    create_jobs_table(dynamodb, table)
    return LedgerStore(dynamodb=dynamodb, table=table, **options)


def moto_launch_target(endpoint: str, cluster_name: str) -> dict[str, str]:
    """VPC, subnet, security group, cluster and a Fargate task definition in moto: the
    runner's launch configuration (its environment) for them."""
    ec2 = boto3.client("ec2", endpoint_url=endpoint)
    ecs = boto3.client("ecs", endpoint_url=endpoint)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})  # moto needs it
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(
        GroupName=f"sg-{uuid.uuid4().hex[:8]}", Description="t", VpcId=vpc
    )
    cluster = ecs.create_cluster(clusterName=cluster_name)["cluster"]["clusterArn"]
    task_definition = ecs.register_task_definition(
        family=f"fingerprint-{uuid.uuid4().hex[:8]}",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "task", "image": "example/task:latest", "memory": 512}],
    )["taskDefinition"]["taskDefinitionArn"]
    return {
        "CLUSTER_ARN": cluster,
        "TASK_DEFINITION_ARN": task_definition,
        "CONTAINER_NAME": "task",
        "SUBNETS": subnet,
        "SECURITY_GROUPS": group["GroupId"],
        "ASSIGN_PUBLIC_IP": "ENABLED",
    }
