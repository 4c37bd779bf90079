"""The optional cap on this runner's pending and running tasks (``MAX_RUNNING_TASKS``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from s3fargate import contracts as c
from s3fargate.launching.exceptions import LaunchError

if TYPE_CHECKING:
    from s3fargate.events import ObjectCreated
    from s3fargate.launching.ecs_api import EcsApi
    from s3fargate.launching.recorder import LaunchRecorder

#: The :class:`LaunchError` code of a launch refused because the cap is reached.
CAP_REACHED = "MaxRunningTasks"


def count_active_tasks(ecs: EcsApi, cluster: str, started_by: str) -> int:
    """Count this pipeline's tasks whose desired status is RUNNING (pending or running)."""
    pages = ecs.get_paginator("list_tasks").paginate(
        cluster=cluster,
        startedBy=started_by,
        desiredStatus="RUNNING",
        PaginationConfig={"PageSize": 100},
    )
    return sum(len(page.get("taskArns") or []) for page in pages)


class LaunchBudget:
    """How many more tasks one batch may start under the cap.

    With a ledger, each launch is first admitted by it (a slot taken in the same write as the
    job's row, so the cap holds across every runner and tracker); once it refuses, the rest of
    the batch is refused without asking again. Without one, ListTasks is called once per
    batch, on the first launch, then each launch takes one slot. Records beyond the cap are
    parked in the ledger's waiting room (or, with no ledger, fail so that they wait in the
    queue).
    """

    def __init__(
        self, *, ecs: EcsApi, cluster: str, limit: int | None, started_by: str = c.STARTED_BY
    ) -> None:
        self._ecs = ecs
        self._cluster = cluster
        self._started_by = started_by
        self._limit = limit
        self._remaining: int | None = None
        self._refusal: LaunchError | None = None

    def admit(self, obj: ObjectCreated, recorder: LaunchRecorder | None) -> bool:
        """Admit ``obj`` through the recorder (the ledger records every job before its launch):
        True when it keeps the cap.

        Raises:
            LaunchError: every slot is held (now, or earlier in this batch), or another job
                has the object version.
        """
        if recorder is None:
            return False
        if self._refusal is not None:
            raise self._refusal
        try:
            return recorder.admit(obj)
        except LaunchError as exc:
            if exc.code == CAP_REACHED:
                self._refusal = exc
            raise

    def take(self) -> None:
        """Take one launch slot.

        Raises:
            LaunchError: the cap is reached (retryable), or the count itself failed.
        """
        if self._limit is None:
            return
        if self._remaining is None:
            try:
                active = count_active_tasks(self._ecs, self._cluster, self._started_by)
            except Exception as exc:
                raise LaunchError(
                    f"could not count running tasks for the cap: {exc}", retryable=True
                ) from exc
            self._remaining = max(self._limit - active, 0)
        if self._remaining <= 0:
            raise LaunchError(
                f"{c.ENV_MAX_RUNNING_TASKS}={self._limit} tasks are pending or running",
                retryable=True,
                code=CAP_REACHED,
            )
        self._remaining -= 1

    def give_back(self) -> None:
        """Return a slot that was taken for a launch that started nothing."""
        if self._remaining is not None:
            self._remaining += 1
