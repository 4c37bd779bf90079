"""``s3fargate-task -- CMD ARG…``: any command-line program as a task, with no Python code.

The object is downloaded to the task's disk (or, with ``--stdin``, streamed to the command's
standard input); the command runs with ``{input}``, ``{output_dir}``, ``{bucket}`` and
``{key}`` replaced in its arguments; every file it leaves in ``{output_dir}`` becomes an
output. The task exits with the command's exit code; only a command that exits 0 leaves
outputs and a result document.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, NoReturn

from s3fargate import contracts as c
from s3fargate.processes import die_with_parent
from s3fargate.task.exceptions import CommandFailedError
from s3fargate.task.runtime import run

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from s3fargate.task.stream import S3Object

#: The placeholders an argument may hold.
PLACEHOLDERS = ("{input}", "{output_dir}", "{bucket}", "{key}")
_PLACEHOLDER = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS))
#: Exit codes the pipeline gives a meaning of its own (4: superseded, 5: no space on disk): a
#: command that exits with one is reported as 1, so the job is not misread.
RESERVED_EXIT_CODES = frozenset({c.EXIT_SUPERSEDED, c.EXIT_NO_SPACE})
#: Seconds to wait for the stdin feeder after the command's processes are gone.
FEEDER_JOIN_S = 10.0
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
            "{key}. Exits with the command's exit code."
        ),
        epilog="example: s3fargate-task -- sort --output={output_dir}/sorted.txt {input}",
    )
    parser.add_argument(
        "--stdin",
        action="store_true",
        help="stream the object to the command's standard input instead of downloading it",
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


def substitute(arg: str, values: dict[str, str]) -> str:
    """Replace the placeholders in one argument, in one pass (a value that holds a placeholder,
    such as a key ``a/{input}.txt``, is not expanded again); other braces (awk, jq) stay."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(0), m.group(0)), arg)


def exit_code_of(returncode: int) -> int:
    """A process's exit code as a shell and ECS report it (killed by signal N: 128 + N)."""
    return 128 - returncode if returncode < 0 else returncode


class CommandTask:
    """The processing function that runs one command on the object."""

    def __init__(self, command: list[str], *, stdin: bool) -> None:
        self.command = command
        self.stdin = stdin

    def __call__(self, obj: S3Object) -> dict[str, Any]:
        """Download (or stream), run the command, add what it left in the output folder."""
        output_dir = obj.work_dir / "output"
        output_dir.mkdir(parents=True)
        values = {"{output_dir}": str(output_dir), "{bucket}": obj.bucket, "{key}": obj.key}
        env = {**os.environ, c.ENV_TASK_OUTPUT_DIR: str(output_dir)}
        if not self.stdin:
            path = obj.download()
            values["{input}"] = str(path)
            env[c.ENV_TASK_INPUT] = str(path)
        argv = [substitute(arg, values) for arg in self.command]
        started = time.monotonic()
        code = self._run(argv, env, obj)
        if code in RESERVED_EXIT_CODES:
            raise CommandFailedError(
                f"the command exited with {code}, which the pipeline reserves "
                f"(docs/reference.md, exit codes): reported as 1: {argv[0]}",
                1,
            )
        if code != 0:
            raise CommandFailedError(f"the command exited with {code}: {argv[0]}", code)
        for name, path in sorted(_files(output_dir)):
            obj.outputs.add_file(name, path)
        return {
            "command": argv,
            "exit_code": 0,
            "command_duration_s": round(time.monotonic() - started, 3),
        }

    def _run(self, argv: list[str], env: dict[str, str], obj: S3Object) -> int:
        sys.stdout.flush()
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
                    start_new_session=True,
                    # A task killed outright (SIGKILL) takes its command with it.
                    preexec_fn=die_with_parent,  # noqa: PLW1509 -- one async-signal-safe call
                )
            except FileNotFoundError as exc:
                raise CommandFailedError(f"command not found: {exc}", EXIT_NOT_FOUND) from exc
            except PermissionError as exc:
                raise CommandFailedError(
                    f"command not executable: {exc}", EXIT_NOT_EXECUTABLE
                ) from exc
            forward.to(process.pid)
            if self.stdin:
                feeder = threading.Thread(
                    target=_feed, args=(obj, process, feeder_error), name="stdin", daemon=True
                )
                feeder.start()
            try:
                returncode = process.wait()
            finally:
                # What the command left running (a daemon holding its stdin open) ends with it.
                _signal_group(process.pid, signal.SIGKILL)
        finally:
            forward.restore()
        if feeder is not None:
            feeder.join(timeout=FEEDER_JOIN_S)
        if feeder_error:  # the object could not be read whole: the command saw a part only
            raise feeder_error[0]
        return exit_code_of(returncode)


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
            _signal_group(group, signal.SIGTERM)

    def restore(self) -> None:
        """Give SIGTERM back to the task's own handler."""
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)

    def _on_term(self, _signum: int, _frame: object) -> None:
        if self._group is None:
            self._pending = True
        else:
            _signal_group(self._group, signal.SIGTERM)


def _signal_group(group: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, sig)


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
        _signal_group(process.pid, signal.SIGTERM)
    finally:
        with contextlib.suppress(BrokenPipeError):
            stdin.close()


def _files(folder: Path) -> list[tuple[str, Path]]:
    """Every file under ``folder``, named by its path relative to it (``/``-separated)."""
    found = []
    for root, _dirs, names in os.walk(folder):
        for name in names:
            path = folder.joinpath(root, name)
            if path.is_file():
                found.append((path.relative_to(folder).as_posix(), path))
    return found


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """The ``s3fargate-task`` console script."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    sys.exit(run(CommandTask(args.command, stdin=args.stdin)))
