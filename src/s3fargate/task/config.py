"""The task's configuration: the task environment of docs/design.md."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from s3fargate import contracts as c
from s3fargate.task.exceptions import TaskConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping


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
        problems: list[str] = []
        bucket = environ.get(c.ENV_S3_BUCKET, "")
        key = environ.get(c.ENV_S3_KEY, "")
        if not bucket:
            problems.append(f"{c.ENV_S3_BUCKET} is required (the bucket of the object)")
        if not key:
            problems.append(f"{c.ENV_S3_KEY} is required (the exact, decoded object key)")
        elif len(key.encode("utf-8", errors="surrogatepass")) > 1024:
            problems.append(f"{c.ENV_S3_KEY} is longer than S3's 1,024 bytes")

        size: int | None = None
        raw_size = environ.get(c.ENV_S3_SIZE, "").strip()
        if raw_size:
            try:
                size = int(raw_size)
            except ValueError:
                size = -1
            if size < 0:
                problems.append(
                    f"{c.ENV_S3_SIZE} must be a whole number of bytes, got {raw_size!r}"
                )
                size = None

        input_prefix = environ.get(c.ENV_INPUT_PREFIX, c.DEFAULT_INPUT_PREFIX)
        results_prefix = environ.get(c.ENV_RESULTS_PREFIX, c.DEFAULT_RESULTS_PREFIX)
        try:
            c.check_prefixes(input_prefix, results_prefix)
        except c.PrefixOverlapError as exc:
            problems.append(f"{c.ENV_INPUT_PREFIX}/{c.ENV_RESULTS_PREFIX}: {exc}")

        if problems:
            raise TaskConfigError(problems)
        return cls(
            bucket=bucket,
            key=key,
            version_id=environ.get(c.ENV_S3_VERSION_ID) or None,
            etag=environ.get(c.ENV_S3_ETAG) or None,
            size=size,
            input_prefix=input_prefix,
            results_prefix=results_prefix,
        )
