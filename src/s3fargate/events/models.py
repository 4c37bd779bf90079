"""Typed results of parsing an event: an object to process, or a reason to skip."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class EventSourceKind(enum.StrEnum):
    """Where an object reference came from (decides whether its key was URL-encoded)."""

    S3_NOTIFICATION = "s3-notification"
    EVENTBRIDGE = "eventbridge"
    #: A new attempt of a job, queued by the tracker or an operator (keys are raw).
    RETRY = "retry"


@dataclass(frozen=True, slots=True)
class ObjectCreated:
    """An object that was created and should be processed by exactly one task.

    ``key`` is always the exact, decoded object key, as S3 stores it. ``origin_id`` is the SQS
    message id or EventBridge event id that carried the event: it tells uploads apart where
    the server sends no ``sequencer``. ``job_id``, ``attempt``, ``size_up`` and ``on_demand``
    are set on a retry.
    """

    bucket: str
    key: str
    size: int | None
    etag: str | None
    version_id: str | None
    sequencer: str | None
    event_name: str
    event_time: str | None
    source: EventSourceKind
    origin_id: str | None = None
    job_id: str | None = None
    attempt: int = 1
    #: Run this attempt this many task sizes above the object's own (after resource kills).
    size_up: int = 0
    #: Run this attempt on Fargate On-Demand even where the pipeline uses Spot.
    on_demand: bool = False


class SkipReason(enum.StrEnum):
    """Why an event is acknowledged without launching a task."""

    TEST_EVENT = "s3-test-event"
    NOT_OBJECT_CREATED = "not-object-created"
    FOLDER_MARKER = "folder-marker"


@dataclass(frozen=True, slots=True)
class Skipped:
    """An event that is understood, logged and acknowledged, but launches nothing."""

    reason: SkipReason
    detail: str
    bucket: str | None = None
    key: str | None = None


ParsedEvent = ObjectCreated | Skipped
