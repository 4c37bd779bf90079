"""Memory enforced where no engine enforces it: a task whose processes hold more than its
memory is killed, as ECS's cgroup kills a container over its limit."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from s3fargate.local.tasks import RunningTask

#: How often a task's memory is measured against its limit.
MEMORY_CHECK_S = 0.1


def watch_memory(
    task: RunningTask,
    limit_bytes: int,
    over_limit: Callable[[], object],
    *,
    interval: float = MEMORY_CHECK_S,
) -> threading.Thread:
    """Measure ``task`` every ``interval`` while it runs; call ``over_limit`` (once) when its
    processes hold more than ``limit_bytes``."""

    def watch() -> None:
        while task.wait(timeout=interval) is None:
            if task.memory_bytes() > limit_bytes:
                over_limit()
                return

    thread = threading.Thread(target=watch, name="task-memory", daemon=True)
    thread.start()
    return thread
