"""Start `s3fargate dev` as a real subprocess and talk to it over HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from s3fargate.display import ordered
from s3fargate.ledger import LedgerStore
from s3fargate.ops.jobs import document as job_document
from s3fargate.rundir import RunState, local_session

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

CLI = str(Path(sys.executable).parent / "s3fargate")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll until ``predicate()`` is truthy; fail the test naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class Dev:
    proc: subprocess.Popen[bytes]
    run_dir: Path
    output: Path
    state: RunState

    def client(self, service: str) -> Any:
        return self.state.client(service)

    @cached_property
    def s3(self) -> Any:
        return self.client("s3")

    @cached_property
    def sqs(self) -> Any:
        return self.client("sqs")

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CLI, *args, "--run-dir", str(self.run_dir)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def jobs(self) -> list[dict[str, Any]]:
        """Every job of the ledger, oldest first, as ``s3fargate jobs --json`` shows them."""
        store = LedgerStore(dynamodb=self.client("dynamodb"), table=self.state.jobs_table)
        return [job_document(job) for job in ordered(store.jobs())]

    def result(self, key: str) -> dict[str, Any] | None:
        rel = key.removeprefix(self.state.input_prefix)
        try:
            body = self.s3.get_object(
                Bucket=self.state.bucket, Key=f"{self.state.results_prefix}{rel}.json"
            )["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        return json.loads(body)

    def stop(self, sig: int = signal.SIGINT) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=60)


@contextmanager
def dev_pipeline(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, run_dir: Path | None = None
) -> Iterator[Dev]:
    """`s3fargate dev` on a free port with its own run directory; stopped with Ctrl-C after."""
    run_dir = run_dir or tmp_path / f"run-{time.monotonic_ns()}"
    output = tmp_path / f"dev-{time.monotonic_ns()}.out"
    with output.open("wb") as out:
        proc = subprocess.Popen(
            [CLI, "dev", "--run-dir", str(run_dir), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    try:
        state_file = run_dir / "state.json"

        def started() -> bool:
            if proc.poll() is not None:
                raise AssertionError(
                    f"s3fargate dev exited {proc.returncode}:\n{output.read_text()}"
                )
            return state_file.exists()

        wait_for(started, 60, "s3fargate dev to start")
        yield Dev(proc, run_dir, output, RunState.load(state_file))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextmanager
def external_moto_server() -> Iterator[str]:
    """A persistent AWS stand-in outside the pipeline (moto in its own process, 127.0.0.1)."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"

    def reachable() -> bool:
        try:
            local_session(embedded=False).client("s3", endpoint_url=endpoint).list_buckets()
        except Exception:
            return False
        return True

    try:
        wait_for(reachable, 30, "the moto server")
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


def run_demo(tmp_path: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """`s3fargate demo ARGS…` with its own run directory, on a wide terminal."""
    return subprocess.run(
        [CLI, "demo", *args, "--run-dir", str(tmp_path / f"demo-{time.monotonic_ns()}")],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
