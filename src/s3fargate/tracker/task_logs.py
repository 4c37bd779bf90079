"""Why a task failed, in its own words: the end of its CloudWatch Logs stream (the awslogs
stream of its container), read by the tracker when a task exits with a code other than 0.

The task SDK's last error line carries the words (``ValueError: bad row 7``, a command's last
line on stderr: :data:`s3fargate.contracts.FAILURE_FIELD`); a task without the SDK is quoted by
its last line. The tracker's role may read the task log group's streams and nothing else
(``logs:GetLogEvents``). A log that cannot be read leaves the reason as the exit code alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from s3fargate import contracts as c

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger


class TaskLogs:
    """Reads the end of a task's log stream."""

    def __init__(self, logs: Any, *, log_group: str, container_name: str, logger: Logger) -> None:
        self._logs = logs
        self._group = log_group
        self._container = container_name
        self._logger = logger

    def failure_of(self, task_arn: str) -> str | None:
        """The task's own words for its failure, or None when its log says nothing (or
        cannot be read)."""
        stream = c.task_log_stream(self._container, task_arn)
        try:
            answer = self._logs.get_log_events(
                logGroupName=self._group,
                logStreamName=stream,
                startFromHead=False,
                limit=c.FAILURE_LOG_LINES,
            )
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            self._logger.warning(
                "could not read the task's log for its failure",
                extra={"task_arn": task_arn, "log_stream": stream, "code": code},
            )
            return None
        except BotoCoreError as exc:
            self._logger.warning(
                "could not read the task's log for its failure",
                extra={"task_arn": task_arn, "log_stream": stream, "error": str(exc)},
            )
            return None
        return c.failure_in([str(event.get("message", "")) for event in answer.get("events", [])])
