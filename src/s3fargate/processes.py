"""Child processes: they do not outlive their parent, their descendants can be found and ended
whatever session or process group they moved to, and their memory is measured (Linux;
elsewhere the lookups find nothing and the calls are no-ops)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

#: prctl's options: the signal a process gets when its parent dies; orphans of descendants
#: come to this process (not to init), so they stay in its tree.
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
#: How often :func:`kill_all` looks again for processes that are still there.
_KILL_POLL_S = 0.01


def _find_prctl() -> Any:
    """Linux's prctl, looked up once in the parent (None elsewhere)."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _find_prctl()


def die_with_parent() -> None:
    """For ``preexec_fn``, in the child before exec: SIGKILL it when the thread that started it
    dies (one async-signal-safe call, looked up beforehand)."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)


def become_subreaper() -> bool:
    """Make this process the reaper of its descendants' orphans: a child that double-forks or
    moves to a session of its own stays in this process's tree instead of going to init.
    Kept across ``exec``. Returns False where the kernel has no such option."""
    return _PRCTL is not None and _PRCTL(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (each thread lists those it started)."""
    found: list[int] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for thread in threads:
        with (
            contextlib.suppress(OSError, ValueError),
            open(f"/proc/{pid}/task/{thread}/children", encoding="ascii") as kids,
        ):
            found.extend(int(child) for child in kids.read().split())
    return found


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, nearest first (``pid`` itself not included)."""
    found: list[int] = []
    seen = {pid}
    pending = children(pid)
    while pending:
        current = pending.pop(0)
        if current in seen:
            continue
        seen.add(current)
        found.append(current)
        pending.extend(children(current))
    return found


def is_zombie(pid: int) -> bool:
    """True when ``pid`` has exited and waits to be reaped (or is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            # The state follows the command name, which is in parentheses and may hold any.
            return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True


def living(pids: Iterable[int]) -> list[int]:
    """The processes of ``pids`` that have not exited."""
    return [pid for pid in pids if not is_zombie(pid)]


def describe(pid: int) -> str:
    """``pid`` and its command line, shortened, for a message (``1234 sleep 300``)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            words = file.read().split(b"\0")
        line = " ".join(w.decode("utf-8", "replace") for w in words if w)
    except OSError:
        line = ""
    if not line:
        try:
            with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as comm:
                line = comm.read().strip()
        except OSError:
            line = "?"
    return f"{pid} {line[:60]}{'…' if len(line) > 60 else ''}"


def start_ticks(pid: int) -> str | None:
    """When ``pid`` started (clock ticks since boot), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _this_boot_and_namespace() -> str:
    """This boot (the kernel's boot id) and this process's pid namespace: a pid names the same
    process only within both."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as boot:
            boot_id = boot.read().strip().replace("-", "")[:12]
        namespace = os.readlink("/proc/self/ns/pid").removeprefix("pid:[").rstrip("]")
    except OSError:
        return "unknown"
    return f"{boot_id}.{namespace}"


def owner_token(pid: int | None = None) -> str:
    """``PID-TICKS-BOOT.NAMESPACE``: names one process for good (a pid alone is reused once it
    is gone, and means another process in another pid namespace or after a reboot)."""
    pid = os.getpid() if pid is None else pid
    return f"{pid}-{start_ticks(pid)}-{_this_boot_and_namespace()}"


def owner_alive(token: str) -> bool:
    """Whether the process :func:`owner_token` named may still be running: False only when it
    provably is not (gone from this namespace, or named in an earlier boot); a process of
    another pid namespace of this boot cannot be checked from here, and counts as alive."""
    pid, ticks, where = ([*token.split("-", 2), "", ""])[:3]
    here = _this_boot_and_namespace()
    if where != here:
        boot, namespace = ([*where.split(".", 1), ""])[:2]
        return boot == here.split(".", 1)[0] and namespace != "" and here != "unknown"
    return pid.isdigit() and start_ticks(int(pid)) == ticks


def start_janitor(argv: list[str]) -> subprocess.Popen[bytes] | None:
    """Start ``argv``, a process that waits for this one to end however it ends (``kill -9``
    included: its standard input, this process's pipe, then closes), then cleans up after it.
    In a session of its own, so Ctrl-C in the terminal does not reach it."""
    try:
        return subprocess.Popen(argv, stdin=subprocess.PIPE, start_new_session=True, close_fds=True)
    except OSError:  # pragma: no cover -- the interpreter running this one
        return None


#: What a process that ends in order tells its janitor before it closes the pipe.
_DONE = b"done"


def wait_for_parent() -> bool:
    """In a janitor: return once the process that started it has ended (or closed the pipe):
    True when it said it ended in order (:func:`end_janitor`), False when it just went away
    (killed, ``kill -9`` included)."""
    said = b""
    with contextlib.suppress(OSError):
        while chunk := sys.stdin.buffer.read(65536):
            said = (said + chunk)[-len(_DONE) :]
    return said == _DONE


def end_janitor(janitor: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """Tell a janitor this process is done, in order (it cleans up now), and wait for it."""
    if janitor is not None and janitor.stdin is not None:
        with contextlib.suppress(OSError):
            janitor.stdin.write(_DONE)
        with contextlib.suppress(OSError):
            janitor.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            janitor.wait(timeout=timeout)


def exit_code_of(returncode: int) -> int:
    """A process's exit code as a shell, Docker and ECS report it (killed by signal N: 128 + N)."""
    return 128 - returncode if returncode < 0 else returncode


def signal_group(group: int, sig: signal.Signals) -> None:
    """Send ``sig`` to process group ``group``, if it is still there."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, sig)


def signal_all(pids: Iterable[int], sig: signal.Signals) -> None:
    """Send ``sig`` to each of ``pids`` that is still there."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def kill_all(find: Callable[[], list[int]], *, timeout: float = 10.0) -> list[int]:
    """SIGKILL every process ``find`` lists until it lists none that are alive: each round
    stops them first, so none can start another between the listing and the kill. A process
    that forks and exits between a listing and its check is caught by the next listing, so
    the end is two listings in a row with nothing alive.

    Returns the processes still alive after ``timeout`` (none, unless they are not ours to
    kill)."""
    deadline = time.monotonic() + timeout
    quiet = 0
    while quiet < 2:
        alive = living(find())
        if not alive:
            quiet += 1
            continue
        quiet = 0
        if time.monotonic() > deadline:
            return alive
        signal_all(alive, signal.SIGSTOP)
        # Those started between the listing and the stop are found and stopped too.
        signal_all(living(find()), signal.SIGSTOP)
        signal_all(living(find()), signal.SIGKILL)
        time.sleep(_KILL_POLL_S)
    return []


def reap_children() -> None:
    """Collect the exit status of every child of this process that has exited (orphans that
    came to this subreaper); never waits."""
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes(pid: int) -> int:
    """The memory process ``pid`` and all its descendants hold (see :func:`memory_of`)."""
    return memory_of([pid, *descendants(pid)])


def memory_of(pids: Iterable[int]) -> int:
    """The memory the processes ``pids`` hold (Linux ``/proc``; 0 for those gone). Each
    process counts its proportional share of pages it shares with others (PSS), so forked
    workers are not counted twice, as a cgroup would not."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):  # exited meanwhile
            total += _own_bytes(pid)
    return total


def _own_bytes(pid: int) -> int:
    """``pid``'s proportional set size, or its resident set where the kernel has no
    ``smaps_rollup`` (before Linux 4.14)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except FileNotFoundError:
        pass
    with open(f"/proc/{pid}/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * _PAGE_BYTES
