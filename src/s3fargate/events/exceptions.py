"""Errors raised while reading events."""

from __future__ import annotations


class MalformedEventError(ValueError):
    """An event or SQS message body that is not JSON or not a supported event.

    The message names the SQS message id (when there is one) and what is wrong, so the
    record can be found in the dead-letter queue.
    """

    def __init__(self, reason: str, *, message_id: str | None = None) -> None:
        self.reason = reason
        self.message_id = message_id
        where = f"message {message_id}: " if message_id else ""
        super().__init__(f"{where}{reason}")
