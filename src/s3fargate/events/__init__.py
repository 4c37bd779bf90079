"""Event parsing shared by the runner and the local pipeline."""

from s3fargate.events.exceptions import MalformedEventError
from s3fargate.events.models import (
    EventSourceKind,
    ObjectCreated,
    ParsedEvent,
    Skipped,
    SkipReason,
)
from s3fargate.events.parser import decode_notification_key, parse_event, parse_message_body

__all__ = [
    "EventSourceKind",
    "MalformedEventError",
    "ObjectCreated",
    "ParsedEvent",
    "SkipReason",
    "Skipped",
    "decode_notification_key",
    "parse_event",
    "parse_message_body",
]
