"""Stands in for ECS locally: RunTask starts the task as a process (or ``docker run``)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from s3fargate import contracts as c
from s3fargate.local.credentials import LOCAL_CREDENTIALS, LOCAL_REGION
from s3fargate.local.jobs import JobStatus
from s3fargate.taskrunner.ecs_api import list_tasks_paginator

if TYPE_CHECKING:
    from botocore.paginate import Paginator

    from s3fargate.local.config import LocalConfig
    from s3fargate.local.jobs import JobTable


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


@dataclass
class _Task:
    arn: str
    job_id: int
    process: subprocess.Popen[bytes]


class LocalEcs:
    """The ECS API slice the runner calls (``run_task``, ``list_tasks``), on this machine.

    Same contract as ECS: container overrides become the process environment; ``clientToken``
    makes a repeated request return the task it started; ``failures`` (not exceptions) report a
    task that could not start, so the runner retries it like a capacity failure.
    """

    def __init__(
        self, *, config: LocalConfig, endpoint: str, jobs: JobTable, embedded: bool
    ) -> None:
        self._config = config
        self._jobs = jobs
        self._lock = threading.Lock()
        self._running: dict[str, _Task] = {}
        self._tokens: dict[str, str] = {}
        base = dict(os.environ)
        if embedded:
            # Never hand the user's real AWS credentials to a task talking to the local server.
            base = {k: v for k, v in base.items() if not k.startswith("AWS_")}
            base.update(LOCAL_CREDENTIALS)
            # The embedded server is on loopback with no per-connection limit, and it copies the
            # whole object for every ranged GET: one stream is the fastest read there.
            base.setdefault(c.ENV_S3_READ_CONCURRENCY, "1")
        base.update(
            {
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
        """Start one task process for the request's container overrides."""
        token = request.get("clientToken")
        with self._lock:
            if token and token in self._tokens:
                return {"tasks": [{"taskArn": self._tokens[token]}], "failures": []}
        overrides = request["overrides"]["containerOverrides"][0]["environment"]
        task_env = {e["name"]: e["value"] for e in overrides}
        key = task_env.get(c.ENV_S3_KEY, "?")
        env = {**self._base_env, **task_env}
        cmd = (
            docker_command(self._config.docker_image, sorted(task_env) + _docker_passthrough())
            if self._config.docker_image
            else list(self._config.task_cmd)
        )
        log_path = self._jobs.log_path_for(key)
        try:
            with log_path.open("wb") as log:
                process = subprocess.Popen(
                    cmd,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # Ctrl-C reaches the pipeline, which stops tasks
                )
        except (OSError, ValueError) as exc:
            return {
                "tasks": [],
                "failures": [{"reason": f"cannot start the task command {cmd[0]!r}: {exc}"}],
            }
        arn = f"arn:aws:ecs:local:000000000000:task/s3fargate-local/{uuid.uuid4().hex}"
        job = self._jobs.update(
            key,
            status=JobStatus.RUNNING,
            started_at=time.time(),
            ended_at=None,
            exit_code=None,
            task_arn=arn,
            log_path=str(log_path),
            reason=None,
        )
        task = _Task(arn=arn, job_id=job.id, process=process)
        with self._lock:
            self._running[arn] = task
            if token:
                self._tokens[token] = arn
        threading.Thread(
            target=self._reap, args=(task,), name=f"task-{job.id}", daemon=True
        ).start()
        return {"tasks": [{"taskArn": arn, "lastStatus": "RUNNING"}], "failures": []}

    def list_tasks(self, **request: Any) -> dict[str, Any]:
        """ARNs of running tasks (every local task is started by the runner)."""
        if request.get("startedBy") not in (None, c.STARTED_BY):
            return {"taskArns": []}
        with self._lock:
            return {"taskArns": list(self._running)}

    def get_paginator(self, operation_name: str) -> Paginator[Any]:
        """``get_paginator("list_tasks")``, as the ECS client offers it."""
        if operation_name != "list_tasks":
            raise ValueError(f"the local ECS stand-in has no paginator for {operation_name!r}")
        return list_tasks_paginator(self.list_tasks)

    # --- local lifecycle -------------------------------------------------------------------
    def active_count(self) -> int:
        """Task processes still running."""
        with self._lock:
            return len(self._running)

    def stop_all(self, grace_period: float) -> None:
        """SIGTERM every running task, wait up to ``grace_period``, then SIGKILL the rest."""
        with self._lock:
            tasks = list(self._running.values())
        for task in tasks:
            _signal_group(task.process, signal.SIGTERM)
        deadline = time.monotonic() + grace_period
        for task in tasks:
            try:
                task.process.wait(timeout=max(deadline - time.monotonic(), 0))
            except subprocess.TimeoutExpired:
                _signal_group(task.process, signal.SIGKILL)
                task.process.wait()
        for task in tasks:  # let the reapers record the final states
            self._finish(task)

    def _reap(self, task: _Task) -> None:
        task.process.wait()
        self._finish(task)

    def _finish(self, task: _Task) -> None:
        with self._lock:
            if self._running.pop(task.arn, None) is None:
                return
        code = task.process.returncode
        self._jobs.update_job(
            task.job_id,
            status=JobStatus.SUCCEEDED if code == 0 else JobStatus.FAILED,
            exit_code=code,
            ended_at=time.time(),
        )


def _docker_passthrough() -> list[str]:
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


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)
