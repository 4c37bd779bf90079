"""Checks that run before the local pipeline starts anything, so a mistake is one line, at once.

Each check raises :class:`UsageError` naming the problem; nothing has been created, uploaded
or started when it does.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import socket
from pathlib import Path
from typing import IO, TYPE_CHECKING
from urllib.parse import urlsplit

from s3fargate import contracts as c
from s3fargate.display import safe
from s3fargate.exit_codes import UsageError
from s3fargate.local.config import task_search_path
from s3fargate.local.containers import Engine
from s3fargate.local.serve import LOOPBACK

if TYPE_CHECKING:
    from collections.abc import Sequence

    from s3fargate.local.config import LocalConfig

LOCK_FILE = "dev.lock"
#: How long an ``--endpoint`` gets to accept a connection before the pipeline gives up.
ENDPOINT_TIMEOUT_S = 3.0


def check_run_dir(run_dir: Path) -> None:
    """The run directory is a folder this user can write (created when missing)."""
    if run_dir.exists() and not run_dir.is_dir():
        raise UsageError(f"--run-dir {run_dir} is a file, not a folder")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--run-dir {run_dir}: cannot create it ({exc.strerror})") from exc
    if not os.access(run_dir, os.W_OK | os.X_OK):
        raise UsageError(f"--run-dir {run_dir} is not writable")


class RunDirLock:
    """One ``dev`` (or ``demo``) per run directory: an exclusive ``flock`` on ``dev.lock``.

    The kernel releases the lock when its process ends, however it ends, so a lock left by a
    dead process is simply taken over.
    """

    def __init__(self, run_dir: Path) -> None:
        self._path = run_dir / LOCK_FILE
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock.

        Raises:
            UsageError: another live process holds it.
        """
        file = self._path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            file.seek(0)
            holder = file.read().strip() or "?"
            file.close()
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise UsageError(
                    f"--run-dir {self._path.parent} is in use by another s3fargate "
                    f"(pid {holder}); stop it, or pass another --run-dir"
                ) from exc
            raise
        file.seek(0)
        file.truncate()
        file.write(str(os.getpid()))
        file.flush()
        self._file = file

    def release(self) -> None:
        """Give the lock up (idempotent)."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def check_port(port: int) -> None:
    """``--port`` is free on 127.0.0.1 (0 picks a free one)."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError as exc:
            raise UsageError(
                f"--port {port}: the port is in use on {LOOPBACK} ({exc.strerror}); "
                "pick another, or leave --port out for a free one"
            ) from exc


def check_endpoint(url: str) -> None:
    """``--endpoint`` is an http(s) URL that accepts connections within a few seconds."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--endpoint {safe(url)!r} is not an http:// or https:// URL")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UsageError(f"--endpoint {safe(url)!r}: {exc}") from exc
    try:
        with socket.create_connection((parts.hostname, port), timeout=ENDPOINT_TIMEOUT_S):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UsageError(
            f"--endpoint {safe(url)}: cannot connect ({reason}); is the server running?"
        ) from exc


def check_task_command(config: LocalConfig) -> None:
    """The task command can be started, or the task image run.

    Raises:
        UsageError: the command is missing or not executable.
        EngineError: no container engine answers, or the image is not on it.
    """
    if config.task_image:
        Engine.find().check_image(config.task_image)
        return
    program = config.task_cmd[0]
    if os.sep in program:
        path = Path(program)
        if path.is_dir():
            raise UsageError(f"--task-cmd: {safe(program)} is a folder, not a program")
        if not path.is_file():
            raise UsageError(f"--task-cmd: {safe(program)} does not exist")
        if not os.access(path, os.X_OK):
            raise UsageError(f"--task-cmd: {safe(program)} is not executable")
    elif shutil.which(program, path=task_search_path(os.environ.get("PATH"))) is None:
        raise UsageError(f"--task-cmd: {safe(program)!r} is not a command on PATH")


def check_readable(files: Sequence[Path]) -> None:
    """Every file exists and can be read (all named at once)."""
    problems = []
    for path in files:
        if not path.exists():
            problems.append(f"{safe(str(path))}: no such file")
        elif not path.is_file():
            problems.append(f"{safe(str(path))}: not a file")
        elif not os.access(path, os.R_OK):
            problems.append(f"{safe(str(path))}: not readable")
    if problems:
        raise UsageError("; ".join(problems))


def check_key(key: str) -> None:
    """A key S3 accepts: 1-1,024 bytes of UTF-8."""
    if not key:
        raise UsageError("an object key cannot be empty")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise UsageError(f"key {safe(key)!r} is not valid UTF-8") from exc
    if size > c.MAX_KEY_BYTES:
        raise UsageError(f"key {safe(key[:40])!r}… is {size} bytes, over S3's {c.MAX_KEY_BYTES:,}")
    control = next((ch for ch in key if ord(ch) < 0x20 or ord(ch) == 0x7F), None)
    if control is not None:
        raise UsageError(
            f"key {safe(key)!r} holds a control character ({safe(control)}): S3 advises against "
            "them and the local server cannot store them; rename the file or pass --key"
        )


def check_result_key(key: str, *, input_prefix: str, results_prefix: str) -> None:
    """A key whose task could write its result document (the runner refuses the others)."""
    problem = c.result_key_problem(key, input_prefix=input_prefix, results_prefix=results_prefix)
    if problem:
        raise UsageError(f"key {safe(key[:40])!r}… is refused: {problem}")


def will_launch(config: LocalConfig, key: str) -> bool:
    """True when an upload to ``key`` triggers a task (prefix and suffix filters)."""
    return key.startswith(config.input_prefix) and (
        not config.suffix or key.endswith(config.suffix)
    )
