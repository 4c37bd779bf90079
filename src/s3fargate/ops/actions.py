"""Operator actions: retry jobs, backfill objects that no job processed, redrive the DLQ."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from s3fargate import contracts as c
from s3fargate.ledger import Job, JobStatus, ObjectRef, RetryRequested, Waiting, job_id
from s3fargate.ops.target import key_prefix
from s3fargate.tracker import JobActions

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from datetime import datetime

    from s3fargate.ops.target import Target

#: The ``sequencer`` of backfill events: one job per object version, however often it runs.
BACKFILL_SEQUENCER = c.BACKFILL_SEQUENCER
#: Backfill sends at most this many messages a second, in batches of 10.
BACKFILL_RATE = 100


@dataclass
class RetryOutcome:
    """What ``retry`` did for one job."""

    job: Job
    queued: bool
    why: str


def retry(target: Target, jobs: list[Job], *, reason: str) -> list[RetryOutcome]:
    """Queue a new attempt of each final job, through the normal launch path (the cap applies).

    A job still in flight is left alone and says so.
    """
    actions = JobActions(sqs=target.sqs, queue_url=target.queue_url)
    outcomes = []
    for job in jobs:
        decision = target.store.apply(job.job_id, RetryRequested(reason))
        if decision.row is None or decision.retry is None:
            outcomes.append(RetryOutcome(job, False, f"still {job.status.value}: not retried"))
            continue
        actions.queue_attempt(decision.row, decision.retry)
        outcomes.append(RetryOutcome(decision.row, True, f"attempt {decision.retry.attempt}"))
    return outcomes


@dataclass(frozen=True)
class Candidate:
    """An object under the input prefix that no job has processed."""

    key: str
    etag: str | None
    size: int
    last_modified: datetime | None = None


def backfill_candidates(target: Target, *, prefix: str | None = None) -> Iterator[Candidate]:
    """Objects under the input prefix (and ``prefix``) with no succeeded or in-flight job for
    their version and no result."""
    known: dict[tuple[str, str | None], JobStatus] = {}
    for job in target.store.jobs():
        mark = (job.key, _plain(job.etag))
        status = known.get(mark)
        if status is None or not status.final or job.status is JobStatus.SUCCEEDED:
            known[mark] = job.status
    scan = key_prefix(target, prefix)
    pages = target.s3.get_paginator("list_objects_v2").paginate(Bucket=target.bucket, Prefix=scan)
    for page in pages:
        for item in page.get("Contents", []):
            key, etag, size = item["Key"], _plain(item.get("ETag")), int(item.get("Size", 0))
            if key.endswith("/") and size == 0:
                continue  # a folder marker
            status = known.get((key, etag))
            if status is not None and (status is JobStatus.SUCCEEDED or not status.final):
                continue
            if status is None and _has_result(target, key):
                continue
            yield Candidate(key=key, etag=etag, size=size, last_modified=item.get("LastModified"))


def backfill(
    target: Target,
    candidates: list[Candidate],
    *,
    progress: Callable[[int], None] | None = None,
    rate: int = BACKFILL_RATE,
) -> int:
    """Queue one S3-shaped event per candidate; record each job ``waiting`` first, so a second
    run (even before the runner gets to them) queues nothing new. Returns how many."""
    sent = 0
    for start in range(0, len(candidates), 10):
        began = time.monotonic()
        batch = candidates[start : start + 10]
        entries = []
        for i, candidate in enumerate(batch):
            ref = ObjectRef(
                bucket=target.bucket, key=candidate.key, etag=candidate.etag, size=candidate.size
            )
            target.store.apply(_backfill_job_id(target, candidate), Waiting(ref, 1, "backfill"))
            entries.append({"Id": str(i), "MessageBody": json.dumps(_event(target, candidate))})
        response = target.sqs.send_message_batch(QueueUrl=target.queue_url, Entries=entries)
        failed = response.get("Failed", [])
        if failed:
            raise RuntimeError(f"the queue refused {len(failed)} message(s): {failed[0]}")
        sent += len(batch)
        if progress:
            progress(len(batch))
        # Pace the sends: the queue takes any rate, the runner drains at its own.
        time.sleep(max(0.0, len(batch) / rate - (time.monotonic() - began)))
    return sent


def redrive(target: Target) -> int:
    """Move the dead-letter queue's messages back to the queue; return how many (approximate
    on AWS, where SQS moves them in the background)."""
    if target.redrive_with_move_task:
        dlq_arn = _arn(target, target.dlq_url)
        count = int(
            target.sqs.get_queue_attributes(
                QueueUrl=target.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"].get("ApproximateNumberOfMessages", "0")
        )
        target.sqs.start_message_move_task(
            SourceArn=dlq_arn, DestinationArn=_arn(target, target.queue_url)
        )
        return count
    moved = 0
    while True:
        messages = target.sqs.receive_message(
            QueueUrl=target.dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", [])
        if not messages:
            return moved
        for message in messages:
            # Send before delete: a crash in between duplicates a message, never loses one.
            target.sqs.send_message(QueueUrl=target.queue_url, MessageBody=message["Body"])
            target.sqs.delete_message(
                QueueUrl=target.dlq_url, ReceiptHandle=message["ReceiptHandle"]
            )
            moved += 1


def _plain(etag: str | None) -> str | None:
    """An ETag without the quotes listings put around it (notifications have none)."""
    return etag.strip('"') if etag else None


def _has_result(target: Target, key: str) -> bool:
    result = c.result_key(
        key, input_prefix=target.input_prefix, results_prefix=target.results_prefix
    )
    try:
        target.s3.head_object(Bucket=target.bucket, Key=result)
    except target.s3.exceptions.ClientError:
        return False
    return True


def _backfill_job_id(target: Target, candidate: Candidate) -> str:
    return job_id(
        bucket=target.bucket,
        key=candidate.key,
        version_id=None,
        etag=candidate.etag,
        sequencer=BACKFILL_SEQUENCER,
    )


def _event(target: Target, candidate: Candidate) -> dict[str, Any]:
    """The S3 notification S3 would have sent (keys encoded as S3 encodes them)."""
    from urllib.parse import quote_plus

    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "eventTime": None,
                "s3": {
                    "bucket": {"name": target.bucket},
                    "object": {
                        "key": quote_plus(candidate.key, safe="/"),
                        "size": candidate.size,
                        "eTag": candidate.etag,
                        "sequencer": BACKFILL_SEQUENCER,
                    },
                },
            }
        ]
    }


def _arn(target: Target, url: str) -> str:
    attrs = target.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attrs["Attributes"]["QueueArn"])
