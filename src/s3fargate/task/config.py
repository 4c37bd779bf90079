"""The task's configuration: the task environment of docs/design.md."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from s3fargate import contracts as c
from s3fargate.task.exceptions import TaskConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping

#: Limits of the read settings: past 64 connections or 1 GiB parts nothing gets faster, and
#: below 64 KiB a part costs more in requests than it gains.
MAX_READ_CONCURRENCY = 64
MIN_PART_SIZE = 64 * 1024
MAX_PART_SIZE = 1024 * 1024 * 1024
_SIZE = re.compile(r"^(\d+)\s*([kmg]i?b?|b)?$", re.IGNORECASE)
_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "ki": 1024,
    "kib": 1024,
    "kb": 1000,
    "m": 2**20,
    "mi": 2**20,
    "mib": 2**20,
    "mb": 1000**2,
    "g": 2**30,
    "gi": 2**30,
    "gib": 2**30,
    "gb": 1000**3,
}


@dataclass(frozen=True, slots=True)
class TaskConfig:
    """Which object to process and where its result goes."""

    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None
    input_prefix: str = c.DEFAULT_INPUT_PREFIX
    results_prefix: str = c.DEFAULT_RESULTS_PREFIX
    #: Concurrent ranged GETs; 1 reads the object as one stream.
    read_concurrency: int = c.DEFAULT_READ_CONCURRENCY
    #: Bytes per ranged GET; memory holds about ``read_concurrency`` parts.
    part_size: int = c.DEFAULT_PART_SIZE

    @property
    def result_key(self) -> str:
        """Where the result is written: ``<RESULTS_PREFIX><key without INPUT_PREFIX>.json``."""
        return c.result_key(
            self.key, input_prefix=self.input_prefix, results_prefix=self.results_prefix
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> TaskConfig:
        """Read and validate the task environment.

        Raises:
            TaskConfigError: naming every missing or invalid variable.
        """
        task, problems = c.TaskEnvironment.read(environ)
        if len(task.key.encode("utf-8", errors="surrogatepass")) > 1024:
            problems.append(f"{c.ENV_S3_KEY} is longer than S3's 1,024 bytes")

        input_prefix = environ.get(c.ENV_INPUT_PREFIX, c.DEFAULT_INPUT_PREFIX)
        results_prefix = environ.get(c.ENV_RESULTS_PREFIX, c.DEFAULT_RESULTS_PREFIX)
        try:
            c.check_prefixes(input_prefix, results_prefix)
        except c.PrefixOverlapError as exc:
            problems.append(f"{c.ENV_INPUT_PREFIX}/{c.ENV_RESULTS_PREFIX}: {exc}")

        read_concurrency = task.read_concurrency
        if read_concurrency is not None and not 1 <= read_concurrency <= MAX_READ_CONCURRENCY:
            problems.append(
                f"{c.ENV_S3_READ_CONCURRENCY} must be 1-{MAX_READ_CONCURRENCY}, "
                f"got {read_concurrency}"
            )
        part_size = _byte_size(environ, c.ENV_S3_PART_SIZE, c.DEFAULT_PART_SIZE, problems)
        if part_size == 1:
            read_concurrency = 1  # documented: a part size of 1 means one stream
        elif part_size is not None and not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            problems.append(
                f"{c.ENV_S3_PART_SIZE} must be 1 (one stream) or {MIN_PART_SIZE // 1024} KiB to "
                f"{MAX_PART_SIZE // 2**20} MiB, got {part_size} bytes"
            )

        if problems:
            raise TaskConfigError(problems)
        return cls(
            bucket=task.bucket,
            key=task.key,
            version_id=task.version_id,
            etag=task.etag,
            size=task.size,
            input_prefix=input_prefix,
            results_prefix=results_prefix,
            read_concurrency=read_concurrency or c.DEFAULT_READ_CONCURRENCY,
            part_size=part_size or c.DEFAULT_PART_SIZE,
        )


def _byte_size(
    environ: Mapping[str, str], name: str, default: int, problems: list[str]
) -> int | None:
    """Bytes, or a number with a unit: ``8MiB``, ``16 MB``, ``512KiB``."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    match = _SIZE.match(raw)
    if not match:
        problems.append(f"{name} must be bytes or a size such as 8MiB, got {raw!r}")
        return None
    number, unit = match.groups()
    return int(number) * _UNITS[(unit or "").lower()]
