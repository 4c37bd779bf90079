"""One validated configuration for the local pipeline (the same vocabulary as the construct)."""

from __future__ import annotations

import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from s3fargate import contracts as c
from s3fargate.ledger import Policy
from s3fargate.local.faults import Faults

# The one home of each local default; the CLI shows these in its help.
DEFAULT_BUCKET = "s3fargate-local"
DEFAULT_RUN_DIR = Path(".s3fargate")
DEFAULT_TASK_CMD = (sys.executable, "-m", "s3fargate.examples.fingerprint")
#: Short, so a failed launch is retried within seconds locally (the construct derives its own).
DEFAULT_VISIBILITY_TIMEOUT_S = 10
DEFAULT_GRACE_PERIOD_S = 10.0
#: Retries come back within seconds locally (the construct waits 30 s, doubling).
DEFAULT_RETRY_DELAY_S = 1
#: ECS ``startedBy`` of local tasks.
LOCAL_PIPELINE_ID = "s3fargate-local"
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class LocalConfigError(ValueError):
    """Invalid local pipeline options; the message names each problem."""


@dataclass(frozen=True)
class LocalConfig:
    """Options of ``s3fargate dev`` / ``demo``.

    ``cpu`` and ``memory`` only matter on AWS (Fargate sizes); locally they are accepted and
    reported as ignored, so one configuration serves both.
    """

    bucket: str = DEFAULT_BUCKET
    port: int = 0
    endpoint: str | None = None
    input_prefix: str = c.DEFAULT_INPUT_PREFIX
    results_prefix: str = c.DEFAULT_RESULTS_PREFIX
    suffix: str | None = None
    max_running: int | None = None
    task_cmd: tuple[str, ...] = DEFAULT_TASK_CMD
    docker_image: str | None = None
    run_dir: Path = DEFAULT_RUN_DIR / "dev"
    visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT_S
    max_receive_count: int = c.DEFAULT_MAX_RECEIVE_COUNT
    grace_period: float = DEFAULT_GRACE_PERIOD_S
    cpu: int | None = None
    memory: int | None = None
    queue_name: str = "s3fargate-queue"
    extra_env: dict[str, str] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    max_attempts: int = c.DEFAULT_MAX_ATTEMPTS
    retry_exit_codes: frozenset[int] = frozenset()
    retry_delay: int = DEFAULT_RETRY_DELAY_S

    def __post_init__(self) -> None:
        problems: list[str] = []
        if not _BUCKET_NAME.match(self.bucket) or ".." in self.bucket:
            problems.append(
                f"--bucket {self.bucket!r} is not a valid S3 bucket name "
                "(3-63 characters: lowercase letters, digits, '.', '-')"
            )
        if not 0 <= self.port <= 65535:
            problems.append(f"--port {self.port} is not a TCP port (0-65535; 0 picks a free one)")
        try:
            c.check_prefixes(self.input_prefix, self.results_prefix)
        except c.PrefixOverlapError as exc:
            problems.append(str(exc))
        if self.max_running is not None and self.max_running < 1:
            problems.append(f"--max-running must be at least 1, got {self.max_running}")
        if not self.task_cmd and not self.docker_image:
            problems.append("--task-cmd is empty")
        if not 0 <= self.visibility_timeout <= 43200:
            problems.append("--visibility-timeout must be 0-43200 seconds (SQS's limit)")
        if not 1 <= self.max_receive_count <= 1000:
            problems.append("--max-receive-count must be 1-1000 (SQS's limit)")
        if not 0 <= self.grace_period <= 3600:  # also refuses NaN
            problems.append("--grace-period must be 0-3600 seconds")
        if not 1 <= self.max_attempts <= 100:
            problems.append("--max-attempts must be 1-100")
        if any(not 1 <= code <= 255 for code in self.retry_exit_codes):
            problems.append("--retry-exit-codes must be exit codes 1-255")
        if not 0 <= self.retry_delay <= 900:
            problems.append("--retry-delay must be 0-900 seconds (SQS's longest delay)")
        if problems:
            raise LocalConfigError("; ".join(problems))

    @staticmethod
    def parse_task_cmd(text: str) -> tuple[str, ...]:
        """Split a ``--task-cmd`` string as a POSIX shell would (no shell is run)."""
        try:
            return tuple(shlex.split(text))
        except ValueError as exc:
            raise LocalConfigError(f"--task-cmd {text!r}: {exc}") from exc

    @staticmethod
    def parse_exit_codes(text: str) -> frozenset[int]:
        """Read ``--retry-exit-codes`` (``75,111``)."""
        codes: set[int] = set()
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            if not part.isdigit():
                raise LocalConfigError(f"--retry-exit-codes: {part!r} is not an exit code")
            codes.add(int(part))
        return frozenset(codes)

    @property
    def policy(self) -> Policy:
        """How the ledger retries jobs, as the construct's props configure it on AWS."""
        return Policy(
            max_attempts=self.max_attempts,
            retry_exit_codes=self.retry_exit_codes,
            base_delay_s=self.retry_delay,
            input_prefix=self.input_prefix,
            results_prefix=self.results_prefix,
        )

    @property
    def ignored_options(self) -> list[str]:
        """Options given that only apply on AWS."""
        ignored = []
        if self.cpu is not None:
            ignored.append(f"--cpu {self.cpu}")
        if self.memory is not None:
            ignored.append(f"--memory {self.memory}")
        return ignored
