"""Nothing a local task starts outlives it or escapes its memory limit, whatever session it
moves to: `s3fargate dev` as a real subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import pytest

from s3fargate import processes
from s3fargate.local.containment import Containment
from tests.devserver import Dev, dev_pipeline, wait_for

if TYPE_CHECKING:
    from pathlib import Path

PY = sys.executable


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def _gone_within(pid: int, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while _alive(pid):
        assert time.monotonic() < deadline, f"{what} (pid {pid}) is still alive"
        time.sleep(0.02)


def _job(dev: Dev, key: str) -> dict[str, Any]:
    return next((job for job in dev.jobs() if job["key"] == key), {})


def _detached(tmp_path: Path, name: str, child: str, *, wait: bool) -> tuple[str, Path]:
    """A task command that starts ``child`` in a session of its own (which first writes its
    pid), then exits at once or, with ``wait``, sleeps on; and the pid file."""
    pid_file = tmp_path / f"{name}.pid"
    script = tmp_path / f"{name}.sh"
    script.write_text(
        f'setsid sh -c \'echo $$ > "{pid_file}.tmp" && mv "{pid_file}.tmp" "{pid_file}"; '
        f"exec {child}' </dev/null >/dev/null 2>&1 &\n"
        f'while [ ! -e "{pid_file}" ]; do sleep 0.01; done\n' + ("exec sleep 300\n" if wait else "")
    )
    return f"sh {script}", pid_file


def test_a_detached_child_dies_when_its_task_ends(tmp_path: Path) -> None:
    # GIVEN a task that starts a process in its own session and exits at once
    task, pid_file = _detached(tmp_path, "child", "sleep 300", wait=False)
    with dev_pipeline(tmp_path, "--task-cmd", task) as dev:
        dev.s3.put_object(Bucket=dev.state.bucket, Key="incoming/a.txt", Body=b"a")
        # WHEN its job ends
        wait_for(lambda: _job(dev, "incoming/a.txt").get("status") == "succeeded", 60, "the job")
        # THEN the detached process is gone within 5 s
        _gone_within(int(pid_file.read_text()), 5, "the task's detached child")


def test_a_detached_child_counts_against_the_tasks_memory(tmp_path: Path) -> None:
    # GIVEN a 512 MiB task whose main process is small, but a child in its own session
    # holds 700 MiB
    hog = tmp_path / "hog.py"
    hog.write_text("import time\nblock = bytearray(700 * 2**20)\ntime.sleep(300)\n")
    # The main process waits, so only the memory limit can end the task.
    task, pid_file = _detached(tmp_path, "hog", f"{PY} {hog}", wait=True)
    args = ("--task-cmd", task, "--memory", "512", "--max-attempts", "1")
    with dev_pipeline(tmp_path, *args) as dev:
        dev.s3.put_object(Bucket=dev.state.bucket, Key="incoming/hog.txt", Body=b"x")
        # WHEN it runs
        job = wait_for(
            lambda: (
                _job(dev, "incoming/hog.txt").get("status") == "failed"
                and _job(dev, "incoming/hog.txt")
            ),
            90,
            "the job to fail for memory",
        )
        # THEN it is killed as ECS kills for memory, and the child with it
        assert job["exit_code"] == 137, job
        assert "OutOfMemoryError" in (job.get("container_reason") or job["reason"]), job
        _gone_within(int(pid_file.read_text()), 5, "the memory hog")


def test_no_task_process_survives_ctrl_c_or_kill_9_of_dev(tmp_path: Path) -> None:
    for sig in (signal.SIGINT, signal.SIGKILL):
        # GIVEN a running task with a detached child
        task, pid_file = _detached(tmp_path, f"child-{sig.name}", "sleep 300", wait=True)
        with dev_pipeline(tmp_path, "--task-cmd", task, "--grace-period", "1") as dev:
            dev.s3.put_object(Bucket=dev.state.bucket, Key="incoming/long.txt", Body=b"x")
            wait_for(pid_file.exists, 60, "the task's child to start")
            # WHEN dev is stopped with Ctrl-C, or killed outright
            dev.proc.send_signal(sig)
            dev.proc.wait(timeout=60)
            # THEN no process of the task is left 5 s later
            _gone_within(int(pid_file.read_text()), 5, f"the task's child after {sig.name}")
        assert not os.path.exists(f"/proc/{dev.proc.pid}")


# --- both ways of keeping a task's processes -----------------------------------------------------
@pytest.mark.parametrize("use_cgroups", [True, False], ids=["cgroup", "process-tree"])
def test_a_task_boundary_holds_every_process_it_started(tmp_path: Path, use_cgroups: bool) -> None:
    containment = Containment.create(use_cgroups=use_cgroups)
    if use_cgroups:
        assert containment.mode == "cgroup", (
            "this machine lets root make cgroup v2 groups; the local pipeline must use them"
        )
    try:
        # GIVEN a task whose first process starts a child in a session of its own, which
        # forks again (a daemon's double fork) and holds 200 MiB
        boundary = containment.task("t1")
        pid_file = tmp_path / "grandchild.pid"
        hog = tmp_path / "hog.py"
        hog.write_text(
            "import os, sys, time\n"
            "if os.fork(): sys.exit(0)\n"
            "block = bytearray(200 * 2**20)\n"
            f"open({str(pid_file)!r} + '.tmp', 'w').write(str(os.getpid()))\n"
            f"os.rename({str(pid_file)!r} + '.tmp', {str(pid_file)!r})\n"
            "time.sleep(300)\n"
        )
        # (The child also drops the markers from its environment, as a process may.)
        script = (
            f"env -u S3FARGATE_LOCAL_TASK -u S3FARGATE_LOCAL_PIPELINE setsid {PY} {hog} & "
            f"while [ ! -e {pid_file} ]; do sleep 0.01; done; exec sleep 300"
        )
        boundary.prepare()
        first = subprocess.Popen(
            boundary.command(["/bin/sh", "-c", script]),
            env={**os.environ, **boundary.environment},
            preexec_fn=boundary.preexec,  # noqa: PLW1509
        )
        boundary.started(first.pid)
        wait_for(pid_file.exists, 30, "the grandchild")
        grandchild = int(pid_file.read_text())
        # THEN the grandchild is one of the task's processes, and its memory the task's
        assert grandchild in boundary.pids()
        assert boundary.memory_bytes() >= 200 * 2**20
        # WHEN the task's command exits, then the task ends
        (command,) = (
            [first.pid]
            if use_cgroups
            else [p for p in processes.children(first.pid) if p != grandchild]
        )
        os.kill(command, signal.SIGKILL)
        first.wait(timeout=30)
        boundary.kill()
        boundary.close()
        # THEN the grandchild is gone too
        _gone_within(grandchild, 5, "the task's grandchild")
    finally:
        containment.close()
