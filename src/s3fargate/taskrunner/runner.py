"""The runner: for every created object in an event, launch exactly one task; lose nothing."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)

from s3fargate.events import MalformedEventError, ObjectCreated, Skipped, parse_event
from s3fargate.events.parser import parse_message_body
from s3fargate.lambda_runtime.settings import SERVICE_NAMES, Function
from s3fargate.launching.capacity import CAP_REACHED, LaunchBudget
from s3fargate.launching.exceptions import VERSION_CLAIMED, LaunchError
from s3fargate.launching.launcher import VCPU_QUOTA_REACHED, RunTaskLauncher
from s3fargate.taskrunner.exceptions import RecordFailedError

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from s3fargate.events import ParsedEvent
    from s3fargate.launching.config import RunnerConfig
    from s3fargate.launching.ecs_api import EcsApi
    from s3fargate.launching.launcher import Launched
    from s3fargate.launching.recorder import LaunchRecorder


class TaskRunner:
    """Handles runner events: SQS batches (partial failures), or bare S3/EventBridge events.

    The Lambda handler and the local dispatcher both call :meth:`handle`; only the ECS client
    differs (boto3 in AWS, a subprocess launcher locally).
    """

    def __init__(
        self,
        *,
        config: RunnerConfig,
        ecs: EcsApi,
        logger: Logger | None = None,
        recorder: LaunchRecorder | None = None,
    ) -> None:
        self.config = config
        self._ecs = ecs
        self._launcher = RunTaskLauncher(ecs=ecs, config=config)
        self._logger = logger or Logger(service=SERVICE_NAMES[Function.RUNNER])
        self._recorder = recorder
        # Every record ends in the response: success, or listed in batchItemFailures.
        self._processor = BatchProcessor(
            event_type=EventType.SQS, raise_on_entire_batch_failure=False
        )

    def handle(self, event: dict[str, Any], context: LambdaContext | None = None) -> dict[str, Any]:
        """Process one Lambda event.

        For an SQS batch, returns ``{"batchItemFailures": [...]}`` naming exactly the records
        that launched nothing. For a bare S3 notification or EventBridge event (no queue),
        raises :class:`RecordFailedError` when any object failed, so Lambda's retries and
        on-failure destination take over.
        """
        budget = self._budget()
        if _is_sqs_batch(event):
            result = process_partial_response(
                event=event,
                record_handler=partial(self._process_sqs_record, budget=budget),
                processor=self._processor,
                context=context,
            )
            return dict(result)
        try:
            items = parse_event(event)
        except MalformedEventError as exc:
            self._logger.error(
                "malformed event", extra={"outcome": "malformed", "reason": str(exc)}
            )
            raise
        launched = self._process_items(items, budget=budget, message_id=None, receive_count=None)
        return {"launched": launched, "skipped": sum(isinstance(i, Skipped) for i in items)}

    def _budget(self) -> LaunchBudget:
        return LaunchBudget(
            ecs=self._ecs,
            cluster=self.config.cluster_arn,
            limit=self.config.max_running_tasks,
            started_by=self.config.pipeline_id,
        )

    def _process_sqs_record(self, record: SQSRecord, *, budget: LaunchBudget) -> int:
        message_id = record.message_id
        receive_count = _receive_count(record)
        try:
            items = parse_message_body(record.body, message_id=message_id)
        except MalformedEventError as exc:
            self._logger.error(
                "malformed message",
                extra={
                    "outcome": "malformed",
                    "message_id": message_id,
                    "receive_count": receive_count,
                    "reason": exc.reason,
                },
            )
            if self._recorder:
                self._recorder.malformed(message_id, exc, receive_count=receive_count)
            raise
        return self._process_items(
            items, budget=budget, message_id=message_id, receive_count=receive_count
        )

    def _process_items(
        self,
        items: list[ParsedEvent],
        *,
        budget: LaunchBudget,
        message_id: str | None,
        receive_count: int | None,
    ) -> int:
        # Try every object of a message even after one fails; tokens make the retry idempotent.
        launched = 0
        failures: list[str] = []
        for item in items:
            if isinstance(item, Skipped):
                self._logger.info(
                    "skipped",
                    extra={
                        "outcome": "skipped",
                        "reason": item.reason.value,
                        "detail": item.detail,
                        "bucket": item.bucket,
                        "key": item.key,
                        "message_id": message_id,
                    },
                )
                continue
            try:
                try:
                    outcome = self._launch(item, budget=budget, message_id=message_id)
                except LaunchError as exc:
                    if exc.code == VERSION_CLAIMED:
                        raise
                    if self._parks(exc) and self._recorder and self._recorder.park(item, exc):
                        self._log_outcome("parked", item, message_id, exc.reason)
                        continue
                    failures.append(f"{item.key}: {exc.reason}")
                    if self._recorder:
                        self._recorder.not_launched(item, exc, receive_count=receive_count)
                    continue
            except LaunchError as exc:
                if exc.code != VERSION_CLAIMED:
                    raise
                # Another job has this object version (a backfill of a queued upload, or S3
                # delivering one upload twice): nothing to launch, nothing failed.
                self._log_outcome("duplicate-version", item, message_id, exc.reason)
                continue
            launched += 1
            if self._recorder:
                self._recorder.launched(item, outcome)
        if failures:
            raise RecordFailedError("; ".join(failures))
        return launched

    def _log_outcome(
        self, outcome: str, item: ObjectCreated, message_id: str | None, reason: str
    ) -> None:
        self._logger.info(
            outcome.replace("-", " "),
            extra={
                "outcome": outcome,
                "bucket": item.bucket,
                "key": item.key,
                "message_id": message_id,
                "reason": reason,
            },
        )

    @staticmethod
    def _parks(error: LaunchError) -> bool:
        """A launch refused for want of room — the cap, or Fargate's vCPU quota — waits in the
        ledger's waiting room (when the recorder has one) instead of in the queue."""
        return error.code in (CAP_REACHED, VCPU_QUOTA_REACHED)

    def _launch(
        self, obj: ObjectCreated, *, budget: LaunchBudget, message_id: str | None
    ) -> Launched:
        where = {"bucket": obj.bucket, "key": obj.key, "message_id": message_id}
        try:
            # The ledger keeps the cap when there is one (a slot per admitted job, taken in the
            # same write as the row); without a ledger, ListTasks is counted once a batch.
            admitted = budget.admit(obj, self._recorder)
            if not admitted:
                budget.take()
            try:
                launched = self._launcher.launch(obj)
            except LaunchError:
                if not admitted:
                    budget.give_back()
                raise
        except LaunchError as exc:
            self._logger.warning(
                "launch failed",
                extra={
                    **where,
                    "outcome": "failed",
                    "reason": exc.reason,
                    "code": exc.code,
                    "retryable": exc.retryable,
                },
            )
            raise
        self._logger.info(
            "already launched" if launched.duplicate else "launched",
            extra={
                **where,
                "outcome": "duplicate" if launched.duplicate else "launched",
                "task_arn": launched.task_arn,
                "size": obj.size,
            },
        )
        return launched


def _receive_count(record: SQSRecord) -> int | None:
    raw = record.attributes.get("ApproximateReceiveCount")
    return int(raw) if raw and raw.isdigit() else None


def _is_sqs_batch(event: dict[str, Any]) -> bool:
    records = event.get("Records")
    return (
        isinstance(records, list)
        and bool(records)
        and isinstance(records[0], dict)
        and records[0].get("eventSource") == "aws:sqs"
    )
