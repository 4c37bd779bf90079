"""Child processes that do not outlive their parent (Linux; elsewhere a no-op)."""

from __future__ import annotations

import ctypes
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
