"""The example task: size, SHA-256 and line count of the uploaded object.

Run it as ``python -m s3fargate.examples.fingerprint`` with the task environment set; the
container in ``task/Dockerfile`` runs exactly that. Copy it to start your own task.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from s3fargate.task import main

if TYPE_CHECKING:
    from collections.abc import Iterable

    from s3fargate.task import S3Object


def fingerprint_chunks(chunks: Iterable[bytes]) -> dict[str, object]:
    """SHA-256 and line count of a byte stream.

    ``lines`` counts newline-terminated lines plus a last line without a newline, so
    ``b"a\\nb"`` has 2 lines, ``b"a\\n"`` has 1, and an empty object 0.
    """
    digest = hashlib.sha256()
    newlines = 0
    last = b""
    for chunk in chunks:
        digest.update(chunk)  # releases the GIL: overlaps with the SDK's read-ahead thread
        newlines += chunk.count(b"\n")
        last = chunk[-1:]
    lines = newlines + (1 if last and last != b"\n" else 0)
    return {"sha256": digest.hexdigest(), "lines": lines}


def fingerprint(obj: S3Object) -> dict[str, object]:
    """The processing function: the SDK adds bucket, key, size and timings."""
    return fingerprint_chunks(obj.chunks())


if __name__ == "__main__":
    main(fingerprint)
