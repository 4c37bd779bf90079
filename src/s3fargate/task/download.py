"""Download the task's object to local disk: concurrent ranged GETs written in place.

Each part is written at its own offset (``os.pwrite``) as it arrives, so parts never wait for
each other and memory holds one chunk per connection. The free space is checked before the
first byte, and a disk that fills up anyway ends the task with the same exit code.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING

from s3fargate.task.exceptions import NoSpaceError
from s3fargate.task.s3io import read_range

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from mypy_boto3_s3 import S3Client

    from s3fargate.task.s3io import ObjectRef

#: Longest file name most file systems take, in bytes.
NAME_MAX = 255
#: Bytes read from a connection at a time.
CHUNK_SIZE = 1024 * 1024
#: Headroom kept free beyond the object: the file system's own metadata and the task's logs.
HEADROOM_BYTES = 16 * 1024 * 1024


#: The characters a local file name keeps; every other one becomes ``_``. None of them means
#: anything to a shell, and the name never starts with ``-`` or ``.``.
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._+-]")
#: Longest extension kept whole when a name is shortened.
_MAX_EXTENSION = 32


def key_name(key: str) -> str:
    """The last path segment of ``key`` (``object`` when that is empty, ``.`` or ``..``), as
    an output or a person would name the object's file."""
    name = key.rsplit("/", 1)[-1].replace("\0", "_")
    return "object" if name in ("", ".", "..") else name


def local_name(key: str) -> str:
    """A file name for ``key`` that is safe in any shell and on any POSIX file system: its
    last path segment with every character but ASCII letters, digits, ``.``, ``_``, ``+``
    and ``-`` replaced by ``_`` (so ``{input}`` pasted into a script never runs anything),
    the extension kept (tools dispatch on it), never starting with ``-`` or ``.``, at most
    255 bytes."""
    name = _SAFE_NAME.sub("_", key_name(key))
    if name[0] in "-.":
        name = f"_{name}"
    if len(name) <= NAME_MAX:
        return name
    stem, dot, ext = name.rpartition(".")
    suffix = f"{dot}{ext}" if stem and len(ext) < _MAX_EXTENSION else ""
    return name[: NAME_MAX - len(suffix)] + suffix


def check_free_space(folder: Path, size: int, url: str) -> None:
    """Raise :class:`NoSpaceError` unless ``size`` bytes (and some headroom) fit in ``folder``."""
    free = shutil.disk_usage(folder).free
    if size + HEADROOM_BYTES > free:
        raise NoSpaceError(
            f"{url} is {size:,} bytes but {folder} has {free:,} bytes free: it does not fit "
            "on the task's disk; raise ephemeral_storage_gib (Fargate: 21-200 GiB)"
        )


def download_parts(
    s3: S3Client,
    ref: ObjectRef,
    *,
    size: int,
    target: Path,
    part_size: int,
    concurrency: int,
    on_chunk: Callable[[int], None] | None = None,
    first_body: object = None,
    first_end: int | None = None,
) -> None:
    """Write bytes 0..size-1 of ``ref`` to ``target`` with up to ``concurrency`` ranged GETs.

    ``first_body`` is an already open body for bytes 0..``first_end``, read as the first part.

    Raises:
        NoSpaceError: the disk filled up while writing.
    """
    stop = threading.Event()
    lock = threading.Lock()
    if first_body is not None and first_end is not None:
        ranges = [(0, first_end)]
        start = first_end + 1
    else:
        ranges, start = [], 0
    ranges += [(s, min(s + part_size, size) - 1) for s in range(start, size, part_size)]

    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:

        def read_part(index: int) -> None:
            begin, end = ranges[index]
            position = begin

            def deliver(data: bytes) -> None:
                nonlocal position
                view = memoryview(data)
                while view:
                    written = os.pwrite(fd, view, position)
                    position += written
                    view = view[written:]
                if on_chunk is not None:
                    with lock:
                        on_chunk(len(data))

            read_range(
                s3,
                ref,
                start=begin,
                end=end,
                chunk_size=CHUNK_SIZE,
                deliver=deliver,
                stop=stop,
                body=first_body if index == 0 and first_body is not None else None,
            )

        pool = ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="s3-download")
        try:
            futures = [pool.submit(read_part, i) for i in range(len(ranges))]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in done if f.exception() is not None]
            if failed:
                error = failed[0].exception() or RuntimeError("a part failed")
                if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise NoSpaceError(
                        f"{ref.url}: the task's disk filled up while downloading "
                        f"({size:,} bytes): raise ephemeral_storage_gib (Fargate: 21-200 GiB)"
                    ) from error
                raise error
        finally:
            # A failed part, or SIGTERM in this thread: the other parts stop at their next
            # chunk, and parts not started never start.
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
    finally:
        os.close(fd)
