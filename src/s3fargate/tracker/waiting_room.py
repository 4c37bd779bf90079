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

from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger

from s3fargate import contracts as c
from s3fargate.events import EventSourceKind, ObjectCreated
from s3fargate.ledger import Launched
from s3fargate.taskrunner.capacity import count_active_tasks
from s3fargate.taskrunner.exceptions import LaunchError

if TYPE_CHECKING:
    from s3fargate.ledger import Job, LedgerStore
    from s3fargate.taskrunner.config import RunnerConfig
    from s3fargate.taskrunner.ecs_api import EcsApi
    from s3fargate.taskrunner.launcher import RunTaskLauncher


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
        self._logger = logger or Logger(service="s3fargate-tracker")

    def release(self, slots: int) -> int:
        """Launch up to ``slots`` parked jobs; return how many were launched.

        Each launch is recorded on the row as listed. If another tracker recorded it first, both
        sent the same ``clientToken``, so ECS started one task: this tracker launches the next
        parked job instead, and no slot is lost. A job whose launch fails stays parked (nothing
        is lost) and the rest wait for the next freed slot or reconciler pass, since a failing
        launch now would fail for the others too.
        """
        launched = 0
        while launched < slots:
            jobs = self._store.parked_jobs(slots - launched)
            if not jobs:
                break
            for job in jobs:
                obj = object_of(job)
                try:
                    outcome = self._launcher.launch(obj)
                except LaunchError as exc:
                    self._logger.warning(
                        "parked job not launched",
                        extra={"job_id": job.job_id, "key": job.key, "reason": exc.reason},
                    )
                    return launched
                change = Launched(ref=job.ref, attempt=obj.attempt, task_arn=outcome.task_arn)
                if self._store.apply_if_unchanged(job, change) is None:
                    self._store.apply(job.job_id, change)  # lost the race: fill in, go on
                    continue
                launched += 1
        return launched

    def top_up(self) -> int:
        """Fill free slots: every one under the cap (one ListTasks, then :meth:`release`), or,
        with no cap, launch parked jobs until Fargate refuses (at most ``UNCAPPED_TOP_UP``)."""
        limit = self._config.max_running_tasks
        if limit is None:
            return self.release(UNCAPPED_TOP_UP)
        active = count_active_tasks(self._ecs, self._config.cluster_arn, self._config.pipeline_id)
        return self.release(limit - active) if active < limit else 0


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
    )
