"""Errors of the runner."""

from __future__ import annotations


class ConfigurationError(RuntimeError):
    """The runner's environment is missing or has invalid variables.

    Raised at cold start, with every problem named at once, so one deploy fixes them all.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid runner configuration ({len(problems)} problem(s)):\n{lines}")


class LaunchError(RuntimeError):
    """A task could not be launched for an object; the SQS record is returned as a failure.

    ``retryable`` says whether a later attempt can succeed on its own (capacity, throttling,
    5xx) or needs a fix first (access denied, invalid parameters); both are redelivered by SQS
    and reach the dead-letter queue after ``maxReceiveCount`` receives.
    """

    def __init__(self, reason: str, *, retryable: bool, code: str | None = None) -> None:
        self.reason = reason
        self.retryable = retryable
        self.code = code
        super().__init__(reason)


class RecordFailedError(RuntimeError):
    """One SQS record had at least one object that could not be launched."""
