"""GetObject for the task: errors mapped to the task's exit codes, ranges read with resume."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    IncompleteReadError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from urllib3.exceptions import ProtocolError

from s3fargate.task.exceptions import ObjectChangedError, ObjectUnavailableError

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable

    from mypy_boto3_s3 import S3Client

#: A dropped connection is resumed from the last byte read, this many times per stream or part.
MAX_RESUMES = 5

#: Errors that mean "the object is not there for us", ending the task with exit code 3.
UNAVAILABLE_CODES = frozenset(
    {
        "NoSuchKey",
        "NoSuchBucket",
        "NoSuchVersion",
        "NotFound",
        "404",
        "AccessDenied",
        "403",
        "Forbidden",
        "AllAccessDisabled",
        "InvalidObjectState",  # archived in Glacier: restore it first
    }
)
#: Errors of a connection that broke while a body was read: resume from the last byte.
STREAM_ERRORS = (
    ReadTimeoutError,
    ResponseStreamingError,
    IncompleteReadError,
    ConnectionClosedError,
    ProtocolError,
    ConnectionError,
)
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


class RangeNotSatisfiableError(Exception):
    """S3 answered 416: a range was asked of an empty object."""


class PrematureEndError(Exception):
    """A body ended before the bytes its range promised."""


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """The exact object a task reads: ``version_id`` and ``etag`` pin it once known."""

    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None

    @property
    def url(self) -> str:
        """``s3://bucket/key``, for messages."""
        return f"s3://{self.bucket}/{self.key}"


def get_object(s3: S3Client, ref: ObjectRef, *, start: int = 0, end: int | None = None) -> Any:
    """GetObject of ``ref`` from byte ``start`` to ``end`` (inclusive; None: to the end).

    Pinned to ``ref.etag`` with ``If-Match`` and to ``ref.version_id`` when they are set.

    Raises:
        ObjectChangedError: the object is no longer the one pinned (exit code 4).
        ObjectUnavailableError: gone, access denied or archived (exit code 3).
        RangeNotSatisfiableError: a range of an empty object.
    """
    kwargs: dict[str, Any] = {"Bucket": ref.bucket, "Key": ref.key}
    if ref.version_id:
        kwargs["VersionId"] = ref.version_id
    if start or end is not None:
        kwargs["Range"] = f"bytes={start}-{'' if end is None else end}"
    if ref.etag:
        kwargs["IfMatch"] = ref.etag
    try:
        return s3.get_object(**kwargs)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = str(error.get("Message", "")) or code
        if code in ("PreconditionFailed", "412"):
            raise ObjectChangedError(
                f"{ref.url} is no longer the upload that started this task (ETag no longer "
                f"{ref.etag}): superseded by a newer upload, which has a task of its own"
            ) from exc
        if code in ("InvalidRange", "416"):
            raise RangeNotSatisfiableError(message) from exc
        if code in UNAVAILABLE_CODES:
            raise ObjectUnavailableError(f"{ref.url}: {code}: {message}") from exc
        raise


def object_size(response: Any) -> int:
    """The whole object's size: from ``ContentRange`` for a ranged answer, else its length."""
    match = _CONTENT_RANGE.match(str(response.get("ContentRange") or ""))
    if match:
        return int(match.group(3))
    return int(response.get("ContentLength", 0))


def read_range(
    s3: S3Client,
    ref: ObjectRef,
    *,
    start: int,
    end: int,
    chunk_size: int,
    deliver: Callable[[bytes], None],
    stop: threading.Event,
    body: Any = None,
) -> bool:
    """Read bytes ``start``..``end`` (inclusive), handing each chunk (at most ``chunk_size``
    bytes) to ``deliver`` as it arrives.

    ``body`` is an already open stream of exactly that range. A connection that drops is
    resumed from the first byte not yet read, with ``If-Match`` on the ETag, up to
    ``MAX_RESUMES`` times. Returns False when ``stop`` was set before the range was read.
    """
    position = start
    resumes = 0
    if body is None:
        body = get_object(s3, ref, start=start, end=end)["Body"]
    try:
        while position <= end:
            if stop.is_set():
                return False
            try:
                data: bytes = body.read(min(chunk_size, end + 1 - position))
                if not data:
                    raise PrematureEndError(f"{ref.url}: body ended at byte {position} of {end}")
            except (*STREAM_ERRORS, PrematureEndError):
                if resumes >= MAX_RESUMES:
                    raise
                resumes += 1
                body.close()
                body = get_object(s3, ref, start=position, end=end)["Body"]
                continue
            deliver(data)
            position += len(data)
        return True
    finally:
        body.close()
