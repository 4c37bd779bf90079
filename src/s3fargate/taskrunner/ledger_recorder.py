"""The runner's side of the job ledger: launches (``pending``) and waits (``waiting``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from s3fargate.ledger import Admitted, DeadLettered, Launched, ObjectRef, SlotsFullError, Waiting
from s3fargate.taskrunner.capacity import CAP_REACHED
from s3fargate.taskrunner.exceptions import LaunchError
from s3fargate.taskrunner.request import job_id_of

if TYPE_CHECKING:
    from s3fargate.events import MalformedEventError, ObjectCreated
    from s3fargate.ledger import Change, LedgerStore
    from s3fargate.ledger.notifications import Notifier
    from s3fargate.taskrunner.launcher import Launched as LaunchedTask


class LedgerRecorder:
    """Writes each launch outcome to the ledger (the runner's :class:`LaunchRecorder`).

    A record that fails its last receive (``max_receive_count``) goes to the dead-letter queue
    next, so its job is ``dead-lettered`` and announced; before that it is ``waiting``.
    """

    def __init__(
        self,
        store: LedgerStore,
        *,
        max_receive_count: int | None,
        notifier: Notifier | None = None,
    ) -> None:
        self._store = store
        self._max_receive_count = max_receive_count
        self._notifier = notifier

    def admit(self, obj: ObjectCreated) -> bool:
        """Take a slot under the cap: the job's row is written ``pending`` and the pipeline's
        slot counter raised in one transaction, refused when every slot is held."""
        slots = self._store.slots
        if slots is None or slots.limit is None:
            return False
        try:
            self._apply(obj, Admitted(_ref(obj), obj.attempt))
        except SlotsFullError as exc:
            raise LaunchError(
                f"max_running_tasks={slots.limit} tasks are admitted ({exc})",
                retryable=True,
                code=CAP_REACHED,
            ) from exc
        return True

    def launched(self, obj: ObjectCreated, launched: LaunchedTask) -> None:
        """The job's attempt is ``pending``."""
        self._apply(obj, Launched(ref=_ref(obj), attempt=obj.attempt, task_arn=launched.task_arn))

    def not_launched(
        self, obj: ObjectCreated, error: LaunchError, *, receive_count: int | None
    ) -> None:
        """The job is ``waiting``, or ``dead-lettered`` after the last receive."""
        last = (
            self._max_receive_count is not None
            and receive_count is not None
            and receive_count >= self._max_receive_count
        )
        change: Change = (
            DeadLettered(_ref(obj), obj.attempt, error.reason, receive_count)
            if last
            else Waiting(_ref(obj), obj.attempt, error.reason, receive_count)
        )
        self._apply(obj, change)

    def park(self, obj: ObjectCreated, error: LaunchError) -> bool:
        """The job waits in the ledger's waiting room; the tracker launches it when a task of
        this pipeline stops (and the reconciler tops up), so a backlog costs no receives."""
        reason = f"in the waiting room: {error.reason}"
        self._apply(obj, Waiting(_ref(obj), obj.attempt, reason, parked=True))
        return True

    def malformed(
        self, message_id: str | None, error: MalformedEventError, *, receive_count: int | None
    ) -> None:
        """No job to record: the message names no object (the DLQ alarm reports it)."""

    def _apply(self, obj: ObjectCreated, change: Change) -> None:
        # A first attempt of an upload (not a retry) most likely has no row yet.
        decision = self._store.apply(job_id_of(obj), change, new=obj.job_id is None)
        if decision.notify and decision.row is not None and self._notifier is not None:
            self._notifier.job_ended(decision.row)


def _ref(obj: ObjectCreated) -> ObjectRef:
    return ObjectRef(
        bucket=obj.bucket,
        key=obj.key,
        version_id=obj.version_id,
        etag=obj.etag,
        size=obj.size,
        event_time=obj.event_time,
    )
