"""Turn S3 notifications, EventBridge events and SQS message bodies into typed references.

S3 notifications URL-encode object keys (space as ``+``, ``+`` as ``%2B``, non-ASCII as UTF-8
``%XX``); EventBridge carries raw keys. Getting this wrong hands the task a key that does not
exist, so each path is explicit here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.data_classes.s3_event import (
    S3EventBridgeNotificationEvent,
    S3EventRecord,
)

from s3fargate import contracts as c
from s3fargate.events.exceptions import MalformedEventError
from s3fargate.events.models import (
    EventSourceKind,
    ObjectCreated,
    ParsedEvent,
    Skipped,
    SkipReason,
)

S3_TEST_EVENT = "s3:TestEvent"
EVENTBRIDGE_OBJECT_CREATED = "Object Created"


def parse_message_body(body: str, *, message_id: str | None = None) -> list[ParsedEvent]:
    """Parse the body of one SQS message.

    Raises:
        MalformedEventError: the body is not JSON or not a supported event; the error names
            ``message_id``.
    """
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, TypeError) as exc:
        raise MalformedEventError(f"body is not JSON ({exc})", message_id=message_id) from exc
    return parse_event(payload, message_id=message_id)


def parse_event(payload: Any, *, message_id: str | None = None) -> list[ParsedEvent]:
    """Parse a decoded event: an S3 notification, an ``s3:TestEvent``, an EventBridge S3 event,
    a retry request, or any of these wrapped in an SNS notification envelope.

    Raises:
        MalformedEventError: the payload is not one of the supported events.
    """
    if not isinstance(payload, Mapping):
        raise MalformedEventError(
            f"expected a JSON object, got {type(payload).__name__}", message_id=message_id
        )
    try:
        if "Records" in payload:
            return list(_parse_s3_notification(payload, message_id))
        if payload.get("Event") == S3_TEST_EVENT:
            return [
                Skipped(
                    SkipReason.TEST_EVENT,
                    "S3 sends s3:TestEvent when a notification is configured",
                    bucket=payload.get("Bucket"),
                )
            ]
        if payload.get("source") == "aws.s3" and "detail" in payload:
            return [_parse_eventbridge(payload)]
        if payload.get(c.RETRY_MARKER) == c.RETRY_KIND:
            return [_parse_retry(payload)]
        if payload.get("Type") == "Notification" and isinstance(payload.get("Message"), str):
            # S3 -> SNS -> SQS fan-out: the S3 event is the SNS message.
            return parse_message_body(payload["Message"], message_id=message_id)
    except MalformedEventError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MalformedEventError(
            f"event is missing or has an invalid field ({type(exc).__name__}: {exc})",
            message_id=message_id,
        ) from exc
    keys = ", ".join(sorted(str(k) for k in payload)[:8])
    raise MalformedEventError(
        "not an S3 notification, s3:TestEvent or EventBridge S3 event "
        f"(top-level fields: {keys or 'none'})",
        message_id=message_id,
    )


def decode_notification_key(raw_key: str) -> str:
    """Decode a key as S3 notifications encode it (``unquote_plus``, strict UTF-8)."""
    return unquote_plus(raw_key, encoding="utf-8", errors="strict")


def _parse_s3_notification(
    payload: Mapping[str, Any], message_id: str | None
) -> Iterator[ParsedEvent]:
    records = payload["Records"]
    if not isinstance(records, list) or not records:
        raise MalformedEventError("'Records' is not a non-empty list", message_id=message_id)
    for index, record in enumerate(S3Event(dict(payload)).records):
        yield _parse_s3_record(record, message_id, index)


def _parse_s3_record(record: S3EventRecord, message_id: str | None, index: int) -> ParsedEvent:
    if record.get("eventSource") != "aws:s3":
        raise MalformedEventError(
            f"record eventSource is {record.get('eventSource')!r}, expected 'aws:s3'",
            message_id=message_id,
        )
    s3 = record.s3
    bucket = s3.bucket.name
    obj = s3.get_object
    try:
        key = decode_notification_key(obj.key)
    except UnicodeDecodeError as exc:
        raise MalformedEventError(
            f"object key {obj.key!r} is not valid URL-encoded UTF-8", message_id=message_id
        ) from exc
    event_name = record.event_name
    size = int(obj["size"]) if obj.get("size") is not None else None
    if not event_name.startswith("ObjectCreated:"):
        return Skipped(SkipReason.NOT_OBJECT_CREATED, f"event {event_name}", bucket=bucket, key=key)
    return _skip_folder_marker(
        ObjectCreated(
            bucket=bucket,
            key=key,
            size=size,
            etag=obj.etag or None,
            version_id=obj.version_id or None,
            sequencer=obj.get("sequencer"),
            event_name=event_name,
            event_time=record.get("eventTime"),
            source=EventSourceKind.S3_NOTIFICATION,
            origin_id=f"{message_id}#{index}" if message_id else None,
        )
    )


def _parse_eventbridge(payload: Mapping[str, Any]) -> ParsedEvent:
    event = S3EventBridgeNotificationEvent(dict(payload))
    detail = event.detail
    bucket = detail.bucket.name
    # EventBridge keys are raw: Powertools' `.key` would unquote_plus them, turning '+' into ' '.
    key = detail.object["key"]
    if not isinstance(bucket, str) or not isinstance(key, str):
        raise TypeError("detail.bucket.name and detail.object.key must be strings")
    if event.detail_type != EVENTBRIDGE_OBJECT_CREATED:
        return Skipped(
            SkipReason.NOT_OBJECT_CREATED,
            f"event {event.detail_type}",
            bucket=bucket,
            key=key,
        )
    size = detail.object.size
    return _skip_folder_marker(
        ObjectCreated(
            bucket=bucket,
            key=key,
            size=int(size) if size is not None else None,
            etag=detail.object.get("etag") or None,
            version_id=detail.object.get("version-id") or None,
            sequencer=detail.object.get("sequencer"),
            event_name=EVENTBRIDGE_OBJECT_CREATED,
            event_time=payload.get("time"),
            source=EventSourceKind.EVENTBRIDGE,
            origin_id=payload.get("id"),
        )
    )


def _parse_retry(payload: Mapping[str, Any]) -> ParsedEvent:
    """A new attempt of a known job (``s3fargate.contracts.retry_request`` builds it)."""
    attempt = payload["attempt"]
    if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 1:
        raise ValueError(f"retry attempt must be a whole number of at least 1, got {attempt!r}")
    size = payload.get("size")
    size_up = payload.get("size_up", 0)
    if not isinstance(size_up, int) or isinstance(size_up, bool) or size_up < 0:
        raise ValueError(f"retry size_up must be a whole number of at least 0, got {size_up!r}")
    on_demand = payload.get("on_demand", False)
    if not isinstance(on_demand, bool):
        raise ValueError(f"retry on_demand must be true or false, got {on_demand!r}")
    obj = ObjectCreated(
        bucket=payload["bucket"],
        key=payload["key"],  # raw, as S3 stores it
        size=int(size) if size is not None else None,
        etag=payload.get("etag") or None,
        version_id=payload.get("version_id") or None,
        sequencer=None,
        event_name=c.RETRY_KIND,
        event_time=payload.get("requested_at"),
        source=EventSourceKind.RETRY,
        job_id=str(payload["job_id"]),
        attempt=attempt,
        size_up=size_up,
        on_demand=on_demand,
    )
    if not isinstance(obj.bucket, str) or not isinstance(obj.key, str) or not obj.job_id:
        raise TypeError("retry requests need string bucket, key and job_id")
    return _skip_folder_marker(obj)


def _skip_folder_marker(obj: ObjectCreated) -> ParsedEvent:
    if not obj.bucket or not obj.key:
        raise ValueError("bucket name and object key must be non-empty")
    # The console's "Create folder" writes a zero-byte object whose key ends in '/'.
    if obj.key.endswith("/") and obj.size == 0:
        return Skipped(
            SkipReason.FOLDER_MARKER, "zero-byte folder marker", bucket=obj.bucket, key=obj.key
        )
    return obj
