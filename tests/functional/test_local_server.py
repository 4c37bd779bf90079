"""The embedded server as its own process: held then opened, a busy port refused, and
DynamoDB transactions all-or-nothing (the server saves only the items a transaction names)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError

from s3fargate.local.server import LocalServer, ServerStartError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def _table(dynamodb: DynamoDBClient, *, range_key: bool = False) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    schema: list[Any] = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attributes: list[Any] = [{"AttributeName": "pk", "AttributeType": "S"}]
    if range_key:
        schema.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attributes.append({"AttributeName": "sk", "AttributeType": "S"})
    dynamodb.create_table(
        TableName=name,
        KeySchema=schema,
        AttributeDefinitions=attributes,
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def _items(dynamodb: DynamoDBClient, table: str) -> dict[str, str]:
    rows = dynamodb.scan(TableName=table)["Items"]
    return {row["pk"]["S"] + row.get("sk", {}).get("S", ""): row["v"]["S"] for row in rows}


@pytest.mark.parametrize("range_key", [False, True], ids=["hash-key", "hash-and-range-key"])
def test_a_cancelled_transaction_changes_nothing(dynamodb: DynamoDBClient, range_key: bool) -> None:
    table = _table(dynamodb, range_key=range_key)
    sk = {"sk": {"S": "1"}} if range_key else {}
    for pk in ("a", "b", "other"):
        dynamodb.put_item(TableName=table, Item={"pk": {"S": pk}, **sk, "v": {"S": "old"}})
    before = _items(dynamodb, table)
    # WHEN a transaction updates a, creates c, and then fails its condition on b
    with pytest.raises(ClientError) as info:
        dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"pk": {"S": "a"}, **sk},
                        "UpdateExpression": "SET v = :new",
                        "ExpressionAttributeValues": {":new": {"S": "new"}},
                    }
                },
                {"Put": {"TableName": table, "Item": {"pk": {"S": "c"}, **sk, "v": {"S": "new"}}}},
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": {"pk": {"S": "b"}, **sk},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    # THEN it is cancelled with the reasons in order, as DynamoDB answers
    assert info.value.response["Error"]["Code"] == "TransactionCanceledException"
    reasons = [r["Code"] for r in info.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "ConditionalCheckFailed"]
    # AND nothing it wrote is left: a is as it was, c does not exist
    assert _items(dynamodb, table) == before
    # AND a transaction that passes writes everything
    dynamodb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": table, "Item": {"pk": {"S": "c"}, **sk, "v": {"S": "new"}}}},
            {"Delete": {"TableName": table, "Key": {"pk": {"S": "b"}, **sk}}},
        ]
    )
    assert _items(dynamodb, table) == {
        **{k: v for k, v in before.items() if k[0] != "b"},
        "c" + sk.get("sk", {}).get("S", ""): "new",
    }


def test_a_transaction_naming_one_item_twice_is_refused_and_changes_nothing(
    dynamodb: DynamoDBClient,
) -> None:
    table = _table(dynamodb)
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "a"}, "v": {"S": "old"}})
    with pytest.raises(ClientError) as info:
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"pk": {"S": "a"}, "v": {"S": "one"}}}},
                {"Put": {"TableName": table, "Item": {"pk": {"S": "a"}, "v": {"S": "two"}}}},
            ]
        )
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert _items(dynamodb, table) == {"a": "old"}


def test_a_held_server_answers_on_its_public_port_only_once_opened() -> None:
    server = LocalServer()
    try:
        private = server.start(hold=True)
        assert private != server.endpoint
        s3 = boto3.client("s3", endpoint_url=private, region_name="us-east-1")
        s3.create_bucket(Bucket="wired-first")
        server.open()
        public = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1")
        # the same store, now on the public port
        assert [b["Name"] for b in public.list_buckets()["Buckets"]] == ["wired-first"]
        # AND a second server on the same port is refused at once, in one line
        port = int(server.endpoint.rsplit(":", 1)[1])
        with pytest.raises(ServerStartError, match=f"cannot listen on 127.0.0.1:{port}"):
            LocalServer(port=port).start()
    finally:
        server.stop()
        server.stop()  # idempotent
