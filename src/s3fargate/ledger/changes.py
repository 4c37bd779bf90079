"""What can happen to a job: the inputs of the transition function."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from s3fargate.events.ecs import TaskStateChange
    from s3fargate.ledger.models import ObjectRef


@dataclass(frozen=True, slots=True)
class Waiting:
    """The runner could not launch ``attempt`` yet.

    Its message waits in the queue, or, when ``parked``, the job waits in the ledger's waiting
    room (the message was deleted) until the tracker launches it as a slot frees up.
    """

    ref: ObjectRef
    attempt: int
    reason: str
    receive_count: int | None = None
    parked: bool = False


@dataclass(frozen=True, slots=True)
class Admitted:
    """``attempt`` takes a slot under the cap, before RunTask is called for it.

    The store writes the row and takes the slot in one transaction, so the number of admitted
    jobs can never pass the cap, however many runners and trackers launch at once.
    """

    ref: ObjectRef
    attempt: int
    #: Under a cap the attempt takes a slot; without one it is only recorded before RunTask.
    takes_slot: bool = True


@dataclass(frozen=True, slots=True)
class NotNeeded:
    """The job found its object version already in another job's hands (a backfill of an
    upload that was queued or processed): it starts no task."""

    reason: str


@dataclass(frozen=True, slots=True)
class Launched:
    """RunTask accepted ``attempt`` (or had accepted it before, for the same token)."""

    ref: ObjectRef
    attempt: int
    task_arn: str | None


@dataclass(frozen=True, slots=True)
class DeadLettered:
    """The message failed its last receive: SQS moves it to the dead-letter queue."""

    ref: ObjectRef
    attempt: int
    reason: str
    receive_count: int | None = None


@dataclass(frozen=True, slots=True)
class TaskChanged:
    """ECS reported a state of one of the job's tasks.

    ``result_written`` says whether the task's result document is in the bucket (the tracker
    looks when a task exits 0): only a result that exists is recorded as the job's, with the
    outputs it lists.
    """

    event: TaskStateChange
    result_written: bool = False
    #: The output keys the result document lists (at most ``MAX_RECORDED_OUTPUTS``).
    output_keys: tuple[str, ...] = ()
    #: How many outputs the result document lists.
    output_count: int = 0
    #: What the task cost, as Fargate bills it (None: not priced).
    cost_usd: float | None = None
    #: Why the task failed, in its own words (the end of its log), for a non-zero exit.
    failure: str | None = None


@dataclass(frozen=True, slots=True)
class TaskLost:
    """The reconciler asked ECS about the task, and ECS no longer knows it."""

    task_arn: str
    reason: str


@dataclass(frozen=True, slots=True)
class RetryRequested:
    """An operator asks for a new attempt of a job."""

    reason: str


Change = (
    Waiting
    | Admitted
    | NotNeeded
    | Launched
    | DeadLettered
    | TaskChanged
    | TaskLost
    | RetryRequested
)
