"""The job model: one row per upload event, from the queue to its final state."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime


class JobStatus(enum.StrEnum):
    """Where a job is. The first four are in flight; the last four are final."""

    #: Not launched yet: in the queue (a launch failed and is retried), or parked in the
    #: ledger's waiting room until a slot under the cap frees up.
    WAITING = "waiting"
    #: RunTask accepted; the task is being provisioned.
    PENDING = "pending"
    RUNNING = "running"
    #: Stopped by the platform (Spot, failed to start, lost); a new attempt is queued.
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    #: The task exited non-zero (not retried), ran out of memory, or every attempt failed.
    FAILED = "failed"
    #: Stopped by a user (StopTask), or superseded: the object was overwritten after this
    #: upload, and the newer upload has a job of its own.
    CANCELLED = "cancelled"
    #: The message could not be launched ``maxReceiveCount`` times and is in the DLQ.
    DEAD_LETTERED = "dead-lettered"

    @property
    def final(self) -> bool:
        """True once nothing more will happen to the job (unless an operator retries it)."""
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset(
    {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.DEAD_LETTERED}
)
IN_FLIGHT_STATUSES = frozenset(set(JobStatus) - FINAL_STATUSES)


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """The upload a job is about."""

    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None
    #: When S3 says the object was created (the event's time), if known.
    event_time: str | None = None


@dataclass(frozen=True, slots=True)
class Job:
    """One upload event's journey. Times are milliseconds since the epoch.

    ``attempts`` counts launched attempts (0 while the first waits); ``task_arns`` holds one
    ARN per attempt, the current last. ``task_version`` is the highest ECS ``detail.version``
    applied for the current task, so a late or repeated event never moves the row back.
    ``revision`` grows with every write; the store writes only on the revision it read.
    """

    job_id: str
    bucket: str
    key: str
    status: JobStatus
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None
    event_time: str | None = None
    attempts: int = 0
    task_arns: tuple[str, ...] = ()
    exit_code: int | None = None
    stop_code: str | None = None
    stopped_reason: str | None = None
    container_reason: str | None = None
    #: One line for a person: why the job is where it is.
    reason: str | None = None
    result_key: str | None = None
    #: The outputs the result document lists: their keys (the first ``MAX_RECORDED_OUTPUTS``,
    #: to keep the row within DynamoDB's 400 KB) and how many there are.
    output_keys: tuple[str, ...] = ()
    output_count: int | None = None
    receive_count: int | None = None
    #: How many sizes above the object's own its next attempt runs (``task_sizes``): one more
    #: each time a task of the job is killed for memory or disk.
    size_up: int = 0
    #: How many of the job's tasks Fargate Spot interrupted.
    spot_interruptions: int = 0
    #: The job's next attempts run on Fargate On-Demand (after ``spot_fallback_after``
    #: interruptions on Spot).
    on_demand: bool = False
    #: The size each stopped attempt ran at, for a person (``2: 1 vCPU, 4 GiB, Spot``).
    attempt_sizes: tuple[str, ...] = ()
    #: What the job's tasks cost, every attempt, priced as Fargate bills (USD; None: none
    #: priced yet).
    cost_usd: float | None = None
    #: The highest attempt whose stop is counted in the fields above (so a repeated stop
    #: event adds nothing).
    accounted_attempts: int = 0
    #: Attempts the local pipeline's own shutdown ended: they run again and are not counted
    #: against ``max_attempts``.
    free_attempts: int = 0
    #: Waiting in the ledger's waiting room (no queue message): the tracker launches it when a
    #: slot under the cap frees up.
    parked: bool = False
    #: Holds one of the pipeline's slots under the cap (``max_running_tasks``): admitted, and
    #: its task not stopped yet. Taken and given back in the same write as the row.
    holds_slot: bool = False
    created_at: int = 0
    launched_at: int | None = None
    started_at: int | None = None
    stopped_at: int | None = None
    next_attempt_at: int | None = None
    updated_at: int = 0
    task_version: int = 0
    revision: int = 0
    #: When DynamoDB may delete the row (epoch seconds; the table's TTL attribute).
    expires_at: int | None = None

    @property
    def uploaded_at(self) -> int:
        """When the object was uploaded (S3's event time, epoch ms), else when the job's row
        was created."""
        if self.event_time:
            try:
                moment = datetime.fromisoformat(self.event_time.replace("Z", "+00:00"))
            except ValueError:
                return self.created_at
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return int(moment.timestamp() * 1000)
        return self.created_at

    @property
    def task_arn(self) -> str | None:
        """The latest task (of this attempt, or of an earlier one while this one has none)."""
        return self.task_arns[-1] if self.task_arns else None

    @property
    def attempt_task_arn(self) -> str | None:
        """The task of the current attempt, once its launch is known (None: admitted only)."""
        if self.attempts < 1 or len(self.task_arns) < self.attempts:
            return None
        return self.task_arns[self.attempts - 1]

    @property
    def ref(self) -> ObjectRef:
        """The upload this job is about."""
        return ObjectRef(
            bucket=self.bucket,
            key=self.key,
            version_id=self.version_id,
            etag=self.etag,
            size=self.size,
            event_time=self.event_time,
        )
