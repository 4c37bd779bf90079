"""Every process a local task starts stays inside it: measured for memory while the task runs,
killed when it ends, whatever session or process group it moved to — as the container
boundary holds on Fargate.

Where the machine lets this process make cgroups (cgroup v2, as root or in a delegated
subtree), each task runs in a cgroup of its own: no process can leave it, and the kernel lists
its members. Elsewhere a task is tracked by parentage from its start: its first process is a
small reaper (:mod:`s3fargate.local.task_reaper`) that every orphan below it comes back to (so
a double fork or ``setsid`` stays in its tree) and that kills what is left when the command
exits; every process also carries a marker in its environment, by which the janitor finds what
escaped if the reaper itself is killed. A janitor process outlives ``dev`` just long enough to
kill what is left if ``dev`` itself is killed (``kill -9`` included); the next ``dev`` also
removes the cgroups of pipelines that are gone. (Without cgroups, a process that clears its
environment and outlives a ``kill -9`` of ``dev`` is not found: only a cgroup holds for sure.)
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from pathlib import Path

from s3fargate import processes

#: Set in every local task's environment: the pipeline, and the task, it belongs to.
PIPELINE_MARKER = "S3FARGATE_LOCAL_PIPELINE"
TASK_MARKER = "S3FARGATE_LOCAL_TASK"
#: The name of a pipeline's cgroup: the owner's pid and its start time (pids are reused).
_GROUP_PREFIX = "s3fargate-"
#: How long a kill may take before the task's stop is reported anyway.
KILL_TIMEOUT_S = 10.0


def _own_cgroup() -> Path | None:
    """This process's cgroup v2 folder, or None where there is no cgroup v2 hierarchy."""
    try:
        mounts = Path("/proc/self/mountinfo").read_text(encoding="utf-8").splitlines()
        groups = Path("/proc/self/cgroup").read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    mount = next(
        (line.split()[4] for line in mounts if " - cgroup2 " in line),
        None,
    )
    own = next((line[3:] for line in groups if line.startswith("0::")), None)
    if mount is None or own is None:
        return None
    return Path(mount) / own.lstrip("/")


def _marked(name: str, value: str) -> list[int]:
    """Processes whose environment holds ``name=value`` (those this user may read)."""
    needle = f"{name}={value}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as environ:
                if needle in environ.read().split(b"\0"):
                    found.append(int(entry))
        except OSError:
            continue
    return found


class TaskBoundary:
    """The processes of one task (see the module's documentation)."""

    def __init__(self, *, task_id: str, pipeline_id: str, cgroup: Path | None) -> None:
        self.task_id = task_id
        self._pipeline_id = pipeline_id
        self._cgroup = cgroup
        self._procs_fd: int | None = None
        self._main: int | None = None

    @property
    def environment(self) -> dict[str, str]:
        """What the task's environment must hold to be found by its markers."""
        return {PIPELINE_MARKER: self._pipeline_id, TASK_MARKER: self.task_id}

    def prepare(self) -> None:
        """Before the task's process is started: open what the child joins."""
        if self._cgroup is not None:
            self._procs_fd = os.open(self._cgroup / "cgroup.procs", os.O_WRONLY)

    def command(self, argv: list[str]) -> list[str]:
        """The command line that runs ``argv`` inside the boundary."""
        if self._cgroup is not None:
            return argv
        return [sys.executable, "-m", "s3fargate.local.task_reaper", *argv]

    def preexec(self) -> None:
        """In the task's process before it runs its command (``preexec_fn``): die with the
        thread that started it, and join the task's cgroup. One prctl and one write."""
        processes.die_with_parent()
        if self._procs_fd is not None:
            os.write(self._procs_fd, b"0")  # "0": the process that writes

    def started(self, pid: int) -> None:
        """The task's process has started (as ``pid``)."""
        self._main = pid
        if self._procs_fd is not None:
            os.close(self._procs_fd)
            self._procs_fd = None

    def pids(self) -> list[int]:
        """The processes of the task that are alive."""
        if self._cgroup is not None:
            try:
                text = (self._cgroup / "cgroup.procs").read_text(encoding="ascii")
            except OSError:
                return []
            return processes.living(int(pid) for pid in text.split())
        found = [] if self._main is None else [self._main, *processes.descendants(self._main)]
        return processes.living(found)

    def memory_bytes(self) -> int:
        """The memory the task's processes hold (their proportional set sizes; the reaper's
        own is not the task's)."""
        pids = self.pids()
        if self._cgroup is None:
            pids = [pid for pid in pids if pid != self._main]
        return processes.memory_of(pids)

    def kill(self) -> list[int]:
        """SIGKILL every process of the task; return those that would not die."""
        if self._cgroup is not None:
            with contextlib.suppress(OSError):  # cgroup.kill is there from Linux 5.14
                (self._cgroup / "cgroup.kill").write_text("1", encoding="ascii")
            return processes.kill_all(self.pids, timeout=KILL_TIMEOUT_S)
        return processes.kill_all(
            lambda: sorted({*self.pids(), *_marked(TASK_MARKER, self.task_id)}),
            timeout=KILL_TIMEOUT_S,
        )

    def close(self) -> None:
        """After :meth:`kill`: remove the task's cgroup."""
        if self._procs_fd is not None:
            os.close(self._procs_fd)
            self._procs_fd = None
        if self._cgroup is not None:
            with contextlib.suppress(OSError):
                self._cgroup.rmdir()


class Containment:
    """Where the tasks of one local pipeline are kept (one per ``dev``)."""

    def __init__(self, *, cgroup: Path | None, pipeline_id: str) -> None:
        #: The pipeline's own cgroup, or None where tasks are tracked by parentage.
        self.cgroup = cgroup
        self.pipeline_id = pipeline_id
        self._janitor: subprocess.Popen[bytes] | None = None

    @classmethod
    def create(cls, *, use_cgroups: bool = True) -> Containment:
        """A cgroup for this pipeline where the machine allows one; else tracking by
        parentage. Removes what pipelines that are gone left behind, and starts the janitor."""
        pipeline_id = uuid.uuid4().hex
        own = _own_cgroup() if use_cgroups else None
        cgroup = None
        if own is not None:
            _remove_orphaned(own)
            candidate = own / f"{_GROUP_PREFIX}{processes.owner_token()}"
            try:
                candidate.mkdir()
            except OSError:
                pass
            else:
                cgroup = candidate if _can_join(candidate) else None
                if cgroup is None:
                    with contextlib.suppress(OSError):
                        candidate.rmdir()
        containment = cls(cgroup=cgroup, pipeline_id=pipeline_id)
        containment._start_janitor()
        return containment

    @property
    def mode(self) -> str:
        """How tasks are kept: ``cgroup`` or ``process tree``."""
        return "cgroup" if self.cgroup is not None else "process tree"

    def task(self, task_id: str) -> TaskBoundary:
        """A boundary for a new task."""
        cgroup = None
        if self.cgroup is not None:
            cgroup = self.cgroup / f"task-{task_id}"
            try:
                cgroup.mkdir()
            except OSError:
                cgroup = None
        return TaskBoundary(task_id=task_id, pipeline_id=self.pipeline_id, cgroup=cgroup)

    def close(self) -> None:
        """Kill whatever is left of every task, remove the cgroups, end the janitor."""
        sweep(self.cgroup, self.pipeline_id)
        processes.end_janitor(self._janitor, KILL_TIMEOUT_S)

    def _start_janitor(self) -> None:
        """A process that waits for this one to end, however it ends, then sweeps."""
        argv = [sys.executable, "-m", "s3fargate.local.containment", self.pipeline_id]
        if self.cgroup is not None:
            argv.append(str(self.cgroup))
        self._janitor = processes.start_janitor(argv)


def sweep(cgroup: Path | None, pipeline_id: str | None) -> None:
    """Kill every process of a pipeline (in its cgroups, or carrying its marker) and remove
    its cgroups."""
    if cgroup is not None:
        groups = sorted(
            (p for p in cgroup.glob("task-*") if p.is_dir()), key=lambda p: -len(p.parts)
        )
        for group in [*groups, cgroup]:
            _kill_group(group)
            with contextlib.suppress(OSError):
                group.rmdir()
    if pipeline_id is not None:
        processes.kill_all(lambda: _marked(PIPELINE_MARKER, pipeline_id), timeout=KILL_TIMEOUT_S)


def _can_join(group: Path) -> bool:
    """Whether a child of this process can move itself into a cgroup below ``group`` (it
    needs write access to the cgroups on both sides of the move)."""
    probe = group / "probe"
    try:
        probe.mkdir()
        fd = os.open(probe / "cgroup.procs", os.O_WRONLY)
    except OSError:
        return False
    try:
        done = subprocess.run(
            [sys.executable, "-c", ""],
            preexec_fn=lambda: os.write(fd, b"0") and None,
            check=False,
        )
        return done.returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            probe.rmdir()


def _kill_group(group: Path) -> None:
    def members() -> list[int]:
        try:
            return [int(p) for p in (group / "cgroup.procs").read_text(encoding="ascii").split()]
        except OSError:
            return []

    with contextlib.suppress(OSError):
        (group / "cgroup.kill").write_text("1", encoding="ascii")
    processes.kill_all(members, timeout=KILL_TIMEOUT_S)


def _remove_orphaned(own: Path) -> None:
    """Sweep the cgroups of pipelines whose ``dev`` is gone (killed before it could)."""
    for group in own.glob(f"{_GROUP_PREFIX}*"):
        if processes.owner_alive(group.name.removeprefix(_GROUP_PREFIX)):
            continue  # its dev is running
        with contextlib.suppress(OSError):
            sweep(group, pipeline_id=None)


def _janitor(pipeline_id: str, cgroup: str | None) -> int:
    """Wait until the pipeline's ``dev`` closes this process's standard input (by exiting, or
    by being killed), then kill what its tasks left."""
    processes.wait_for_parent()
    sweep(Path(cgroup) if cgroup else None, pipeline_id)
    return 0


if __name__ == "__main__":
    sys.exit(_janitor(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
