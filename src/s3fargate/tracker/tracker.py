"""The tracker: ECS task-state-change events in (via SQS), job rows and retries out."""

from __future__ import annotations

import dataclasses
import json
from functools import partial
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from botocore.exceptions import ClientError

from s3fargate import contracts as c
from s3fargate.events.ecs import parse_task_state_change
from s3fargate.events.exceptions import MalformedEventError
from s3fargate.lambda_runtime.settings import SERVICE_NAMES, Function
from s3fargate.ledger import TaskChanged
from s3fargate.tracker.billing import task_cost

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from s3fargate.events.ecs import TaskStateChange
    from s3fargate.ledger import Job, LedgerStore
    from s3fargate.tracker.actions import JobActions
    from s3fargate.tracker.config import TrackerConfig
    from s3fargate.tracker.metrics import JobMetrics
    from s3fargate.tracker.task_logs import TaskLogs
    from s3fargate.tracker.waiting_room import WaitingRoom


class Tracker:
    """Applies each task-state-change event to its job's row, then carries out the decision.

    Events of other clusters or pipelines, and tasks without a job id (not started by a
    runner of this version), are logged and acknowledged. A record whose write or retry
    fails is returned in ``batchItemFailures`` and comes back; applying an event twice
    changes nothing, so redelivery is safe. When one of the pipeline's tasks stops, its slot
    goes to the longest-waiting parked job (``waiting_room``).
    """

    def __init__(
        self,
        *,
        config: TrackerConfig,
        store: LedgerStore,
        actions: JobActions,
        logger: Logger | None = None,
        waiting_room: WaitingRoom | None = None,
        s3: Any = None,
        metrics: JobMetrics | None = None,
        task_logs: TaskLogs | None = None,
    ) -> None:
        self.config = config
        self._store = store
        self._actions = actions
        #: Looks for a succeeded task's result document (HeadObject); None: never recorded.
        self._s3 = s3
        self._logger = logger or Logger(service=SERVICE_NAMES[Function.TRACKER])
        self._waiting_room = waiting_room
        #: Per-job figures for CloudWatch (the Lambda flushes them); None: none recorded.
        self._metrics = metrics
        #: Reads why a failed task failed; None: the reason is its exit code alone.
        self._task_logs = task_logs
        self._processor = BatchProcessor(
            event_type=EventType.SQS, raise_on_entire_batch_failure=False
        )

    def handle(self, event: dict[str, Any], context: LambdaContext | None = None) -> dict[str, Any]:
        """Process an SQS batch of EventBridge task-state-change events."""
        return dict(
            process_partial_response(
                event=event,
                record_handler=partial(self._process_record),
                processor=self._processor,
                context=context,
            )
        )

    def _process_record(self, record: SQSRecord) -> None:
        try:
            change = parse_task_state_change(record.body, message_id=record.message_id)
        except MalformedEventError as exc:
            self._logger.error("malformed task event", extra={"reason": str(exc)})
            raise
        self.track(change)

    def track(self, change: TaskStateChange) -> None:
        """Apply one task state change (also the reconciler's entry point)."""
        where = {"task_arn": change.task_arn, "last_status": change.last_status}
        if change.cluster_arn != self.config.cluster_arn or (
            change.started_by is not None and change.started_by != self.config.pipeline_id
        ):
            self._logger.info("not this pipeline's task", extra=where)
            return
        job_id = change.job_id
        if job_id is None:
            self._logger.warning("task has no job id in its overrides", extra=where)
            return
        applied = dataclasses.replace(
            self._with_result(change),
            cost_usd=task_cost(change, self.config.fargate_prices, public_ip=self.config.public_ip),
            failure=self._failure(change),
        )
        room = self._waiting_room
        heir, looked = None, False
        if change.stopped and room is not None and room.admits:
            # Under a cap, the slot this task frees goes straight to the longest-parked job,
            # in the same write.
            handed = self._store.apply_handing_over(job_id, applied, room.next_parked)
            decision, heir, looked = handed.decision, handed.heir, handed.looked
        else:
            decision = self._store.apply(job_id, applied)
        if decision.row is None:
            self._logger.info(
                "event changes nothing",
                extra={**where, "job_id": job_id, "version": change.version},
            )
            return
        self._actions.carry_out(decision)
        if self._metrics is not None:
            self._metrics.job_changed(decision)
        if heir is not None and room is not None:
            self._launch_heir(room, heir)
        elif change.stopped and not looked:
            self._release_slot(job_id)
        row = decision.row
        self._logger.info(
            "job updated",
            extra={
                **where,
                "job_id": job_id,
                "bucket": row.bucket,
                "key": row.key,
                "status": row.status.value,
                "attempt": row.attempts,
                "exit_code": row.exit_code,
                "stop_code": row.stop_code,
                "reason": row.reason,
                "cost_usd": row.cost_usd,
                "retry_in_s": decision.retry.delay_s if decision.retry else None,
            },
        )

    def _failure(self, change: TaskStateChange) -> str | None:
        """A task that exited with a code other than 0, in its own words (its log's end)."""
        if not change.stopped or change.exit_code in (None, 0) or self._task_logs is None:
            return None
        return self._task_logs.failure_of(change.task_arn)

    def _with_result(self, change: TaskStateChange) -> TaskChanged:
        """The change, with the result document a task that exited 0 wrote since it started
        (a task is free to write none: the ledger names only results that exist) and the
        outputs that document lists."""
        if not (change.stopped and change.exit_code == 0) or self._s3 is None:
            return TaskChanged(change)
        task = c.TaskEnvironment.of(change.environment)
        bucket, key = task.bucket, task.key
        if not bucket or not key:
            return TaskChanged(change)
        policy = self.config.policy
        result = c.result_key(
            key, input_prefix=policy.input_prefix, results_prefix=policy.results_prefix
        )
        head = self._look(bucket, result, "head_object")
        if head is None:
            return TaskChanged(change)
        # An older upload of the same key may have left a result: only one written since this
        # task started is its own (LastModified has whole seconds).
        modified = head.get("LastModified")
        started = change.started_at or change.created_at or 0
        if modified is not None and modified.timestamp() * 1000 < started - 1000:
            return TaskChanged(change)
        count = _whole(head.get("Metadata", {}).get(c.RESULT_OUTPUTS_METADATA))
        keys: tuple[str, ...] = ()
        if count and int(head.get("ContentLength") or 0) <= MAX_RESULT_READ:
            # The same document the HEAD saw, not one written in between.
            got = self._look(bucket, result, "get_object", IfMatch=head.get("ETag"))
            keys = _output_keys(got["Body"].read()) if got is not None else ()
        return TaskChanged(change, result_written=True, output_keys=keys, output_count=count)

    def _look(self, bucket: str, key: str, operation: str, **pinned: Any) -> Any:
        """HeadObject or GetObject of a result document; None when it is not there (or, pinned,
        no longer the one asked for).

        The tracker may read the results prefix but not list the bucket (that would show it
        every input key): S3 then answers a HeadObject of a missing key 403, not 404, and a
        403 to the HEAD means "no result" here."""
        extra = {k: v for k, v in pinned.items() if v}
        try:
            return getattr(self._s3, operation)(Bucket=bucket, Key=key, **extra)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            absent = ("404", "NoSuchKey", "NotFound", "PreconditionFailed", "412")
            if operation == "head_object" and code in ("403", "AccessDenied", "Forbidden"):
                self._logger.debug("no result document (403 without s3:ListBucket)")
            elif code not in absent:
                self._logger.error(
                    "could not look for the result document",
                    extra={"bucket": bucket, "result_key": key, "code": code},
                )
            return None

    def _launch_heir(self, room: WaitingRoom, heir: Job) -> None:
        try:
            room.launch_admitted(heir)
        except Exception:  # admitted and recorded: the reconciler resumes its launch
            self._logger.exception("could not launch a parked job", extra={"job_id": heir.job_id})

    def _release_slot(self, job_id: str) -> None:
        if self._waiting_room is None:
            return
        try:
            self._waiting_room.release(1)
        except Exception:  # the event is applied; the reconciler fills the slot instead
            self._logger.exception("could not release a parked job", extra={"job_id": job_id})


#: A result document longer than this is recorded without reading its list of outputs.
MAX_RESULT_READ = 8 * 1024 * 1024


def _whole(value: object) -> int:
    try:
        return max(0, int(str(value)))
    except ValueError:
        return 0


def _output_keys(body: bytes) -> tuple[str, ...]:
    """The output keys a result document lists (the first ``MAX_RECORDED_OUTPUTS``)."""
    try:
        outputs = json.loads(body).get("outputs") or []
        keys = [str(o["key"]) for o in outputs if isinstance(o, dict) and "key" in o]
    except (ValueError, AttributeError, TypeError):
        return ()
    return tuple(keys[: c.MAX_RECORDED_OUTPUTS])
