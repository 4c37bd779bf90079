"""``python -m s3fargate.local.task_reaper CMD ARG…``: a local task's first process where no
cgroup can hold the task.

It is the reaper of every orphan below it (``PR_SET_CHILD_SUBREAPER``), so nothing ``CMD``
starts — in a session of its own, after a double fork — leaves its tree while the task runs;
when ``CMD`` exits, it kills whatever is left and exits with ``CMD``'s code (killed by signal
N: 128 + N, as a shell reports it). SIGTERM and SIGINT reach ``CMD`` through the process group
they share; this process only waits.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import TYPE_CHECKING

from s3fargate import processes

if TYPE_CHECKING:
    from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command, end what it left, return its exit code."""
    command = list(sys.argv[1:] if argv is None else argv)
    processes.become_subreaper()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)  # the command gets it through the process group
    try:
        child = subprocess.Popen(
            command,
            preexec_fn=_restore_signals,  # noqa: PLW1509 -- two signal() calls
        )
    except OSError as exc:
        print(f"cannot start the task command {command[0]!r}: {exc}", file=sys.stderr)
        return 127 if isinstance(exc, FileNotFoundError) else 126
    returncode = child.wait()
    processes.kill_all(lambda: processes.descendants(os.getpid()))
    processes.reap_children()
    return 128 - returncode if returncode < 0 else returncode


def _restore_signals() -> None:
    processes.die_with_parent()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)


if __name__ == "__main__":
    sys.exit(main())
