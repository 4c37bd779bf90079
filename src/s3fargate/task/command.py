"""``s3fargate-task -- CMD ARG…``: any command-line program as a task, with no Python code.

The object is downloaded to the task's disk (or, with ``--stdin``, streamed to the command's
standard input); the command runs with ``{input}``, ``{output_dir}``, ``{bucket}`` and
``{key}`` filled in (values in plain arguments, quoted variable references in shell scripts:
:mod:`s3fargate.task.placeholders`); every regular file it leaves in ``{output_dir}`` becomes
an output (links, FIFOs, sockets and devices are skipped and listed). The outputs are taken
only once every process the command started has ended. The task exits with the command's exit
code; only a command that exits 0 leaves outputs and a result document.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import subprocess
import sys
import threading
import time
from typing import IO, TYPE_CHECKING, Any, NoReturn

from s3fargate import contracts as c
from s3fargate import processes
from s3fargate.task.exceptions import CommandFailedError
from s3fargate.task.placeholders import PLACEHOLDER_VARIABLES, PLACEHOLDERS, fill
from s3fargate.task.runtime import run

if TYPE_CHECKING:
    from collections.abc import Sequence

    from s3fargate.task.stream import S3Object

__all__ = ["PLACEHOLDERS", "CommandTask", "main"]
#: Exit codes the pipeline gives a meaning of its own (4: superseded, 5: no space on disk): a
#: command that exits with one is reported as 1, so the job is not misread.
RESERVED_EXIT_CODES = frozenset({c.EXIT_SUPERSEDED, c.EXIT_NO_SPACE})
#: Seconds to wait for the stdin feeder after the command's processes are gone.
FEEDER_JOIN_S = 10.0
#: Seconds the processes a command started may go on after it exits before they are killed
#: and the task fails (a background writer must finish before its file is taken).
DEFAULT_CHILDREN_TIMEOUT_S = 30.0
#: The most files taken from the output folder (each is at least three S3 requests).
DEFAULT_MAX_OUTPUTS = 10_000
#: How often the processes left running are looked at.
_CHILDREN_POLL_S = 0.05
#: Shell conventions for a command that could not be run.
EXIT_NOT_EXECUTABLE = 126
EXIT_NOT_FOUND = 127


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The command line; exits 2 with a usage message when it is wrong."""
    parser = argparse.ArgumentParser(
        prog="s3fargate-task",
        description=(
            "Run a command on the task's object. Arguments may hold {input} (the downloaded "
            "object's path), {output_dir} (a folder whose files become outputs), {bucket} and "
            "{key}; in a shell script (sh -c) each becomes a quoted reference to its "
            "environment variable, so no key can change what runs. Exits with the command's "
            "exit code."
        ),
        epilog="example: s3fargate-task -- sort --output={output_dir}/sorted.txt {input}",
    )
    parser.add_argument(
        "--stdin",
        action="store_true",
        help="stream the object to the command's standard input instead of downloading it",
    )
    parser.add_argument(
        "--children-timeout",
        type=_seconds,
        default=DEFAULT_CHILDREN_TIMEOUT_S,
        metavar="S",
        help="seconds the processes the command started may run on after it exits; then they "
        "are killed and the task fails (default %(default)g)",
    )
    parser.add_argument(
        "--max-outputs",
        type=_count,
        default=DEFAULT_MAX_OUTPUTS,
        metavar="N",
        help="fail rather than upload more than N files from the output folder (an archive "
        "of a million empty files is a million uploads; default %(default)d)",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD ARG...")
    args = parser.parse_args(argv)
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        parser.error("give the command after --, e.g. s3fargate-task -- wc -l {input}")
    if args.stdin and any("{input}" in arg for arg in command):
        parser.error("--stdin streams the object to the command: {input} has no file to name")
    args.command = command
    return args


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 86400 or math.isnan(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not 0-86400 seconds")
    return value


class CommandTask:
    """The processing function that runs one command on the object."""

    def __init__(
        self,
        command: list[str],
        *,
        stdin: bool,
        children_timeout: float = DEFAULT_CHILDREN_TIMEOUT_S,
        max_outputs: int = DEFAULT_MAX_OUTPUTS,
    ) -> None:
        self.command = command
        self.stdin = stdin
        self.children_timeout = children_timeout
        self.max_outputs = max_outputs

    def __call__(self, obj: S3Object) -> dict[str, Any]:
        """Download (or stream), run the command, add what it left in the output folder."""
        output_dir = obj.work_dir / "output"
        output_dir.mkdir(parents=True)
        # Each placeholder's value is also in the command's environment: a shell script refers
        # to it there instead of having the value pasted into its code.
        values = {"{output_dir}": str(output_dir), "{bucket}": obj.bucket, "{key}": obj.key}
        if not self.stdin:
            values["{input}"] = str(obj.download())
        env = {**os.environ, **{PLACEHOLDER_VARIABLES[p]: v for p, v in values.items()}}
        argv = fill(self.command, values)
        started = time.monotonic()
        stderr = _StderrTail()
        code = self._run(argv, env, obj, stderr)
        said = stderr.last_line()
        if code in RESERVED_EXIT_CODES:
            raise CommandFailedError(
                f"the command exited with {code}, which the pipeline reserves "
                f"(docs/reference.md, exit codes): reported as 1: {argv[0]}",
                1,
                failure=said,
            )
        if code != 0:
            raise CommandFailedError(
                f"the command exited with {code}: {argv[0]}"
                + (f"; its last line on stderr: {said}" if said else ""),
                code,
                failure=said,
            )
        obj.outputs.add_folder(output_dir, max_files=self.max_outputs)
        return {
            "command": argv,
            "exit_code": 0,
            "command_duration_s": round(time.monotonic() - started, 3),
        }

    def _run(self, argv: list[str], env: dict[str, str], obj: S3Object, stderr: _StderrTail) -> int:
        sys.stdout.flush()
        # Whatever the command starts stays below this process, even in a session of its own
        # or after a double fork, so all of it can be waited for and ended.
        processes.become_subreaper()
        # ECS stops a task with SIGTERM: the command (and every process it started) gets it
        # too, and decides how to end. Taken over before the command starts, so none is lost.
        forward = _Forwarder()
        feeder_error: list[BaseException] = []
        feeder = None
        try:
            try:
                # Its own process group, so SIGTERM reaches a pipeline `a | b` whole.
                process = subprocess.Popen(
                    argv,
                    env=env,
                    stdin=subprocess.PIPE if self.stdin else subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    start_new_session=True,
                    # A task killed outright (SIGKILL) takes its command with it.
                    preexec_fn=processes.die_with_parent,  # noqa: PLW1509 -- one safe call
                )
            except FileNotFoundError as exc:
                raise CommandFailedError(f"command not found: {exc}", EXIT_NOT_FOUND) from exc
            except PermissionError as exc:
                raise CommandFailedError(
                    f"command not executable: {exc}", EXIT_NOT_EXECUTABLE
                ) from exc
            forward.to(process.pid)
            stderr.relay(process)
            if self.stdin:
                feeder = threading.Thread(
                    target=_feed, args=(obj, process, feeder_error), name="stdin", daemon=True
                )
                feeder.start()
            try:
                returncode = process.wait()
                left = self._wait_for_children()
            finally:
                # Nothing the command started outlives the task, however it ends.
                processes.kill_all(lambda: processes.descendants(os.getpid()))
                processes.reap_children()
                stderr.finish()
        finally:
            forward.restore()
        if feeder is not None:
            feeder.join(timeout=FEEDER_JOIN_S)
        if feeder_error:  # the object could not be read whole: the command saw a part only
            raise feeder_error[0]
        if left:
            raise CommandFailedError(
                f"the command exited ({processes.exit_code_of(returncode)}), "
                "but processes it started "
                f"were still running {self.children_timeout:g} s later and were killed, so "
                f"none of its outputs were taken: {', '.join(left)}",
                1,
            )
        return processes.exit_code_of(returncode)

    def _wait_for_children(self) -> list[str]:
        """Wait, up to the timeout, for the processes the command left running (its outputs
        may still be being written); return those still running then, described."""
        deadline = time.monotonic() + self.children_timeout
        announced = False
        while True:
            processes.reap_children()
            # Every process below this one, exited ones included: those are reaped here (this
            # process is their reaper), so only a tree with none left at all is done — one
            # that exited after forking a successor is not mistaken for the end.
            left = processes.descendants(os.getpid())
            if not left:
                return []
            if time.monotonic() >= deadline:
                return [processes.describe(pid) for pid in processes.living(left) or left]
            if not announced:
                announced = True
                print(
                    f"s3fargate-task: the command exited; waiting up to "
                    f"{self.children_timeout:g} s for {len(left)} process(es) it started",
                    file=sys.stderr,
                    flush=True,
                )
            time.sleep(_CHILDREN_POLL_S)


class _Forwarder:
    """Hands SIGTERM to the command's process group; one that arrives before the command
    has started is handed over as soon as it has."""

    def __init__(self) -> None:
        self._group: int | None = None
        self._pending = False
        self._previous: Any = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._on_term)

    def to(self, group: int) -> None:
        """The command has started, as the leader of process group ``group``."""
        self._group = group
        if self._pending:
            _terminate(group)

    def restore(self) -> None:
        """Give SIGTERM back to the task's own handler."""
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)

    def _on_term(self, _signum: int, _frame: object) -> None:
        if self._group is None:
            self._pending = True
        else:
            _terminate(self._group)


#: What the task keeps of its command's standard error (the rest passes through).
STDERR_TAIL_BYTES = 4096
STDERR_CHUNK = 65536


def _terminate(group: int) -> None:
    """SIGTERM to the command's process group and every other process it started (one that
    moved to a session of its own included)."""
    processes.signal_group(group, signal.SIGTERM)
    processes.signal_all(processes.descendants(os.getpid()), signal.SIGTERM)


def _feed(obj: S3Object, process: subprocess.Popen[bytes], errors: list[BaseException]) -> None:
    """Stream the object to the command's standard input; a command that stops reading
    early (``head``) is its own business."""
    stdin = process.stdin
    if stdin is None:  # pragma: no cover -- started with stdin=PIPE
        return
    try:
        for chunk in obj.chunks():
            stdin.write(chunk)
    except BrokenPipeError:
        pass
    except BaseException as exc:
        errors.append(exc)
        processes.signal_group(process.pid, signal.SIGTERM)
    finally:
        with contextlib.suppress(BrokenPipeError):
            stdin.close()


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """The ``s3fargate-task`` console script."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    task = CommandTask(
        args.command,
        stdin=args.stdin,
        children_timeout=args.children_timeout,
        max_outputs=args.max_outputs,
    )
    sys.exit(run(task))


class _StderrTail:
    """Copies the command's standard error to the task's as it comes, keeping its end: the
    job's reason quotes its last line when the command fails."""

    def __init__(self) -> None:
        self._tail = b""
        self._thread: threading.Thread | None = None

    def relay(self, process: subprocess.Popen[bytes]) -> None:
        """Start copying ``process``'s standard error."""
        if process.stderr is None:  # pragma: no cover -- started with stderr=PIPE
            return
        self._thread = threading.Thread(
            target=self._copy, args=(process.stderr,), name="stderr", daemon=True
        )
        self._thread.start()

    def finish(self) -> None:
        """Wait for the copy to reach the end (every writer has ended by now)."""
        if self._thread is not None:
            self._thread.join(timeout=FEEDER_JOIN_S)

    def last_line(self) -> str | None:
        """The last line the command wrote to its standard error that is not blank."""
        for line in reversed(self._tail.decode("utf-8", "replace").splitlines()):
            if line.strip():
                return line.strip()
        return None

    def _copy(self, pipe: IO[bytes]) -> None:
        with pipe:
            while chunk := os.read(pipe.fileno(), STDERR_CHUNK):
                with contextlib.suppress(OSError):
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(2, view) :]
                self._tail = (self._tail + chunk)[-STDERR_TAIL_BYTES:]
