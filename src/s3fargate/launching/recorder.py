"""Where a launch is recorded: what became of each object the runner (or the waiting room) was
handed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from s3fargate.events import MalformedEventError, ObjectCreated
    from s3fargate.launching.exceptions import LaunchError
    from s3fargate.launching.launcher import Launched


class LaunchRecorder(Protocol):
    """Receives one call per object (or unreadable message) the runner handles.

    ``receive_count`` is SQS's ``ApproximateReceiveCount`` of the message, or None when the
    event did not come through a queue.
    """

    def admit(self, obj: ObjectCreated) -> bool:
        """Take a slot under the cap for ``obj`` before its launch.

        Returns True when the recorder keeps the cap (the runner then counts no tasks itself),
        False when it does not.

        Raises:
            LaunchError: every slot is held (code ``CAP_REACHED``).
        """

    def launched(self, obj: ObjectCreated, launched: Launched) -> None:
        """A task exists for ``obj`` (started now, or earlier for the same event)."""

    def not_launched(
        self, obj: ObjectCreated, error: LaunchError, *, receive_count: int | None
    ) -> None:
        """No task was started for ``obj``; the message waits in the queue (or its DLQ)."""

    def park(self, obj: ObjectCreated, error: LaunchError) -> bool:
        """The cap refused ``obj``: park it until a slot frees up.

        Returns True when the job now waits outside the queue (its message can be deleted);
        False leaves the message in the queue, to be received again.
        """

    def malformed(
        self, message_id: str | None, error: MalformedEventError, *, receive_count: int | None
    ) -> None:
        """A message that is not a supported event; it waits in the queue (or its DLQ)."""
