"""Read an S3 object as a stream of chunks: bounded memory, read-ahead, resume on drops."""

from __future__ import annotations

import io
import queue
import threading
from typing import TYPE_CHECKING, Any

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    IncompleteReadError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from urllib3.exceptions import ProtocolError

from s3fargate.task.exceptions import ObjectUnavailableError, TaskError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from mypy_boto3_s3 import S3Client

    from s3fargate.task.config import TaskConfig

CHUNK_SIZE = 1024 * 1024
#: Chunks read ahead while the caller works on the current one: at most this many MiB in flight.
READ_AHEAD_CHUNKS = 4
#: A dropped connection is resumed from the last byte read, this many times per object.
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
_STREAM_ERRORS = (
    ReadTimeoutError,
    ResponseStreamingError,
    IncompleteReadError,
    ConnectionClosedError,
    ProtocolError,
    ConnectionError,
)


class ObjectChangedError(TaskError):
    """The object was overwritten while it was being read (its ETag changed)."""


class S3Object:
    """The object a task processes. Read it once, with :meth:`chunks` or :meth:`as_file`.

    ``size`` and ``etag`` come from S3's response, not from the event.
    """

    def __init__(
        self,
        *,
        s3: S3Client,
        config: TaskConfig,
        on_chunk: Callable[[int], None] | None = None,
    ) -> None:
        self.bucket = config.bucket
        self.key = config.key
        self.version_id = config.version_id
        self._s3 = s3
        self._on_chunk = on_chunk
        response = self._get(offset=0, if_match=None)
        self.size: int = int(response.get("ContentLength", 0))
        self.etag: str | None = response.get("ETag")
        self.content_type: str | None = response.get("ContentType")
        self._body: Any = response["Body"]
        self._offset = 0
        self._resumes = 0
        self._taken = False

    @property
    def bytes_read(self) -> int:
        """Bytes delivered from S3 so far (read-ahead included)."""
        return self._offset

    def chunks(self, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """Yield the object's bytes in chunks of up to ``chunk_size``.

        A background thread reads ahead by up to ``READ_AHEAD_CHUNKS`` chunks, so network
        reads overlap the caller's work while memory stays bounded.
        """
        if self._taken:
            raise RuntimeError("an S3Object can be read once: call chunks() or as_file() once")
        self._taken = True
        # Items: a chunk, the reader's exception, or None at the end of the object.
        buffer: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=READ_AHEAD_CHUNKS)
        stop = threading.Event()
        reader = threading.Thread(
            target=self._read_ahead, args=(buffer, stop, chunk_size), daemon=True
        )
        reader.start()
        try:
            while True:
                item = buffer.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                if self._on_chunk:
                    self._on_chunk(len(item))
                yield item
        finally:
            stop.set()
            reader.join(timeout=5)
            self._body.close()

    def as_file(self, chunk_size: int = CHUNK_SIZE) -> io.BufferedReader:
        """A read-only binary file object over the stream (for csv, zipfile, tarfile …)."""
        return io.BufferedReader(_ChunkReader(self.chunks(chunk_size)), buffer_size=chunk_size)

    def _read_ahead(
        self, buffer: queue.Queue[bytes | BaseException | None], stop: threading.Event, size: int
    ) -> None:
        try:
            while not stop.is_set():
                item = self._read(size) or None
                while not stop.is_set():
                    try:
                        buffer.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if item is None:
                    return
        except BaseException as exc:  # handed to the consumer, which raises it
            buffer.put(exc)

    def _read(self, size: int) -> bytes:
        while True:
            try:
                chunk: bytes = self._body.read(size)
            except _STREAM_ERRORS:
                if self._resumes >= MAX_RESUMES:
                    raise
                self._resumes += 1
                self._body.close()
                # Resume where we stopped, only if the object is still the same one.
                self._body = self._get(offset=self._offset, if_match=self.etag)["Body"]
                continue
            self._offset += len(chunk)
            return chunk

    def _get(self, *, offset: int, if_match: str | None) -> Any:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key}
        if self.version_id:
            kwargs["VersionId"] = self.version_id
        if offset:
            kwargs["Range"] = f"bytes={offset}-"
        if if_match:
            kwargs["IfMatch"] = if_match
        try:
            return self._s3.get_object(**kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            message = str(error.get("Message", "")) or code
            where = f"s3://{self.bucket}/{self.key}"
            if code in ("PreconditionFailed", "412"):
                raise ObjectChangedError(
                    f"{where} changed while it was being read (ETag no longer {if_match})"
                ) from exc
            if code in UNAVAILABLE_CODES:
                raise ObjectUnavailableError(f"{where}: {code}: {message}") from exc
            raise


class _ChunkReader(io.RawIOBase):
    """Adapts a chunk iterator to ``io.RawIOBase`` without copying whole chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        n = min(len(target), len(self._pending))
        target[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n
