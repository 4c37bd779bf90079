"""The runner's side of the job ledger: admissions, launches (``pending``) and waits
(``waiting``), each upload's first write claiming its object version."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import TYPE_CHECKING

from s3fargate import contracts as c
from s3fargate.launching.capacity import CAP_REACHED
from s3fargate.launching.exceptions import VERSION_CLAIMED, LaunchError
from s3fargate.launching.request import job_id_of
from s3fargate.ledger import (
    Admitted,
    DeadLettered,
    JobStatus,
    Launched,
    NotNeeded,
    ObjectRef,
    SlotsFullError,
    Waiting,
)
from s3fargate.ledger.identity import version_claim_key
from s3fargate.ledger.store import Claim, VersionClaimedError

if TYPE_CHECKING:
    from s3fargate.events import MalformedEventError, ObjectCreated
    from s3fargate.launching.launcher import Launched as LaunchedTask
    from s3fargate.ledger import Change, Decision, Job, LedgerStore
    from s3fargate.ledger.notifications import Notifier


#: Rows kept from this recorder's own writes: a batch's worth and then some.
WRITTEN_KEPT = 64


class LedgerRecorder:
    """Writes each launch outcome to the ledger (the runner's :class:`LaunchRecorder`).

    Before RunTask, every upload's job is admitted: its row written ``pending`` together with
    its claim on the object version and, under a cap, a slot. A job whose version another job
    has starts no task (docs/design.md, "One processing per object version"). A record that
    fails its last receive (``max_receive_count``) goes to the dead-letter queue next, so its
    job is ``dead-lettered`` and announced; before that it is ``waiting``.
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
        #: Rows as this recorder last wrote them (the latest few), so the next write of the
        #: same job in this batch needs no read.
        self._written: OrderedDict[str, Job] = OrderedDict()

    def admit(self, obj: ObjectCreated) -> bool:
        """Record the job before its launch: its row ``pending``, its claim on the object
        version and, under a cap, a slot, in one transaction.

        Returns True when the ledger keeps the cap (the runner counts no tasks itself).

        Raises:
            LaunchError: every slot is held (``CAP_REACHED``), or another job has the object
                version (``VERSION_CLAIMED``: start no task).
        """
        slots = self._store.slots
        capped = slots is not None and slots.limit is not None
        try:
            self._apply(obj, Admitted(_ref(obj), obj.attempt, takes_slot=capped))
        except SlotsFullError as exc:
            limit = slots.limit if slots else None
            raise LaunchError(
                f"max_running_tasks={limit} tasks are admitted ({exc})",
                retryable=True,
                code=CAP_REACHED,
            ) from exc
        return capped

    def launched(self, obj: ObjectCreated, launched: LaunchedTask) -> None:
        """The job's attempt is ``pending``, its task known."""
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
        """Write ``change`` (an upload's first write with its claim).

        Raises:
            LaunchError: ``VERSION_CLAIMED`` when another job has the object version.
        """
        job_id = job_id_of(obj)
        known = self._written.get(job_id)
        decision = self._store.apply_if_unchanged(known, change) if known else None
        if decision is None:
            claim = _claim(obj, job_id)
            try:
                decision = self._write(job_id, obj, change, claim)
            except VersionClaimedError as exc:
                self._not_needed(job_id, exc.claimed_by)
                raise LaunchError(
                    f"job {exc.claimed_by} has this object version: no task for it",
                    retryable=False,
                    code=VERSION_CLAIMED,
                ) from exc
        if decision.row is not None:
            self._written[job_id] = decision.row
            self._written.move_to_end(job_id)
            while len(self._written) > WRITTEN_KEPT:
                self._written.popitem(last=False)
        if decision.notify and decision.row is not None and self._notifier is not None:
            self._notifier.job_ended(decision.row)

    def _write(
        self, job_id: str, obj: ObjectCreated, change: Change, claim: Claim | None
    ) -> Decision:
        # A first attempt of an upload (not a retry) most likely has no row yet.
        try:
            return self._store.apply(job_id, change, new=obj.job_id is None, claim=claim)
        except VersionClaimedError as exc:
            # An object found by backfill may take over from a job that ended without success.
            if claim is None or claim.token is not None or not self._ended_badly(exc.claimed_by):
                raise
            takeover = Claim(claim.key, job_id, None, takeover_from=exc.claimed_by)
            return self._store.apply(job_id, change, new=obj.job_id is None, claim=takeover)

    def _ended_badly(self, job_id: str | None) -> bool:
        if job_id is None:
            return True  # the claim is gone: nobody has the version
        row = self._store.get(job_id)
        return row is None or (row.status.final and row.status is not JobStatus.SUCCEEDED)

    def _not_needed(self, job_id: str, claimed_by: str | None) -> None:
        """Close the row backfill wrote for a version another job has (if there is one)."""
        reason = f"not needed: job {claimed_by} has this object version"
        self._store.apply(job_id, NotNeeded(reason))


def _claim(obj: ObjectCreated, job_id: str) -> Claim | None:
    """The claim an upload's first attempt makes on its object version (None: a retry, or no
    ETag to name the version by)."""
    if obj.job_id is not None or not obj.etag:
        return None
    key = version_claim_key(bucket=obj.bucket, key=obj.key, etag=obj.etag)
    if obj.sequencer == c.BACKFILL_SEQUENCER:
        return Claim(key, job_id, None)
    # The upload's own mark: S3's sequencer, or (where a server sends none) its event time,
    # which S3's duplicate deliveries of one event share.
    token = obj.sequencer or f"time:{obj.event_time or obj.origin_id or job_id}"
    return Claim(key, job_id, token, event_at=_epoch_ms(obj.event_time))


def _epoch_ms(text: str | None) -> int | None:
    if not text:
        return None
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def _ref(obj: ObjectCreated) -> ObjectRef:
    return ObjectRef(
        bucket=obj.bucket,
        key=obj.key,
        version_id=obj.version_id,
        etag=obj.etag,
        size=obj.size,
        event_time=obj.event_time,
    )
