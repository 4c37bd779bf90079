"""Errors of the task SDK, and the exit code each one ends the task with."""

from __future__ import annotations

import enum

from s3fargate import contracts as c


class ExitCode(enum.IntEnum):
    """The task process's exit codes (documented in the README)."""

    SUCCESS = 0
    #: The processing function raised, or the result could not be written.
    PROCESSING_FAILED = 1
    #: Missing or invalid task environment.
    BAD_CONFIGURATION = 2
    #: The object does not exist (deleted before the task ran), access is denied, or it is
    #: archived.
    OBJECT_UNAVAILABLE = 3
    #: The object is no longer the upload that started the task: overwritten before or while
    #: it was read. A newer upload has its own job; this one is recorded "superseded".
    SUPERSEDED = c.EXIT_SUPERSEDED
    #: The object does not fit on the task's disk: raise ``ephemeral_storage_gib``.
    NO_SPACE = c.EXIT_NO_SPACE


class TaskError(Exception):
    """Base class: every task error knows its exit code."""

    exit_code: int = ExitCode.PROCESSING_FAILED
    #: Why, in the words the job's reason should show (None: the message says it).
    failure: str | None = None


class TaskConfigError(TaskError):
    """The task environment is missing or invalid; names every problem."""

    exit_code = ExitCode.BAD_CONFIGURATION

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid task environment: " + "; ".join(problems))


class ObjectUnavailableError(TaskError):
    """The object cannot be read: gone, never existed, or access denied."""

    exit_code = ExitCode.OBJECT_UNAVAILABLE


class ObjectChangedError(ObjectUnavailableError):
    """The object is not the upload that started the task any more (overwritten before the
    task started, or while it was read): the new upload triggers a task of its own."""

    exit_code = ExitCode.SUPERSEDED


class ResultWriteError(TaskError):
    """The result could not be written to the results prefix."""


class NoSpaceError(TaskError):
    """The object does not fit on the task's disk (its ephemeral storage)."""

    exit_code = ExitCode.NO_SPACE


class OutputError(TaskError):
    """An output cannot be written: a bad name, or S3 refused it."""


class CommandFailedError(TaskError):
    """The task's command (``s3fargate-task``) exited with a code other than 0: the task
    ends with the same code, so ``retry_exit_codes`` applies to the command's own codes."""

    def __init__(self, message: str, exit_code: int, *, failure: str | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.failure = failure
