"""The one function that decides every status change: ``apply(row, change) -> Decision``.

Pure: no I/O, no clock (``now_ms`` is an argument). The store writes its result with a
condition on the revision it read, so two writers never lose an update, and the rules here
make sure a row never moves backwards:
- a final status absorbs everything except an operator's retry;
- an event of an earlier attempt's task, or with a ``detail.version`` already applied, is
  ignored, so ECS's duplicates and out-of-order delivery change nothing;
- a launch or a wait for an attempt that is already further along is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from s3fargate import contracts as c
from s3fargate.events.ecs import (
    LOCAL_SHUTDOWN_REASON,
    PLATFORM_STOPS,
    StopCode,
    is_out_of_memory,
)
from s3fargate.ledger.changes import (
    Admitted,
    DeadLettered,
    Launched,
    NotNeeded,
    RetryRequested,
    TaskChanged,
    TaskLost,
    Waiting,
)
from s3fargate.ledger.models import Job, JobStatus, ObjectRef
from s3fargate.sizing import TaskSize, TaskSizes
from s3fargate.sizing.pricing import SPOT_CAPACITY
from s3fargate.sizing.sizes import DEFAULT_EPHEMERAL_GIB

if TYPE_CHECKING:
    from s3fargate.events.ecs import TaskStateChange
    from s3fargate.ledger.changes import Change

_MS_PER_DAY = 86_400_000


@dataclass(frozen=True, slots=True)
class Policy:
    """How jobs are retried and where results land (the construct's props)."""

    max_attempts: int = c.DEFAULT_MAX_ATTEMPTS
    retry_exit_codes: frozenset[int] = field(default_factory=frozenset)
    #: The first retry waits this long; each later one twice as long, up to ``max_delay_s``.
    base_delay_s: int = c.DEFAULT_RETRY_DELAY_S
    max_delay_s: int = c.SQS_MAX_DELAY_S
    input_prefix: str = c.DEFAULT_INPUT_PREFIX
    results_prefix: str = c.DEFAULT_RESULTS_PREFIX
    ttl_days: int = c.DEFAULT_JOB_TTL_DAYS
    #: Sizes by object size: a task killed for memory or disk is retried one size up.
    task_sizes: TaskSizes = field(default_factory=TaskSizes)
    #: Spot interruptions of one job after which it runs On-Demand (None: never).
    spot_fallback_after: int | None = c.DEFAULT_SPOT_FALLBACK_AFTER

    def retry_delay_s(self, attempts_done: int) -> int:
        """The delay before attempt ``attempts_done + 1``."""
        return int(min(self.base_delay_s * 2 ** max(attempts_done - 1, 0), self.max_delay_s))


@dataclass(frozen=True, slots=True)
class RetryOrder:
    """Queue attempt ``attempt`` after ``delay_s`` seconds."""

    attempt: int
    delay_s: int


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one change: the new row (None: nothing to write), and what to do."""

    row: Job | None
    retry: RetryOrder | None = None
    #: The job just ended badly (failed, dead-lettered): tell the operators.
    notify: bool = False
    #: The row before the change (None: there was none), for what the change added.
    previous: Job | None = None


NO_CHANGE = Decision(row=None)


def apply(  # noqa: PLR0911 -- one branch per kind of change
    row: Job | None, change: Change, *, job_id: str, policy: Policy, now_ms: int
) -> Decision:
    """Decide what ``change`` does to ``row`` (None: the job has no row yet)."""
    if isinstance(change, RetryRequested):
        return _operator_retry(row, change, policy, now_ms)
    if row is not None and row.status.final:
        if isinstance(change, Launched) and change.attempt == row.attempts:
            return _fill_in(row, change, now_ms)  # a late record of the launch: details only
        return NO_CHANGE
    if isinstance(change, Waiting):
        return _waiting(row, change, job_id, policy, now_ms)
    if isinstance(change, Admitted):
        return _admitted(row, change, job_id, policy, now_ms)
    if isinstance(change, NotNeeded):
        return _not_needed(row, change, now_ms)
    if isinstance(change, Launched):
        return _launched(row, change, job_id, policy, now_ms)
    if isinstance(change, DeadLettered):
        return _dead_lettered(row, change, job_id, policy, now_ms)
    if isinstance(change, TaskChanged):
        return _task_changed(row, change, job_id, policy, now_ms)
    return _task_lost(row, change, policy, now_ms)


# --- the queue side (the runner) ---------------------------------------------------------------
def _admitted_only(row: Job, attempt: int) -> bool:
    """``attempt`` was admitted, but no task of it is known: its launch failed."""
    return (
        row.attempts == attempt and row.status is JobStatus.PENDING and row.attempt_task_arn is None
    )


def _not_launched(row: Job) -> Job:
    """An admitted attempt whose launch failed, as if never admitted (its slot goes back)."""
    return replace(row, attempts=row.attempts - 1, holds_slot=False, launched_at=None)


def _waiting(
    row: Job | None, change: Waiting, job_id: str, policy: Policy, now_ms: int
) -> Decision:
    if row is not None and _admitted_only(row, change.attempt):
        base = _not_launched(row)
    elif row is not None and change.attempt <= row.attempts:
        return NO_CHANGE  # that attempt was launched already
    else:
        base = row or _new_row(job_id, change.ref, policy, now_ms)
    new = replace(
        base,
        status=JobStatus.WAITING,
        reason=change.reason,
        receive_count=change.receive_count,
        parked=change.parked,
    )
    return _changed(row, new, now_ms)


def _admitted(
    row: Job | None, change: Admitted, job_id: str, policy: Policy, now_ms: int
) -> Decision:
    if row is not None and change.attempt <= row.attempts:
        return NO_CHANGE  # admitted (or launched) already: a redelivery takes no second slot
    base = row or _new_row(job_id, change.ref, policy, now_ms)
    new = replace(
        _fresh_attempt(base),
        status=JobStatus.PENDING,
        attempts=change.attempt,
        holds_slot=change.takes_slot,
        launched_at=now_ms,
        reason=None,
        next_attempt_at=None,
        parked=False,
    )
    return _changed(row, new, now_ms)


def _not_needed(row: Job | None, change: NotNeeded, now_ms: int) -> Decision:
    if row is None or row.attempts > 0:
        return NO_CHANGE  # nothing recorded to close, or it was launched after all
    new = replace(row, status=JobStatus.CANCELLED, reason=change.reason, parked=False)
    return _changed(row, new, now_ms)


def _launched(
    row: Job | None, change: Launched, job_id: str, policy: Policy, now_ms: int
) -> Decision:
    if row is not None and change.attempt < row.attempts:
        return NO_CHANGE
    if row is not None and change.attempt == row.attempts:
        # Already known (the tracker saw the task first, or RunTask answered for the same
        # token again): fill in what is missing, never move back.
        return _fill_in(row, change, now_ms)
    base = row or _new_row(job_id, change.ref, policy, now_ms)
    arns = base.task_arns + ((change.task_arn,) if change.task_arn else ())
    new = replace(
        _fresh_attempt(base),
        status=JobStatus.PENDING,
        attempts=change.attempt,
        task_arns=arns,
        launched_at=now_ms,
        reason=None,
        next_attempt_at=None,
        parked=False,
    )
    return _changed(row, new, now_ms)


def _fill_in(row: Job, change: Launched, now_ms: int) -> Decision:
    arns = row.task_arns
    if change.task_arn and len(arns) < change.attempt and change.attempt == row.attempts:
        arns = (*arns, change.task_arn)  # the admitted attempt's task, now that RunTask said
    filled = replace(
        row,
        task_arns=arns,
        launched_at=row.launched_at or now_ms,
        version_id=row.version_id or change.ref.version_id,
        etag=row.etag or change.ref.etag,
        size=row.size if row.size is not None else change.ref.size,
        event_time=row.event_time or change.ref.event_time,
    )
    return _changed(row, filled, now_ms)


def _dead_lettered(
    row: Job | None, change: DeadLettered, job_id: str, policy: Policy, now_ms: int
) -> Decision:
    if row is not None and _admitted_only(row, change.attempt):
        base = _not_launched(row)
    elif row is not None and change.attempt <= row.attempts:
        return NO_CHANGE  # launched after all; the task's events decide
    else:
        base = row or _new_row(job_id, change.ref, policy, now_ms)
    new = replace(
        base,
        status=JobStatus.DEAD_LETTERED,
        reason=f"in the dead-letter queue after {change.receive_count or '?'} receives: "
        f"{change.reason}",
        receive_count=change.receive_count,
    )
    return _changed(row, new, now_ms, notify=True)


def _operator_retry(
    row: Job | None, change: RetryRequested, policy: Policy, now_ms: int
) -> Decision:
    if row is None or not row.status.final:
        return NO_CHANGE  # nothing to retry, or it is still in flight
    attempt = row.attempts + 1
    size_up = row.size_up
    resource = _resource_kill(row.exit_code, row.container_reason)
    if resource is not None and _grows_for(resource, row, policy.task_sizes):
        size_up += 1  # it ended for want of memory or disk: the retry runs one size up
    new = replace(
        row,
        status=JobStatus.RETRYING,
        reason=f"retry requested: {change.reason}",
        next_attempt_at=now_ms,
        size_up=size_up,
    )
    return _changed(row, new, now_ms, retry=RetryOrder(attempt=attempt, delay_s=0))


# --- the task side (the tracker, the reconciler) -----------------------------------------------
def _task_changed(
    row: Job | None, change: TaskChanged, job_id: str, policy: Policy, now_ms: int
) -> Decision:
    event = change.event
    attempt = event.attempt or 1
    if row is not None and attempt < row.attempts:
        return NO_CHANGE  # an earlier attempt's task
    base = row or _new_row(job_id, _ref_from_overrides(event), policy, now_ms)
    arn_known = len(base.task_arns) >= attempt
    if attempt == base.attempts and arn_known:
        if base.task_arn != event.task_arn:
            return NO_CHANGE  # not the task this attempt launched
        if event.version <= base.task_version:
            return NO_CHANGE  # a duplicate, or older than what was applied
    elif attempt == base.attempts:
        base = replace(base, task_arns=(*base.task_arns, event.task_arn))
    else:
        # The task's events arrived before the runner recorded its launch.
        base = replace(
            _fresh_attempt(base),
            attempts=attempt,
            task_arns=(*base.task_arns, event.task_arn),
            status=JobStatus.PENDING,
            reason=None,
            next_attempt_at=None,
            parked=False,
        )
    times = replace(
        base,
        task_version=max(event.version, base.task_version),
        started_at=event.started_at or base.started_at,
        stopped_at=event.stopped_at or base.stopped_at,
        # ECS's own creation time, when it says, so the row does not depend on arrival order.
        launched_at=event.created_at or base.launched_at,
    )
    if not event.stopped:
        status = JobStatus.RUNNING if event.last_status == "RUNNING" else JobStatus.PENDING
        if status == JobStatus.PENDING and base.status == JobStatus.RUNNING:
            status = JobStatus.RUNNING
        return _changed(row, replace(times, status=status), now_ms)
    return _task_stopped(row, times, change, policy, now_ms)


def _task_stopped(  # noqa: PLR0911 -- one return per way a task ends
    row: Job | None, base: Job, change: TaskChanged, policy: Policy, now_ms: int
) -> Decision:
    event = change.event
    attempt = event.attempt or base.attempts or 1
    if (
        row is not None
        and row.accounted_attempts >= attempt
        and row.status not in (JobStatus.PENDING, JobStatus.RUNNING)
    ):
        # ECS reported this attempt's stop again (a newer version of the same STOPPED task):
        # it was decided already, so it moves nothing (no second retry, no size skipped).
        return _changed(row, replace(row, task_version=base.task_version), now_ms)
    stopped = _accounted(
        replace(
            base,
            exit_code=event.exit_code,
            stop_code=event.stop_code,
            stopped_reason=event.stopped_reason,
            container_reason=event.container_reason,
        ),
        change,
        policy,
    )
    code = event.exit_code
    if code == 0:
        # Only a result that is in the bucket is the job's (the task may write none).
        result = (
            c.result_key(
                base.key, input_prefix=policy.input_prefix, results_prefix=policy.results_prefix
            )
            if change.result_written
            else None
        )
        done = replace(
            stopped,
            status=JobStatus.SUCCEEDED,
            reason=None if result else "succeeded without a result document",
            result_key=result,
            output_keys=change.output_keys if result else (),
            output_count=change.output_count if result else None,
        )
        return _changed(row, done, now_ms)
    if event.stop_code == StopCode.USER_INITIATED:
        reason = f"stopped by a user: {event.stopped_reason or 'StopTask'}"
        return _changed(row, replace(stopped, status=JobStatus.CANCELLED, reason=reason), now_ms)
    if (
        event.stop_code == StopCode.TERMINATION_NOTICE
        and event.stopped_reason == LOCAL_SHUTDOWN_REASON
    ):
        # `dev` stopped while the task ran: not the job's failure, and not one of its attempts.
        freed = replace(stopped, free_attempts=stopped.free_attempts + 1)
        why = f"{event.stop_code}: {LOCAL_SHUTDOWN_REASON} (not counted as an attempt)"
        return _retry_or_fail(row, freed, why, policy, now_ms)
    if event.stop_code in PLATFORM_STOPS or code is None:
        why = f"{event.stop_code or 'stopped'}: {event.stopped_reason or 'no reason given'}"
        if stopped.on_demand and not base.on_demand:
            why += f"; after {stopped.spot_interruptions} Spot interruption(s) it runs On-Demand"
        return _retry_or_fail(row, stopped, why, policy, now_ms)
    if code == c.EXIT_SUPERSEDED:
        reason = (
            "superseded: the object was overwritten after this upload; the newer upload has "
            "a job of its own"
        )
        return _changed(row, replace(stopped, status=JobStatus.CANCELLED, reason=reason), now_ms)
    resource = _resource_kill(code, event.container_reason)
    if resource == "memory" or (resource == "disk" and code not in policy.retry_exit_codes):
        return _resource_killed(row, stopped, resource, policy, now_ms)
    said = f": {change.failure}" if change.failure else ""
    if code in policy.retry_exit_codes:
        return _retry_or_fail(row, stopped, f"exited with code {code}{said}", policy, now_ms)
    reason = f"exited with code {code}{said}"
    return _changed(row, replace(stopped, status=JobStatus.FAILED, reason=reason), now_ms, True)


def _resource_kill(code: int | None, container_reason: str | None) -> str | None:
    """``memory`` or ``disk`` when the task was killed for want of it (None: it was not)."""
    if is_out_of_memory(container_reason):
        return "memory"
    if code == c.EXIT_NO_SPACE:
        return "disk"
    return None


def _resource_killed(
    row: Job | None, stopped: Job, resource: str, policy: Policy, now_ms: int
) -> Decision:
    """A task killed for memory or disk: the next attempt one size up, while there is one."""
    event_reason = stopped.container_reason or stopped.stopped_reason or "no reason given"
    if resource == "memory":
        what = f"out of memory (exit {stopped.exit_code}: {event_reason})"
        remedy = "memory_limit_mib"
    else:
        what = f"out of disk space (exit {stopped.exit_code}: the object does not fit)"
        remedy = "ephemeral_storage_gib"
    sizes = policy.task_sizes
    if not _grows_for(resource, stopped, sizes):
        which = ""
        if sizes:
            top = not sizes.can_grow(stopped.size, stopped.size_up)
            which = " of the largest task size" if top else " of the next task size"
        reason = f"{what}: raise {remedy}{which}"
        if stopped.attempts > 1:
            reason = f"attempt {stopped.attempts} {reason}"
        return _changed(row, replace(stopped, status=JobStatus.FAILED, reason=reason), now_ms, True)
    was = sizes.for_attempt(stopped.size, stopped.size_up)
    bigger = sizes.for_attempt(stopped.size, stopped.size_up + 1)
    if _spent(stopped) >= policy.max_attempts:
        reason = (
            f"gave up after {stopped.attempts} attempt(s); last: {what} at {was.label} "
            f"(max_attempts {policy.max_attempts} reached before the next size, {bigger.label})"
        )
        return _changed(row, replace(stopped, status=JobStatus.FAILED, reason=reason), now_ms, True)
    retrying = replace(
        stopped,
        status=JobStatus.RETRYING,
        size_up=stopped.size_up + 1,
        reason=f"attempt {stopped.attempts} {what} at {was.label}; attempt "
        f"{stopped.attempts + 1} runs one size up, at {bigger.label}",
        next_attempt_at=stopped.stopped_at or now_ms,
    )
    # No back-off: a bigger task is a different request, not the same one tried too soon.
    order = RetryOrder(attempt=stopped.attempts + 1, delay_s=0)
    return _changed(row, retrying, now_ms, retry=order)


def _grows_for(resource: str, job: Job, sizes: TaskSizes) -> bool:
    """True when the next size has more of ``resource`` than the one ``job`` ran at."""
    if not sizes.can_grow(job.size, job.size_up):
        return False
    was = sizes.for_attempt(job.size, job.size_up)
    bigger = sizes.for_attempt(job.size, job.size_up + 1)
    if resource == "memory":
        return bigger.memory_limit_mib > was.memory_limit_mib
    return (bigger.ephemeral_storage_gib or DEFAULT_EPHEMERAL_GIB) > (
        was.ephemeral_storage_gib or DEFAULT_EPHEMERAL_GIB
    )


def _accounted(stopped: Job, change: TaskChanged, policy: Policy) -> Job:
    """The first stop of an attempt adds its cost, its size and a Spot interruption to the
    row; a repeated or late one adds nothing."""
    event = change.event
    attempt = event.attempt or stopped.attempts or 1
    if attempt <= stopped.accounted_attempts:
        return stopped
    spot = (event.capacity_provider or "") == SPOT_CAPACITY
    sizes = stopped.attempt_sizes
    if event.cpu and event.memory_mib:
        disk = event.ephemeral_gib
        ran_at = TaskSize(
            up_to_bytes=None,
            cpu=event.cpu,
            memory_limit_mib=event.memory_mib,
            ephemeral_storage_gib=disk if disk and disk > DEFAULT_EPHEMERAL_GIB else None,
        )
        sizes = (*sizes, f"{attempt}: {ran_at.label}{', Spot' if spot else ''}")
    interruptions = stopped.spot_interruptions + (event.stop_code == StopCode.SPOT_INTERRUPTION)
    limit = policy.spot_fallback_after
    cost = stopped.cost_usd
    if change.cost_usd is not None:
        cost = (cost or 0.0) + change.cost_usd
    return replace(
        stopped,
        accounted_attempts=attempt,
        attempt_sizes=sizes,
        cost_usd=cost,
        spot_interruptions=interruptions,
        on_demand=stopped.on_demand or (limit is not None and interruptions >= limit),
    )


def _task_lost(row: Job | None, change: TaskLost, policy: Policy, now_ms: int) -> Decision:
    if row is None or row.task_arn != change.task_arn:
        return NO_CHANGE
    if row.status not in (JobStatus.PENDING, JobStatus.RUNNING):
        return NO_CHANGE
    lost = replace(row, stop_code="TaskLost", stopped_reason=change.reason, stopped_at=now_ms)
    return _retry_or_fail(row, lost, f"lost: {change.reason}", policy, now_ms)


def _retry_or_fail(
    row: Job | None, stopped: Job, why: str, policy: Policy, now_ms: int
) -> Decision:
    if _spent(stopped) < policy.max_attempts:
        delay = policy.retry_delay_s(_spent(stopped))
        retrying = replace(
            stopped,
            status=JobStatus.RETRYING,
            reason=f"attempt {stopped.attempts} {why}; attempt {stopped.attempts + 1} in {delay}s",
            # From the stop ECS reported, so the row does not depend on when events arrive.
            next_attempt_at=(stopped.stopped_at or now_ms) + delay * 1000,
        )
        order = RetryOrder(attempt=stopped.attempts + 1, delay_s=delay)
        return _changed(row, retrying, now_ms, retry=order)
    failed = replace(
        stopped,
        status=JobStatus.FAILED,
        reason=f"gave up after {stopped.attempts} attempt(s); last: {why}",
    )
    return _changed(row, failed, now_ms, notify=True)


# --- helpers -------------------------------------------------------------------------------------
def _spent(row: Job) -> int:
    """The attempts counted against ``max_attempts``."""
    return row.attempts - row.free_attempts


def _new_row(job_id: str, ref: ObjectRef, policy: Policy, now_ms: int) -> Job:
    return Job(
        job_id=job_id,
        bucket=ref.bucket,
        key=ref.key,
        version_id=ref.version_id,
        etag=ref.etag,
        size=ref.size,
        event_time=ref.event_time,
        status=JobStatus.WAITING,
        created_at=now_ms,
        expires_at=(now_ms + policy.ttl_days * _MS_PER_DAY) // 1000,
    )


def _fresh_attempt(row: Job) -> Job:
    """The row with the previous attempt's task details cleared."""
    return replace(
        row,
        exit_code=None,
        stop_code=None,
        stopped_reason=None,
        container_reason=None,
        started_at=None,
        stopped_at=None,
        launched_at=None,
        task_version=0,
    )


def _ref_from_overrides(event: TaskStateChange) -> ObjectRef:
    task = c.TaskEnvironment.of(event.environment)
    return ObjectRef(
        bucket=task.bucket,
        key=task.key,
        version_id=task.version_id,
        etag=task.etag,
        size=task.size,
    )


def _changed(
    old: Job | None,
    new: Job,
    now_ms: int,
    notify: bool = False,
    retry: RetryOrder | None = None,
) -> Decision:
    if new.holds_slot and new.status not in (JobStatus.PENDING, JobStatus.RUNNING):
        new = replace(new, holds_slot=False)  # the task stopped, or the launch failed
    if new == old:
        return NO_CHANGE
    notify = notify and (old is None or old.status != new.status)
    return Decision(
        row=replace(new, updated_at=now_ms, revision=(old.revision if old else 0) + 1),
        retry=retry,
        notify=notify,
        previous=old,
    )
