"""Test helpers: sample events (tests/events/) and builders for S3, EventBridge, SQS events."""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

EVENTS_DIR = Path(__file__).parent / "events"

#: Keys that break naive encoding: spaces, +, %, reserved characters, multi-byte UTF-8.
TRICKY_KEYS = [
    "incoming/red flower.jpg",
    "incoming/a+b.csv",
    "incoming/100%.txt",
    "incoming/%2B literally.txt",
    "incoming/q&a=yes?.txt",
    "incoming/ünïcödé/naïve café.txt",
    "incoming/emoji 🚀 rocket.bin",  # 4-byte UTF-8
    "incoming/中文/文件.csv",
    "incoming/tab\tand\nnewline",
    "incoming/~!@#$^*()[]{};:',<>|\\`\".dat",
]


def load_event(name: str) -> dict[str, Any]:
    """Load tests/events/<name>.json."""
    return json.loads((EVENTS_DIR / f"{name}.json").read_text(encoding="utf-8"))


def encode_key(key: str, *, encode_slash: bool = False) -> str:
    """Encode a key as S3 notifications do (AWS keeps '/', moto encodes it too)."""
    return quote_plus(key, safe="" if encode_slash else "/")


def s3_notification(
    key: str,
    *,
    bucket: str = "example-inbox",
    size: int = 1024,
    event_name: str = "ObjectCreated:Put",
    sequencer: str = "0055AED6DCD90281E5",
    version_id: str | None = "096fKKXTRTtl3on89fVO.nfljtsv6qko",
    etag: str = "d41d8cd98f00b204e9800998ecf8427e",
    raw_key: str | None = None,
) -> dict[str, Any]:
    """An S3 notification for ``key`` (encoded as S3 does unless ``raw_key`` is given)."""
    event = load_event("s3-notification-put")
    record = event["Records"][0]
    record["eventName"] = event_name
    record["s3"]["bucket"]["name"] = bucket
    record["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
    obj = record["s3"]["object"]
    obj["key"] = raw_key if raw_key is not None else encode_key(key)
    obj["size"] = size
    obj["eTag"] = etag
    obj["sequencer"] = sequencer
    if version_id is None:
        obj.pop("versionId", None)
    else:
        obj["versionId"] = version_id
    return event


def eventbridge_object_created(
    key: str,
    *,
    bucket: str = "example-inbox",
    size: int = 1024,
    detail_type: str = "Object Created",
) -> dict[str, Any]:
    """An EventBridge S3 event with a raw ``key``."""
    event = load_event("eventbridge-object-created")
    event["detail-type"] = detail_type
    event["detail"]["bucket"]["name"] = bucket
    event["detail"]["object"]["key"] = key
    event["detail"]["object"]["size"] = size
    return event


def sqs_record(body: str | dict[str, Any], *, message_id: str | None = None) -> dict[str, Any]:
    """One SQS record as Lambda delivers it, with ``body`` (a dict is JSON-encoded)."""
    template = load_event("sqs-batch")["Records"][0]
    record = copy.deepcopy(template)
    record["messageId"] = message_id or str(uuid.uuid4())
    record["body"] = body if isinstance(body, str) else json.dumps(body)
    return record


def sqs_event(*records: dict[str, Any]) -> dict[str, Any]:
    """A Lambda SQS event holding ``records``."""
    return {"Records": list(records)}


@dataclass(frozen=True)
class FakeLambdaContext:
    """The fields of Lambda's context object that Powertools reads."""

    function_name: str = "s3fargate-runner"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:111122223333:function:s3fargate-runner"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))


def lambda_context() -> Any:
    """A Lambda context for calling the handler as Lambda does."""
    return FakeLambdaContext()


def ecs_event(
    name: str,
    *,
    job_id: str | None = None,
    attempt: int | None = None,
    task_arn: str | None = None,
    version: int | None = None,
    cluster_arn: str | None = None,
    started_by: str | None = None,
    key: str | None = None,
) -> dict[str, Any]:
    """tests/events/ecs/<name>.json, with the fields a test cares about replaced."""
    event = json.loads((EVENTS_DIR / "ecs" / f"{name}.json").read_text(encoding="utf-8"))
    detail = event["detail"]
    env = {e["name"]: e for e in detail["overrides"]["containerOverrides"][0]["environment"]}
    if job_id is not None:
        env["S3FARGATE_JOB_ID"]["value"] = job_id
    if attempt is not None:
        env["S3FARGATE_ATTEMPT"]["value"] = str(attempt)
    if key is not None:
        env["S3_KEY"]["value"] = key
    if task_arn is not None:
        detail["taskArn"] = task_arn
        for container in detail["containers"]:
            container["taskArn"] = task_arn
    if version is not None:
        detail["version"] = version
    if cluster_arn is not None:
        detail["clusterArn"] = cluster_arn
    if started_by is not None:
        detail["startedBy"] = started_by
    return event


def ecs_event_names() -> list[str]:
    """Every event of the corpus in tests/events/ecs/."""
    return sorted(p.stem for p in (EVENTS_DIR / "ecs").glob("*.json"))
