"""Why a launch failed."""

from __future__ import annotations

#: The :class:`LaunchError` code of an object version another job has: no task is started,
#: and the record is not a failure.
VERSION_CLAIMED = "VersionClaimed"


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
