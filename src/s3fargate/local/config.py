"""One validated configuration for the local pipeline (the same vocabulary as the construct)."""

from __future__ import annotations

import hashlib
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from s3fargate import contracts as c
from s3fargate.local.faults import Faults
from s3fargate.options import flags_of, option, options_from
from s3fargate.props import PROPS_GROUP, PipelineProps
from s3fargate.sizing.sizes import smallest_memory, task_size_problem

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


#: The help's sections for these options.
SERVER, PIPELINE, FAULTS, SIZE = "server", "pipeline", "faults", "size"
OPTION_GROUPS = {
    SERVER: "server",
    PIPELINE: "the local pipeline",
    **PROPS_GROUP,
    FAULTS: "fault injection",
    SIZE: "task size and cost (jobs are priced as Fargate bills them on AWS)",
}
#: A task's size when neither --cpu, --memory nor --task-size says (the construct's default).
DEFAULT_CPU = 256
DEFAULT_MEMORY_MIB = 512


class LocalConfigError(c.UserError, ValueError):
    """Invalid local pipeline options; the message names each problem."""


def parse_task_cmd(text: str) -> tuple[str, ...]:
    """Split a ``--task-cmd`` string as a POSIX shell would (no shell is run)."""
    try:
        words = tuple(shlex.split(text))
    except ValueError as exc:
        raise LocalConfigError(f"--task-cmd {text!r}: {exc}") from exc
    if not words:
        raise LocalConfigError("--task-cmd is empty: give a command, or leave the option out")
    return words


@dataclass(frozen=True)
class LocalConfig:
    """Options of ``s3fargate dev`` / ``demo``.

    ``memory`` (and each ``--task-size``'s memory) is enforced on the task's processes;
    ``cpu`` is not (the machine's cores are shared); both price each job as Fargate would.
    """

    # --- the server -------------------------------------------------------------------------
    port: int = option(
        0, group=SERVER, help="port of the embedded server, always on 127.0.0.1 (0: a free one)"
    )
    bucket: str = option(DEFAULT_BUCKET, group=SERVER, help="the input bucket")
    endpoint: str | None = option(
        None,
        group=SERVER,
        metavar="URL",
        help="use this AWS-compatible server (S3, SQS, DynamoDB, SNS) instead of the embedded "
        "in-memory one; it keeps the data across restarts (credentials from the environment)",
    )
    # --- the pipeline, in the construct's vocabulary ---------------------------------------
    input_prefix: str = option(
        c.DEFAULT_INPUT_PREFIX, group=PIPELINE, help="objects created under it launch tasks"
    )
    results_prefix: str = option(
        c.DEFAULT_RESULTS_PREFIX,
        group=PIPELINE,
        help="where results are written; must not overlap the input prefix",
    )
    suffix: str | None = option(
        None, group=PIPELINE, help="only keys ending in this launch tasks (e.g. .csv)"
    )
    task_cmd: tuple[str, ...] = option(
        DEFAULT_TASK_CMD,
        group=PIPELINE,
        metavar="CMD",
        exclusive="task",
        parse=parse_task_cmd,
        shown="the fingerprint example",
        help="the task command, split as a shell would (no shell runs it); it runs with this "
        "installation's bin folder first on PATH",
    )
    task_image: str | None = option(
        None,
        group=PIPELINE,
        aliases=("--docker",),
        metavar="IMAGE",
        exclusive="task",
        help="run each task as a container of this image, as Fargate runs it (its entrypoint, "
        "command and user; the task's memory and CPU as limits when sizes are given; SIGTERM, "
        "then SIGKILL 30 s later); needs Docker or Podman, and the image on it",
    )
    visibility_timeout: int = option(
        DEFAULT_VISIBILITY_TIMEOUT_S,
        group=PIPELINE,
        metavar="S",
        help="seconds before a message that launched nothing comes back",
    )
    grace_period: float = option(
        DEFAULT_GRACE_PERIOD_S,
        group=PIPELINE,
        metavar="S",
        help="on Ctrl-C, running tasks get SIGTERM, then SIGKILL after S seconds (a second "
        "Ctrl-C: at once)",
    )
    no_iam: bool = option(
        False,
        group=PIPELINE,
        flag="--no-iam",
        help="do not check each component's calls against the role the construct gives it "
        "(by default, with the embedded server, a call its role does not allow is refused "
        "with AccessDenied, as on AWS)",
    )
    task_policy: Path | None = option(
        None,
        group=PIPELINE,
        metavar="FILE",
        help="an IAM policy document (JSON) adding statements to the task role, as your stack "
        "would with task_role.add_to_principal_policy",
    )
    run_dir: Path = option(
        DEFAULT_RUN_DIR / "dev",
        group=PIPELINE,
        help="state, logs and task output; one pipeline at a time uses it",
    )
    # --- the pipeline's behaviour: the construct's props ------------------------------------
    props: PipelineProps = options_from(lambda: PipelineProps(retry_delay_s=DEFAULT_RETRY_DELAY_S))
    # --- fault injection -------------------------------------------------------------------
    faults: Faults = option(
        default_factory=Faults,
        group=FAULTS,
        metavar="SPEC",
        parse=Faults.parse,
        shown="",
        help="inject Fargate failures: spot=P,start-failure=P,oom=P,seed=N (probabilities 0-1)",
    )
    # --- task size ---------------------------------------------------------------------------
    cpu: int | None = option(
        None,
        group=SIZE,
        metavar="UNITS",
        help="CPU units of a task (1024 = 1 vCPU): priced, not enforced locally (default 256)",
    )
    memory: int | None = option(
        None,
        group=SIZE,
        metavar="MIB",
        help="memory of a task in MiB, enforced: a task using more is killed as ECS kills it for "
        "memory (exit 137, OutOfMemoryError); without it (or --task-size) none is enforced and "
        "jobs are priced at 512",
    )
    # --- not options -----------------------------------------------------------------------
    extra_env: dict[str, str] = field(default_factory=dict)
    #: Append every IAM check to this file (JSON lines): tests prove each grant is needed.
    iam_record: Path | None = None
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
        if not self.task_cmd and not self.task_image:
            problems.append("--task-cmd is empty")
        if not 0 <= self.visibility_timeout <= 43200:
            problems.append("--visibility-timeout must be 0-43200 seconds (SQS's limit)")
        if not 0 <= self.grace_period <= 3600:  # also refuses NaN
            problems.append("--grace-period must be 0-3600 seconds")
        # The pipeline's behaviour: refused as the construct refuses it, named by its flag.
        problems += self.props.problems(flags_of(PipelineProps))
        if self.props.task_sizes and (self.cpu is not None or self.memory is not None):
            problems.append(
                "--cpu and --memory give every task one size; with --task-size each size has "
                "its own: give one or the other"
            )
        elif self.cpu is not None or self.memory is not None:
            cpu, memory = self.task_size
            problem = task_size_problem(cpu, memory)
            if problem:
                problems.append(
                    problem.replace("cpu=", "--cpu ").replace("memory_limit_mib=", "--memory ")
                )
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

    @property
    def task_size(self) -> tuple[int, int]:
        """A task's CPU units and MiB without ``--task-size``: ``--cpu`` alone takes the least
        memory Fargate runs it with; ``--memory`` alone, the default CPU."""
        cpu = self.cpu if self.cpu is not None else DEFAULT_CPU
        if self.memory is not None:
            return cpu, self.memory
        if self.cpu is None:
            return cpu, DEFAULT_MEMORY_MIB
        return cpu, smallest_memory(cpu) or DEFAULT_MEMORY_MIB
