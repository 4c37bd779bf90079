"""The whole pipeline on one machine: server, queues, ledger, runner, tracker, reconciler, tasks."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any, Self

from aws_lambda_powertools import Logger

from s3fargate.contracts import result_key
from s3fargate.events.ecs import tracked_statuses
from s3fargate.exit_codes import UsageError
from s3fargate.lambda_runtime.settings import Function, PipelineSettings
from s3fargate.ledger import LedgerStore
from s3fargate.local import preflight
from s3fargate.local.config import LOCAL_PIPELINE_ID
from s3fargate.local.containers import ContainerBackend
from s3fargate.local.dispatcher import Dispatcher
from s3fargate.local.ecs import (
    CONTAINER_NAME,
    LOCAL_CLUSTER_ARN,
    LOCAL_TASK_DEFINITION_ARN,
    LocalEcs,
)
from s3fargate.local.iam import AuthorizedEcs, AuthorizedLogs, local_authority, read_task_policy
from s3fargate.local.resources import Resources, provision
from s3fargate.local.server import LocalServer, ServerStartError
from s3fargate.local.tasklog import LOCAL_TASK_LOG_GROUP, LocalLogStreams
from s3fargate.local.tasks import ProcessBackend
from s3fargate.ops.actions import backfill, backfill_candidates
from s3fargate.ops.target import LocalLogs, Target, queue_summary
from s3fargate.rundir import (
    COMPONENT_KEYS,
    LOCAL_CREDENTIALS,
    LOCAL_REGION,
    RunState,
    local_session,
)
from s3fargate.taskrunner.factory import build_runner
from s3fargate.tracker.factory import build_tracker

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from types import TracebackType

    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

    from s3fargate.iam import Authority
    from s3fargate.iam.policy import Policy
    from s3fargate.local.config import LocalConfig

log = logging.getLogger(__name__)
#: Locally, a job quiet for this long is checked with the ECS stand-in's DescribeTasks ...
RECONCILE_AFTER_S = 30
#: ... by a reconciler pass this often (every 5 minutes on AWS).
RECONCILE_EVERY_S = 10
#: The components' roles, as the embedded server enforces them (in the run directory).
IAM_FILE = "iam.json"
#: The dead-letter queues are looked at this often (CloudWatch's alarm period is a minute).
ALARM_EVERY_S = 2


class DeadLetterAlarms:
    """The construct's CloudWatch alarms, locally: a message when a dead-letter queue that was
    empty holds messages, published to the same topic."""

    def __init__(
        self, *, sqs: SQSClient, sns: SNSClient, topic_arn: str, queues: dict[str, str]
    ) -> None:
        self._sqs = sqs
        self._sns = sns
        self._topic_arn = topic_arn
        self._queues = queues
        self._alarming: set[str] = set()

    def check(self) -> None:
        """One evaluation of every alarm."""
        for what, url in self._queues.items():
            attrs = self._sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
            depth = int(attrs.get("ApproximateNumberOfMessages", "0"))
            if depth and what not in self._alarming:
                self._alarming.add(what)
                self._sns.publish(
                    TopicArn=self._topic_arn,
                    Subject="s3fargate alarm: dead-letter queue",
                    Message=json.dumps(
                        {
                            "status": "alarm",
                            "key": f"{depth} message(s)",
                            "reason": f"{what} are waiting in a dead-letter queue",
                        }
                    ),
                )
            elif not depth:
                self._alarming.discard(what)


class LocalPipeline:
    """Starts and stops every local part; use as a context manager.

    The runner, the tracker and the reconciler are the same classes the Lambdas run; only
    their ECS client is the local stand-in.
    """

    def __init__(self, config: LocalConfig) -> None:
        self.config = config
        self.run_dir = config.run_dir
        self.endpoint = ""
        self.s3: S3Client
        self.sqs: SQSClient
        self.resources: Resources
        self.store: LedgerStore
        self.ecs: LocalEcs
        self.runner_dispatcher: Dispatcher
        self.tracker_dispatcher: Dispatcher
        #: Each component's role, checked on every call (None: not checked).
        self.authority: Authority | None = None
        # Teardown in reverse order of start, of exactly what was started.
        self._server_stack = ExitStack()
        self._work_stack = ExitStack()

    @property
    def embedded(self) -> bool:
        """True when this pipeline runs its own in-memory server."""
        return self.config.endpoint is None

    def start(self) -> None:
        """Check the request, start the server (unless ``--endpoint``), create resources,
        start dispatching.

        Raises:
            UsageError: the run directory is in use or unwritable, the port is taken, the
                endpoint is down, or the task command cannot start; nothing was started.
            EngineError: ``--task-image`` without an engine that answers, or without the image
                on it; nothing was started.
        """
        preflight.check_task_command(self.config)
        preflight.check_run_dir(self.run_dir)
        lock = preflight.RunDirLock(self.run_dir)
        lock.acquire()
        self._server_stack.callback(lock.release)
        task_policy = read_task_policy(self.config.task_policy) if self.config.task_policy else None
        session = local_session(embedded=self.embedded)
        wired_at = self._wire(session, task_policy)
        self.s3 = session.client("s3", endpoint_url=self.endpoint)
        self.sqs = session.client("sqs", endpoint_url=self.endpoint)
        dynamodb = session.client("dynamodb", endpoint_url=self.endpoint)
        events_url = self.resources.events_queue.url
        tracked = tracked_statuses(running=self.config.props.track_running)
        self.ecs = LocalEcs(
            config=self.config,
            backend=(ContainerBackend if self.config.task_image else ProcessBackend).for_config(
                self.config,
                endpoint=self.endpoint,
                embedded=self.embedded,
                credentials=self._credentials("task"),
            ),
            # The EventBridge rule's part: the changes its pattern passes into the tracker's queue.
            emit=lambda event: (
                self.sqs.send_message(
                    QueueUrl=events_url, MessageBody=json.dumps(event, ensure_ascii=False)
                )
                if event["detail"]["lastStatus"] in tracked
                else None
            ),
            logs_dir=self.run_dir / "logs",
            tokens_file=self.run_dir / "ecs-tokens.jsonl",
            faults=self.config.faults,
        )
        self._work_stack.callback(self.ecs.close)
        self.settings = self._settings()
        self.store = LedgerStore(
            dynamodb=dynamodb, table=self.resources.jobs_table, policy=self.settings.policy
        )
        # Built as the Lambda handlers build them, from the environment the construct renders,
        # each with clients of its own identity (its role's policies decide what it may do).
        runner = build_runner(
            self.settings.environment(Function.RUNNER),
            self.clients("runner"),
            logger=self._logger("runner"),
        )
        tracker = build_tracker(
            self.settings.environment(Function.TRACKER),
            self.clients("tracker"),
            logger=self._logger("tracker"),
        ).tracker
        reconciler = build_tracker(
            self.settings.environment(Function.RECONCILER),
            self.clients("reconciler"),
            logger=self._logger("reconciler"),
        ).reconciler
        self.tracker_dispatcher = self._dispatcher(
            "tracker-dispatcher", self.resources.events_queue, tracker.handle, "tracker"
        )
        # At shutdown: the tasks' last events are applied before the tracker stops.
        self._work_stack.callback(self.tracker_dispatcher.stop)
        self._work_stack.callback(self.tracker_dispatcher.drain)
        self._work_stack.callback(self.ecs.flush_events)
        self._work_stack.callback(self.ecs.stop_all, self.config.grace_period)
        self._start_periodic("reconciler", RECONCILE_EVERY_S, reconciler.run)
        alarms = DeadLetterAlarms(
            sqs=self.sqs,
            sns=session.client("sns", endpoint_url=self.endpoint),
            topic_arn=self.resources.topic_arn,
            queues={
                "uploads": self.resources.dead_letter_queue.url,
                "task state changes": self.resources.events_dead_letter_queue.url,
            },
        )
        self._start_periodic("dead-letter-alarms", ALARM_EVERY_S, alarms.check)
        self.runner_dispatcher = self._dispatcher(
            "runner-dispatcher", self.resources.queue, runner.handle, "runner"
        )
        self._work_stack.callback(self.runner_dispatcher.stop)
        self.caught_up = self._catch_up(wired_before=wired_at)
        self._write_state()

    def clients(self, component: str) -> Callable[[str], Any]:
        """The client factory of ``component`` (runner, tracker, reconciler): its own
        identity's clients on the server, the ECS stand-in as it may call it."""
        session = local_session(
            embedded=self.embedded, component=component if self.authority else None
        )
        made: dict[str, Any] = {}

        def client(service: str) -> Any:
            if service not in made:
                if service == "ecs":
                    made[service] = (
                        AuthorizedEcs(self.ecs, self.authority, component)
                        if self.authority is not None
                        else self.ecs
                    )
                elif service == "logs":  # the task logs: files of the run directory
                    streams = LocalLogStreams(self.run_dir / "logs")
                    made[service] = (
                        AuthorizedLogs(streams, self.authority, component)
                        if self.authority is not None
                        else streams
                    )
                else:
                    made[service] = session.client(service, endpoint_url=self.endpoint)  # type: ignore[call-overload]
            return made[service]

        return client

    def _credentials(self, component: str) -> dict[str, str] | None:
        """What ``component`` signs with on the embedded server (None: the pipeline's own)."""
        if self.authority is None:
            return None
        return {
            "AWS_ACCESS_KEY_ID": COMPONENT_KEYS[component],
            "AWS_SECRET_ACCESS_KEY": LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        }

    def _wire(self, session: Any, task_policy: Policy | None) -> float:
        """Start the server (held while wiring), create every resource, and give the server
        each component's role; return when the bucket's notification was in place."""
        server: LocalServer | None = None
        if self.embedded:
            preflight.check_port(self.config.port)
            server = LocalServer(port=self.config.port)
            try:
                # Bound but not answering: the bucket is wired before anyone can upload to it.
                wiring_endpoint = server.start(hold=True)
            except ServerStartError as exc:
                raise UsageError(f"--port {self.config.port}: {exc}") from exc
            self._server_stack.callback(server.stop)
            self.endpoint = server.endpoint
        else:
            self.endpoint = wiring_endpoint = str(self.config.endpoint)
            preflight.check_endpoint(self.endpoint)
        self._server_stack.callback(RunState.remove, self.run_dir)
        self.resources = provision(
            s3=session.client("s3", endpoint_url=wiring_endpoint),
            sqs=session.client("sqs", endpoint_url=wiring_endpoint),
            dynamodb=session.client("dynamodb", endpoint_url=wiring_endpoint),
            sns=session.client("sns", endpoint_url=wiring_endpoint),
            config=self.config,
        )
        wired_at = time.time()
        if server is not None:
            if not self.config.no_iam:
                self.authority = local_authority(
                    self.resources,
                    bucket=self.config.bucket,
                    task_policy=task_policy,
                    record=self.config.iam_record,
                )
                policies = self.run_dir / IAM_FILE
                self.authority.save(policies)
                server.enforce(policies)
            server.open()
        return wired_at

    def target(self) -> Target:
        """This pipeline as an operator command's target."""
        return Target(
            description=f"the local pipeline in {self.run_dir}",
            store=self.store,
            s3=self.s3,
            sqs=self.sqs,
            bucket=self.config.bucket,
            input_prefix=self.config.input_prefix,
            results_prefix=self.config.results_prefix,
            queue_url=self.resources.queue.url,
            dlq_url=self.resources.dead_letter_queue.url,
            logs=LocalLogs(self.run_dir / "logs"),
            redrive_with_move_task=False,
        )

    def _catch_up(self, *, wired_before: float) -> int:
        """Queue, once, every object already under the input prefix that no job processed
        (uploaded to an ``--endpoint`` server while no pipeline ran). Objects written after the
        notification was wired have their own event and are left to it. The embedded server
        starts empty and answers only once wired, so it has nothing to catch up on."""
        if self.embedded:
            return 0
        target = self.target()
        cutoff = datetime.fromtimestamp(wired_before, UTC)
        candidates = [
            c
            for c in backfill_candidates(target)
            if (c.last_modified is None or c.last_modified <= cutoff)
            and preflight.will_launch(self.config, c.key)
        ]
        return backfill(target, candidates) if candidates else 0

    def upload(self, path: Path, key: str) -> None:
        """Upload ``path`` as ``key`` (which should be under the input prefix)."""
        self.s3.upload_file(str(path), self.config.bucket, key)

    def result(self, key: str) -> dict[str, Any] | None:
        """The result document for ``key``, or None if there is none."""
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
        return queue_summary(
            self.sqs, self.resources.queue.url, self.resources.dead_letter_queue.url
        )

    def drain(self) -> None:
        """Stop launching, stop the tasks (grace period), apply their last events.

        The server keeps serving, so the final state can still be read.
        """
        self._work_stack.close()

    def hurry(self) -> None:
        """Make a :meth:`drain` under way (or to come) kill the tasks instead of waiting out
        their grace period; their state is still recorded (safe from a signal handler)."""
        ecs = getattr(self, "ecs", None)
        if ecs is not None:
            ecs.hurry()

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

    # --- parts ------------------------------------------------------------------------------
    def _dispatcher(self, name: str, queue: Any, handler: Any, component: str) -> Dispatcher:
        """Lambda's event source for ``component``: it polls with the function's role, as
        Lambda does."""
        dispatcher = Dispatcher(
            name=name,
            sqs=self.clients(component)("sqs"),
            queue_url=queue.url,
            queue_arn=queue.arn,
            handler=handler,
            region=LOCAL_REGION,
        )
        dispatcher.start()
        return dispatcher

    def _settings(self) -> PipelineSettings:
        """The functions' settings, as the construct makes them from its props; locally the
        cluster and task definition are the ECS stand-in's, and the checks come sooner."""
        return self.config.props.to_settings(
            cluster_arn=LOCAL_CLUSTER_ARN,
            task_definition_arn=LOCAL_TASK_DEFINITION_ARN,
            container_name=CONTAINER_NAME,
            subnets=("local",),
            pipeline_id=LOCAL_PIPELINE_ID,
            jobs_table=self.resources.jobs_table,
            notification_topic_arn=self.resources.topic_arn,
            input_prefix=self.config.input_prefix,
            results_prefix=self.config.results_prefix,
            queue_url=self.resources.queue.url,
            reconcile_after_s=RECONCILE_AFTER_S,
            task_log_group=LOCAL_TASK_LOG_GROUP,
        )

    def _logger(self, part: str) -> Logger:
        """A JSON log file per Lambda stand-in (``runner.log``, ``tracker.log``)."""
        stream: IO[str] = self._server_stack.enter_context(
            (self.run_dir / f"{part}.log").open("a", encoding="utf-8")
        )
        # Powertools shares handlers by logger name: a unique name per pipeline, same service key.
        logger = Logger(service=f"s3fargate-{part}-{uuid.uuid4().hex[:8]}", stream=stream)
        logger.append_keys(service=f"s3fargate-{part}")
        return logger

    def _start_periodic(self, name: str, every_s: float, work: Any) -> None:
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(every_s):
                try:
                    work()
                except Exception:  # a failed pass is tried again on the next one
                    log.exception("%s pass failed", name)

        thread = threading.Thread(target=loop, name=name, daemon=True)
        thread.start()

        def end() -> None:
            stop.set()
            thread.join(timeout=30)

        self._work_stack.callback(end)

    def _write_state(self) -> None:
        RunState(
            endpoint=self.endpoint,
            embedded=self.embedded,
            bucket=self.config.bucket,
            input_prefix=self.config.input_prefix,
            results_prefix=self.config.results_prefix,
            suffix=self.config.suffix,
            queue_url=self.resources.queue.url,
            dlq_url=self.resources.dead_letter_queue.url,
            jobs_table=self.resources.jobs_table,
            topic_arn=self.resources.topic_arn,
            logs_dir=str(self.run_dir / "logs"),
            pid=os.getpid(),
            started_at=time.time(),
        ).write(self.run_dir)
