"""Child processes: they do not outlive their parent, and their memory is measured (Linux;
elsewhere a no-op)."""

from __future__ import annotations

import ctypes
import os
import signal
from typing import Any

#: prctl's option: the signal a process gets when its parent dies.
_PR_SET_PDEATHSIG = 1


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


_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes(pid: int) -> int:
    """The memory process ``pid`` and all its descendants hold (Linux ``/proc``; 0 when it is
    gone or ``/proc`` is not there). Each process counts its proportional share of pages it
    shares with others (PSS), so forked workers are not counted twice, as a cgroup would not."""
    total = 0
    pending = [pid]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            total += _own_bytes(current)
            # Each thread lists the children it started.
            for thread in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{thread}/children", encoding="ascii") as kids:
                    pending.extend(int(child) for child in kids.read().split())
        except (OSError, ValueError, IndexError):
            continue  # exited meanwhile
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
