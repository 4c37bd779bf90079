"""The whole pipeline on one machine: server, queue, notification, dispatcher, runner, tasks."""

from __future__ import annotations

import json
import os
import time
import uuid
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, Self

from aws_lambda_powertools import Logger

from s3fargate.local.credentials import LOCAL_REGION, local_session
from s3fargate.local.dispatcher import Dispatcher
from s3fargate.local.ecs import LocalEcs
from s3fargate.local.jobs import JobRecorder, JobTable
from s3fargate.local.resources import Queues, provision
from s3fargate.local.server import LocalServer
from s3fargate.taskrunner import RunnerConfig, TaskRunner

if TYPE_CHECKING:
    from pathlib import Path
    from types import TracebackType

    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

    from s3fargate.local.config import LocalConfig

STATE_FILE = "state.json"


class LocalPipeline:
    """Starts and stops every local part; use as a context manager.

    The runner is the same :class:`TaskRunner` the Lambda uses; only its ECS client is the
    local stand-in for ECS.
    """

    def __init__(self, config: LocalConfig) -> None:
        self.config = config
        self.run_dir = config.run_dir
        self.endpoint = ""
        self.s3: S3Client
        self.sqs: SQSClient
        self.queues: Queues
        self.jobs: JobTable
        self.ecs: LocalEcs
        self.dispatcher: Dispatcher
        # Teardown in reverse order of start, of exactly what was started.
        self._server_stack = ExitStack()
        self._work_stack = ExitStack()

    @property
    def embedded(self) -> bool:
        """True when this pipeline runs its own in-memory server."""
        return self.config.endpoint is None

    def start(self) -> None:
        """Start the server (unless ``--endpoint``), create resources, start dispatching."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.embedded:
            self.endpoint = self._server_stack.enter_context(
                LocalServer(port=self.config.port)
            ).endpoint
        else:
            self.endpoint = str(self.config.endpoint)
        self._server_stack.callback((self.run_dir / STATE_FILE).unlink, missing_ok=True)
        session = local_session(embedded=self.embedded)
        self.s3 = session.client("s3", endpoint_url=self.endpoint)
        self.sqs = session.client("sqs", endpoint_url=self.endpoint)
        self.queues = provision(self.s3, self.sqs, self.config)
        # The runner's JSON log goes to a file; the terminal shows the job table.
        runner_log = self._server_stack.enter_context(
            (self.run_dir / "runner.log").open("w", encoding="utf-8")
        )
        self.jobs = JobTable(self.run_dir)
        self._work_stack.callback(self.jobs.close)
        self.ecs = LocalEcs(
            config=self.config, endpoint=self.endpoint, jobs=self.jobs, embedded=self.embedded
        )
        self._work_stack.callback(self.ecs.stop_all, self.config.grace_period)
        # Powertools shares handlers by logger name: a unique name per pipeline, same service key.
        runner_logger = Logger(
            service=f"s3fargate-runner-{uuid.uuid4().hex[:8]}", stream=runner_log
        )
        runner_logger.append_keys(service="s3fargate-runner")
        runner = TaskRunner(
            config=RunnerConfig(
                cluster_arn="arn:aws:ecs:local:000000000000:cluster/s3fargate-local",
                task_definition_arn="arn:aws:ecs:local:000000000000:task-definition/local:1",
                container_name="task",
                subnets=("local",),
                max_running_tasks=self.config.max_running,
            ),
            ecs=self.ecs,
            logger=runner_logger,
            recorder=JobRecorder(self.jobs, max_receive_count=self.config.max_receive_count),
        )
        self.dispatcher = Dispatcher(
            sqs=self.sqs,
            queues=self.queues,
            runner=runner,
            ecs=self.ecs,
            region=LOCAL_REGION,
            max_running=self.config.max_running,
        )
        self.dispatcher.start()
        self._work_stack.callback(self.dispatcher.stop)
        self._write_state()

    def upload(self, path: Path, key: str) -> None:
        """Upload ``path`` as ``key`` (which should be under the input prefix)."""
        self.jobs.expect(key)
        self.s3.upload_file(str(path), self.config.bucket, key)

    def result(self, key: str) -> dict[str, Any] | None:
        """The result document for ``key``, or None if there is none."""
        from s3fargate.contracts import result_key

        target = result_key(
            key, input_prefix=self.config.input_prefix, results_prefix=self.config.results_prefix
        )
        try:
            body = self.s3.get_object(Bucket=self.config.bucket, Key=target)["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        document: dict[str, Any] = json.loads(body)
        return document

    def queue_summary(self) -> str:
        """Messages waiting, in flight and dead-lettered, for the live view."""
        counts = []
        for url in (self.queues.url, self.queues.dlq_url):
            attrs = self.sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]
            counts.append(attrs)
        queue, dlq = counts
        return (
            f"queue: {queue.get('ApproximateNumberOfMessages', '0')} waiting, "
            f"{queue.get('ApproximateNumberOfMessagesNotVisible', '0')} in flight · "
            f"dead-letter queue: {dlq.get('ApproximateNumberOfMessages', '0')}"
        )

    def drain(self) -> None:
        """Stop dispatching and give running tasks the grace period; the server keeps serving."""
        self._work_stack.close()

    def stop(self) -> None:
        """:meth:`drain`, then stop the server (idempotent)."""
        self.drain()
        self._server_stack.close()

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _write_state(self) -> None:
        state = {
            "endpoint": self.endpoint,
            "embedded": self.embedded,
            "bucket": self.config.bucket,
            "input_prefix": self.config.input_prefix,
            "results_prefix": self.config.results_prefix,
            "queue_url": self.queues.url,
            "dlq_url": self.queues.dlq_url,
            "pid": os.getpid(),
            "started_at": time.time(),
        }
        path = self.run_dir / STATE_FILE
        path.write_text(json.dumps(state, indent=1), encoding="utf-8")


def read_state(run_dir: Path) -> dict[str, Any]:
    """The state a running ``s3fargate dev`` wrote to ``run_dir``.

    Raises:
        FileNotFoundError: no dev server is running with that run directory.
    """
    path = run_dir / STATE_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"no running `s3fargate dev` found in {run_dir} (start one, or pass --run-dir)"
        )
    state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return state
