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
