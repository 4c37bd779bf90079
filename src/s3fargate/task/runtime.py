"""Run a processing function on the task's object: configuration, streaming, result, exit code."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import boto3
from aws_lambda_powertools import Logger
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from s3fargate import contracts as c
from s3fargate.task.config import TaskConfig
from s3fargate.task.exceptions import ExitCode, ResultWriteError, TaskConfigError, TaskError
from s3fargate.task.outputs import Outputs
from s3fargate.task.stream import S3Object

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from mypy_boto3_s3 import S3Client

#: Seconds between progress log lines while an object is read.
PROGRESS_INTERVAL = 10.0
#: Exit code when ECS stops the task (SIGTERM: scale-in, Spot interruption, StopTask).
EXIT_TERMINATED = 128 + signal.SIGTERM


class _Terminated(BaseException):
    """Raised in the main thread when SIGTERM arrives."""


def create_s3_client(read_concurrency: int = 1) -> S3Client:
    """An S3 client with standard retries; honours ``AWS_ENDPOINT_URL`` (local server or AWS).

    Its connection pool holds one connection per concurrent ranged GET, plus one for writing.
    """
    return boto3.client(
        "s3",
        config=Config(
            retries={"mode": "standard", "max_attempts": 5},
            connect_timeout=10,
            max_pool_connections=max(10, read_concurrency + 1),
        ),
    )


class _Progress:
    """Logs bytes read and rate every ``interval`` seconds."""

    def __init__(self, logger: Logger, total: Callable[[], int], interval: float) -> None:
        self._logger = logger
        self._total = total
        self._interval = interval
        self._start = time.monotonic()
        self._last = self._start
        self.bytes = 0

    def __call__(self, n: int) -> None:
        self.bytes += n
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._last = now
            total = self._total()
            rate = self.bytes / max(now - self._start, 1e-9) / 2**20
            self._logger.info(
                "progress",
                extra={
                    "bytes": self.bytes,
                    "total_bytes": total,
                    "percent": round(100 * self.bytes / total, 1) if total else None,
                    "rate_mib_s": round(rate, 1),
                },
            )


def run(
    process: Callable[[S3Object], Mapping[str, Any]],
    *,
    environ: Mapping[str, str] | None = None,
    s3: S3Client | None = None,
    logger: Logger | None = None,
    progress_interval: float = PROGRESS_INTERVAL,
) -> int:
    """Process the object named by the task environment and write its result.

    ``process`` receives an :class:`S3Object` and returns a JSON-serialisable mapping. Output
    files it creates through ``obj.outputs`` are completed once it returns, and aborted if it
    raises or the task is stopped. The SDK then adds ``bucket``, ``key``, ``version_id``,
    ``etag``, ``size``, ``outputs``, ``skipped``, ``started_at``, ``finished_at`` and
    ``duration_s`` (these win over same-named fields of ``process``) and writes the document,
    last, to ``<RESULTS_PREFIX><key without INPUT_PREFIX>.json``.

    Returns the exit code: 0 success, 1 processing failed, 2 bad configuration, 3 object
    missing or access denied, 4 superseded, 5 no space on the task's disk, 143 stopped by
    SIGTERM (and, under ``s3fargate-task``, the command's own code).
    """
    env = os.environ if environ is None else environ
    logger = logger or Logger(service="s3fargate-task")
    started = datetime.now(UTC)
    clock = time.monotonic()
    try:
        config = TaskConfig.from_env(env)
    except TaskConfigError as exc:
        logger.error(
            str(exc),
            extra={
                "problems": exc.problems,
                "exit_code": int(exc.exit_code),
                c.FAILURE_FIELD: c.one_line(str(exc)),
            },
        )
        return int(exc.exit_code)

    where = {"bucket": config.bucket, "key": config.key}
    logger.info("start", extra={**where, "size": config.size, "version_id": config.version_id})
    sigterm = _SigTerm()
    obj: S3Object | None = None
    outputs: Outputs | None = None
    work = Path(tempfile.mkdtemp(prefix="s3fargate-", dir=env.get(c.ENV_TASK_WORK_DIR) or None))
    try:
        sigterm.install()
        s3 = s3 or create_s3_client(config.read_concurrency)
        progress = _Progress(logger, lambda: obj.size if obj else 0, progress_interval)
        outputs = Outputs(
            s3=s3,
            bucket=config.bucket,
            key=config.key,
            input_prefix=config.input_prefix,
            results_prefix=config.results_prefix,
            part_size=config.part_size,
            concurrency=config.read_concurrency,
            logger=logger,
            work_dir=work,
        )
        obj = S3Object(s3=s3, config=config, on_chunk=progress, outputs=outputs, work_dir=work)
        fields = _checked_fields(process(obj))  # before any output appears
        # Completing the outputs and writing the result is short and must not be cut in
        # half: a SIGTERM now is noted, and the task finishes first.
        with sigterm.held_back():
            records = outputs.commit()
            document = {
                **fields,
                "bucket": config.bucket,
                "key": config.key,
                "version_id": obj.version_id,
                "etag": obj.etag,
                "size": obj.size,
                "outputs": [record.as_dict() for record in records],
                # Files that were not uploaded (links, FIFOs, devices …), and why.
                "skipped": [entry.as_dict() for entry in outputs.skipped],
                **(
                    {"skipped_count": outputs.skipped_count}
                    if outputs.skipped_count > len(outputs.skipped)
                    else {}
                ),
                "started_at": started.isoformat(),
                "finished_at": datetime.now(UTC).isoformat(),
                "duration_s": round(time.monotonic() - clock, 3),
            }
            try:
                _write_result(s3, config, document)
            except BaseException:
                outputs.discard_completed(records)
                raise
    except _Terminated:
        with sigterm.held_back():
            _abort(outputs)
        logger.error("stopped by SIGTERM before finishing", extra={**where, "exit_code": 143})
        return EXIT_TERMINATED
    except TaskError as exc:
        with sigterm.held_back():
            _abort(outputs)
        logger.error(
            str(exc),
            extra={
                **where,
                "exit_code": int(exc.exit_code),
                c.FAILURE_FIELD: c.one_line(exc.failure or str(exc)),
            },
        )
        return int(exc.exit_code)
    except Exception as exc:
        with sigterm.held_back():
            _abort(outputs)
        logger.exception(
            f"processing failed: {type(exc).__name__}: {exc}",
            extra={
                **where,
                "exit_code": ExitCode.PROCESSING_FAILED.value,
                c.FAILURE_FIELD: c.one_line(f"{type(exc).__name__}: {exc}"),
            },
        )
        return ExitCode.PROCESSING_FAILED.value
    finally:
        sigterm.restore()
        shutil.rmtree(work, ignore_errors=True)
    if sigterm.arrived:
        logger.warning("SIGTERM arrived while the outputs were committed: finished first")
    logger.info(
        "end",
        extra={
            **where,
            "duration_s": document["duration_s"],
            "bytes": progress.bytes,
            "outputs": len(records),
            "result": f"s3://{config.bucket}/{config.result_key}",
            "exit_code": 0,
        },
    )
    return ExitCode.SUCCESS.value


def _checked_fields(result: object) -> dict[str, Any]:
    """The processing function's fields, checked to be a JSON object before anything is
    committed (a result that cannot be written must not leave outputs behind)."""
    try:
        fields: dict[str, Any] = dict(result)  # type: ignore[call-overload]
        json.dumps(fields, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise ResultWriteError(
            f"the processing function must return a JSON-serialisable mapping: {exc}"
        ) from exc
    return fields


def _abort(outputs: Outputs | None) -> None:
    """Abort the outputs of a task that did not succeed."""
    if outputs is not None:
        outputs.abort()


def main(process: Callable[[S3Object], Mapping[str, Any]]) -> NoReturn:
    """Entry point for a task program: ``main(my_function)`` runs it and exits with its code."""
    sys.exit(run(process))


def _write_result(s3: S3Client, config: TaskConfig, document: dict[str, Any]) -> None:
    try:
        body = json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ResultWriteError(f"the result is not JSON-serialisable: {exc}") from exc
    try:
        s3.put_object(
            Bucket=config.bucket,
            Key=config.result_key,
            Body=body,
            ContentType="application/json",
            Metadata={c.RESULT_OUTPUTS_METADATA: str(len(document.get("outputs") or ()))},
        )
    except (ClientError, BotoCoreError) as exc:
        raise ResultWriteError(
            f"could not write the result to s3://{config.bucket}/{config.result_key}: {exc}"
        ) from exc


class _SigTerm:
    """SIGTERM as the task sees it: an exception in the main thread while the task works, so
    its end is logged and its outputs aborted; held back (noted, not acted on) while outputs
    are committed or aborted, which must not stop half-way."""

    def __init__(self) -> None:
        self.arrived = False
        self._held = False
        self._previous: Any = None

    def install(self) -> None:
        """Take over SIGTERM (only the main thread can)."""
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._on_term)

    def restore(self) -> None:
        """Give SIGTERM back to what handled it before."""
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None

    @contextlib.contextmanager
    def held_back(self) -> Iterator[None]:
        """Within this block a SIGTERM is only noted."""
        held, self._held = self._held, True
        try:
            yield
        finally:
            self._held = held

    def _on_term(self, _signum: int, _frame: object) -> None:
        self.arrived = True
        if not self._held:
            raise _Terminated
