"""Read an S3 object as an in-order stream of chunks, in bounded memory.

Two ways, chosen per object:
- **parts**: ``read_concurrency`` ranged GETs of ``part_size`` bytes at once (AWS's guidance
  for throughput: one connection carries a fraction of a task's bandwidth), delivered strictly
  in order, with at most about ``read_concurrency`` parts in memory;
- **one stream** (``read_concurrency`` 1, or an object of at most one part): a single GET with
  a read-ahead thread.
Every request after the first is pinned to the ETag the first one saw (``If-Match``), and to
``VersionId`` when the task has one, so the bytes are those of one object version.
"""

from __future__ import annotations

import collections
import io
import queue
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from s3fargate import contracts as c
from s3fargate.task.download import check_free_space, download_parts, local_name
from s3fargate.task.s3io import (
    MAX_RESUMES,
    STREAM_ERRORS,
    ObjectRef,
    RangeNotSatisfiableError,
    get_object,
    object_size,
    read_range,
)

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Iterator

    from mypy_boto3_s3 import S3Client

    from s3fargate.task.config import TaskConfig
    from s3fargate.task.outputs import Outputs

CHUNK_SIZE = 1024 * 1024
#: Ranged GETs of a download to disk are at least this large.
DOWNLOAD_PART_SIZE = 16 * 1024 * 1024
#: One-stream mode: chunks read ahead while the caller works on the current one.
READ_AHEAD_CHUNKS = 4


class S3Object:
    """The object a task processes. Read it once, with :meth:`chunks`, :meth:`as_file` or
    :meth:`download`; write its output files with :attr:`outputs`.

    ``size`` and ``etag`` come from S3's response, not from the event.
    """

    def __init__(
        self,
        *,
        s3: S3Client,
        config: TaskConfig,
        on_chunk: Callable[[int], None] | None = None,
        outputs: Outputs | None = None,
        work_dir: Path | None = None,
    ) -> None:
        self.bucket = config.bucket
        self.key = config.key
        self.version_id = config.version_id
        self.read_concurrency = config.read_concurrency
        self.part_size = config.part_size
        self._s3 = s3
        self._on_chunk = on_chunk
        # Every GET, the first included, is pinned to the upload that started the task: its
        # version, and its ETag (If-Match), so an object overwritten since is never read.
        ref = ObjectRef(
            bucket=config.bucket,
            key=config.key,
            version_id=config.version_id,
            etag=c.quoted_etag(config.etag) if config.etag else None,
        )
        response = self._first_get(ref)
        self.size: int = object_size(response)
        self.etag: str | None = response.get("ETag")
        self.content_type: str | None = response.get("ContentType")
        self._ref = replace(ref, etag=self.etag)
        self._body: Any = response["Body"]
        self._offset = 0
        self._delivered = 0
        self._resumes = 0
        self._taken = False
        self._work_dir = work_dir
        self._outputs = outputs

    @property
    def work_dir(self) -> Path:
        """A private folder on the task's disk for its own files; removed when the task ends."""
        if self._work_dir is None:
            self._work_dir = Path(tempfile.mkdtemp(prefix="s3fargate-"))
        return self._work_dir

    @property
    def outputs(self) -> Outputs:
        """This object's output files: ``obj.outputs.open(name)`` or
        ``obj.outputs.add_file(name, path)``. They appear at
        ``<RESULTS_PREFIX><key without INPUT_PREFIX>/<name>`` only if the task succeeds."""
        if self._outputs is None:
            raise RuntimeError(
                "this S3Object was made without outputs (run it with s3fargate.task.run)"
            )
        return self._outputs

    @property
    def bytes_read(self) -> int:
        """Bytes handed to the caller so far."""
        return self._delivered

    @property
    def parallel(self) -> bool:
        """True when the object is read as concurrent ranged parts."""
        return self.read_concurrency > 1 and self.size > self.part_size

    def chunks(self, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """Yield the object's bytes, in order, in chunks of up to ``chunk_size``.

        Network reads overlap the caller's work; memory stays bounded by about
        ``read_concurrency`` times ``part_size`` (parts) or ``READ_AHEAD_CHUNKS`` chunks (one
        stream), never by the object.
        """
        if self._taken:
            raise RuntimeError(
                "an S3Object can be read once: call chunks(), as_file() or download() once"
            )
        self._taken = True
        source = self._parts(chunk_size) if self.parallel else self._one_stream(chunk_size)
        for chunk in source:
            self._count(len(chunk))
            yield chunk

    def download(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the object to a local file and return its path (default: a file named like
        the key's last segment, in the task's work folder).

        The same concurrent ranged reads as :meth:`chunks`, pinned to the same version; each
        part is written in place as it arrives. The free space is checked first.

        Raises:
            NoSpaceError: the object does not fit on the task's disk (exit code 5).
        """
        if self._taken:
            raise RuntimeError(
                "an S3Object can be read once: call chunks(), as_file() or download() once"
            )
        self._taken = True
        target = Path(path) if path is not None else self._default_path()
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            check_free_space(target.parent, self.size, self._ref.url)
            if self.size == 0:
                target.write_bytes(b"")
                return target
            if self.parallel:
                # Parts on disk take no memory: the larger end of AWS's 8-16 MB guidance
                # means fewer requests. The first part is the one already open.
                first_end, concurrency, part = (
                    min(self.part_size, self.size) - 1,
                    self.read_concurrency,
                    max(self.part_size, DOWNLOAD_PART_SIZE),
                )
            else:
                first_end, concurrency, part = self.size - 1, 1, self.size
            download_parts(
                self._s3,
                self._ref,
                size=self.size,
                target=target,
                part_size=part,
                concurrency=concurrency,
                on_chunk=self._count,
                first_body=self._body,
                first_end=first_end,
            )
        finally:
            self._body.close()
        return target

    def _default_path(self) -> Path:
        return self.work_dir / "input" / local_name(self.key)

    def _count(self, n: int) -> None:
        self._delivered += n
        if self._on_chunk:
            self._on_chunk(n)

    def as_file(self, chunk_size: int = CHUNK_SIZE) -> io.BufferedReader:
        """A read-only binary file object over the stream (for csv, zipfile, tarfile …)."""
        return io.BufferedReader(_ChunkReader(self.chunks(chunk_size)), buffer_size=chunk_size)

    # --- the first request --------------------------------------------------------------------
    def _first_get(self, ref: ObjectRef) -> Any:
        if self.read_concurrency <= 1:
            return get_object(self._s3, ref)
        # The first part, which for a small object is all of it: one GET either way.
        try:
            return get_object(self._s3, ref, start=0, end=self.part_size - 1)
        except RangeNotSatisfiableError:  # an empty object has no byte 0
            return get_object(self._s3, ref)

    # --- parts ------------------------------------------------------------------------------
    def _parts(self, chunk_size: int) -> Iterator[bytes]:
        ranges = [
            (start, min(start + self.part_size, self.size) - 1)
            for start in range(0, self.size, self.part_size)
        ]
        stop = threading.Event()
        # Each part's chunks, in arrival order, then None (read) or the exception that ended it.
        in_flight: collections.deque[queue.SimpleQueue[bytes | BaseException | None]]
        in_flight = collections.deque()
        pool = ThreadPoolExecutor(max_workers=self.read_concurrency, thread_name_prefix="s3-part")

        def read_part(index: int, sink: queue.SimpleQueue[bytes | BaseException | None]) -> None:
            start, end = ranges[index]
            try:
                read_range(
                    self._s3,
                    self._ref,
                    start=start,
                    end=end,
                    chunk_size=chunk_size,
                    deliver=sink.put,
                    stop=stop,
                    # Part 0 continues the first response's open body.
                    body=self._body if index == 0 else None,
                )
                sink.put(None)
            except BaseException as exc:  # handed to the consumer, which raises it
                sink.put(exc)

        def submit(index: int) -> None:
            sink: queue.SimpleQueue[bytes | BaseException | None] = queue.SimpleQueue()
            in_flight.append(sink)
            pool.submit(read_part, index, sink)

        try:
            scheduled = 0
            while scheduled < min(self.read_concurrency, len(ranges)):
                submit(scheduled)
                scheduled += 1
            while in_flight:
                # The oldest part streams to the caller as it arrives; the others fill behind.
                head = in_flight[0]
                while (item := head.get()) is not None:
                    if isinstance(item, BaseException):
                        raise item
                    yield item
                in_flight.popleft()
                if scheduled < len(ranges):
                    submit(scheduled)
                    scheduled += 1
        finally:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)

    # --- one stream -------------------------------------------------------------------------
    def _one_stream(self, chunk_size: int) -> Iterator[bytes]:
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
                yield item
        finally:
            stop.set()
            reader.join(timeout=5)
            self._body.close()

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
            except STREAM_ERRORS:
                if self._resumes >= MAX_RESUMES:
                    raise
                self._resumes += 1
                self._body.close()
                # Resume where we stopped, only if the object is still the same one.
                self._body = get_object(self._s3, self._ref, start=self._offset)["Body"]
                continue
            self._offset += len(chunk)
            return chunk


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
