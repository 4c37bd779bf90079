"""The reconciler: finds jobs whose events were lost, and retries that were never queued.

Runs on a schedule. A ``pending`` or ``running`` job with no event for ``reconcile_after_s``
is checked with DescribeTasks: a stopped task is applied as its event would have been; a task
ECS no longer knows (it forgets stopped tasks after about an hour) is lost and retried. A
``retrying`` job whose next attempt is overdue gets its retry request again (the attempt's
clientToken keeps that from starting a second task). Every pass ends by filling free slots
from the waiting room.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from s3fargate.events.ecs import parse_described_task
from s3fargate.ledger import JobStatus, RetryOrder, TaskLost

if TYPE_CHECKING:
    from collections.abc import Callable

    from s3fargate.ledger import Job, LedgerStore
    from s3fargate.tracker.actions import JobActions
    from s3fargate.tracker.config import TrackerConfig
    from s3fargate.tracker.metrics import JobMetrics
    from s3fargate.tracker.tracker import Tracker
    from s3fargate.tracker.waiting_room import WaitingRoom

#: DescribeTasks takes at most 100 tasks a call.
DESCRIBE_BATCH = 100


@dataclass
class ReconcileReport:
    """What one pass found."""

    checked: int = 0
    stopped: int = 0
    lost: int = 0
    requeued: int = 0
    #: Parked jobs launched into free slots under the cap.
    released: int = 0
    #: Admitted attempts whose launch was never recorded, launched again with their token.
    resumed: int = 0


class Reconciler:
    """One pass over the ledger's in-flight jobs (see the module docstring)."""

    def __init__(
        self,
        *,
        config: TrackerConfig,
        store: LedgerStore,
        tracker: Tracker,
        actions: JobActions,
        ecs: Any,
        clock: Callable[[], int],
        waiting_room: WaitingRoom | None = None,
        metrics: JobMetrics | None = None,
    ) -> None:
        self._config = config
        self._store = store
        self._tracker = tracker
        self._actions = actions
        self._ecs = ecs
        self._clock = clock
        self._waiting_room = waiting_room
        self._metrics = metrics

    def run(self) -> ReconcileReport:
        """Check every quiet in-flight job once."""
        report = ReconcileReport()
        quiet_since = self._clock() - self._config.reconcile_after_s * 1000
        # Overdue retries first, so a job this pass finds lost is not queued twice.
        for job in self._store.jobs_with_status(JobStatus.RETRYING, updated_before=quiet_since):
            if job.next_attempt_at is not None and job.next_attempt_at < quiet_since:
                self._actions.queue_attempt(job, RetryOrder(attempt=job.attempts + 1, delay_s=0))
                report.requeued += 1
        quiet: list[Job] = []
        for status in (JobStatus.PENDING, JobStatus.RUNNING):
            quiet.extend(self._store.jobs_with_status(status, updated_before=quiet_since))
        for job in quiet:
            if job.holds_slot and job.attempt_task_arn is None and self._waiting_room:
                report.resumed += self._waiting_room.resume(job)
        by_arn = {job.attempt_task_arn: job for job in quiet if job.attempt_task_arn}
        arns = list(by_arn)
        for start in range(0, len(arns), DESCRIBE_BATCH):
            self._describe(arns[start : start + DESCRIBE_BATCH], by_arn, report)
        if self._waiting_room is not None:
            report.released = self._waiting_room.top_up()
        if self._metrics is not None:
            count = self._store.count_with_status
            self._metrics.gauges(
                in_flight=count(JobStatus.PENDING) + count(JobStatus.RUNNING),
                waiting=count(JobStatus.WAITING),
            )
        return report

    def _describe(self, arns: list[str], by_arn: dict[str, Job], report: ReconcileReport) -> None:
        response = self._ecs.describe_tasks(cluster=self._config.cluster_arn, tasks=arns)
        report.checked += len(arns)
        for task in response.get("tasks") or []:
            change = parse_described_task(task)
            if change.stopped:
                report.stopped += 1
            self._tracker.track(change)
        found = {task.get("taskArn") for task in response.get("tasks") or []}
        # ECS answers MISSING for a task it forgot; an answer that names the task neither way
        # means the same. Any other failure (access, throttling) says nothing about the task.
        other_failures = {
            f.get("arn") for f in response.get("failures") or [] if f.get("reason") != "MISSING"
        }
        for arn in arns:
            if arn in found or arn in other_failures:
                continue
            decision = self._store.apply(
                by_arn[arn].job_id,
                TaskLost(task_arn=arn, reason="ECS no longer knows the task (MISSING)"),
            )
            self._actions.carry_out(decision)
            if self._metrics is not None:
                self._metrics.job_changed(decision)
            report.lost += 1
