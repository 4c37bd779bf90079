"""The embedded AWS stand-in: moto in server mode (S3, SQS, DynamoDB, SNS), on 127.0.0.1 only,
in a process of its own (:mod:`s3fargate.local.serve`) so that serving requests never waits for
the pipeline's threads to let go of the GIL."""

from __future__ import annotations

import contextlib
import queue
import subprocess
import sys
import tempfile
import threading
from typing import IO, TYPE_CHECKING, Self

if TYPE_CHECKING:
    from pathlib import Path
    from types import TracebackType

#: Importing moto takes a second or two; a machine with both cores busy, much longer.
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 10.0


class ServerStartError(OSError):
    """The server could not listen (the port is taken, or not ours to use), or did not start."""


class LocalServer:
    """Owns an in-memory moto server's lifecycle; use it as a context manager.

    Its store lives in memory and is gone when it stops. ``port=0`` picks a free port. The
    socket is bound before :meth:`start` returns, so a busy port is an error at once.

    ``start(hold=True)`` binds the public port without answering on it and serves a private
    port instead (the same store): the pipeline wires its bucket there, then :meth:`open`
    answers on the public port. A client that connects early waits; it never sees a bucket
    whose uploads would trigger nothing.

    The server process has a session of its own, so a Ctrl-C in the terminal reaches the
    pipeline only (which still needs the server to save its state); it stops when its standard
    input closes, which also happens when the pipeline's process dies.
    """

    def __init__(self, *, port: int = 0) -> None:
        self._port = port
        self._process: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr: IO[bytes] | None = None
        self._endpoint: str | None = None

    def start(self, *, hold: bool = False) -> str:
        """Bind, and serve (or, with ``hold``, serve only a private port); return the URL to
        use now (the private one while held).

        Raises:
            ServerStartError: the port could not be bound, or the server did not start.
        """
        command = [sys.executable, "-m", "s3fargate.local.serve", "--port", str(self._port)]
        if hold:
            command.append("--hold")
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 -- closed in stop()
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            start_new_session=True,
        )
        try:
            threading.Thread(target=self._read, name="moto-server-output", daemon=True).start()
            return self._started()
        except BaseException:  # a Ctrl-C while it starts included: leave no server behind
            self.stop()
            raise

    def _started(self) -> str:
        words = self._next_line("start").split()
        if words[0] == "serving":
            self._endpoint = words[1]
            return self._endpoint
        if words[0] == "held":
            self._endpoint = words[2]
            return words[1]
        if words[0] == "error":  # its own one-line reason says it all
            self.stop()
            raise ServerStartError(" ".join(words[1:]))
        raise self._failed(f"unexpected answer: {' '.join(words)}")

    def open(self) -> None:
        """Answer on the public port (after a held start: and close the private one)."""
        if self._process is None or self._process.stdin is None:
            raise RuntimeError("the server is not started")
        self._process.stdin.write("open\n")
        self._process.stdin.flush()
        if self._next_line("open") != "open":
            raise self._failed("the server did not open its port")

    def enforce(self, authority: Path | None) -> None:
        """From now on, authorise each request signed by a component of the authority saved
        at ``authority`` against its role (None: no more)."""
        if self._process is None or self._process.stdin is None:
            raise RuntimeError("the server is not started")
        self._process.stdin.write(f"iam {authority if authority is not None else 'off'}\n")
        self._process.stdin.flush()
        if self._next_line("iam") != "iam ok":
            raise self._failed("the server did not take the IAM policies")

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:<port>``."""
        if self._endpoint is None:
            raise RuntimeError("the server is not started")
        return self._endpoint

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        process, self._process = self._process, None
        if process is not None:
            if process.stdin is not None:
                with contextlib.suppress(OSError):  # already gone
                    process.stdin.close()  # the server's signal to stop
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def _read(self) -> None:
        process = self._process
        if process is None or process.stdout is None:
            return
        for line in process.stdout:
            self._lines.put(line.strip())
        self._lines.put(None)

    def _next_line(self, step: str) -> str:
        try:
            line = self._lines.get(timeout=START_TIMEOUT_S)
        except queue.Empty:
            raise self._failed(f"no answer within {START_TIMEOUT_S:.0f} s ({step})") from None
        if not line:
            raise self._failed(f"the server exited ({step})")
        return line

    def _failed(self, reason: str) -> ServerStartError:
        detail = ""
        if self._stderr is not None:
            self._stderr.seek(0)
            tail = self._stderr.read().decode(errors="replace").strip().splitlines()[-5:]
            detail = "".join(f"\n  {line}" for line in tail)
        self.stop()
        return ServerStartError(f"{reason}{detail}")

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
