"""Tell operators about jobs that ended badly: one SNS message per failed or dead-lettered job."""

from __future__ import annotations

import json
import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

    from s3fargate.ledger.models import Job

#: SNS subjects: printable ASCII, no line breaks, under 100 characters.
MAX_SUBJECT = 99


def job_summary(job: Job, *, log_stream: str | None = None) -> dict[str, object]:
    """What a person needs to act on a job that ended: where, what, why, and where the logs are."""
    return {
        "status": job.status.value,
        "bucket": job.bucket,
        "key": job.key,
        "job_id": job.job_id,
        "attempts": job.attempts,
        "exit_code": job.exit_code,
        "stop_code": job.stop_code,
        "reason": job.reason,
        "task_arn": job.task_arn,
        "cost_usd": job.cost_usd,
        "attempt_sizes": list(job.attempt_sizes),
        "log_stream": log_stream,
    }


def subject_for(job: Job) -> str:
    """An SNS subject for the job: the key made printable ASCII, shortened to fit."""
    printable = "".join(
        ch if unicodedata.category(ch)[0] != "C" else " " for ch in f"{job.status.value}: {job.key}"
    )
    text = f"s3fargate {printable}".encode("ascii", "backslashreplace").decode("ascii")
    return text if len(text) <= MAX_SUBJECT else text[: MAX_SUBJECT - 1] + "~"


class Notifier:
    """Publishes job summaries to the pipeline's SNS topic."""

    def __init__(self, *, sns: SNSClient, topic_arn: str) -> None:
        self._sns = sns
        self._topic_arn = topic_arn

    def job_ended(self, job: Job, *, log_stream: str | None = None) -> None:
        """Announce that ``job`` ended ``failed`` or ``dead-lettered``."""
        self._sns.publish(
            TopicArn=self._topic_arn,
            Subject=subject_for(job),
            Message=json.dumps(job_summary(job, log_stream=log_stream), ensure_ascii=False),
        )
