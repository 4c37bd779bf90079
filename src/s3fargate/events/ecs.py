"""What ECS says about a task, as one typed record: from a "Task State Change" event
(EventBridge, ``source`` ``aws.ecs``) or from a DescribeTasks answer.

The two are different documents: the event is JSON with ISO 8601 times; DescribeTasks answers
with epoch timestamps, which boto3 hands back as ``datetime``. Each is parsed where it enters,
into :class:`TaskStateChange` with times in epoch milliseconds.

ECS sends events at least once and out of order; ``detail.version`` grows with every change of
a task (duplicates share it). Fields this project does not use are ignored, and fields ECS
may leave out (``stopCode``, ``exitCode``, times) are optional.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

from s3fargate import contracts as c
from s3fargate.events.exceptions import MalformedEventError

#: EventBridge's ``source`` and ``detail-type`` of ECS's task state changes.
ECS_SOURCE = "aws.ecs"
TASK_STATE_CHANGE = "ECS Task State Change"
#: The container ``reason`` ECS gives for an out-of-memory kill (the container exits 137).
OOM_REASON = "OutOfMemoryError: Container killed due to memory usage"
OOM_MARKER = "OutOfMemoryError"
OOM_EXIT_CODE = 137
#: ECS's default stopTimeout: a stopped task's container gets SIGKILL this long after SIGTERM.
STOP_TIMEOUT_S = 30
#: The ``stoppedReason`` ECS gives a task that exited by itself, and one Spot interrupted.
EXITED_REASON = "Essential container in task exited"
SPOT_INTERRUPTED_REASON = "Your Spot Task was interrupted."


class StopCode(enum.StrEnum):
    """Why a task stopped: ECS's ``stopCode`` (task state change events, DescribeTasks)."""

    TASK_FAILED_TO_START = "TaskFailedToStart"
    ESSENTIAL_CONTAINER_EXITED = "EssentialContainerExited"
    USER_INITIATED = "UserInitiated"
    SERVICE_SCHEDULER_INITIATED = "ServiceSchedulerInitiated"
    SPOT_INTERRUPTION = "SpotInterruption"
    TERMINATION_NOTICE = "TerminationNotice"


#: Stops the platform decided on, not the task: its job is retried.
PLATFORM_STOPS: frozenset[str] = frozenset(
    {
        StopCode.TASK_FAILED_TO_START,
        StopCode.SPOT_INTERRUPTION,
        StopCode.TERMINATION_NOTICE,
        StopCode.SERVICE_SCHEDULER_INITIATED,
    }
)


def is_out_of_memory(container_reason: str | None) -> bool:
    """Whether ECS says the container was killed for its memory."""
    return bool(container_reason) and OOM_MARKER in str(container_reason)


#: The ``stoppedReason`` the local ECS stand-in gives the tasks it stops because ``dev`` is
#: stopping (stop code ``TerminationNotice``, as when ECS stops a task whose host goes away):
#: the job runs again when a pipeline runs, and the attempt is not one of ``max_attempts``.
#: No ECS event says this, so on AWS it changes nothing.
LOCAL_SHUTDOWN_REASON = "the local pipeline stopped"
#: Task ``lastStatus`` values in lifecycle order (ECS's task lifecycle).
LIFECYCLE = (
    "PROVISIONING",
    "PENDING",
    "ACTIVATING",
    "RUNNING",
    "DEACTIVATING",
    "STOPPING",
    "DEPROVISIONING",
    "STOPPED",
    "DELETED",
)


def ecs_timestamp(epoch_seconds: float) -> str:
    """A time as ECS writes it in events and DescribeTasks (ISO 8601, milliseconds, ``Z``)."""
    moment = datetime.fromtimestamp(epoch_seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def tracked_statuses(*, running: bool) -> tuple[str, ...]:
    """The ``lastStatus`` values the EventBridge rule passes to the tracker.

    A task reports about eight changes; how it ended is all the ledger needs, and the runner
    records ``pending`` itself. Each event costs about six requests (the rule's SendMessage, the
    tracker's receive, invocation and delete, a read and a write), so ``running`` (a row shows
    ``running`` as soon as the task starts) is an option; without it the reconciler marks a
    long task ``running`` when it checks quiet jobs.
    """
    return ("RUNNING", "STOPPED") if running else ("STOPPED",)


@dataclass(frozen=True, slots=True)
class ContainerState:
    """One container of the task, as the event reports it."""

    name: str
    last_status: str | None = None
    exit_code: int | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class TaskStateChange:
    """What an ECS task-state-change event says about one task."""

    task_arn: str
    cluster_arn: str
    last_status: str
    version: int
    desired_status: str | None = None
    started_by: str | None = None
    stop_code: str | None = None
    stopped_reason: str | None = None
    #: Times in epoch milliseconds.
    created_at: int | None = None
    started_at: int | None = None
    stopped_at: int | None = None
    #: The event's own time (ISO 8601, as EventBridge writes it); None for DescribeTasks.
    event_time: str | None = None
    capacity_provider: str | None = None
    containers: tuple[ContainerState, ...] = ()
    #: The environment of the container override that names the job (the task's contract).
    environment: dict[str, str] = field(default_factory=dict)
    #: The name of that container.
    container_name: str | None = None
    #: When the image pull started (epoch ms): Fargate bills from here to ``stopped_at``.
    pull_started_at: int | None = None
    #: The task's size as it ran: CPU units, memory in MiB, ephemeral storage in GiB.
    cpu: int | None = None
    memory_mib: int | None = None
    ephemeral_gib: int | None = None
    #: ``x86_64`` or ``arm64`` (the task's ``ecs.cpu-architecture`` attribute), when ECS says.
    architecture: str | None = None

    @property
    def stopped(self) -> bool:
        """True once the task has stopped (or is being deleted)."""
        return self.last_status in ("STOPPED", "DELETED")

    @property
    def job_id(self) -> str | None:
        """The job this task is an attempt of, from its container overrides."""
        return c.TaskEnvironment.of(self.environment).job_id

    @property
    def attempt(self) -> int | None:
        """The attempt number, from the container overrides."""
        return c.TaskEnvironment.of(self.environment).attempt

    @property
    def container(self) -> ContainerState | None:
        """The container that ran the job (the one the overrides name)."""
        for state in self.containers:
            if state.name == self.container_name:
                return state
        return self.containers[0] if len(self.containers) == 1 else None

    @property
    def exit_code(self) -> int | None:
        """The job container's exit code, when it ran and exited."""
        container = self.container
        return container.exit_code if container else None

    @property
    def container_reason(self) -> str | None:
        """Why the job container stopped (``OutOfMemoryError: …``), when ECS says."""
        container = self.container
        return container.reason if container else None

    @property
    def lifecycle_rank(self) -> int:
        """The position of ``last_status`` in the task lifecycle (unknown statuses: -1)."""
        try:
            return LIFECYCLE.index(self.last_status)
        except ValueError:
            return -1


def parse_task_state_change(payload: Any, *, message_id: str | None = None) -> TaskStateChange:
    """Parse an EventBridge ECS task-state-change event (a dict, or an SQS body string).

    Raises:
        MalformedEventError: not a task-state-change event, or a required field is missing.
    """
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise MalformedEventError(f"body is not JSON ({exc})", message_id=message_id) from exc
    if not isinstance(payload, dict):
        raise MalformedEventError("expected a JSON object", message_id=message_id)
    if payload.get("source") != ECS_SOURCE or payload.get("detail-type") != TASK_STATE_CHANGE:
        raise MalformedEventError(
            f"not an ECS Task State Change event (source {payload.get('source')!r}, "
            f"detail-type {payload.get('detail-type')!r})",
            message_id=message_id,
        )
    try:
        return _task(payload["detail"], _iso_ms, event_time=payload.get("time"))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MalformedEventError(
            f"task state change is missing or has an invalid field ({type(exc).__name__}: {exc})",
            message_id=message_id,
        ) from exc


def parse_described_task(task: Mapping[str, Any]) -> TaskStateChange:
    """Parse one task of a DescribeTasks answer, as boto3 hands it back (``datetime`` times).

    Raises:
        MalformedEventError: a required field is missing.
    """
    try:
        return _task(task, _datetime_ms)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MalformedEventError(
            f"described task is missing or has an invalid field ({type(exc).__name__}: {exc})"
        ) from exc


def _task(
    detail: Mapping[str, Any], ms: Callable[[Any], int | None], *, event_time: str | None = None
) -> TaskStateChange:
    overrides = detail.get("overrides") or {}
    return TaskStateChange(
        task_arn=str(detail["taskArn"]),
        cluster_arn=str(detail["clusterArn"]),
        last_status=str(detail["lastStatus"]),
        version=int(detail.get("version", 0)),
        desired_status=detail.get("desiredStatus"),
        started_by=detail.get("startedBy"),
        stop_code=detail.get("stopCode"),
        stopped_reason=detail.get("stoppedReason"),
        created_at=ms(detail.get("createdAt")),
        started_at=ms(detail.get("startedAt")),
        stopped_at=ms(detail.get("stoppedAt")),
        event_time=event_time,
        capacity_provider=detail.get("capacityProviderName") or detail.get("launchType"),
        containers=tuple(_container(item) for item in detail.get("containers") or ()),
        pull_started_at=ms(detail.get("pullStartedAt")),
        # The size RunTask asked for, when it overrode the task definition's.
        cpu=_units(overrides.get("cpu") or detail.get("cpu")),
        memory_mib=_units(overrides.get("memory") or detail.get("memory")),
        ephemeral_gib=_units(
            (overrides.get("ephemeralStorage") or detail.get("ephemeralStorage") or {}).get(
                "sizeInGiB"
            )
        ),
        architecture=_attribute(detail, "ecs.cpu-architecture"),
        **_job_override(detail),
    )


def _units(value: Any) -> int | None:
    """A size ECS writes as a string (``"1024"``) or a number; None when absent or unreadable
    (a size given as ``"1 vCPU"`` in a task definition is converted to units by ECS)."""
    text = str(value).strip() if value is not None else ""
    return int(text) if text.isascii() and text.isdigit() else None


def _attribute(detail: Mapping[str, Any], name: str) -> str | None:
    for item in detail.get("attributes") or ():
        if isinstance(item, dict) and item.get("name") == name and item.get("value"):
            return str(item["value"])
    return None


def _iso_ms(text: Any) -> int | None:
    """An event's ISO 8601 time in epoch milliseconds (absent or unreadable: None)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _datetime_ms(moment: Any) -> int | None:
    """A DescribeTasks time (boto3's ``datetime``) in epoch milliseconds."""
    if moment is None:
        return None
    if not isinstance(moment, datetime):
        raise TypeError(f"expected a datetime as boto3 parses ECS's timestamps, got {moment!r}")
    return int(moment.timestamp() * 1000)


def _container(item: Mapping[str, Any]) -> ContainerState:
    exit_code = item.get("exitCode")
    return ContainerState(
        name=str(item.get("name", "")),
        last_status=item.get("lastStatus"),
        exit_code=int(exit_code) if exit_code is not None else None,
        reason=item.get("reason"),
    )


def _job_override(detail: Mapping[str, Any]) -> dict[str, Any]:
    overrides = (detail.get("overrides") or {}).get("containerOverrides") or []
    for override in overrides:
        environment = {
            str(e["name"]): str(e.get("value", ""))
            for e in override.get("environment") or ()
            if isinstance(e, dict) and "name" in e
        }
        if c.ENV_JOB_ID in environment or c.ENV_S3_KEY in environment:
            return {"environment": environment, "container_name": override.get("name")}
    return {}


# --- what a stand-in answers: one description of a task, for DescribeTasks and for events ---
@dataclass(frozen=True)
class TaskView:
    """What ECS knows about one task, as the stand-ins keep it (times in epoch seconds)."""

    arn: str
    cluster_arn: str
    task_definition_arn: str
    last_status: str
    started_by: str
    capacity: str
    cpu: int
    memory_mib: int
    ephemeral_gib: int
    version: int
    created_at: float
    overrides: Mapping[str, Any]
    pull_started_at: float | None = None
    started_at: float | None = None
    stopped_at: float | None = None
    stop_code: str | None = None
    stopped_reason: str | None = None
    exit_code: int | None = None
    container_reason: str | None = None
    container_name: str = "task"
    architecture: str = "x86_64"


def describe_task(view: TaskView, when: Callable[[float], Any]) -> dict[str, Any]:
    """The task as DescribeTasks answers it on the wire (``when``: epoch seconds) or as a
    state-change event's ``detail`` shows it (``when=ecs_timestamp``): the same members."""
    container: dict[str, Any] = {
        "name": view.container_name,
        "taskArn": view.arn,
        "lastStatus": view.last_status,
    }
    if view.exit_code is not None:
        container["exitCode"] = view.exit_code
    if view.container_reason is not None:
        container["reason"] = view.container_reason
    detail: dict[str, Any] = {
        "taskArn": view.arn,
        "clusterArn": view.cluster_arn,
        "taskDefinitionArn": view.task_definition_arn,
        "lastStatus": view.last_status,
        "desiredStatus": "STOPPED" if view.last_status == "STOPPED" else "RUNNING",
        "startedBy": view.started_by,
        "launchType": "FARGATE",
        "capacityProviderName": view.capacity,
        "cpu": str(view.cpu),
        "memory": str(view.memory_mib),
        "ephemeralStorage": {"sizeInGiB": view.ephemeral_gib},
        "attributes": [{"name": "ecs.cpu-architecture", "value": view.architecture}],
        "version": view.version,
        "createdAt": when(view.created_at),
        "overrides": view.overrides,
        "containers": [container],
    }
    for name, value in (
        ("pullStartedAt", view.pull_started_at),
        ("startedAt", view.started_at),
        ("stoppedAt", view.stopped_at),
    ):
        if value is not None:
            detail[name] = when(value)
    if view.stop_code is not None:
        detail["stopCode"] = view.stop_code
    if view.stopped_reason is not None:
        detail["stoppedReason"] = view.stopped_reason
    return detail


def state_change_event(
    view: TaskView,
    *,
    account: str,
    region: str,
    time: str,
    event_id: str,
    when: Callable[[float], str] = ecs_timestamp,
) -> dict[str, Any]:
    """The EventBridge event ECS sends for the task's change to ``view.last_status`` (the
    view's times written by ``when``: ISO 8601, as ECS writes them)."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": TASK_STATE_CHANGE,
        "source": ECS_SOURCE,
        "account": account,
        "time": time,
        "region": region,
        "resources": [view.arn],
        "detail": describe_task(view, when),
    }
