"""The RunTask request for one object: overrides, network, tags, token."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3fargate.events import EventSourceKind, ObjectCreated
from s3fargate.launching import RunnerConfig, client_token, run_task_request
from s3fargate.launching.request import (
    MAX_OVERRIDES_CHARS,
    ResultKeyTooLongError,
    job_id_of,
    tag_value,
)
from s3fargate.ledger import Policy
from s3fargate.sizing import TaskSize, TaskSizes
from s3fargate.wire import wire_format

CONFIG = RunnerConfig(
    cluster_arn="arn:cluster",
    task_definition_arn="arn:taskdef",
    container_name="task",
    subnets=("subnet-1", "subnet-2"),
)


def _obj(key: str = "incoming/a b.csv", **kw: object) -> ObjectCreated:
    fields: dict[str, object] = {
        "bucket": "inbox",
        "key": key,
        "size": 12,
        "etag": "etag1",
        "version_id": "v1",
        "sequencer": "seq1",
        "event_name": "ObjectCreated:Put",
        "event_time": None,
        "source": EventSourceKind.S3_NOTIFICATION,
    }
    fields.update(kw)
    return ObjectCreated(**fields)  # type: ignore[arg-type]


def test_request_carries_exact_key_and_contract_environment() -> None:
    request = run_task_request(_obj(), CONFIG)
    overrides = request["overrides"]["containerOverrides"]
    assert overrides == [
        {
            "name": "task",
            "environment": [
                {"name": "S3_BUCKET", "value": "inbox"},
                {"name": "S3_KEY", "value": "incoming/a b.csv"},
                {"name": "S3FARGATE_JOB_ID", "value": job_id_of(_obj())},
                {"name": "S3FARGATE_ATTEMPT", "value": "1"},
                {"name": "S3_VERSION_ID", "value": "v1"},
                {"name": "S3_ETAG", "value": "etag1"},
                {"name": "S3_SIZE", "value": "12"},
            ],
        }
    ]
    assert request["launchType"] == "FARGATE"
    assert "capacityProviderStrategy" not in request
    assert request["startedBy"] == "s3fargate"
    assert request["count"] == 1
    assert request["networkConfiguration"] == {
        "awsvpcConfiguration": {"subnets": ["subnet-1", "subnet-2"], "assignPublicIp": "ENABLED"}
    }


def test_optional_fields_are_left_out_when_absent() -> None:
    env = run_task_request(_obj(version_id=None, etag=None, size=None), CONFIG)["overrides"][
        "containerOverrides"
    ][0]["environment"]
    assert [e["name"] for e in env] == [
        "S3_BUCKET",
        "S3_KEY",
        "S3FARGATE_JOB_ID",
        "S3FARGATE_ATTEMPT",
    ]


def test_capacity_provider_replaces_launch_type() -> None:
    config = replace(CONFIG, capacity_provider="FARGATE_SPOT")
    request = run_task_request(_obj(), config)
    assert "launchType" not in request
    assert request["capacityProviderStrategy"] == [
        {"capacityProvider": "FARGATE_SPOT", "weight": 1}
    ]


def test_security_groups_and_private_ip() -> None:
    config = replace(CONFIG, security_groups=("sg-1",), assign_public_ip="DISABLED")
    vpc = run_task_request(_obj(), config)["networkConfiguration"]["awsvpcConfiguration"]
    assert vpc == {
        "subnets": ["subnet-1", "subnet-2"],
        "securityGroups": ["sg-1"],
        "assignPublicIp": "DISABLED",
    }


def test_client_token_is_deterministic_and_within_ecs_limits() -> None:
    token = client_token(_obj())
    assert token == client_token(_obj())
    assert len(token) <= 64


@pytest.mark.parametrize(
    "change",
    [{"key": "incoming/other"}, {"bucket": "b2"}, {"version_id": "v2"}, {"sequencer": "seq2"}],
)
def test_client_token_changes_with_identity(change: dict[str, str]) -> None:
    assert client_token(_obj(**change)) != client_token(_obj())


def test_each_attempt_has_its_own_token_and_the_first_is_the_job_id() -> None:
    first, second = _obj(), replace(_obj(), attempt=2, job_id=job_id_of(_obj()))
    assert client_token(first) == job_id_of(first)
    assert client_token(second) != client_token(first)
    assert client_token(second) == client_token(replace(second))
    assert len(client_token(second)) == 64


def test_uploads_without_a_sequencer_are_told_apart_by_their_message() -> None:
    # GIVEN three uploads of the same bytes to the same key from a server that sends no
    # sequencer (moto), carried by three messages
    uploads = [_obj(sequencer=None, version_id=None, origin_id=f"msg-{i}#0") for i in range(3)]
    # THEN they are three jobs, and a redelivery of one message is the same job
    assert len({job_id_of(u) for u in uploads}) == 3
    assert job_id_of(uploads[0]) == job_id_of(replace(uploads[0]))


def test_started_by_is_the_pipeline_id() -> None:
    request = run_task_request(_obj(), replace(CONFIG, pipeline_id="videos-pipeline"))
    assert request["startedBy"] == "videos-pipeline"


def test_client_token_uses_etag_when_unversioned() -> None:
    a = client_token(_obj(version_id=None, etag="e1"))
    b = client_token(_obj(version_id=None, etag="e2"))
    assert a != b


@given(st.text(min_size=0, max_size=1024))
def test_tag_values_are_always_valid_for_ecs(text: str) -> None:
    value = tag_value(text)
    assert len(value) <= 256
    assert all(ch.isalnum() or ch in " _.:/=+-@" for ch in value)
    assert not value.lower().startswith("aws:")


def test_tags_name_bucket_and_key() -> None:
    tags = run_task_request(_obj(key="incoming/a&b?.csv"), CONFIG)["tags"]
    assert tags == [
        {"key": "s3fargate:bucket", "value": "inbox"},
        {"key": "s3fargate:key", "value": "incoming/a_b_.csv"},
    ]


def test_longest_key_fits_in_overrides() -> None:
    # Control characters are the worst case: JSON escapes each to 6 characters; the longest
    # key launched is 1,020 bytes (its result key, 1,024).
    key = "incoming/" + "\x01" * 1011
    request = run_task_request(_obj(key=key), CONFIG)
    assert len(json.dumps(request["overrides"])) <= MAX_OVERRIDES_CHARS


def test_a_key_whose_result_key_s3_would_refuse_is_not_launched() -> None:
    # With the default prefixes a result key is its object's key plus 4 bytes
    # ("incoming/" becomes "results/", and ".json" is added).
    longest = "incoming/" + "é" * 505 + "k"  # 1,020 bytes: its result key is 1,024
    assert run_task_request(_obj(key=longest), CONFIG)["overrides"]
    with pytest.raises(ResultKeyTooLongError, match="result key would be 1025 bytes"):
        run_task_request(_obj(key=longest + "k"), CONFIG)


# --- task sizes and capacity -----------------------------------------------------------------
GIB = 1024**3
SIZED = replace(
    CONFIG,
    policy=Policy(
        task_sizes=TaskSizes(
            (
                TaskSize(up_to_bytes=GIB, cpu=256, memory_limit_mib=1024),
                TaskSize(
                    up_to_bytes=None, cpu=2048, memory_limit_mib=8192, ephemeral_storage_gib=60
                ),
            )
        )
    ),
)


def _env(request: dict[str, object]) -> dict[str, str]:
    overrides = request["overrides"]
    assert isinstance(overrides, dict)
    return {e["name"]: e["value"] for e in overrides["containerOverrides"][0]["environment"]}


@pytest.mark.parametrize(
    ("size", "size_up", "expected"),
    [
        (GIB, 0, {"cpu": "256", "memory": "1024"}),
        (GIB + 1, 0, {"cpu": "2048", "memory": "8192", "ephemeralStorage": {"sizeInGiB": 60}}),
        (None, 0, {"cpu": "2048", "memory": "8192", "ephemeralStorage": {"sizeInGiB": 60}}),
        (5, 1, {"cpu": "2048", "memory": "8192", "ephemeralStorage": {"sizeInGiB": 60}}),
    ],
)
def test_a_sized_request_overrides_the_task_size_and_ecs_accepts_its_shape(
    size: int | None, size_up: int, expected: dict[str, object]
) -> None:
    request = run_task_request(_obj(size=size, size_up=size_up), SIZED)
    overrides = request["overrides"]
    assert {k: v for k, v in overrides.items() if k != "containerOverrides"} == expected
    concurrency = {"256": "4", "2048": "12"}[str(expected["cpu"])]
    assert _env(request)["S3_READ_CONCURRENCY"] == concurrency
    wire_format("ecs").check_request("run_task", request)


def test_without_sizes_the_request_sets_no_size_and_no_read_concurrency() -> None:
    request = run_task_request(_obj(size=50 * GIB), CONFIG)
    assert set(request["overrides"]) == {"containerOverrides"}
    assert "S3_READ_CONCURRENCY" not in _env(request)


def test_an_on_demand_attempt_of_a_spot_pipeline_runs_on_fargate() -> None:
    spot = replace(CONFIG, capacity_provider="FARGATE_SPOT")
    assert run_task_request(_obj(), spot)["capacityProviderStrategy"] == [
        {"capacityProvider": "FARGATE_SPOT", "weight": 1}
    ]
    # The FARGATE launch type: On-Demand on any cluster, with no provider to associate.
    fallback = run_task_request(_obj(on_demand=True), spot)
    assert fallback["launchType"] == "FARGATE"
    assert "capacityProviderStrategy" not in fallback
    wire_format("ecs").check_request("run_task", fallback)
    # Without Spot, on_demand changes nothing.
    plain = run_task_request(_obj(on_demand=True), CONFIG)
    assert plain["launchType"] == "FARGATE"
    assert "capacityProviderStrategy" not in plain
