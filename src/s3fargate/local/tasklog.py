"""Task output to a file, bounded: the head as it comes, the tail at the end.

A task that prints gigabytes must not fill the disk, nor the memory of ``s3fargate logs``:
past ``head`` bytes, only the last ``tail`` bytes are kept, with a line saying how much was
left out between them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

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
