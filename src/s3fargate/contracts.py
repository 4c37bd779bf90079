"""Names and rules that the runner, the task, the infrastructure and the local pipeline share.

Everything here is part of the public contract in docs/design.md: change a name and every
component (and every deployed task image) must change with it.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Mapping

# --- Task environment (set by the runner as container overrides) -------------------------
ENV_S3_BUCKET: Final = "S3_BUCKET"
ENV_S3_KEY: Final = "S3_KEY"
ENV_S3_VERSION_ID: Final = "S3_VERSION_ID"
ENV_S3_ETAG: Final = "S3_ETAG"
ENV_S3_SIZE: Final = "S3_SIZE"
ENV_INPUT_PREFIX: Final = "INPUT_PREFIX"
ENV_RESULTS_PREFIX: Final = "RESULTS_PREFIX"
#: How the task SDK reads the object: concurrent ranged GETs of a part size (1 = one stream).
ENV_S3_READ_CONCURRENCY: Final = "S3_READ_CONCURRENCY"
ENV_S3_PART_SIZE: Final = "S3_PART_SIZE"
DEFAULT_READ_CONCURRENCY: Final = 10
DEFAULT_PART_SIZE: Final = 8 * 1024 * 1024

DEFAULT_INPUT_PREFIX: Final = "incoming/"
DEFAULT_RESULTS_PREFIX: Final = "results/"
RESULT_SUFFIX: Final = ".json"

# --- Runner configuration (the Lambda's environment) -------------------------------------
ENV_CLUSTER_ARN: Final = "CLUSTER_ARN"
ENV_TASK_DEFINITION_ARN: Final = "TASK_DEFINITION_ARN"
ENV_CONTAINER_NAME: Final = "CONTAINER_NAME"
ENV_SUBNETS: Final = "SUBNETS"
ENV_SECURITY_GROUPS: Final = "SECURITY_GROUPS"
ENV_ASSIGN_PUBLIC_IP: Final = "ASSIGN_PUBLIC_IP"
ENV_CAPACITY_PROVIDER: Final = "CAPACITY_PROVIDER"
ENV_MAX_RUNNING_TASKS: Final = "MAX_RUNNING_TASKS"

ENV_PIPELINE_ID: Final = "PIPELINE_ID"
ENV_JOBS_TABLE: Final = "JOBS_TABLE"
ENV_MAX_RECEIVE_COUNT: Final = "MAX_RECEIVE_COUNT"
ENV_NOTIFICATION_TOPIC_ARN: Final = "NOTIFICATION_TOPIC_ARN"

#: RunTask ``startedBy`` when ``PIPELINE_ID`` is unset. Each pipeline's own id is its
#: ``startedBy``: ListTasks (the cap) and the EventBridge rule (the tracker) filter on it, so
#: pipelines sharing a cluster never count or track each other's tasks.
STARTED_BY: Final = "s3fargate"
#: ECS's ``startedBy``: up to 128 letters, digits, hyphens, underscores and slashes.
PIPELINE_ID_PATTERN: Final = r"^[A-Za-z0-9_/-]{1,128}$"

# --- Tracker configuration ------------------------------------------------------------------
ENV_QUEUE_URL: Final = "QUEUE_URL"
ENV_MAX_ATTEMPTS: Final = "MAX_ATTEMPTS"
ENV_RETRY_EXIT_CODES: Final = "RETRY_EXIT_CODES"
ENV_JOB_TTL_DAYS: Final = "JOB_TTL_DAYS"
ENV_RETRY_DELAY_S: Final = "RETRY_DELAY_S"
ENV_RECONCILE_AFTER_S: Final = "RECONCILE_AFTER_S"
DEFAULT_MAX_ATTEMPTS: Final = 3
DEFAULT_JOB_TTL_DAYS: Final = 90
#: The first retry waits this long; each later one twice as long, up to SQS's longest delay.
DEFAULT_RETRY_DELAY_S: Final = 30
SQS_MAX_DELAY_S: Final = 900
#: A pending or running job with no event for this long is checked with DescribeTasks.
DEFAULT_RECONCILE_AFTER_S: Final = 600

#: Task sizes by object size (``s3fargate.sizing.TaskSizes.encode``), read by every function.
ENV_TASK_SIZES: Final = "TASK_SIZES"
ENV_SPOT_FALLBACK_AFTER: Final = "SPOT_FALLBACK_AFTER"
#: After this many Spot interruptions of one job, its next attempts run On-Demand.
DEFAULT_SPOT_FALLBACK_AFTER: Final = 1
#: Prices the tracker bills tasks at, overriding the region's list prices (JSON).
ENV_FARGATE_PRICES: Final = "FARGATE_PRICES"

ENV_TASK_LOG_GROUP: Final = "TASK_LOG_GROUP"
#: The awslogs stream prefix of the task container: streams are ``task/<container>/<task id>``.
TASK_LOG_STREAM_PREFIX: Final = "task"


def task_log_stream(container_name: str, task_arn: str) -> str:
    """The CloudWatch Logs stream of a task's container (awslogs driver, our prefix)."""
    return f"{TASK_LOG_STREAM_PREFIX}/{container_name}/{task_arn.rsplit('/', 1)[-1]}"


#: The field of the task SDK's error line that says, in the error's own words, why the task
#: failed (``ValueError: bad row 7``; a command's last line on stderr). The tracker reads it
#: from the end of the task's log and puts it in the job's reason.
FAILURE_FIELD: Final = "failure"
#: A failure's words are cut to this many characters (one line).
MAX_FAILURE_CHARS: Final = 300
#: How many of the log's last lines the tracker reads for them.
FAILURE_LOG_LINES: Final = 50


def one_line(text: str, limit: int = MAX_FAILURE_CHARS) -> str:
    """``text`` on one line (line breaks and control characters as spaces), at most ``limit``
    characters (cut with ``…``)."""
    flat = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def failure_in(lines: list[str]) -> str | None:
    """Why a task failed, from the last lines of its log: the SDK's error line's
    :data:`FAILURE_FIELD` (else its message), or, for a task without the SDK, its last line
    that is not a log record. None when the log says nothing."""
    for line in reversed(lines):
        text = line.strip()
        if not text:
            continue
        try:
            record = json.loads(text)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            return one_line(text)
        if str(record.get("level", "")).upper() in ("ERROR", "CRITICAL"):
            words = record.get(FAILURE_FIELD) or record.get("message")
            if isinstance(words, str) and words.strip():
                return one_line(words)
    return None


#: The task's exit code when the object is no longer the upload that started it (overwritten
#: before or while it was read): a newer upload has a job of its own. The tracker records such
#: a job as ``cancelled`` ("superseded"), not ``failed``. Reserved: a task must not use it for
#: anything else.
EXIT_SUPERSEDED: Final = 4


#: The task's exit code when the object cannot fit on the task's disk (its ephemeral storage):
#: a bigger ``ephemeral_storage_gib`` is needed. Reserved, like ``EXIT_SUPERSEDED``.
EXIT_NO_SPACE: Final = 5

#: The environment ``s3fargate-task`` gives its command: the downloaded object's local path and
#: the folder whose files become the task's outputs.
ENV_TASK_INPUT: Final = "S3FARGATE_INPUT"
ENV_TASK_OUTPUT_DIR: Final = "S3FARGATE_OUTPUT_DIR"
#: Where the task SDK puts the downloaded object and output files (default: the system's
#: temporary folder, which on Fargate is the task's ephemeral storage).
ENV_TASK_WORK_DIR: Final = "S3FARGATE_WORK_DIR"

#: The result document's user metadata (``x-amz-meta-…``) holding how many outputs it lists,
#: so the tracker reads the document only when there are some.
RESULT_OUTPUTS_METADATA: Final = "s3fargate-outputs"
#: The ledger keeps the keys of this many outputs per job (a row must stay within 400 KB).
MAX_RECORDED_OUTPUTS: Final = 100

#: S3's longest object key, in UTF-8 bytes.
MAX_KEY_BYTES: Final = 1024


def quoted_etag(etag: str) -> str:
    """An ETag as S3 writes it in ``ETag`` headers and compares it in ``If-Match``: in double
    quotes (event notifications carry it without)."""
    return f'"{etag.strip(chr(34))}"'


#: The ``sequencer`` of the S3-shaped events ``backfill`` (and the local catch-up) sends: not
#: an upload of its own, but an object found in the bucket. The runner starts a task for it
#: only when no other job has that object version.
BACKFILL_SEQUENCER: Final = "backfill"


# --- Job identity in the task (container overrides; the tracker reads them back) ------------
ENV_JOB_ID: Final = "S3FARGATE_JOB_ID"
ENV_ATTEMPT: Final = "S3FARGATE_ATTEMPT"

#: A message asking the runner for a new attempt of a job: ``{RETRY_MARKER: RETRY_KIND, ...}``.
RETRY_MARKER: Final = "s3fargate"
RETRY_KIND: Final = "retry"

# --- Queue defaults shared by the CDK construct and the local pipeline -------------------
DEFAULT_MAX_RECEIVE_COUNT: Final = 5
#: The runner's event source: full batches, enough Lambdas in parallel to keep RunTask near
#: its 20 calls/s (measured with ``s3fargate simulate``; docs/simulator.md).
DEFAULT_BATCH_SIZE: Final = 10
DEFAULT_MAX_CONCURRENCY: Final = 8
#: The tracker's event source. No batching window: a freed slot's next launch waits for no one,
#: and in a burst the events queue up during each invocation, so batches fill by themselves.
TRACKER_BATCH_SIZE: Final = 10
TRACKER_MAX_CONCURRENCY: Final = 2
DLQ_RETENTION_DAYS: Final = 14


class StackOutput(enum.StrEnum):
    """The outputs of the example stack: what the operator commands read (``--stack``)."""

    BUCKET = "BucketName"
    QUEUE_URL = "QueueUrl"
    DEAD_LETTER_QUEUE_URL = "DeadLetterQueueUrl"
    CLUSTER_ARN = "ClusterArn"
    TASK_DEFINITION_ARN = "TaskDefinitionArn"
    TASK_LOG_GROUP = "TaskLogGroup"
    RUNNER_LOG_GROUP = "RunnerLogGroup"
    JOBS_TABLE = "JobsTableName"
    NOTIFICATION_TOPIC_ARN = "NotificationTopicArn"
    INPUT_PREFIX = "InputPrefix"
    RESULTS_PREFIX = "ResultsPrefix"
    TASK_CONTAINER_NAME = "TaskContainerName"


class UserError(Exception):
    """A mistake in what a user asked for or configured (not a bug of ours): its message says
    what is wrong and how to fix it. The CLI shows it in one line and exits 2."""


class PrefixOverlapError(UserError, ValueError):
    """The results prefix and the input prefix overlap, so a result could re-trigger a task."""


def check_prefixes(input_prefix: str, results_prefix: str) -> None:
    """Refuse prefixes under which a result object could land inside the input prefix.

    A result key always starts with ``results_prefix``; it can never start with
    ``input_prefix`` exactly when neither prefix is a prefix of the other (an empty
    prefix is a prefix of everything, so both must be non-empty).
    """
    if not input_prefix or not results_prefix:
        raise PrefixOverlapError(
            f"input prefix {input_prefix!r} and results prefix {results_prefix!r} must both be "
            "non-empty: an empty prefix covers the whole bucket, so results would re-trigger tasks"
        )
    if results_prefix.startswith(input_prefix) or input_prefix.startswith(results_prefix):
        raise PrefixOverlapError(
            f"results prefix {results_prefix!r} overlaps input prefix {input_prefix!r}: results "
            "written there would trigger new tasks. Use disjoint prefixes such as "
            f"{DEFAULT_INPUT_PREFIX!r} and {DEFAULT_RESULTS_PREFIX!r}"
        )


def result_key(key: str, *, input_prefix: str, results_prefix: str) -> str:
    """Return where the result for object ``key`` is written.

    ``results/<key without the input prefix>.json``; a key outside the input prefix keeps
    its full name. The prefixes are checked first, so the result can never re-trigger.
    """
    base = results_base(key, input_prefix=input_prefix, results_prefix=results_prefix)
    return f"{base}{RESULT_SUFFIX}"


class KeyTooLongError(UserError, ValueError):
    """A result or output key would be longer than S3's 1,024 bytes."""


def key_bytes(key: str) -> int:
    """A key's length as S3 counts it: UTF-8 bytes."""
    return len(key.encode("utf-8", errors="surrogatepass"))


def results_base(key: str, *, input_prefix: str, results_prefix: str) -> str:
    """``<results_prefix><key without the input prefix>``: the stem of a job's result
    document (``+ .json``) and of its outputs (``+ /<name>``)."""
    check_prefixes(input_prefix, results_prefix)
    relative = key[len(input_prefix) :] if key.startswith(input_prefix) else key
    return f"{results_prefix}{relative}"


def output_key(key: str, name: str, *, input_prefix: str, results_prefix: str) -> str:
    """Where output ``name`` of object ``key`` is written:
    ``<results_prefix><key without the input prefix>/<name>``.

    Raises:
        KeyTooLongError: the output key would pass S3's 1,024 bytes.
    """
    base = results_base(key, input_prefix=input_prefix, results_prefix=results_prefix)
    out = f"{base}/{name}"
    if key_bytes(out) > MAX_KEY_BYTES:
        raise KeyTooLongError(
            f"output {name!r} of {key!r} would have a {key_bytes(out)}-byte key, over S3's "
            f"{MAX_KEY_BYTES}: use a shorter output name or a shorter results prefix"
        )
    return out


def result_key_problem(key: str, *, input_prefix: str, results_prefix: str) -> str | None:
    """Why ``key`` cannot have a result document (its result key would pass S3's 1,024
    bytes), or None when it can."""
    result = result_key(key, input_prefix=input_prefix, results_prefix=results_prefix)
    size = key_bytes(result)
    if size <= MAX_KEY_BYTES:
        return None
    return (
        f"its result key would be {size} bytes, over S3's {MAX_KEY_BYTES}: keys under the "
        f"input prefix may be at most {MAX_KEY_BYTES - size + key_bytes(key)} bytes "
        f"with results prefix {results_prefix!r}"
    )


def retry_request(
    *,
    job_id: str,
    attempt: int,
    bucket: str,
    key: str,
    version_id: str | None,
    etag: str | None,
    size: int | None,
    reason: str,
    requested_at: str,
    size_up: int = 0,
    on_demand: bool = False,
) -> dict[str, object]:
    """The queue message that asks the runner for attempt ``attempt`` of job ``job_id``
    (``size_up`` sizes above the object's own; ``on_demand``: not on Spot)."""
    return {
        RETRY_MARKER: RETRY_KIND,
        "job_id": job_id,
        "attempt": attempt,
        "bucket": bucket,
        "key": key,
        "version_id": version_id,
        "etag": etag,
        "size": size,
        "reason": reason,
        "requested_at": requested_at,
        "size_up": size_up,
        "on_demand": on_demand,
    }


@dataclass(frozen=True, slots=True)
class TaskEnvironment:
    """The object and the job a task runs for, as RunTask's container override carries them
    (docs/design.md, "Task environment"): one writer, the runner's request, and one reader,
    this type (the task's configuration, the tracker and the ledger read events with it).

    ``S3_SIZE`` and ``S3FARGATE_ATTEMPT`` are whole numbers; anything else is no value (a
    problem, for the task that must have one).
    """

    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None
    job_id: str | None = None
    attempt: int | None = None
    #: The ranged GETs the task keeps in flight for its size (set with task sizes).
    read_concurrency: int | None = None

    def variables(self) -> dict[str, str]:
        """The variables, by name (the ones with no value left out)."""
        values = {
            ENV_S3_BUCKET: self.bucket,
            ENV_S3_KEY: self.key,
            ENV_JOB_ID: self.job_id,
            ENV_ATTEMPT: None if self.attempt is None else str(self.attempt),
            ENV_S3_VERSION_ID: self.version_id,
            ENV_S3_ETAG: self.etag,
            ENV_S3_SIZE: None if self.size is None else str(self.size),
            ENV_S3_READ_CONCURRENCY: (
                None if self.read_concurrency is None else str(self.read_concurrency)
            ),
        }
        return {name: value for name, value in values.items() if value is not None}

    def override(self) -> list[dict[str, str]]:
        """The ``environment`` of RunTask's container override."""
        return [{"name": name, "value": value} for name, value in self.variables().items()]

    @classmethod
    def read(cls, environ: Mapping[str, str]) -> tuple[TaskEnvironment, list[str]]:
        """The task environment in ``environ``, and what is wrong with it (missing bucket or
        key, numbers that are not whole numbers)."""
        problems: list[str] = []
        if not environ.get(ENV_S3_BUCKET):
            problems.append(f"{ENV_S3_BUCKET} is required (the bucket of the object)")
        if not environ.get(ENV_S3_KEY):
            problems.append(f"{ENV_S3_KEY} is required (the exact, decoded object key)")

        def whole(name: str, what: str) -> int | None:
            raw = environ.get(name, "").strip()
            if not raw:
                return None
            if raw.isascii() and raw.isdigit():
                return int(raw)
            problems.append(f"{name} must be {what}, got {raw!r}")
            return None

        found = cls(
            bucket=environ.get(ENV_S3_BUCKET, ""),
            key=environ.get(ENV_S3_KEY, ""),
            version_id=environ.get(ENV_S3_VERSION_ID) or None,
            etag=environ.get(ENV_S3_ETAG) or None,
            size=whole(ENV_S3_SIZE, "a whole number of bytes"),
            job_id=environ.get(ENV_JOB_ID) or None,
            attempt=whole(ENV_ATTEMPT, "a whole number"),
            read_concurrency=whole(ENV_S3_READ_CONCURRENCY, "a whole number"),
        )
        return found, problems

    @classmethod
    def of(cls, environ: Mapping[str, str]) -> TaskEnvironment:
        """:meth:`read`, problems ignored (an event's overrides: what is there is used)."""
        return cls.read(environ)[0]
