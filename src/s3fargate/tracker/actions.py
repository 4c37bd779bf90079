"""What a decision asks for beyond the row: queue the next attempt, tell the operators."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from s3fargate import contracts as c

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from s3fargate.ledger import Decision, Job, RetryOrder
    from s3fargate.ledger.notifications import Notifier

#: SQS's longest message delay.
MAX_DELAY_S = c.SQS_MAX_DELAY_S


class JobActions:
    """Carries out a decision's retry order and notification."""

    def __init__(
        self,
        *,
        sqs: SQSClient,
        queue_url: str,
        notifier: Notifier | None = None,
        container_name: str | None = None,
    ) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._notifier = notifier
        self._container_name = container_name

    def carry_out(self, decision: Decision) -> None:
        """Queue the retry the decision orders, and announce the job if it ended badly."""
        row = decision.row
        if row is None:
            return
        if decision.retry is not None:
            self.queue_attempt(row, decision.retry)
        if decision.notify and self._notifier is not None:
            stream = (
                c.task_log_stream(self._container_name, row.task_arn)
                if self._container_name and row.task_arn
                else None
            )
            self._notifier.job_ended(row, log_stream=stream)

    def queue_attempt(self, row: Job, order: RetryOrder) -> None:
        """Send the runner a retry request: it launches through the normal path (the cap applies).

        Sending it twice is harmless: the attempt's clientToken makes RunTask start one task.
        """
        body = c.retry_request(
            job_id=row.job_id,
            attempt=order.attempt,
            bucket=row.bucket,
            key=row.key,
            version_id=row.version_id,
            etag=row.etag,
            size=row.size,
            reason=row.reason or "retry",
            requested_at=datetime.now(UTC).isoformat(),
            size_up=row.size_up,
            on_demand=row.on_demand,
        )
        self._sqs.send_message(
            QueueUrl=self._queue_url,
            MessageBody=json.dumps(body, ensure_ascii=False),
            DelaySeconds=max(0, min(order.delay_s, MAX_DELAY_S)),
        )
