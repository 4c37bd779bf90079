"""A task's output files: uploaded while the task works, visible only when it succeeds.

Every output is an S3 multipart upload. Its parts go up as they are written (a stream) or as
soon as the file is added (a local path), in bounded memory; the uploads are *completed* only
after the processing function returns, and aborted when it fails or the task is stopped. So a
failed or retried attempt never leaves half its outputs behind. (A task killed with SIGKILL
cannot abort its uploads: the bucket's lifecycle rule removes them after a day, and incomplete
uploads are never visible as objects.)

Outputs land at ``<RESULTS_PREFIX><key without INPUT_PREFIX>/<name>``.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import functools
import hashlib
import io
import mimetypes
import os
import stat
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast

from botocore.exceptions import BotoCoreError, ClientError

from s3fargate import contracts as c
from s3fargate.task.exceptions import OutputError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from aws_lambda_powertools import Logger
    from mypy_boto3_s3 import S3Client

#: S3's smallest part (all but the last), largest part, and most parts per upload.
MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_SIZE = 5 * 1024 * 1024 * 1024
MAX_PARTS = 10_000
#: Bytes of parts in memory at once (queued or on the wire): parts are sized so that
#: ``concurrency`` of them fit (never below S3's 5 MiB), which keeps a task writing a stream
#: at s3transfer's speed and under 150 MB (``make bench``: files). A part larger than this
#: (a long stream's) goes alone.
MEMORY_BUDGET = 64 * 1024 * 1024
#: Each part carries its CRC32, which S3 checks on arrival, as AWS's own transfer manager
#: (s3transfer) sends them.
CHECKSUM_ALGORITHM: Final = "CRC32"
#: A stream of unknown length doubles its part size every this many parts, up to
#: ``MAX_STREAM_PART_SIZE``: from any first part size it reaches S3's 5 TiB object limit
#: within 10,000 parts, while a part (so what a stream holds) stays at most 1 GiB.
PARTS_PER_SIZE = 500
MAX_STREAM_PART_SIZE = 1024 * 1024 * 1024
#: S3's largest object.
MAX_OBJECT_SIZE = 5 * 1024**4
_READ_CHUNK = 1024 * 1024


#: A part's bytes, or how to read them (in the thread that sends the part).
_PartData = bytes | bytearray | Callable[[], bytes]


def stream_part_size(first: int, number: int) -> int:
    """The size of part ``number`` (from 1) of a stream whose first parts are ``first``
    bytes: doubled every ``PARTS_PER_SIZE`` parts, at most ``MAX_STREAM_PART_SIZE``."""
    return min(first << ((number - 1) // PARTS_PER_SIZE), max(first, MAX_STREAM_PART_SIZE))


def memory_bound(part_size: int) -> int:
    """The most bytes of parts a stream holds while its parts are ``part_size`` bytes: the
    part being filled, and parts in flight up to the budget (or one part, if larger)."""
    return part_size + max(MEMORY_BUDGET, part_size)


class _ByteBudget:
    """Bytes of parts in memory at once: up to a limit, but always one part, however large,
    so memory stays bounded as a stream's parts grow."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._used = 0
        self._changed = threading.Condition()

    def acquire(self, size: int) -> None:
        """Wait until ``size`` more bytes fit."""
        with self._changed:
            while self._used and self._used + size > self._limit:
                self._changed.wait()
            self._used += size

    def release(self, size: int) -> None:
        """``size`` bytes left memory."""
        with self._changed:
            self._used -= size
            self._changed.notify_all()


#: Opens a file only if it is not a symbolic link, and without blocking on a FIFO.
_OPEN_REGULAR = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)


#: Files left out that the result document and the log name one by one; more are counted.
MAX_SKIPPED = 1000


def _open_below(folder: int, parts: Sequence[str], flags: int) -> int:
    """Open ``parts`` (a relative path, as its segments) below the open folder ``folder``,
    following no symbolic link on the way, and the last segment with ``flags``."""
    current = folder
    try:
        for part in parts[:-1]:
            child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=current)
            if current != folder:
                os.close(current)
            current = child
        return os.open(parts[-1], flags | os.O_NOFOLLOW, dir_fd=current)
    finally:
        if current != folder:
            os.close(current)


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # a file name of bytes that are not UTF-8 (surrogate escapes)
        return False
    return True


def _printable(name: str) -> str:
    """A name that is not UTF-8, with its bytes shown as ``\\xNN``."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _kind_of(mode: int) -> str | None:
    """What a file that is not a regular file is, as a reason to skip it (None: regular)."""
    for test, kind in (
        (stat.S_ISLNK, "a symbolic link (never followed)"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return kind
    return None if stat.S_ISREG(mode) else "not a regular file"


class _FileSource:
    """An open regular file whose parts are read, at their offsets, by the threads that send
    them; closed when the last reader lets go (so at most the parts in flight hold files)."""

    def __init__(self, fd: int, label: str) -> None:
        self._fd = fd
        self._label = label
        self._users = 1  # the caller, until it has read the checksum
        self._lock = threading.Lock()

    def hold(self) -> None:
        """One more reader (a part about to be queued)."""
        with self._lock:
            self._users += 1

    def release(self) -> None:
        """A reader is done; the last one closes the file."""
        with self._lock:
            self._users -= 1
            last = self._users == 0
        if last:
            os.close(self._fd)

    def read(self, start: int, length: int) -> bytes:
        """Exactly ``length`` bytes at ``start``."""
        data = os.pread(self._fd, length, start)
        while len(data) < length:
            more = os.pread(self._fd, length - len(data), start + len(data))
            if not more:
                raise OutputError(f"{self._label} changed while it was uploaded")
            data += more
        return data


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file an output folder held that was not uploaded, and why (the result document's
    ``skipped``)."""

    name: str
    why: str

    def as_dict(self) -> dict[str, str]:
        """The result document's entry."""
        return {"name": self.name, "why": self.why}


@dataclass(frozen=True, slots=True)
class OutputRecord:
    """One output as the result document lists it."""

    name: str
    key: str
    size: int
    sha256: str

    def as_dict(self) -> dict[str, object]:
        """The result document's entry."""
        return {"name": self.name, "key": self.key, "size": self.size, "sha256": self.sha256}


def check_name(name: str) -> None:
    """An output name is a relative path: segments separated by ``/``, none empty, ``.`` or
    ``..``, and no NUL.

    Raises:
        OutputError: naming what is wrong.
    """
    if not isinstance(name, str) or not name:
        raise OutputError(f"an output name must be a non-empty string, got {name!r}")
    if "\0" in name:
        raise OutputError(f"output name {name!r} holds a NUL character")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError as exc:  # a file name of bytes that are not UTF-8
        raise OutputError(f"output name {name!r} is not valid UTF-8, as S3 keys must be") from exc
    if any(part in ("", ".", "..") for part in name.split("/")):
        raise OutputError(
            f"output name {name!r} must be a relative path with no empty, '.' or '..' parts "
            "(and no leading or trailing '/')"
        )


@dataclass
class _Upload:
    """One multipart upload and its parts."""

    name: str
    key: str
    upload_id: str
    #: Part number -> the part's entry in CompleteMultipartUpload (ETag and checksum).
    parts: dict[int, Future[dict[str, Any]]] = field(default_factory=dict)
    size: int = 0
    sha256: str = ""
    closed: bool = False


class Outputs:
    """The outputs of one task. Create outputs with :meth:`open` (a stream) or
    :meth:`add_file` (a local file); the SDK commits or aborts them when the task ends.
    """

    def __init__(
        self,
        *,
        s3: S3Client,
        bucket: str,
        key: str,
        input_prefix: str,
        results_prefix: str,
        part_size: int,
        concurrency: int,
        logger: Logger | None = None,
        work_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.bucket = bucket
        self._logger = logger
        self._s3 = s3
        self._key = key
        self._input_prefix = input_prefix
        self._results_prefix = results_prefix
        self._concurrency = max(1, concurrency)
        fits = MEMORY_BUDGET // self._concurrency // 2**20 * 2**20
        self.part_size = min(max(MIN_PART_SIZE, min(part_size, fits)), MAX_PART_SIZE)
        # Bytes of parts in memory at once (queued or on the wire): bounds the outputs' memory.
        self._in_flight = _ByteBudget(MEMORY_BUDGET)
        self._pool: ThreadPoolExecutor | None = None
        self._uploads: dict[str, _Upload] = {}
        #: Each folder the outputs' names are in, with the first output in it.
        self._folders: dict[str, str] = {}
        #: Files an output folder held that were not uploaded, and why (the first
        #: ``MAX_SKIPPED``), and how many there were in all.
        self.skipped: list[Skipped] = []
        self.skipped_count = 0
        self._work_dir = None if work_dir is None else Path(os.path.abspath(work_dir))
        self._lock = threading.Lock()
        self._finished = False

    # --- the task's side ----------------------------------------------------------------------
    def open(self, name: str, *, content_type: str | None = None) -> OutputStream:
        """A binary stream for output ``name``; close it (or use ``with``) when written."""
        upload = self._start(name, content_type)
        return OutputStream(self, upload)

    def add_file(
        self, name: str, path: str | os.PathLike[str], *, content_type: str | None = None
    ) -> bool:
        """Upload the local file ``path`` as output ``name`` (its parts go up now; the
        output appears when the task succeeds). Parts are read by the threads that send them,
        so memory holds only the parts on the wire; the file must not change meanwhile.

        Only a regular file is uploaded: a symbolic link (never followed: not as the file,
        nor as a folder on its way below the task's work folder), a FIFO, a socket, a device,
        or a file with other hard links (which may be outside the task's folders) is skipped,
        logged and listed in the result document's ``skipped``. Returns whether the file was
        taken."""
        try:
            fd = self._open_no_links(Path(path))
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENXIO):  # a link, a socket
                self.skip(name, _kind_of(os.lstat(path).st_mode) or "a symbolic link on its way")
                return False
            raise OutputError(f"cannot read {path} for output {name!r}: {exc}") from exc
        return self._add_open_file(name, fd, str(path), content_type=content_type, links=1)

    def add_folder(
        self,
        folder: str | os.PathLike[str],
        *,
        prefix: str = "",
        max_files: int | None = None,
    ) -> list[str]:
        """Upload every regular file under ``folder`` as an output named by its path relative
        to the folder (``/``-separated, after ``prefix``). Nothing is followed out of the
        folder: symbolic links (to files or folders), FIFOs, sockets, devices, files with a
        hard link outside the folder and names that are not UTF-8 are skipped, logged and
        listed in ``skipped``. Returns the names taken.

        Raises:
            OutputError: the folder holds more than ``max_files`` regular files, or one cannot
                be read.
        """
        try:
            top = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError as exc:
            raise OutputError(f"cannot read the output folder {folder}: {exc}") from exc
        try:
            found = self._scan(top, prefix, max_files)
            # A file's other names must all be in the folder, or it reaches outside it.
            names_of = collections.Counter((info.st_dev, info.st_ino) for *_, info in found)
            taken: list[str] = []
            for name, parts, info in found:
                links = names_of[(info.st_dev, info.st_ino)]
                if info.st_nlink > links:
                    self.skip(name, "a hard link to a file outside the output folder")
                    continue
                try:
                    fd = _open_below(top, parts, _OPEN_REGULAR)
                except OSError as exc:
                    raise OutputError(f"cannot read output {name!r}: {exc}") from exc
                if not os.path.samestat(os.fstat(fd), info):  # replaced since it was listed
                    os.close(fd)
                    self.skip(name, "changed while the output folder was read")
                    continue
                if self._add_open_file(name, fd, name, content_type=None, links=links):
                    taken.append(name)
            return taken
        finally:
            os.close(top)

    def skip(self, name: str, why: str) -> None:
        """Record a file that is not uploaded, and why (logged, and in the result document;
        after ``MAX_SKIPPED`` of them, only counted)."""
        self.skipped_count += 1
        if self.skipped_count > MAX_SKIPPED:
            return
        self.skipped.append(Skipped(name, why))
        if self._logger is not None:
            self._logger.warning("output skipped", extra={"output": name, "why": why})

    def _open_no_links(self, path: Path) -> int:
        """Open ``path`` for reading, following no symbolic link at its end, nor below the
        task's work folder (what an upload's archive may have put there)."""
        absolute = Path(os.path.abspath(path))
        work = self._work_dir
        if work is not None and absolute.is_relative_to(work) and absolute != work:
            folder = os.open(work, os.O_RDONLY | os.O_DIRECTORY)
            try:
                return _open_below(folder, absolute.relative_to(work).parts, _OPEN_REGULAR)
            finally:
                os.close(folder)
        return os.open(absolute, _OPEN_REGULAR)

    def _scan(
        self, top: int, prefix: str, max_files: int | None
    ) -> list[tuple[str, tuple[str, ...], os.stat_result]]:
        """The regular files under the open folder ``top``, as (name, path parts, lstat),
        sorted by name; folders are opened one at a time, relative to ``top`` and through
        no link, and the walk keeps no folder open and no recursion."""
        found: list[tuple[str, tuple[str, ...], os.stat_result]] = []
        pending: list[tuple[str, ...]] = [()]
        while pending:
            parts = pending.pop()
            label = prefix + "".join(f"{p}/" for p in parts)
            try:
                fd = _open_below(top, parts, os.O_RDONLY | os.O_DIRECTORY) if parts else top
            except OSError as exc:
                raise OutputError(f"cannot read the output folder {label!r}: {exc}") from exc
            try:
                with os.scandir(fd) as entries:
                    listed = [(entry.name, entry.stat(follow_symlinks=False)) for entry in entries]
            finally:
                if parts:
                    os.close(fd)
            for base, info in sorted(listed, reverse=True):
                name = f"{label}{base}"
                if not _is_utf8(name):
                    self.skip(_printable(name), "its name is not valid UTF-8, as S3 keys must be")
                elif stat.S_ISDIR(info.st_mode):
                    pending.append((*parts, base))
                elif stat.S_ISREG(info.st_mode):
                    found.append((name, (*parts, base), info))
                    if max_files is not None and len(found) > max_files:
                        raise OutputError(
                            f"the output folder holds more than {max_files:,} files: raise the "
                            "limit (s3fargate-task --max-outputs) or write fewer, larger ones"
                        )
                else:
                    self.skip(name, _kind_of(info.st_mode) or "not a regular file")
        return sorted(found, key=lambda entry: entry[0])

    def _add_open_file(
        self, name: str, fd: int, label: str, *, content_type: str | None, links: int
    ) -> bool:
        """Upload the open file ``fd`` as output ``name`` if it is a regular file with no
        names beyond ``links``; the file is closed when its last part is sent."""
        source = _FileSource(fd, label)
        try:
            info = os.fstat(fd)
            kind = _kind_of(info.st_mode)
            if kind is not None:
                self.skip(name, kind)
                return False
            if info.st_nlink > links:
                self.skip(name, "a hard link: its other names may be outside the task's folders")
                return False
            size = info.st_size
            upload = self._start(name, content_type)
            part_size = min(max(self.part_size, -(-size // MAX_PARTS)), MAX_PART_SIZE)
            digest = hashlib.sha256()
            for number in range(1, max(1, -(-size // part_size)) + 1):
                start = (number - 1) * part_size
                length = min(part_size, size - start)
                source.hold()
                try:
                    future = self._send_part(
                        upload, number, functools.partial(source.read, start, length), length
                    )
                except BaseException:
                    source.release()
                    raise
                future.add_done_callback(lambda _future: source.release())
                # The checksum, from the page cache the part is read from.
                for offset in range(start, start + length, _READ_CHUNK):
                    digest.update(source.read(offset, min(_READ_CHUNK, start + length - offset)))
            upload.size = size
            upload.sha256 = digest.hexdigest()
            upload.closed = True
            return True
        finally:
            source.release()

    @property
    def names(self) -> list[str]:
        """The names of the outputs created so far."""
        return list(self._uploads)

    # --- the SDK's side -----------------------------------------------------------------------
    def commit(self) -> list[OutputRecord]:
        """Complete every upload (the outputs appear), in the order they were created.

        Raises:
            OutputError: an output was left open, or S3 refused to complete one; every
                output is then aborted or deleted.
        """
        records: list[OutputRecord] = []
        completed: list[str] = []
        try:
            for upload in self._uploads.values():
                if not upload.closed:
                    raise OutputError(f"output {upload.name!r} was not closed")
                parts = [f.result() for _, f in sorted(upload.parts.items())]
                self._s3.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=upload.key,
                    UploadId=upload.upload_id,
                    MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
                )
                completed.append(upload.key)
                records.append(OutputRecord(upload.name, upload.key, upload.size, upload.sha256))
        except BaseException as exc:
            self._discard(completed)
            self.abort()
            if isinstance(exc, (ClientError, BotoCoreError)):
                raise OutputError(f"could not complete the outputs: {exc}") from exc
            raise
        self._finished = True
        self._shutdown()
        return records

    def abort(self) -> None:
        """Abort every upload not completed: nothing of them stays, visible or not."""
        with self._lock:
            if self._finished:
                return
            self._finished = True
            uploads = list(self._uploads.values())
        for upload in uploads:
            for future in upload.parts.values():
                future.cancel()
        # AWS: a part still on the wire may land after an abort; abort once all have ended.
        self._shutdown()
        for upload in uploads:
            try:
                self._s3.abort_multipart_upload(
                    Bucket=self.bucket, Key=upload.key, UploadId=upload.upload_id
                )
            except (ClientError, BotoCoreError) as exc:
                # Never visible as an object; the bucket's lifecycle rule removes it.
                if self._logger is not None:
                    self._logger.warning(
                        "could not abort an output's upload",
                        extra={"key": upload.key, "upload_id": upload.upload_id, "error": str(exc)},
                    )

    def discard_completed(self, records: list[OutputRecord]) -> None:
        """Delete outputs that were completed, when the task fails after completing them."""
        self._discard([r.key for r in records])

    # --- internals ----------------------------------------------------------------------------
    def _file_and_folder(self, name: str) -> str | None:
        """An output whose name is a folder of ``name`` (``report`` for ``report/a.csv``), or
        inside it (``report/a.csv`` for ``report``): the two cannot both be files."""
        parts = name.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder in self._uploads:
                return folder
        return self._folders.get(name)

    def _note_folders(self, name: str) -> None:
        """Remember each folder ``name`` is in, with the first output found in it."""
        parts = name.split("/")
        for depth in range(1, len(parts)):
            self._folders.setdefault("/".join(parts[:depth]), name)

    def _start(self, name: str, content_type: str | None) -> _Upload:
        check_name(name)
        try:
            key = c.output_key(
                self._key,
                name,
                input_prefix=self._input_prefix,
                results_prefix=self._results_prefix,
            )
        except c.KeyTooLongError as exc:
            raise OutputError(str(exc)) from exc
        with self._lock:
            if self._finished:
                raise OutputError("the task's outputs are already committed or aborted")
            if name in self._uploads:
                raise OutputError(f"output {name!r} was already created")
            clash = self._file_and_folder(name)
            if clash is not None:
                raise OutputError(
                    f"outputs {clash!r} and {name!r}: one would be a file and a folder at "
                    "once, which no file system holds (`results --download` could not write "
                    "both); rename one"
                )
            kind = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
            try:
                answer = self._s3.create_multipart_upload(
                    Bucket=self.bucket,
                    Key=key,
                    ContentType=kind,
                    ChecksumAlgorithm=CHECKSUM_ALGORITHM,
                )
            except (ClientError, BotoCoreError) as exc:
                raise OutputError(f"could not start output {name!r} at {key}: {exc}") from exc
            upload = _Upload(name=name, key=key, upload_id=answer["UploadId"])
            self._uploads[name] = upload
            self._note_folders(name)
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix="s3-output")
            return upload

    def _send_part(
        self, upload: _Upload, number: int, data: _PartData, size: int
    ) -> Future[dict[str, Any]]:
        if number > MAX_PARTS:
            raise OutputError(f"output {upload.name!r} is larger than S3's 10,000 parts allow")
        for earlier in upload.parts.values():
            if earlier.done() and earlier.exception() is not None:
                raise OutputError(f"output {upload.name!r}: {earlier.exception()}")
        self._in_flight.acquire(size)
        pool = self._pool
        try:
            if pool is None:
                raise RuntimeError
            future = pool.submit(self._upload_part, upload, number, data, size)
        except RuntimeError:
            self._in_flight.release(size)
            raise OutputError("the task's outputs are already committed or aborted") from None
        upload.parts[number] = future
        return future

    def _upload_part(
        self, upload: _Upload, number: int, data: _PartData, size: int
    ) -> dict[str, Any]:
        try:
            if callable(data):
                data = data()
            answer = self._s3.upload_part(
                Bucket=self.bucket,
                Key=upload.key,
                UploadId=upload.upload_id,
                PartNumber=number,
                Body=cast("bytes", data),  # botocore sends a bytearray as it is
                ChecksumAlgorithm=CHECKSUM_ALGORITHM,
            )
            part = {"PartNumber": number, "ETag": answer["ETag"]}
            if answer.get("ChecksumCRC32"):
                part["ChecksumCRC32"] = answer["ChecksumCRC32"]
            return part
        finally:
            self._in_flight.release(size)

    def _discard(self, keys: list[str]) -> None:
        for key in keys:
            # Best effort: the result document, written last, is what marks success.
            with contextlib.suppress(ClientError, BotoCoreError):
                self._s3.delete_object(Bucket=self.bucket, Key=key)

    def _shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


class OutputStream(io.RawIOBase):
    """A write-only binary stream whose bytes become one output. Memory holds at most the
    current part plus the parts on the wire."""

    def __init__(self, outputs: Outputs, upload: _Upload) -> None:
        super().__init__()
        self._outputs = outputs
        self._upload = upload
        self._buffer = bytearray()
        self._digest = hashlib.sha256()
        self._number = 0
        self._first_part_size = self._part_size = outputs.part_size

    @property
    def name(self) -> str:
        """The output's name."""
        return self._upload.name

    @property
    def size(self) -> int:
        """Bytes written so far."""
        return self._upload.size

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.closed:
            raise ValueError("write to a closed output")
        view = memoryview(data).cast("B")
        self._digest.update(view)
        self._buffer += view
        self._upload.size += len(view)
        while len(self._buffer) >= self._part_size:
            if len(self._buffer) == self._part_size:  # the usual case: no copy at all
                part, self._buffer = self._buffer, bytearray()
            else:
                with memoryview(self._buffer) as whole:
                    part = bytearray(whole[: self._part_size])
                del self._buffer[: self._part_size]
            self._send(part)
        return len(view)

    def close(self) -> None:
        if self.closed:
            return
        try:
            if self._buffer or self._number == 0:  # an empty output is one empty part
                part, self._buffer = self._buffer, bytearray()
                self._send(part)
            self._upload.sha256 = self._digest.hexdigest()
            self._upload.closed = True
        finally:
            super().close()

    def _send(self, part: bytes | bytearray) -> None:
        self._number += 1
        self._outputs._send_part(self._upload, self._number, part, len(part))
        self._part_size = stream_part_size(self._first_part_size, self._number + 1)
