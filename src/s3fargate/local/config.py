"""One validated configuration for the local pipeline (the same vocabulary as the construct)."""

from __future__ import annotations

import hashlib
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from s3fargate import contracts as c
from s3fargate.lambda_runtime.settings import spec_of
from s3fargate.local.faults import Faults

# The one home of each local default; the CLI shows these in its help.
DEFAULT_BUCKET = "s3fargate-local"
DEFAULT_RUN_DIR = Path(".s3fargate")
DEFAULT_TASK_CMD = (sys.executable, "-m", "s3fargate.examples.fingerprint")


def task_search_path(path: str | None) -> str:
    """The ``PATH`` a local task runs with: this interpreter's folder first, so
    ``s3fargate-task`` and ``python3`` name the installation running the pipeline (the one
    that has the task SDK), then the caller's ``PATH``."""
    here = str(Path(sys.executable).parent)
    return here + (f":{path}" if path else "")


#: Short, so a failed launch is retried within seconds locally (the construct derives its own).
DEFAULT_VISIBILITY_TIMEOUT_S = 10
DEFAULT_GRACE_PERIOD_S = 10.0
#: Retries come back within seconds locally (the construct waits 30 s, doubling).
DEFAULT_RETRY_DELAY_S = 1
#: ECS ``startedBy`` of local tasks.
LOCAL_PIPELINE_ID = "s3fargate-local"
#: Queue names are at most 80 characters; the longest suffix is ``-notifications``.
RESOURCE_NAME_MAX = 60
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
    extra_env: dict[str, str] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    max_attempts: int = c.DEFAULT_MAX_ATTEMPTS
    retry_exit_codes: frozenset[int] = frozenset()
    retry_delay: int = DEFAULT_RETRY_DELAY_S
    #: The construct's ``track_running``: RUNNING changes reach the tracker too.
    track_running: bool = False
    #: ECS forgets a stopped task after about an hour: DescribeTasks then answers MISSING.
    forget_stopped_after_s: float = 3600.0

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
        if not self.task_cmd and not self.docker_image:
            problems.append("--task-cmd is empty")
        if not 0 <= self.visibility_timeout <= 43200:
            problems.append("--visibility-timeout must be 0-43200 seconds (SQS's limit)")
        if not 0 <= self.grace_period <= 3600:  # also refuses NaN
            problems.append("--grace-period must be 0-3600 seconds")
        # The pipeline's own settings: the same ranges as the construct's props.
        for option, setting, values in (
            ("--max-running", "max_running_tasks", (self.max_running,)),
            ("--max-receive-count", "max_receive_count", (self.max_receive_count,)),
            ("--max-attempts", "max_attempts", (self.max_attempts,)),
            ("--retry-exit-codes", "retry_exit_codes", sorted(self.retry_exit_codes)),
            ("--retry-delay", "retry_delay_s", (self.retry_delay,)),
        ):
            spec = spec_of(setting)
            low, high = spec.bounds
            what = f"{spec.expected} " if spec.expected else ""
            for value in values:
                if value is not None and not low <= value <= high:
                    problems.append(f"{option} must be {what}{low}-{high}, got {value}")
        if problems:
            raise LocalConfigError("; ".join(problems))

    @property
    def resource_name(self) -> str:
        """The name this pipeline's queues, table and topic start with: one per bucket, so
        pipelines sharing a server never see each other's messages, rows or tasks (at most
        60 characters, leaving room for SQS's 80 with the longest suffix)."""
        name = f"s3fargate-{self.bucket.replace('.', '-')}"
        if len(name) > RESOURCE_NAME_MAX:
            digest = hashlib.sha256(self.bucket.encode()).hexdigest()[:8]
            name = f"{name[: RESOURCE_NAME_MAX - 9]}-{digest}"
        return name

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
    def ignored_options(self) -> list[str]:
        """Options given that only apply on AWS."""
        ignored = []
        if self.cpu is not None:
            ignored.append(f"--cpu {self.cpu}")
        if self.memory is not None:
            ignored.append(f"--memory {self.memory}")
        return ignored
