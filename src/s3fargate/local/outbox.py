"""The local ECS's events leave in order from one sender thread, so a launch never waits on
the queue they go to, and an event that cannot be sent never stops the next one."""

from __future__ import annotations

import logging
import queue
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger(__name__)
#: How long :meth:`EventOutbox.flush` waits for the events before it at most.
FLUSH_TIMEOUT_S = 30.0


class EventOutbox:
    """Events handed to ``emit`` one at a time, in the order they were put."""

    def __init__(self, emit: Callable[[dict[str, Any]], object]) -> None:
        self._emit = emit
        self._queue: queue.SimpleQueue[dict[str, Any] | threading.Event | None] = (
            queue.SimpleQueue()
        )
        self._sender = threading.Thread(target=self._send, name="task-events", daemon=True)
        self._sender.start()

    def put(self, event: dict[str, Any]) -> None:
        """Send ``event`` after every event put before it."""
        self._queue.put(event)

    def flush(self) -> None:
        """Wait until every event put so far has been sent (or failed to be)."""
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout=FLUSH_TIMEOUT_S)

    def close(self) -> None:
        """Send what is left, then stop the sender."""
        self.flush()
        self._queue.put(None)
        self._sender.join(timeout=FLUSH_TIMEOUT_S)

    def _send(self) -> None:
        while (item := self._queue.get()) is not None:
            if isinstance(item, threading.Event):
                item.set()
                continue
            try:
                self._emit(item)
            except Exception:  # an event that cannot be sent is found by the reconciler
                log.exception("could not send a task state change event")
