"""Task output to a file, bounded: the head as it comes, the tail at the end.

A task that prints gigabytes must not fill the disk, nor the memory of ``s3fargate logs``:
past ``head`` bytes, only the last ``tail`` bytes are kept, with a line saying how much was
left out between them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from s3fargate.wire import wire_format

if TYPE_CHECKING:
    from pathlib import Path

HEAD_BYTES = 1024 * 1024
TAIL_BYTES = 1024 * 1024
_READ = 64 * 1024


def copy_bounded(fd: int, path: Path, *, head: int = HEAD_BYTES, tail: int = TAIL_BYTES) -> int:
    """Copy everything readable from ``fd`` (until EOF) to ``path``, bounded; close ``fd``.

    Returns how many bytes were left out.
    """
    kept_tail = bytearray()
    written = 0
    dropped = 0
    try:
        with path.open("wb") as out:
            while chunk := os.read(fd, _READ):
                if written < head:
                    part = chunk[: head - written]
                    out.write(part)
                    out.flush()  # `logs` shows the head while the task runs
                    written += len(part)
                    chunk = chunk[len(part) :]
                if chunk:
                    kept_tail += chunk
                    excess = len(kept_tail) - tail
                    if excess > 0:
                        del kept_tail[:excess]
                        dropped += excess
            if dropped:
                out.write(f"\n[… {dropped} bytes of task output left out …]\n".encode())
            out.write(kept_tail)
    finally:
        os.close(fd)
    return dropped


#: The CloudWatch Logs group the local pipeline's task logs stand for.
LOCAL_TASK_LOG_GROUP = "s3fargate-local-tasks"
_LOGS = wire_format("logs")
#: How much of a log's end GetLogEvents reads (its lines are the events).
_EVENTS_READ = 256 * 1024


class LocalLogStreams:
    """CloudWatch Logs' GetLogEvents over the local tasks' log files: the stream of a task's
    container (``task/<container>/<task id>``) is its file. Requests are checked and answers
    parsed as botocore does for CloudWatch Logs."""

    def __init__(self, logs_dir: Path) -> None:
        self._dir = logs_dir

    def get_log_events(self, **request: Any) -> dict[str, Any]:
        """The stream's last events (``startFromHead=False``, the tracker's only use), at most
        ``limit``; a stream that does not exist is ``ResourceNotFoundException``."""
        _LOGS.check_request("get_log_events", request)
        group, stream = request["logGroupName"], request["logStreamName"]
        task_id = stream.rsplit("/", 1)[-1]
        path = self._dir / f"{task_id}.log"
        if group != LOCAL_TASK_LOG_GROUP or not task_id.isalnum() or not path.is_file():
            raise _LOGS.error(
                "get_log_events",
                "ResourceNotFoundException",
                "The specified log stream does not exist.",
            )
        with path.open("rb") as file:
            file.seek(max(0, path.stat().st_size - _EVENTS_READ))
            text = file.read().decode("utf-8", "replace")
        lines = [line for line in text.splitlines() if line.strip()]
        limit = int(request.get("limit") or 10_000)
        stamp = int(path.stat().st_mtime * 1000)
        events = [
            {"timestamp": stamp, "message": line, "ingestionTime": stamp} for line in lines[-limit:]
        ]
        token = f"{stamp:020d}"
        return _LOGS.response(
            "get_log_events",
            {"events": events, "nextForwardToken": f"f/{token}", "nextBackwardToken": f"b/{token}"},
        )
