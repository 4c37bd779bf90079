"""How the local ECS runs a task: a backend starts it and hands back a :class:`RunningTask`,
which the ECS stand-in waits on, stops and kills as ECS does a task's container.

:class:`ProcessBackend` runs the task command as a local process, kept inside the task's
boundary (:mod:`s3fargate.local.containment`: a cgroup per task where the machine allows, else
its process tree), its output copied into the task's log. A backend whose engine enforces
memory itself says so (``enforces_memory``); for the others the ECS stand-in measures the
task's memory (:mod:`s3fargate.local.watchdog`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from s3fargate import contracts as c
from s3fargate import processes
from s3fargate.local.config import task_search_path
from s3fargate.local.containment import Containment, TaskBoundary
from s3fargate.local.tasklog import HEAD_BYTES, TAIL_BYTES, copy_bounded
from s3fargate.rundir.credentials import LOCAL_CREDENTIALS, LOCAL_REGION

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

    from s3fargate.local.config import LocalConfig

#: How long a finished task's output may take to reach its log.
LOG_DRAIN_S = 10.0


class TaskStartError(Exception):
    """The task's command or image could not be started."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        #: ECS's words for it (``CannotStartContainerError: …``).
        self.reason = reason


@dataclass(frozen=True)
class TaskLaunch:
    """One task to start."""

    task_id: str
    #: The container override's environment, as RunTask gave it.
    environment: Mapping[str, str]
    log_path: Path
    #: The limits to enforce, where the backend can (None: none given, none enforced).
    cpu: int | None = None
    memory_mib: int | None = None
    ephemeral_gib: int | None = None


class RunningTask(Protocol):
    """A started task, as the ECS stand-in sees it."""

    def wait(self, timeout: float | None = None) -> int | None:
        """The task's exit code (killed by signal N: 128 + N) once it has exited; None if it
        is still running after ``timeout`` seconds."""

    def stop(self) -> None:
        """The stop signal ECS sends first (SIGTERM)."""

    def kill(self) -> None:
        """SIGKILL every process of the task."""

    def memory_bytes(self) -> int:
        """The memory the task's processes hold."""

    def out_of_memory(self) -> bool:
        """Whether the engine killed the task for its memory."""

    def start_error(self) -> str | None:
        """Why the task's container never started, once it has exited (None: it started)."""

    def finish(self) -> None:
        """After the task's first process has exited: end every other one, release what the
        task held, and complete its log."""


class TaskBackend(Protocol):
    """Starts tasks."""

    #: Whether the engine kills a task over its memory by itself.
    enforces_memory: bool

    def start(self, launch: TaskLaunch) -> RunningTask:
        """Start one task. Raises :class:`TaskStartError` when it cannot start."""

    def close(self) -> None:
        """After every task has finished: make sure nothing of any task is left."""


def reach_environment(
    *, endpoint: str, embedded: bool, credentials: Mapping[str, str] | None
) -> dict[str, str]:
    """What a local task needs to reach the pipeline's server: its endpoint and region, and
    with the embedded server the task role's credentials in place of the user's own."""
    if not embedded:
        region = (
            os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or LOCAL_REGION
        )
        return {"AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": region, "AWS_REGION": region}
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": LOCAL_REGION,
        "AWS_REGION": LOCAL_REGION,  # set on Fargate too
        **(credentials or LOCAL_CREDENTIALS),
        # The embedded server is on loopback with no per-connection limit, and it copies the
        # whole object for every ranged GET: one stream is the fastest read there.
        c.ENV_S3_READ_CONCURRENCY: os.environ.get(c.ENV_S3_READ_CONCURRENCY, "1"),
    }


def definition_environment(config: LocalConfig) -> dict[str, str]:
    """What the construct's task definition gives every task's container: the prefixes, and
    its ``task_environment`` (locally, the pipeline's extra variables)."""
    return {
        c.ENV_INPUT_PREFIX: config.input_prefix,
        c.ENV_RESULTS_PREFIX: config.results_prefix,
        **config.extra_env,
    }


class ProcessTask:
    """A task running as a local process inside its boundary."""

    def __init__(
        self, process: subprocess.Popen[bytes], boundary: TaskBoundary, output: threading.Thread
    ) -> None:
        self._process = process
        self._boundary = boundary
        self._output = output

    def wait(self, timeout: float | None = None) -> int | None:
        try:
            return processes.exit_code_of(self._process.wait(timeout=timeout))
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        # The whole process group: a shell's children get it as a container's do.
        processes.signal_group(self._process.pid, signal.SIGTERM)

    def kill(self) -> None:
        self._boundary.kill()

    def memory_bytes(self) -> int:
        return self._boundary.memory_bytes()

    def out_of_memory(self) -> bool:
        return False

    def start_error(self) -> str | None:
        return None  # a started process has started

    def finish(self) -> None:
        self._boundary.kill()
        self._boundary.close()
        self._output.join(timeout=LOG_DRAIN_S)  # the log is complete before the stop


class ProcessBackend:
    """Each task is the task command, run as a process on this machine."""

    enforces_memory = False

    def __init__(
        self,
        command: Callable[[TaskLaunch], list[str]],
        *,
        environment: Mapping[str, str],
        containment: Containment | None = None,
        log_head: int = HEAD_BYTES,
        log_tail: int = TAIL_BYTES,
    ) -> None:
        """``command`` gives the command line that runs a task; ``environment`` is every
        task's, before the container override."""
        self._command = command
        self._environment = dict(environment)
        self.containment = containment or Containment.create()
        self._log_head = log_head
        self._log_tail = log_tail
        # Every task process is started from this one thread, which lives until every task
        # has stopped: the kernel kills the tasks if this process dies (see _start).
        self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="task-spawner")

    @classmethod
    def for_config(
        cls,
        config: LocalConfig,
        *,
        endpoint: str,
        embedded: bool,
        credentials: Mapping[str, str] | None = None,
        containment: Containment | None = None,
    ) -> ProcessBackend:
        """The backend ``dev`` uses for ``--task-cmd``."""
        base = dict(os.environ)
        if embedded:
            # Never hand the user's real AWS credentials to a task talking to the local server.
            base = {k: v for k, v in base.items() if not k.startswith("AWS_")}
        base.update(
            reach_environment(endpoint=endpoint, embedded=embedded, credentials=credentials)
        )
        base.update(
            {
                "PATH": task_search_path(base.get("PATH")),
                "PYTHONUNBUFFERED": "1",
                **definition_environment(config),
            }
        )
        task_cmd = list(config.task_cmd)
        return cls(lambda _launch: task_cmd, environment=base, containment=containment)

    def start(self, launch: TaskLaunch) -> RunningTask:
        return self._spawner.submit(self._start, launch).result()

    def close(self) -> None:
        self._spawner.shutdown(wait=True)
        self.containment.close()

    def _start(self, launch: TaskLaunch) -> ProcessTask:
        cmd = self._command(launch)
        boundary = self.containment.task(launch.task_id)
        read_end, write_end = os.pipe()
        try:
            boundary.prepare()
            process = subprocess.Popen(
                boundary.command(cmd),
                env={**self._environment, **launch.environment, **boundary.environment},
                stdout=write_end,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches the pipeline, which stops tasks
                # Dies with this thread, and joins the task's boundary before it runs.
                preexec_fn=boundary.preexec,  # noqa: PLW1509 -- a write and a prctl
            )
            boundary.started(process.pid)
        except (OSError, ValueError) as exc:
            boundary.close()
            os.close(read_end)
            launch.log_path.write_text(f"cannot start the task command {cmd[0]!r}: {exc}\n")
            raise TaskStartError(f"CannotStartContainerError: {cmd[0]!r}: {exc}") from exc
        finally:
            os.close(write_end)
        output = threading.Thread(
            target=copy_bounded,
            args=(read_end, launch.log_path),
            kwargs={"head": self._log_head, "tail": self._log_tail},
            name="task-output",
            daemon=True,
        )
        output.start()
        return ProcessTask(process, boundary, output)
