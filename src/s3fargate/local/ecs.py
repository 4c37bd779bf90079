"""Stands in for ECS locally: RunTask starts the task on a backend (:mod:`s3fargate.local.tasks`:
a process today), and the task's life is reported as ECS reports it, with ``ECS Task State
Change`` events.

The runner calls ``run_task`` and ``get_paginator("list_tasks")`` exactly as it calls ECS;
the reconciler calls ``describe_tasks``. Requests are validated and answers parsed as botocore
does for ECS (:mod:`s3fargate.wire`): DescribeTasks gives ``datetime`` times, as on AWS.
Each task emits PENDING, RUNNING and STOPPED events (increasing ``version``, ``stopCode``,
the container's exit code) through the outbox (:mod:`s3fargate.local.outbox`) into the
tracker's queue, which the same tracker code consumes as on AWS. ``--faults`` makes attempts
fail as Fargate tasks do: Spot interruptions, tasks that never start, and out-of-memory kills.

A task's memory (``--memory``, or the size RunTask asks for) is enforced: by the engine where
the backend has one, else by the watchdog (:mod:`s3fargate.local.watchdog`), and a task over
its limit is reported as ECS reports an out-of-memory kill (exit 137, ``OutOfMemoryError``).
Events carry the task's size, capacity and image-pull time, so the tracker prices jobs as on
AWS. RunTask's idempotency tokens outlive a restart (:mod:`s3fargate.local.tokens`).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from s3fargate.events.ecs import (
    EXITED_REASON,
    LOCAL_SHUTDOWN_REASON,
    OOM_EXIT_CODE,
    OOM_REASON,
    SPOT_INTERRUPTED_REASON,
    STOP_TIMEOUT_S,
    StopCode,
    TaskView,
    describe_task,
    ecs_timestamp,
    state_change_event,
)
from s3fargate.lambda_runtime.paginators import list_tasks_paginator
from s3fargate.local.config import DEFAULT_CPU, DEFAULT_MEMORY_MIB
from s3fargate.local.faults import Fault, FaultDraws, Faults
from s3fargate.local.outbox import EventOutbox
from s3fargate.local.tasks import TaskLaunch, TaskStartError
from s3fargate.local.tokens import TokenBook
from s3fargate.local.watchdog import watch_memory
from s3fargate.rundir.credentials import LOCAL_ACCOUNT, LOCAL_REGION
from s3fargate.sizing.sizes import DEFAULT_EPHEMERAL_GIB
from s3fargate.wire import wire_format

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from botocore.paginate import Paginator

    from s3fargate.local.config import LocalConfig
    from s3fargate.local.tasks import RunningTask, TaskBackend

log = logging.getLogger(__name__)
_ECS = wire_format("ecs")
#: The stand-in's cluster and task definition family.
LOCAL_CLUSTER = "s3fargate-local"
LOCAL_FAMILY = "local"
LOCAL_CLUSTER_ARN = f"arn:aws:ecs:{LOCAL_REGION}:{LOCAL_ACCOUNT}:cluster/{LOCAL_CLUSTER}"
LOCAL_TASK_DEFINITION_ARN = (
    f"arn:aws:ecs:{LOCAL_REGION}:{LOCAL_ACCOUNT}:task-definition/{LOCAL_FAMILY}:1"
)
LOCAL_TASK_PREFIX = f"arn:aws:ecs:{LOCAL_REGION}:{LOCAL_ACCOUNT}:task/{LOCAL_CLUSTER}/"
CONTAINER_NAME = "task"
#: How long a killed task may take to be seen gone before it is reported killed anyway.
KILL_WAIT_S = 15.0
KILLED_EXIT_CODE = 128 + signal.SIGKILL
#: How soon a second Ctrl-C during the grace period kills the tasks.
HURRY_CHECK_S = 0.1
START_FAILURE_REASON = (
    "CannotPullContainerError: pull image manifest has been retried 5 time(s) "
    "(injected by --faults)"
)


def _epoch(seconds: float) -> float:
    """A time as ECS's API sends it on the wire (epoch seconds; boto3 makes it a datetime)."""
    return round(seconds, 3)


@dataclass
class _Task:
    arn: str
    started_by: str
    overrides: dict[str, Any]
    env: dict[str, str]
    log_path: Path
    fault: Fault
    created_at: float
    version: int = 0
    last_status: str = "PENDING"
    #: The task once started on the backend.
    running: RunningTask | None = None
    started_at: float | None = None
    stopped_at: float | None = None
    stop_code: str | None = None
    stopped_reason: str | None = None
    exit_code: int | None = None
    #: The task's size (CPU units, MiB, GiB) and capacity provider, as RunTask gave them.
    cpu: int = DEFAULT_CPU
    memory_mib: int = DEFAULT_MEMORY_MIB
    ephemeral_gib: int = DEFAULT_EPHEMERAL_GIB
    capacity: str = "FARGATE"
    #: Enforce ``memory_mib`` and ``cpu`` (where the backend can), limit the disk to
    #: ``ephemeral_gib`` (where the engine can): each was given, not defaulted.
    memory_enforced: bool = False
    cpu_enforced: bool = False
    ephemeral_given: bool = False
    container_reason: str | None = None
    #: The exit code, once the task has exited (before its log is complete).
    exited_with: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def describe(self, when: Callable[[float], Any]) -> dict[str, Any]:
        """The task as DescribeTasks (``when=_epoch``) or the event's ``detail``
        (``when=ecs_timestamp``) shows it."""
        return describe_task(self.view(), when)

    def view(self) -> TaskView:
        """What ECS knows about the task."""
        return TaskView(
            arn=self.arn,
            cluster_arn=LOCAL_CLUSTER_ARN,
            task_definition_arn=LOCAL_TASK_DEFINITION_ARN,
            last_status=self.last_status,
            started_by=self.started_by,
            capacity=self.capacity,
            cpu=self.cpu,
            memory_mib=self.memory_mib,
            ephemeral_gib=self.ephemeral_gib,
            version=self.version,
            created_at=self.created_at,
            overrides=self.overrides,
            # No image to pull locally: the billable time starts when the process is started.
            pull_started_at=self.started_at,
            started_at=self.started_at,
            stopped_at=self.stopped_at,
            stop_code=self.stop_code,
            stopped_reason=self.stopped_reason,
            exit_code=self.exit_code,
            container_reason=self.container_reason,
            container_name=CONTAINER_NAME,
        )


class LocalEcs:
    """The ECS API slice the runner and reconciler call, on this machine.

    Same contract as ECS: container overrides become the process environment; ``clientToken``
    makes a repeated request return the task it started (also across restarts with the same
    run directory); what happens to a task afterwards is told by its events.
    """

    def __init__(
        self,
        *,
        config: LocalConfig,
        backend: TaskBackend,
        emit: Callable[[dict[str, Any]], object],
        logs_dir: Path,
        tokens_file: Path,
        faults: Faults | None = None,
    ) -> None:
        self._config = config
        self._backend = backend
        self._outbox = EventOutbox(emit)
        self._logs_dir = logs_dir
        self._logs_dir.mkdir(parents=True, exist_ok=True)
        self._tokens = TokenBook(tokens_file)
        self._faults = FaultDraws(faults or Faults())
        self._lock = threading.Lock()
        self._hurried = threading.Event()
        self._tasks: dict[str, _Task] = {}

    # --- the ECS API -----------------------------------------------------------------------
    def run_task(self, **request: Any) -> dict[str, Any]:
        """Create one task for the request's container overrides and start it."""
        _ECS.check_request("run_task", request)
        token = request.get("clientToken")
        with self._lock:
            started = self._tokens.get(token) if token else None
            if started is not None:
                known = self._tasks.get(started)
                # ECS answers a repeated token with the task it started (it may have been
                # started by an earlier run of this directory, and be forgotten since).
                document = known.describe(_epoch) if known else {"taskArn": started}
                return _ECS.response("run_task", {"tasks": [document], "failures": []})
            arn = f"{LOCAL_TASK_PREFIX}{uuid.uuid4().hex}"
            overrides = request.get("overrides") or {}
            task_env = {
                e["name"]: e["value"]
                for o in overrides.get("containerOverrides") or ()
                for e in o.get("environment") or ()
            }
            task = _Task(
                arn=arn,
                started_by=str(request.get("startedBy", "")),
                overrides=overrides,
                env=task_env,
                log_path=self.log_path(arn),
                fault=self._faults.next(),
                created_at=time.time(),
                **self._size(request),
            )
            self._tasks[arn] = task
            if token:
                self._tokens.record(token, arn)
        self._change(task, "PENDING")
        if task.fault is Fault.START_FAILURE:
            self._stopped(
                task, stop_code=StopCode.TASK_FAILED_TO_START, reason=START_FAILURE_REASON
            )
        else:
            self._start(task)
        with task.lock:
            document = task.describe(_epoch)
        return _ECS.response("run_task", {"tasks": [document], "failures": []})

    def _size(self, request: dict[str, Any]) -> dict[str, Any]:
        """The task's size and capacity: RunTask's overrides, else the configured size."""
        overrides = request.get("overrides") or {}
        config = self._config
        strategy = request.get("capacityProviderStrategy") or ()
        memory = overrides.get("memory") or config.memory
        cpu = overrides.get("cpu") or config.cpu
        ephemeral = (overrides.get("ephemeralStorage") or {}).get("sizeInGiB")
        default_cpu, default_memory = config.task_size
        return {
            "cpu": int(cpu or default_cpu),
            "memory_mib": int(memory or default_memory),
            "ephemeral_gib": int(ephemeral or DEFAULT_EPHEMERAL_GIB),
            "capacity": str(strategy[0]["capacityProvider"]) if strategy else "FARGATE",
            "memory_enforced": memory is not None,
            "cpu_enforced": cpu is not None,
            "ephemeral_given": ephemeral is not None,
        }

    def get_paginator(self, operation_name: str) -> Paginator[Any]:
        """``get_paginator("list_tasks")``, as the ECS client offers it."""
        if operation_name != "list_tasks":
            raise ValueError(f"the local ECS stand-in has no paginator for {operation_name!r}")
        return list_tasks_paginator(self.list_tasks)

    def list_tasks(self, **request: Any) -> dict[str, Any]:
        """ARNs of tasks not yet stopped, started by ``startedBy`` when given."""
        _ECS.check_request("list_tasks", request)
        started_by = request.get("startedBy")
        with self._lock:
            arns = [
                t.arn
                for t in self._tasks.values()
                if t.last_status != "STOPPED" and started_by in (None, t.started_by)
            ]
        return _ECS.response("list_tasks", {"taskArns": arns})

    def describe_tasks(self, **request: Any) -> dict[str, Any]:
        """Known tasks as ECS describes them; unknown ones as ``MISSING`` failures."""
        _ECS.check_request("describe_tasks", request)
        tasks, failures = [], []
        with self._lock:
            forget_before = time.time() - self._config.forget_stopped_after_s
            for arn in request.get("tasks", []):
                task = self._tasks.get(arn)
                if task is not None and task.stopped_at and task.stopped_at < forget_before:
                    task = None  # ECS keeps a stopped task for about an hour
                if task is None:
                    failures.append({"arn": arn, "reason": "MISSING"})
                else:
                    tasks.append(task.describe(_epoch))
        return _ECS.response("describe_tasks", {"tasks": tasks, "failures": failures})

    # --- local lifecycle -------------------------------------------------------------------
    def log_path(self, task_arn: str) -> Path:
        """Where a task's output is kept: one file per task, never overwritten."""
        return self._logs_dir / f"{task_arn.rsplit('/', 1)[-1]}.log"

    def active_count(self) -> int:
        """Tasks not yet stopped."""
        with self._lock:
            return sum(1 for t in self._tasks.values() if t.last_status != "STOPPED")

    def stop_all(self, grace_period: float) -> None:
        """Stop every running task as ECS does (SIGTERM), wait up to ``grace_period``, then
        SIGKILL the rest."""
        with self._lock:
            running = [
                (t, t.running)
                for t in self._tasks.values()
                if t.running is not None and t.last_status != "STOPPED"
            ]
        for task, _ in running:
            with task.lock:
                # The host went away, as a termination notice says: the job is retried when
                # the pipeline starts again (with --endpoint, whose ledger survives).
                task.stop_code = task.stop_code or StopCode.TERMINATION_NOTICE
                task.stopped_reason = task.stopped_reason or LOCAL_SHUTDOWN_REASON
        # All at once: an engine slow to answer costs its timeout once, not once a task.
        _each(lambda pair: pair[1].stop(), running)
        deadline = time.monotonic() + grace_period
        exits: list[tuple[_Task, RunningTask, int]] = []

        def settle(pair: tuple[_Task, RunningTask]) -> None:
            task, handle = pair
            code = None
            while code is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._hurried.is_set():
                    handle.kill()
                    # Killed, it ends now; one that still says nothing is reported as killed.
                    code = handle.wait(KILL_WAIT_S)
                    code = KILLED_EXIT_CODE if code is None else code
                    break
                # In short slices, so that hurry() cuts the grace period short at once.
                code = handle.wait(min(remaining, HURRY_CHECK_S))
            exits.append((task, handle, code))

        _each(settle, running)
        for task, handle, code in exits:  # report the stops now; the waiters find them reported
            handle.finish()
            self._exited(task, handle, code)

    def hurry(self) -> None:
        """Cut :meth:`stop_all`'s grace period short: SIGKILL the tasks still running now."""
        self._hurried.set()

    def close(self) -> None:
        """Send the last events (after :meth:`stop_all`) and make sure nothing of any task
        is left."""
        self._backend.close()
        self._outbox.close()

    def flush_events(self) -> None:
        """Wait until every event so far has been sent (the outbox stays open)."""
        self._outbox.flush()

    # --- a task's life ---------------------------------------------------------------------
    def _start(self, task: _Task) -> None:
        launch = TaskLaunch(
            task_id=task.arn.rsplit("/", 1)[-1],
            environment=task.env,
            log_path=task.log_path,
            cpu=task.cpu if task.cpu_enforced else None,
            memory_mib=task.memory_mib if task.memory_enforced else None,
            ephemeral_gib=task.ephemeral_gib if task.ephemeral_given else None,
        )
        try:
            handle = self._backend.start(launch)
        except TaskStartError as exc:
            self._stopped(task, stop_code=StopCode.TASK_FAILED_TO_START, reason=exc.reason)
            return
        except Exception as exc:  # whatever went wrong, the task is not left PENDING
            log.exception("could not start a task")
            reason = f"CannotStartContainerError: {type(exc).__name__}: {exc}"
            self._stopped(task, stop_code=StopCode.TASK_FAILED_TO_START, reason=reason)
            return
        with task.lock:
            task.running = handle
            task.started_at = time.time()
        self._change(task, "RUNNING")
        threading.Thread(
            target=self._wait, args=(task, handle), name="task-waiter", daemon=True
        ).start()
        if task.fault is Fault.SPOT_INTERRUPTION:
            _later(0.05, self._interrupt, task)
        elif task.fault is Fault.OUT_OF_MEMORY:
            _later(0.05, self._out_of_memory, task)
        if task.memory_enforced and not self._backend.enforces_memory:
            watch_memory(handle, task.memory_mib * 1024 * 1024, lambda: self._out_of_memory(task))

    def _out_of_memory(self, task: _Task) -> None:
        """An out-of-memory kill: SIGKILL, reported with ECS's container reason and 137."""
        with task.lock:
            handle = task.running
            if task.exited_with is not None or handle is None or task.last_status == "STOPPED":
                return  # it exited by itself first: its own exit code stands
            task.container_reason = OOM_REASON
        handle.kill()

    def _interrupt(self, task: _Task) -> None:
        """A Spot interruption: the task gets SIGTERM and stops with ``SpotInterruption``."""
        with task.lock:
            handle = task.running
            if task.last_status == "STOPPED" or handle is None:
                return
            task.stop_code = StopCode.SPOT_INTERRUPTION
            task.stopped_reason = SPOT_INTERRUPTED_REASON
        handle.stop()
        # As ECS does: SIGKILL once the stop timeout has passed, if it is still running.
        _later(STOP_TIMEOUT_S, self._kill_if_running, task)

    def _kill_if_running(self, task: _Task) -> None:
        with task.lock:
            handle = task.running
            done = task.exited_with is not None or task.last_status == "STOPPED"
        if handle is not None and not done:
            handle.kill()

    def _wait(self, task: _Task, handle: RunningTask) -> None:
        code = None
        while code is None:
            code = handle.wait()
        with task.lock:
            task.exited_with = code
        # As when a container's first process exits: every other process of the task is
        # killed, and the log is complete, before the stop is reported.
        handle.finish()
        self._exited(task, handle, code)

    def _exited(self, task: _Task, handle: RunningTask, exit_code: int) -> None:
        never_started = handle.start_error()
        if never_started is not None:  # as ECS reports a container that could not start
            reason = f"CannotStartContainerError: {never_started}"
            self._stopped(task, stop_code=StopCode.TASK_FAILED_TO_START, reason=reason)
            return
        with task.lock:
            stop_code = task.stop_code or StopCode.ESSENTIAL_CONTAINER_EXITED
            reason = task.stopped_reason or EXITED_REASON
            # Only the SIGKILL it was sent ends a task for memory; an exit in between stands.
            killed = handle.out_of_memory() or (
                task.container_reason == OOM_REASON and exit_code == OOM_EXIT_CODE
            )
            task.container_reason = OOM_REASON if killed else None
        self._stopped(
            task,
            stop_code=stop_code,
            reason=reason,
            exit_code=OOM_EXIT_CODE if killed else exit_code,
        )

    def _stopped(
        self, task: _Task, *, stop_code: str, reason: str, exit_code: int | None = None
    ) -> None:
        with task.lock:
            if task.last_status == "STOPPED":
                return
            task.stop_code, task.stopped_reason, task.exit_code = stop_code, reason, exit_code
            task.stopped_at = time.time()
        self._change(task, "STOPPED")

    def _change(self, task: _Task, status: str) -> None:
        with task.lock:
            task.last_status = status
            task.version += 1
            view = task.view()
        self._outbox.put(
            state_change_event(
                view,
                account=LOCAL_ACCOUNT,
                region=LOCAL_REGION,
                time=ecs_timestamp(time.time()),
                event_id=str(uuid.uuid4()),
            )
        )


def _later(delay: float, action: Callable[[_Task], None], task: _Task) -> None:
    """Call ``action(task)`` after ``delay`` seconds, unless this process has ended."""
    timer = threading.Timer(delay, action, args=(task,))
    timer.daemon = True
    timer.start()


def _each(action: Callable[[Any], object], items: list[Any]) -> None:
    """``action`` on every item at once, each in a thread of its own; return when all are done."""
    threads = [threading.Thread(target=action, args=(item,), daemon=True) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
