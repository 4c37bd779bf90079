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
    """The resident memory of process ``pid`` and all its descendants (Linux ``/proc``; 0 when
    it is gone or ``/proc`` is not there)."""
    total = 0
    pending = [pid]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            with open(f"/proc/{current}/statm", encoding="ascii") as statm:
                total += int(statm.read().split()[1]) * _PAGE_BYTES
            # Each thread lists the children it started.
            for thread in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{thread}/children", encoding="ascii") as kids:
                    pending.extend(int(child) for child in kids.read().split())
        except (OSError, ValueError, IndexError):
            continue  # exited meanwhile
    return total
