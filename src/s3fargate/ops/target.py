"""Where operator commands act: a deployed stack (its CloudFormation outputs) or a local run.

Both give the same things — the ledger, the bucket and prefixes, the queue and its dead-letter
queue, the tasks' logs — so every command is one piece of code for both worlds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError
from botocore.parsers import ResponseParserError

from s3fargate import contracts as c
from s3fargate.contracts import StackOutput, one_line
from s3fargate.exit_codes import UsageError
from s3fargate.ledger import LedgerStore
from s3fargate.rundir import RunState

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_sqs import SQSClient

#: The stack outputs the commands need.
REQUIRED_OUTPUTS = (
    StackOutput.BUCKET,
    StackOutput.QUEUE_URL,
    StackOutput.DEAD_LETTER_QUEUE_URL,
    StackOutput.JOBS_TABLE,
    StackOutput.TASK_LOG_GROUP,
    StackOutput.INPUT_PREFIX,
    StackOutput.RESULTS_PREFIX,
    StackOutput.TASK_CONTAINER_NAME,
)


class LogSource(Protocol):
    """Where a task's output is."""

    def read(self, task_arn: str) -> str | None:
        """The output of one task, or None when there is none (yet)."""


@dataclass(frozen=True)
class LocalLogs:
    """One file per task under the run directory."""

    folder: Path

    def read(self, task_arn: str) -> str | None:
        """The task's log file."""
        path = self.folder / f"{task_arn.rsplit('/', 1)[-1]}.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else None


@dataclass(frozen=True)
class CloudWatchLogs:
    """The awslogs driver's stream of the task's container."""

    client: Any
    group: str
    container_name: str

    def read(self, task_arn: str) -> str | None:
        """Every event of the task's stream, oldest first."""
        stream = c.task_log_stream(self.container_name, task_arn)
        lines: list[str] = []
        token: str | None = None
        try:
            while True:
                kwargs: dict[str, Any] = {
                    "logGroupName": self.group,
                    "logStreamName": stream,
                    "startFromHead": True,
                }
                if token:
                    kwargs["nextToken"] = token
                page = self.client.get_log_events(**kwargs)
                lines.extend(str(e["message"]) for e in page.get("events", []))
                if not page.get("events") or page.get("nextForwardToken") == token:
                    break
                token = page.get("nextForwardToken")
        except self.client.exceptions.ResourceNotFoundException:
            return None
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


@dataclass
class Target:
    """Everything an operator command needs, from a stack or a local run."""

    description: str
    store: LedgerStore
    s3: Any
    sqs: Any
    bucket: str
    input_prefix: str
    results_prefix: str
    queue_url: str
    dlq_url: str
    logs: LogSource
    #: SQS's StartMessageMoveTask on AWS; the local server has none (moved message by message).
    redrive_with_move_task: bool


def stack_target(stack: str, session: boto3.session.Session) -> Target:
    """The deployed stack ``stack``, from its CloudFormation outputs.

    Raises:
        UsageError: no such stack, or it lacks the outputs the commands need.
    """
    try:
        cloudformation = session.client("cloudformation")
        stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except NoRegionError as exc:
        raise UsageError(
            f"--stack {stack}: no AWS Region is set: set AWS_DEFAULT_REGION, "
            "or give your profile one (aws configure set region REGION)"
        ) from exc
    except NoCredentialsError as exc:
        raise UsageError(
            f"--stack {stack}: no AWS credentials found: set AWS_PROFILE (after aws configure "
            "or aws sso login), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        ) from exc
    except (ResponseParserError, KeyError, ValueError) as exc:  # not CloudFormation's answer
        raise UsageError(
            f"--stack {stack}: the endpoint did not answer as CloudFormation does (is "
            "AWS_ENDPOINT_URL, or the profile's endpoint, right?)"
        ) from exc
    except ClientError as exc:
        message = str(exc.response.get("Error", {}).get("Message", str(exc)))
        headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        if "html" in str(headers.get("content-type", "")) or message.lstrip().startswith("<"):
            raise UsageError(
                f"--stack {stack}: the endpoint answered with a web page, not as CloudFormation "
                "does (is AWS_ENDPOINT_URL, or the profile's endpoint, right?)"
            ) from exc
        raise UsageError(f"--stack {stack}: {one_line(message)}") from exc
    except BotoCoreError as exc:
        raise UsageError(
            f"--stack {stack}: cannot ask CloudFormation ({one_line(str(exc))})"
        ) from exc
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    missing = [name for name in REQUIRED_OUTPUTS if name not in outputs]
    if missing:
        raise UsageError(
            f"--stack {stack} has no output(s) {', '.join(missing)}: is it an s3fargate stack "
            "(deployed from this version)?"
        )
    return Target(
        description=f"stack {stack}",
        store=LedgerStore(
            dynamodb=session.client("dynamodb"), table=outputs[StackOutput.JOBS_TABLE]
        ),
        s3=session.client("s3"),
        sqs=session.client("sqs"),
        bucket=outputs[StackOutput.BUCKET],
        input_prefix=outputs[StackOutput.INPUT_PREFIX],
        results_prefix=outputs[StackOutput.RESULTS_PREFIX],
        queue_url=outputs[StackOutput.QUEUE_URL],
        dlq_url=outputs[StackOutput.DEAD_LETTER_QUEUE_URL],
        logs=CloudWatchLogs(
            client=session.client("logs"),
            group=outputs[StackOutput.TASK_LOG_GROUP],
            container_name=outputs[StackOutput.TASK_CONTAINER_NAME],
        ),
        redrive_with_move_task=True,
    )


def local_target(run_dir: Path) -> Target:
    """The ``s3fargate dev`` running with ``run_dir``.

    Raises:
        UsageError: no dev is running with it.
    """
    state = RunState.read(run_dir)
    client = state.client

    return Target(
        description=f"the local pipeline in {run_dir}",
        store=LedgerStore(dynamodb=client("dynamodb"), table=state.jobs_table),
        s3=client("s3"),
        sqs=client("sqs"),
        bucket=state.bucket,
        input_prefix=state.input_prefix,
        results_prefix=state.results_prefix,
        queue_url=state.queue_url,
        dlq_url=state.dlq_url,
        logs=LocalLogs(Path(state.logs_dir)),
        redrive_with_move_task=False,
    )


def queue_summary(sqs: SQSClient, queue_url: str, dlq_url: str) -> str:
    """``queue: N waiting, M in flight · dead-letter queue: K``."""
    counts = []
    for url in (queue_url, dlq_url):
        attrs = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        counts.append(attrs)
    queue, dlq = counts
    return (
        f"queue: {queue.get('ApproximateNumberOfMessages', '0')} waiting, "
        f"{queue.get('ApproximateNumberOfMessagesNotVisible', '0')} in flight · "
        f"dead-letter queue: {dlq.get('ApproximateNumberOfMessages', '0')}"
    )


def key_prefix(target: Target, prefix: str | None) -> str:
    """A ``--prefix`` as every command reads it: relative to the input prefix (``2026/``), or
    already starting with it (``incoming/2026/``)."""
    if not prefix:
        return target.input_prefix
    return prefix if prefix.startswith(target.input_prefix) else target.input_prefix + prefix
