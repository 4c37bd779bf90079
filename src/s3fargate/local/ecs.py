"""Stands in for ECS locally: RunTask starts the task as a process (or ``docker run``), and the
task's life is reported as ECS reports it, with ``ECS Task State Change`` events.

The runner calls ``run_task`` and ``get_paginator("list_tasks")`` exactly as it calls ECS;
the reconciler calls ``describe_tasks``. Requests are validated and answers parsed as botocore
does for ECS (:mod:`s3fargate.wire`): DescribeTasks gives ``datetime`` times, as on AWS.
Each task emits PENDING, RUNNING and STOPPED events (increasing ``version``, ``stopCode``,
the container's exit code) into the tracker's queue, which the same tracker code consumes as
on AWS. ``--faults`` makes attempts fail as Fargate
tasks do: Spot interruptions, tasks that never start, and out-of-memory kills.

Every process a task starts stays inside it (:mod:`s3fargate.local.containment`: a cgroup per
task where the machine allows, else its process tree): all of them count against its memory,
and none outlives it. A task's memory (``--memory``, or the size RunTask asks for) is enforced:
the memory its processes hold is checked every ``MEMORY_CHECK_S``, and a task over its limit is
killed and reported as ECS reports an out-of-memory kill (exit 137, ``OutOfMemoryError``).
Events carry the task's size, capacity and image-pull time, so the tracker prices jobs as on
AWS.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import signal
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from s3fargate import contracts as c
from s3fargate.events.ecs import (
    EXITED_REASON,
    LOCAL_SHUTDOWN_REASON,
    OOM_EXIT_CODE,
    OOM_REASON,
    SPOT_INTERRUPTED_REASON,
    StopCode,
    TaskView,
    describe_task,
    ecs_timestamp,
    state_change_event,
)
from s3fargate.lambda_runtime.paginators import list_tasks_paginator
from s3fargate.local.config import DEFAULT_CPU, DEFAULT_MEMORY_MIB, task_search_path
from s3fargate.local.containment import Containment, TaskBoundary
from s3fargate.local.faults import Fault, FaultDraws, Faults
from s3fargate.local.tasklog import HEAD_BYTES, TAIL_BYTES, copy_bounded
from s3fargate.rundir.credentials import LOCAL_ACCOUNT, LOCAL_CREDENTIALS, LOCAL_REGION
from s3fargate.sizing.sizes import DEFAULT_EPHEMERAL_GIB
from s3fargate.wire import wire_format

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

    from botocore.paginate import Paginator

    from s3fargate.local.config import LocalConfig

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
#: How soon a second Ctrl-C during the grace period kills the tasks.
HURRY_CHECK_S = 0.1
#: How often a task's memory is measured against its limit.
MEMORY_CHECK_S = 0.1
START_FAILURE_REASON = (
    "CannotPullContainerError: pull image manifest has been retried 5 time(s) "
    "(injected by --faults)"
)


def docker_command(image: str, env_names: list[str]) -> list[str]:
    """The ``docker run`` command line for one task.

    Values travel in the docker client's environment (``--env NAME``), not on its command line,
    so keys with any characters pass intact and nothing shows in ``ps``. Host networking lets
    the container reach the server on 127.0.0.1.
    """
    cmd = ["docker", "run", "--rm", "--network", "host"]
    for name in env_names:
        cmd += ["--env", name]
    cmd.append(image)
    return cmd


def exit_code_of(returncode: int) -> int:
    """A process's exit code as ECS and Docker report it: killed by signal N is 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


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
    #: Where the task's processes are kept.
    boundary: TaskBoundary
    version: int = 0
    last_status: str = "PENDING"
    process: subprocess.Popen[bytes] | None = None
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
    #: Enforce ``memory_mib`` on the task's processes.
    memory_enforced: bool = False
    container_reason: str | None = None
    #: The process's exit status, once it has exited (before its output is drained).
    returncode: int | None = None
    output: threading.Thread | None = None
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
        endpoint: str,
        embedded: bool,
        emit: Callable[[dict[str, Any]], object],
        logs_dir: Path,
        tokens_file: Path,
        faults: Faults | None = None,
        log_head: int = HEAD_BYTES,
        log_tail: int = TAIL_BYTES,
        containment: Containment | None = None,
        credentials: Mapping[str, str] | None = None,
    ) -> None:
        self._config = config
        self.containment = containment or Containment.create()
        self._log_head = log_head
        self._log_tail = log_tail
        # Events leave in order from one sender thread, so a launch never waits on the queue.
        self._emit = emit
        self._outbox: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self._sender = threading.Thread(target=self._send_events, name="task-events", daemon=True)
        self._sender.start()
        self._logs_dir = logs_dir
        self._logs_dir.mkdir(parents=True, exist_ok=True)
        self._tokens_file = tokens_file
        self._faults = FaultDraws(faults or Faults())
        self._lock = threading.Lock()
        self._hurried = threading.Event()
        self._tasks: dict[str, _Task] = {}
        self._tokens = self._load_tokens()
        # Every task process is started from this one thread, which lives until every task
        # has stopped: the kernel kills the tasks if this process dies (see _start_process).
        self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="task-spawner")
        base = dict(os.environ)
        if embedded:
            # Never hand the user's real AWS credentials to a task talking to the local server.
            base = {k: v for k, v in base.items() if not k.startswith("AWS_")}
            base.update(credentials or LOCAL_CREDENTIALS)  # the task role's, when checked
            # The embedded server is on loopback with no per-connection limit, and it copies the
            # whole object for every ranged GET: one stream is the fastest read there.
            base.setdefault(c.ENV_S3_READ_CONCURRENCY, "1")
        base.update(
            {
                "PATH": task_search_path(base.get("PATH")),
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_DEFAULT_REGION": base.get("AWS_DEFAULT_REGION", LOCAL_REGION),
                c.ENV_INPUT_PREFIX: config.input_prefix,
                c.ENV_RESULTS_PREFIX: config.results_prefix,
                "PYTHONUNBUFFERED": "1",
                **config.extra_env,
            }
        )
        self._base_env = base

    # --- the ECS API -----------------------------------------------------------------------
    def run_task(self, **request: Any) -> dict[str, Any]:
        """Create one task for the request's container overrides and start it."""
        _ECS.check_request("run_task", request)
        token = request.get("clientToken")
        with self._lock:
            if token and token in self._tokens:
                known = self._tasks.get(self._tokens[token])
                # ECS answers a repeated token with the task it started (it may have been
                # started by an earlier run of this directory, and be forgotten since).
                document = known.describe(_epoch) if known else {"taskArn": self._tokens[token]}
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
                boundary=self.containment.task(arn.rsplit("/", 1)[-1]),
                **self._size(request),
            )
            self._tasks[arn] = task
            if token:
                self._tokens[token] = arn
                self._save_token(token, arn)
        self._change(task, "PENDING")
        if task.fault is Fault.START_FAILURE:
            self._stopped(
                task, stop_code=StopCode.TASK_FAILED_TO_START, reason=START_FAILURE_REASON
            )
        else:
            self._spawner.submit(self._start_process, task).result()
        with task.lock:
            document = task.describe(_epoch)
        return _ECS.response("run_task", {"tasks": [document], "failures": []})

    def _size(self, request: dict[str, Any]) -> dict[str, Any]:
        """The task's size and capacity: RunTask's overrides, else the configured size."""
        overrides = request.get("overrides") or {}
        config = self._config
        strategy = request.get("capacityProviderStrategy") or ()
        memory = overrides.get("memory") or config.memory
        return {
            "cpu": int(overrides.get("cpu") or config.cpu or DEFAULT_CPU),
            "memory_mib": int(memory or DEFAULT_MEMORY_MIB),
            "ephemeral_gib": int(
                (overrides.get("ephemeralStorage") or {}).get("sizeInGiB") or DEFAULT_EPHEMERAL_GIB
            ),
            "capacity": str(strategy[0]["capacityProvider"]) if strategy else "FARGATE",
            "memory_enforced": memory is not None,
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
        """SIGTERM every running task, wait up to ``grace_period``, then SIGKILL the rest."""
        with self._lock:
            running = [
                (t, t.process)
                for t in self._tasks.values()
                if t.process is not None and t.last_status != "STOPPED"
            ]
        for task, _ in running:
            with task.lock:
                # The host went away, as a termination notice says: the job is retried when
                # the pipeline starts again (with --endpoint, whose ledger survives).
                task.stop_code = task.stop_code or StopCode.TERMINATION_NOTICE
                task.stopped_reason = task.stopped_reason or LOCAL_SHUTDOWN_REASON
            _signal_group(task.process, signal.SIGTERM)
        deadline = time.monotonic() + grace_period
        for task, process in running:
            while process.poll() is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._hurried.is_set():
                    task.boundary.kill()
                    process.wait()
                    break
                try:
                    # In short slices, so that hurry() cuts the grace period short at once.
                    process.wait(timeout=min(remaining, HURRY_CHECK_S))
                except subprocess.TimeoutExpired:
                    continue
        for task, process in running:  # report the stops now; the reapers find them reported
            self._end(task)
            self._reaped(task, process.returncode)

    def hurry(self) -> None:
        """Cut :meth:`stop_all`'s grace period short: SIGKILL the tasks still running now."""
        self._hurried.set()

    def close(self) -> None:
        """Release the spawner thread, send the last events (after :meth:`stop_all`), and
        make sure no process of any task is left."""
        self._spawner.shutdown(wait=True)
        self.flush_events()
        self.containment.close()

    def flush_events(self) -> None:
        """Wait until every event so far has been sent (the sender keeps running)."""
        done = threading.Event()
        self._outbox.put({"flush": done})
        done.wait(timeout=30)

    def _send_events(self) -> None:
        while (event := self._outbox.get()) is not None:
            marker = event.get("flush")
            if isinstance(marker, threading.Event):
                marker.set()
                continue
            try:
                self._emit(event)
            except Exception:  # an event that cannot be sent is found by the reconciler
                log.exception("could not send a task state change event")

    # --- a task's life ---------------------------------------------------------------------
    def _start_process(self, task: _Task) -> None:
        cmd = (
            docker_command(str(self._config.docker_image), sorted(task.env) + _passthrough())
            if self._config.docker_image
            else list(self._config.task_cmd)
        )
        read_end, write_end = os.pipe()
        boundary = task.boundary
        try:
            boundary.prepare()
            task.process = subprocess.Popen(
                boundary.command(cmd),
                env={**self._base_env, **task.env, **boundary.environment},
                stdout=write_end,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches the pipeline, which stops tasks
                # Dies with this thread, and joins the task's boundary before it runs.
                preexec_fn=boundary.preexec,  # noqa: PLW1509 -- a write and a prctl
            )
            boundary.started(task.process.pid)
        except (OSError, ValueError) as exc:
            boundary.close()
            os.close(read_end)
            task.log_path.write_text(f"cannot start the task command {cmd[0]!r}: {exc}\n")
            self._stopped(
                task,
                stop_code=StopCode.TASK_FAILED_TO_START,
                reason=f"CannotStartContainerError: {cmd[0]!r}: {exc}",
            )
            return
        finally:
            os.close(write_end)
        task.output = threading.Thread(
            target=copy_bounded,
            args=(read_end, task.log_path),
            kwargs={"head": self._log_head, "tail": self._log_tail},
            name="task-output",
            daemon=True,
        )
        task.output.start()
        task.started_at = time.time()
        self._change(task, "RUNNING")
        threading.Thread(
            target=self._reap, args=(task, task.process), name="task-reaper", daemon=True
        ).start()
        if task.fault is Fault.SPOT_INTERRUPTION:
            threading.Timer(0.05, self._interrupt, args=(task,)).start()
        elif task.fault is Fault.OUT_OF_MEMORY:
            threading.Timer(0.05, self._out_of_memory, args=(task,)).start()
        if task.memory_enforced:
            threading.Thread(
                target=self._watch_memory, args=(task,), name="task-memory", daemon=True
            ).start()

    def _watch_memory(self, task: _Task) -> None:
        """Kill the task as ECS does once its processes (all of them: one in a session of
        its own too) hold more than its memory."""
        limit = task.memory_mib * 1024 * 1024
        process = task.process
        while process is not None and process.poll() is None:
            if task.boundary.memory_bytes() > limit:
                self._out_of_memory(task)
                return
            time.sleep(MEMORY_CHECK_S)

    def _out_of_memory(self, task: _Task) -> None:
        """An out-of-memory kill: SIGKILL, reported with ECS's container reason and 137."""
        with task.lock:
            if task.returncode is not None or task.process is None or task.last_status == "STOPPED":
                return  # it exited by itself first: its own exit code stands
            task.container_reason = OOM_REASON
        task.boundary.kill()

    def _interrupt(self, task: _Task) -> None:
        """A Spot interruption: the task gets SIGTERM and stops with ``SpotInterruption``."""
        with task.lock:
            if task.last_status == "STOPPED" or task.process is None:
                return
            task.stop_code = StopCode.SPOT_INTERRUPTION
            task.stopped_reason = SPOT_INTERRUPTED_REASON
        _signal_group(task.process, signal.SIGTERM)

    def _reap(self, task: _Task, process: subprocess.Popen[bytes]) -> None:
        code = process.wait()
        with task.lock:
            task.returncode = code
        self._end(task)
        self._reaped(task, code)

    def _end(self, task: _Task) -> None:
        """The task's first process has exited: as when a container's does, every other
        process of the task is killed, before its stop is reported."""
        task.boundary.kill()
        task.boundary.close()
        if task.output is not None:
            task.output.join(timeout=10)  # the log is complete before the task is reported

    def _reaped(self, task: _Task, returncode: int) -> None:
        with task.lock:
            stop_code = task.stop_code or StopCode.ESSENTIAL_CONTAINER_EXITED
            reason = task.stopped_reason or EXITED_REASON
            # Only the SIGKILL it was sent ends a task for memory; an exit in between stands.
            killed = task.container_reason == OOM_REASON and returncode == -signal.SIGKILL
            if not killed:
                task.container_reason = None
        exit_code = OOM_EXIT_CODE if killed else exit_code_of(returncode)
        self._stopped(task, stop_code=stop_code, reason=reason, exit_code=exit_code)

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

    # --- idempotency tokens, kept across restarts with the same run directory ---------------
    def _load_tokens(self) -> dict[str, str]:
        tokens: dict[str, str] = {}
        with contextlib.suppress(FileNotFoundError):
            for line in self._tokens_file.read_text(encoding="utf-8").splitlines():
                # A line cut short by a crash is skipped: that launch simply has no token.
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    entry = json.loads(line)
                    tokens[str(entry["token"])] = str(entry["task_arn"])
        return tokens

    def _save_token(self, token: str, arn: str) -> None:
        with self._tokens_file.open("a", encoding="utf-8") as file:
            file.write(json.dumps({"token": token, "task_arn": arn}) + "\n")


def _passthrough() -> list[str]:
    return [
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_DEFAULT_REGION",
        c.ENV_INPUT_PREFIX,
        c.ENV_RESULTS_PREFIX,
        c.ENV_S3_READ_CONCURRENCY,
        c.ENV_S3_PART_SIZE,
    ]


def _signal_group(process: subprocess.Popen[bytes] | None, sig: signal.Signals) -> None:
    if process is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)
