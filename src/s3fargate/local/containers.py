"""Each local task as a container of the task's image (``dev --task-image``), started as ECS
starts it on Fargate: the image's own entrypoint, command and user; the environment of the
task definition and of RunTask's container override (values in the engine client's
environment, never on a command line); the task's memory as a hard limit (the engine's cgroup
kills a container over it, and the stop is reported as ECS reports an out-of-memory kill), its
CPU units as a CPU quota, and its ephemeral storage as a limit on the writable layer where the
engine's storage driver can hold one (overlay2 on XFS); SIGTERM to stop it.

What differs from Fargate: the container shares this machine's network (``--network host``, so
it reaches the local server on 127.0.0.1; Fargate gives each task an interface of its own), the
image is this engine's (built or pulled beforehand: nothing is pulled from ECR), and limits are
enforced only when a size is given (``--memory``, ``--cpu``, ``--task-size``), as for a local
process.

Every container is labelled with its pipeline, task, job and attempt, and with the ``dev`` that
started it. None outlives ``dev``: its containers are removed when it stops, a janitor process
removes them if it is killed, and the next ``dev`` removes those of pipelines that are gone.
Docker by default; Podman's Docker-compatible command where Docker is not installed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from s3fargate import contracts as c
from s3fargate import processes
from s3fargate.events.ecs import STOP_TIMEOUT_S
from s3fargate.local.tasks import (
    ProcessBackend,
    ProcessTask,
    TaskLaunch,
    TaskStartError,
    definition_environment,
    reach_environment,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from s3fargate.local.config import LocalConfig
    from s3fargate.local.containment import Containment

#: The engines, in the order they are looked for.
ENGINES = ("docker", "podman")
#: Labels of every container a local pipeline starts.
LABEL_PIPELINE = "s3fargate.local.pipeline"
LABEL_OWNER = "s3fargate.local.owner"
LABEL_TASK = "s3fargate.local.task"
LABEL_JOB = "s3fargate.local.job"
LABEL_ATTEMPT = "s3fargate.local.attempt"
#: How long one engine command (create, inspect, rm) may take.
ENGINE_TIMEOUT_S = 60.0
#: How long a signal to a container may take to be sent.
SIGNAL_TIMEOUT_S = 10.0
#: How often a container whose client has gone is looked at until it stops.
STATE_POLL_S = 0.2
#: How often the janitor looks again for containers of a pipeline that is gone.
JANITOR_SWEEP_S = 5.0
#: The AWS variables a container is given from this environment with ``--endpoint`` (with the
#: embedded server it gets the task role's throwaway credentials instead).
_AWS_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


class EngineError(c.UserError):
    """No container engine answers, or the image is not on it; the message says what to do."""


@dataclass(frozen=True)
class Engine:
    """A container engine's command-line client (Docker's, or Podman's compatible one)."""

    command: str
    #: Whether the engine can limit a container's writable layer (``--storage-opt size``).
    limits_storage: bool = False

    @classmethod
    def find(cls) -> Engine:
        """The engine on this machine, once it answers.

        Raises:
            EngineError: neither command is installed, or its engine does not answer.
        """
        for name in ENGINES:
            path = shutil.which(name)
            if path is None:
                continue
            engine = cls(path)
            done = engine.run("version", timeout=ENGINE_TIMEOUT_S / 2)
            if done.returncode != 0:
                raise EngineError(
                    f"--task-image: the {name} engine does not answer ({_first_line(done)}); "
                    "start it (Debian: dockerd as root, or systemctl start docker)"
                )
            return cls(path, limits_storage=engine._storage_limited())
        raise EngineError(
            "--task-image needs a container engine, and neither docker nor podman is installed "
            "(Debian: apt-get install docker.io, then start dockerd)"
        )

    def run(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        timeout: float | None = ENGINE_TIMEOUT_S,
    ) -> subprocess.CompletedProcess[str]:
        """One engine command; its output captured (a timeout is a failed command)."""
        try:
            return subprocess.run(
                [self.command, *args],
                capture_output=True,
                text=True,
                errors="replace",
                env=None if env is None else dict(env),
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(
                [self.command, *args], 124, "", f"no answer within {timeout} s"
            )
        except (OSError, ValueError) as exc:  # e.g. a value holding a NUL byte
            return subprocess.CompletedProcess([self.command, *args], 126, "", str(exc))

    def check_image(self, image: str) -> None:
        """Raise :class:`EngineError` unless ``image`` is on the engine."""
        if self.run("image", "inspect", "--format", "{{.Id}}", image).returncode != 0:
            raise EngineError(
                f"--task-image {image!r} is not on this machine's engine: build it "
                f"(docker build -t {image} …) or pull it (docker pull {image}); dev never pulls"
            )

    def containers(self, label: str) -> dict[str, dict[str, str]]:
        """The containers (any state) carrying ``label`` (``NAME`` or ``NAME=VALUE``), each
        with its labels."""
        listed = self.run("ps", "--all", "--quiet", "--no-trunc", "--filter", f"label={label}")
        ids = listed.stdout.split() if listed.returncode == 0 else []
        if not ids:
            return {}
        inspected = self.run("inspect", "--format", "{{.Id}} {{json .Config.Labels}}", *ids)
        found: dict[str, dict[str, str]] = {}
        for line in inspected.stdout.splitlines():
            container, _, labels = line.partition(" ")
            with contextlib.suppress(ValueError, TypeError):
                found[container] = {str(k): str(v) for k, v in (json.loads(labels) or {}).items()}
        return found

    def remove(self, containers: list[str]) -> None:
        """Remove ``containers``, running or not (with their anonymous volumes)."""
        if containers:
            self.run("rm", "--force", "--volumes", *containers)

    def remove_orphans(self) -> None:
        """Remove the containers of local pipelines whose ``dev`` is gone."""
        gone = [
            container
            for container, labels in self.containers(LABEL_OWNER).items()
            if not processes.owner_alive(labels.get(LABEL_OWNER, ""))
        ]
        self.remove(gone)

    def _storage_limited(self) -> bool:
        """overlay2 on XFS mounted with project quotas takes ``--storage-opt size``."""
        done = self.run("info", "--format", "{{.Driver}} {{.DockerRootDir}} {{json .DriverStatus}}")
        driver, root, status = ([*done.stdout.strip().split(" ", 2), "", ""])[:3]
        if done.returncode != 0 or driver != "overlay2" or '"xfs"' not in status:
            return False
        return _mounted_with_project_quotas(root)


class ContainerTask:
    """A task running as a container; the engine client attached to it is its process."""

    def __init__(self, engine: Engine, name: str, client: ProcessTask) -> None:
        self._engine = engine
        self._name = name
        self._client = client
        self._exit: int | None = None
        self._oom = False
        self._start_error: str | None = None

    def wait(self, timeout: float | None = None) -> int | None:
        if self._exit is not None:
            return self._exit
        deadline = None if timeout is None else time.monotonic() + timeout
        client_code = self._client.wait(timeout)
        if client_code is None:
            return None
        # The container's own record: its exit code, whether its cgroup killed it for memory,
        # and whether it started at all. A client that died first leaves the container to be
        # waited for, within the same timeout.
        state = self._state()
        while state is not None and state.get("Running"):
            if deadline is not None and time.monotonic() >= deadline:
                return None
            time.sleep(STATE_POLL_S)
            state = self._state()
        if state is None:  # removed under us: the client's code is all there is
            self._exit = client_code
            return self._exit
        code = state.get("ExitCode")
        self._exit = code if isinstance(code, int) else client_code
        self._oom = bool(state.get("OOMKilled"))
        if state.get("Status") == "created" or str(state.get("StartedAt", "")).startswith("0001-"):
            self._start_error = str(state.get("Error") or "") or (
                f"the engine did not start the container (its client exited {client_code})"
            )
        return self._exit

    def stop(self) -> None:
        self._engine.run("kill", "--signal", "SIGTERM", self._name, timeout=SIGNAL_TIMEOUT_S)

    def kill(self) -> None:
        self._engine.run("kill", "--signal", "SIGKILL", self._name, timeout=SIGNAL_TIMEOUT_S)
        self._client.kill()

    def memory_bytes(self) -> int:
        return 0

    def out_of_memory(self) -> bool:
        return self._oom

    def start_error(self) -> str | None:
        return self._start_error

    def finish(self) -> None:
        self._client.finish()
        self._engine.remove([self._name])

    def _state(self) -> dict[str, object] | None:
        done = self._engine.run("inspect", "--format", "{{json .State}}", self._name)
        if done.returncode != 0:
            return None
        try:
            state = json.loads(done.stdout)
        except ValueError:
            return None
        return state if isinstance(state, dict) else None


class ContainerBackend:
    """Each task is a container of one image."""

    enforces_memory = True

    def __init__(
        self,
        engine: Engine,
        image: str,
        *,
        environment: Mapping[str, str],
        containment: Containment | None = None,
    ) -> None:
        """``environment`` is every task's, before the container override."""
        self.engine = engine
        self.image = image
        self._environment = dict(environment)
        self._pipeline_id = uuid.uuid4().hex
        self._owner = processes.owner_token()
        engine.remove_orphans()
        # The clients that attach to the containers run as local tasks do (their output is
        # the task's log; they die with this process).
        self._clients = ProcessBackend(
            lambda launch: [engine.command, "start", "--attach", container_name(launch.task_id)],
            environment=os.environ,
            containment=containment,
        )
        self._janitor = processes.start_janitor(
            [sys.executable, "-m", "s3fargate.local.containers", engine.command, self._pipeline_id]
        )

    @classmethod
    def for_config(
        cls,
        config: LocalConfig,
        *,
        endpoint: str,
        embedded: bool,
        credentials: Mapping[str, str] | None = None,
    ) -> ContainerBackend:
        """The backend ``dev --task-image`` uses.

        Raises:
            EngineError: no engine answers, or the image is not on it.
        """
        if config.task_image is None:
            raise ValueError("the container backend needs a task image")
        engine = Engine.find()
        engine.check_image(config.task_image)
        environment = {
            **definition_environment(config),
            **reach_environment(endpoint=endpoint, embedded=embedded, credentials=credentials),
        }
        if not embedded:  # the user's own credentials, for their own server
            environment.update({k: os.environ[k] for k in _AWS_CREDENTIALS if k in os.environ})
        return cls(engine, config.task_image, environment=environment)

    def start(self, launch: TaskLaunch) -> ContainerTask:
        """Create the task's container, then start it with a client attached.

        Raises:
            TaskStartError: the engine refused to create or start it.
        """
        name = container_name(launch.task_id)
        variables = {**self._environment, **launch.environment}
        created = self.engine.run(
            "create",
            *self._options(name, launch, variables),
            self.image,
            env={**os.environ, **variables},
        )
        if created.returncode != 0:
            self.engine.remove([name])  # one an engine too slow to answer may still make
            reason = _first_line(created)
            launch.log_path.write_text(f"cannot create the task's container: {reason}\n")
            raise TaskStartError(f"CannotStartContainerError: {reason}")
        try:
            client = self._clients.start(launch)
        except TaskStartError:
            self.engine.remove([name])
            raise
        if not isinstance(client, ProcessTask):  # pragma: no cover -- ProcessBackend's own
            raise TypeError(type(client))
        return ContainerTask(self.engine, name, client)

    def close(self) -> None:
        """Remove every container of this pipeline, then end the janitor."""
        self._clients.close()
        self.engine.remove(list(self.engine.containers(f"{LABEL_PIPELINE}={self._pipeline_id}")))
        processes.end_janitor(self._janitor, ENGINE_TIMEOUT_S)

    def _options(self, name: str, launch: TaskLaunch, variables: Mapping[str, str]) -> list[str]:
        task = c.TaskEnvironment.of(launch.environment)
        options = [
            "--name",
            name,
            "--network",
            "host",
            "--stop-timeout",
            str(STOP_TIMEOUT_S),
            # The output reaches the task's log through the attached client; the engine keeps
            # none of it (its own log would grow without bound).
            "--log-driver",
            "none",
            "--label",
            f"{LABEL_PIPELINE}={self._pipeline_id}",
            "--label",
            f"{LABEL_OWNER}={self._owner}",
            "--label",
            f"{LABEL_TASK}={launch.task_id}",
            "--label",
            f"{LABEL_JOB}={task.job_id or ''}",
            "--label",
            f"{LABEL_ATTEMPT}={task.attempt or ''}",
        ]
        if launch.memory_mib is not None:  # no swap: the limit is the limit
            options += [
                "--memory",
                f"{launch.memory_mib}m",
                "--memory-swap",
                f"{launch.memory_mib}m",
            ]
        if launch.cpu is not None:  # a quota, never more than the machine has
            cpus = min(launch.cpu / 1024, float(os.cpu_count() or 1))
            options += ["--cpus", f"{cpus:g}"]
        if launch.ephemeral_gib is not None and self.engine.limits_storage:
            options += ["--storage-opt", f"size={launch.ephemeral_gib}G"]
        # Names only: each value comes from the client's environment, whatever it holds.
        for variable in sorted(variables):
            options += ["--env", variable]
        return options


def container_name(task_id: str) -> str:
    """The container of a local task."""
    return f"s3fargate-{task_id}"


def _mounted_with_project_quotas(path: str) -> bool:
    """Whether the file system holding ``path`` has project quotas on (XFS: ``prjquota``)."""
    best, options = "", ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text(encoding="utf-8").splitlines():
            fields = line.split()
            if len(fields) >= 4 and path.startswith(fields[1]) and len(fields[1]) > len(best):
                best, options = fields[1], fields[3]
    return any(o in ("prjquota", "pquota", "pqnoenforce") for o in options.split(","))


def _first_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in (done.stderr or done.stdout or "").splitlines() if line.strip()]
    return lines[0].strip() if lines else f"exit status {done.returncode}"


def _janitor(command: str, pipeline_id: str) -> int:
    """Wait until the pipeline's ``dev`` has ended, then remove its containers; after a ``dev``
    that was killed, again until no engine call it left running can still make one."""
    in_order = processes.wait_for_parent()
    engine = Engine(command)
    label = f"{LABEL_PIPELINE}={pipeline_id}"
    deadline = time.monotonic() + (0 if in_order else ENGINE_TIMEOUT_S)
    while True:
        engine.remove(list(engine.containers(label)))
        if time.monotonic() >= deadline:
            return 0
        time.sleep(JANITOR_SWEEP_S)


if __name__ == "__main__":
    sys.exit(_janitor(sys.argv[1], sys.argv[2]))
