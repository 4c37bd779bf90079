"""Run a processing function on the task's object: configuration, streaming, result, exit code."""

from __future__ import annotations

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
    from collections.abc import Callable, Mapping

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
    ``etag``, ``size``, ``outputs``, ``started_at``, ``finished_at`` and ``duration_s`` (these
    win over same-named fields of ``process``) and writes the document, last, to
    ``<RESULTS_PREFIX><key without INPUT_PREFIX>.json``.

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
        logger.error(str(exc), extra={"problems": exc.problems, "exit_code": int(exc.exit_code)})
        return int(exc.exit_code)

    where = {"bucket": config.bucket, "key": config.key}
    logger.info("start", extra={**where, "size": config.size, "version_id": config.version_id})
    restore = _exit_on_sigterm()
    obj: S3Object | None = None
    outputs: Outputs | None = None
    work = Path(tempfile.mkdtemp(prefix="s3fargate-", dir=env.get(c.ENV_TASK_WORK_DIR) or None))
    try:
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
        )
        obj = S3Object(s3=s3, config=config, on_chunk=progress, outputs=outputs, work_dir=work)
        result = process(obj)
        records = outputs.commit()
        finished = datetime.now(UTC)
        document = {
            **dict(result),
            "bucket": config.bucket,
            "key": config.key,
            "version_id": obj.version_id,
            "etag": obj.etag,
            "size": obj.size,
            "outputs": [record.as_dict() for record in records],
            "started_at": started.isoformat(),
            "finished_at": finished.isoformat(),
            "duration_s": round(time.monotonic() - clock, 3),
        }
        try:
            _write_result(s3, config, document)
        except TaskError:
            outputs.discard_completed(records)
            raise
    except _Terminated:
        _abort(outputs)
        logger.error("stopped by SIGTERM before finishing", extra={**where, "exit_code": 143})
        return EXIT_TERMINATED
    except TaskError as exc:
        _abort(outputs)
        logger.error(str(exc), extra={**where, "exit_code": int(exc.exit_code)})
        return int(exc.exit_code)
    except Exception as exc:
        _abort(outputs)
        logger.exception(
            f"processing failed: {type(exc).__name__}: {exc}",
            extra={**where, "exit_code": ExitCode.PROCESSING_FAILED.value},
        )
        return ExitCode.PROCESSING_FAILED.value
    finally:
        restore()
        shutil.rmtree(work, ignore_errors=True)
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


def _abort(outputs: Outputs | None) -> None:
    """Abort the outputs of a task that did not succeed; a second SIGTERM cannot stop it."""
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


def _exit_on_sigterm() -> Callable[[], None]:
    """Turn SIGTERM into an exception in the main thread, so the end is logged."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def on_term(_signum: int, _frame: object) -> None:
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, on_term)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore
