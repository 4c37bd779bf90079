"""The waiting room: jobs refused for want of room wait in the ledger, not in the queue.

The runner parks every job that the cap (``max_running_tasks``) or Fargate's vCPU quota refuses
(a ``waiting`` row with ``parked``) and deletes its message. Each time one of this pipeline's
tasks stops, the tracker launches the longest-waiting parked job into the freed slot; the
reconciler tops up on every pass, for slots freed without an event (a lost task, a failed
release).
A backlog of any length therefore costs one ledger write per job, receives each message once,
and never walks a healthy upload into the dead-letter queue.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger

from s3fargate import contracts as c
from s3fargate.events import EventSourceKind, ObjectCreated
from s3fargate.lambda_runtime.settings import SERVICE_NAMES, Function
from s3fargate.launching.capacity import count_active_tasks
from s3fargate.launching.exceptions import LaunchError
from s3fargate.ledger import Admitted, Launched, SlotsFullError, Waiting

if TYPE_CHECKING:
    from s3fargate.launching.config import RunnerConfig
    from s3fargate.launching.ecs_api import EcsApi
    from s3fargate.launching.launcher import RunTaskLauncher
    from s3fargate.ledger import Job, LedgerStore


#: With no cap, a reconciler pass launches at most this many parked jobs (it stops at the
#: first refusal anyway); each stopping task frees a slot in between.
UNCAPPED_TOP_UP = 100


class WaitingRoom:
    """Launches parked jobs, oldest first, into free slots under the cap."""

    def __init__(
        self,
        *,
        config: RunnerConfig,
        store: LedgerStore,
        launcher: RunTaskLauncher,
        ecs: EcsApi,
        logger: Logger | None = None,
    ) -> None:
        self._config = config
        self._store = store
        self._launcher = launcher
        self._ecs = ecs
        self._logger = logger or Logger(service=SERVICE_NAMES[Function.TRACKER])

    def release(self, slots: int) -> int:
        """Launch up to ``slots`` parked jobs; return how many were launched.

        Under a cap each job is first admitted (its row and a slot, in one write): when every
        slot is held, releasing stops. A job is admitted or recorded on the row as listed; if
        another tracker got to it first, this one moves on to the next parked job, so no slot
        is lost. A job whose launch fails stays parked (its slot goes back), and the rest wait
        for the next freed slot or reconciler pass, since a failing launch now would fail for
        the others too.
        """
        launched = 0
        while launched < slots:
            jobs = self._store.parked_jobs(slots - launched)
            if not jobs:
                break
            for job in jobs:
                outcome = self._launch(job)
                if outcome in (_Outcome.FULL, _Outcome.FAILED):
                    return launched
                launched += outcome is _Outcome.LAUNCHED
        return launched

    def _launch(self, job: Job) -> _Outcome:
        row = job
        if self.admits:
            try:
                admitted = self._store.apply_if_unchanged(job, Admitted(job.ref, job.attempts + 1))
            except SlotsFullError:
                return _Outcome.FULL
            if admitted is None or admitted.row is None:
                return _Outcome.TAKEN  # another tracker admitted it
            row = admitted.row
            return _Outcome.LAUNCHED if self.launch_admitted(row) else _Outcome.FAILED
        obj = object_of(job)
        try:
            outcome = self._launcher.launch(obj)
        except LaunchError as exc:
            self._log_failure(job, exc)
            return _Outcome.FAILED
        change = Launched(ref=job.ref, attempt=obj.attempt, task_arn=outcome.task_arn)
        if self._store.apply_if_unchanged(row, change) is None:
            self._store.apply(job.job_id, change)  # the row moved on: fill in
            return _Outcome.TAKEN  # lost the race: ECS started one task for both
        return _Outcome.LAUNCHED

    def next_parked(self) -> Job | None:
        """The longest-waiting parked job, if any (one small query)."""
        jobs = self._store.parked_jobs(1)
        return jobs[0] if jobs else None

    def launch_admitted(self, row: Job) -> bool:
        """RunTask for a job just admitted (``row`` as written): record its task, or, when the
        launch fails, park it again and give its slot back."""
        obj = dataclasses.replace(object_of(row), attempt=row.attempts)
        try:
            outcome = self._launcher.launch(obj)
        except LaunchError as exc:
            self._log_failure(row, exc)
            reason = f"in the waiting room: {exc.reason}"
            self._store.apply(row.job_id, Waiting(row.ref, row.attempts, reason, parked=True))
            return False
        change = Launched(ref=row.ref, attempt=row.attempts, task_arn=outcome.task_arn)
        if self._store.apply_if_unchanged(row, change) is None:
            self._store.apply(row.job_id, change)  # an event came first: fill in
        return True

    def _log_failure(self, job: Job, exc: LaunchError) -> None:
        self._logger.warning(
            "parked job not launched",
            extra={"job_id": job.job_id, "key": job.key, "reason": exc.reason},
        )

    def resume(self, job: Job) -> bool:
        """Launch an admitted attempt whose launch was never recorded (its runner died between
        admission and RunTask): RunTask again with the attempt's token, so ECS answers with the
        task it started if it did, and record it. A failed launch parks the job, and its slot
        goes back."""
        return self.launch_admitted(job)

    @property
    def admits(self) -> bool:
        """The ledger keeps the cap (slots under ``max_running_tasks``)."""
        slots = self._store.slots
        return slots is not None and slots.limit is not None

    def top_up(self) -> int:
        """Fill free slots: every one under the cap, or, with no cap, launch parked jobs until
        Fargate refuses (at most ``UNCAPPED_TOP_UP``)."""
        limit = self._config.max_running_tasks
        if limit is None:
            return self.release(UNCAPPED_TOP_UP)
        if self.admits:
            held = self._store.slots_held()
        else:
            held = count_active_tasks(self._ecs, self._config.cluster_arn, self._config.pipeline_id)
        return self.release(limit - held) if held < limit else 0


class _Outcome(enum.Enum):
    """What became of one parked job offered a slot."""

    #: Every slot under the cap is held: stop releasing.
    FULL = "full"
    #: RunTask failed: the job stays parked; stop releasing.
    FAILED = "failed"
    #: Another tracker got to it first: go on with the next.
    TAKEN = "taken"
    LAUNCHED = "launched"


def object_of(job: Job) -> ObjectCreated:
    """The object of a parked job, as the runner launches it (its next attempt, its job id)."""
    return ObjectCreated(
        bucket=job.bucket,
        key=job.key,
        size=job.size,
        etag=job.etag,
        version_id=job.version_id,
        sequencer=None,
        event_name=c.RETRY_KIND,
        event_time=job.event_time,
        source=EventSourceKind.RETRY,
        job_id=job.job_id,
        attempt=job.attempts + 1,
        size_up=job.size_up,
        on_demand=job.on_demand,
    )
