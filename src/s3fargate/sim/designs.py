"""The two designs side by side: this project's pipeline, and the original S3 -> Lambda -> RunTask.

:class:`S3FargatePipeline` runs **our code**: the runner and the tracker are built by the same
functions as the Lambda handlers (``build_runner``, ``build_tracker``) from the environment the
construct sets, with simulated clients. :class:`OriginalPipeline` is a model of the design this
project replaces: S3 invokes a Lambda asynchronously for each upload, it calls RunTask once and
ignores ``failures``; an exception is retried twice by Lambda (after 1 and 2 minutes), then the
event is dropped.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

import simpy
from aws_lambda_powertools import Logger

from s3fargate import contracts as c
from s3fargate.events.ecs import tracked_statuses
from s3fargate.lambda_runtime.settings import Function, PipelineSettings
from s3fargate.ledger.models import IN_FLIGHT_STATUSES, JobStatus
from s3fargate.ledger.store import from_item
from s3fargate.sim.dynamodb import DynamoDb
from s3fargate.sim.ecs import CLUSTER_ARN, TASK_DEFINITION_ARN
from s3fargate.sim.lambdas import EventSourceMapping
from s3fargate.sim.scenario import Backlog
from s3fargate.sim.sqs import Queue
from s3fargate.sim.world import EVENT_DELAY_S, body
from s3fargate.taskrunner.factory import build_runner, ledger_recorder
from s3fargate.taskrunner.runner import TaskRunner
from s3fargate.tracker.factory import TrackerParts, build_tracker

if TYPE_CHECKING:
    from collections.abc import Generator

    from s3fargate.sim.world import World

PIPELINE_ID = "s3fargate-sim"
JOBS_TABLE = "jobs"
TOPIC_ARN = "arn:aws:sns:sim:000000000000:s3fargate-jobs"
#: The construct's Lambda timeouts; each queue's visibility timeout is 6x its consumer's.
RUNNER_TIMEOUT_S = 60
TRACKER_TIMEOUT_S = 60
RECONCILE_EVERY_S = 300
#: Lambda's asynchronous invocation retries: two, after about one and two minutes.
ASYNC_RETRY_DELAYS_S = (60.0, 120.0)
#: The account's default unreserved concurrency.
ACCOUNT_CONCURRENCY = 1000


def quiet_logger(service: str) -> Logger:
    """A Powertools logger that prints errors only: a simulation makes millions of log lines.

    Of its own: Powertools shares a logger (and its level) by service name, and the Lambda
    handlers' loggers in the same process must keep theirs."""
    return Logger(service=f"{service}-simulated-{uuid.uuid4().hex[:8]}", level=logging.ERROR)


def settings(world: World, queue_url: str) -> PipelineSettings:
    """The functions' settings, as the construct makes them from the scenario's props."""
    scenario = world.scenario
    return scenario.props.to_settings(
        cluster_arn=CLUSTER_ARN,
        task_definition_arn=TASK_DEFINITION_ARN,
        container_name="task",
        subnets=("subnet-a", "subnet-b"),
        capacity_provider="FARGATE_SPOT" if scenario.spot else None,
        pipeline_id=PIPELINE_ID,
        jobs_table=JOBS_TABLE,
        notification_topic_arn=TOPIC_ARN,
        queue_url=queue_url,
    )


class S3FargatePipeline:
    """Bucket -> queue -> runner -> ECS -> EventBridge -> queue -> tracker, and the reconciler."""

    def __init__(self, world: World) -> None:
        self.world = world
        scenario, env = world.scenario, world.env
        world.dynamodb = self.table = DynamoDb(JOBS_TABLE)
        self.dead_letters = world.add_queue(Queue(env, "uploads-dlq", 6 * RUNNER_TIMEOUT_S))
        self.queue = world.add_queue(
            Queue(
                env,
                "uploads",
                6 * RUNNER_TIMEOUT_S,
                dead_letter=self.dead_letters,
                max_receive_count=scenario.props.max_receive_count,
            )
        )
        self.events_dead_letters = world.add_queue(Queue(env, "events-dlq", 6 * TRACKER_TIMEOUT_S))
        self.events = world.add_queue(
            Queue(
                env,
                "events",
                6 * TRACKER_TIMEOUT_S,
                dead_letter=self.events_dead_letters,
                max_receive_count=c.DEFAULT_MAX_RECEIVE_COUNT,
            )
        )
        self.settings = settings(world, self.queue.url)
        self.reconciler = self._tracker_environment().reconciler
        self._statuses = tracked_statuses(running=scenario.props.track_running)
        world.sent_to_tracker = self._rule

    def start(self) -> None:
        """Start the uploads, both event source mappings and the reconciler's schedule."""
        world, scenario = self.world, self.world.scenario
        world.env.process(world.uploads(self._notify))
        EventSourceMapping(
            functions=world.functions,
            queue=self.queue,
            environment=self._runner_environment,
            batch_size=scenario.batch_size,
            max_concurrency=scenario.max_concurrency,
            batching_window_s=scenario.batching_window_s,
            requests=world.requests,
        )
        EventSourceMapping(
            functions=world.functions,
            queue=self.events,
            environment=lambda: self._tracker_environment().tracker.handle,
            batch_size=c.TRACKER_BATCH_SIZE,
            max_concurrency=c.TRACKER_MAX_CONCURRENCY,
            requests=world.requests,
        )
        world.env.process(self._schedule())

    def waiting(self) -> int:
        """Uploads not launched yet: messages in the queue, and jobs in the waiting room."""
        waiting = self.table.items_with_status(JobStatus.WAITING.value)
        parked = sum(1 for item in waiting if item.get("parked", {}).get("BOOL"))
        return self.queue.depth() + parked

    def settled(self) -> bool:
        """Nothing is queued, running, being invoked or in flight in the ledger."""
        world = self.world
        if (
            world.ecs.running
            or world.functions.in_flight
            or self.queue.depth()
            or self.events.depth()
        ):
            return False
        return not any(self.table.items_with_status(status.value) for status in IN_FLIGHT_STATUSES)

    def slots_held(self) -> int:
        """Slots the ledger's counter holds (0 once every job settled)."""
        return self.table.held(PIPELINE_ID)

    def outcome(self) -> Counter[str]:
        """Objects not succeeded, by what the pipeline says of them."""
        world = self.world
        status: dict[str, str] = {}
        for item in self.table.items():
            job = from_item(item)
            status[job.key] = job.status.value
        for message in self.dead_letters.messages():
            for record in json.loads(message.body).get("Records", []):
                status[unquote_plus(record["s3"]["object"]["key"])] = "dead-lettered"
        counts: Counter[str] = Counter()
        for key, fate in world.fates.items():
            if fate.succeeded_at is not None:
                continue
            said = status.get(key)
            counts[
                "dead_lettered"
                if said == JobStatus.DEAD_LETTERED
                else "failed"
                if said in (JobStatus.FAILED, JobStatus.CANCELLED)
                else "lost"
            ] += 1
        return counts

    def _notify(self, record: dict[str, Any], delay: float) -> None:
        self.world.requests.add("sqs", "SendMessage")  # S3 -> SQS
        self.queue.send(body(record), delay)

    def _rule(self, event: dict[str, Any]) -> None:
        """The EventBridge rule: this cluster, this pipeline, the statuses the tracker uses."""
        detail = event["detail"]
        if (
            detail.get("clusterArn") != CLUSTER_ARN
            or detail.get("startedBy") != PIPELINE_ID
            or detail.get("lastStatus") not in self._statuses
        ):
            return
        world = self.world
        world.requests.add("sqs", "SendMessage")  # EventBridge -> SQS
        self.events.send(body(event), world.rng.uniform(*EVENT_DELAY_S))
        if world.rng.random() < world.scenario.duplicate_rate:
            world.requests.add("sqs", "SendMessage")
            self.events.send(body(event), world.rng.uniform(1.0, 10.0))

    def _schedule(self) -> Generator[simpy.Event, Any, None]:
        env = self.world.env
        while True:
            yield env.timeout(RECONCILE_EVERY_S)
            yield env.process(self.world.functions.invoke(self._reconcile))

    def _reconcile(self) -> Any:
        return vars(self.reconciler.run())

    def _runner_environment(self) -> Any:
        """One runner execution environment, built as the Lambda handler builds it."""
        runner = build_runner(
            self.settings.environment(Function.RUNNER),
            self.world.client,
            logger=quiet_logger("s3fargate-runner"),
            clock=self.world.ms,
        )
        if self.world.scenario.backlog == Backlog.QUEUE:
            # The alternative measured against the waiting room: nothing is parked.
            runner = TaskRunner(
                config=runner.config,
                ecs=self.world.client("ecs"),
                logger=quiet_logger("s3fargate-runner"),
                recorder=_NeverParks(
                    ledger_recorder(runner.config, self.world.client, clock=self.world.ms)
                ),
            )
        return runner.handle

    def _tracker_environment(self) -> TrackerParts:
        """One tracker execution environment, built as the Lambda handlers build it."""
        return build_tracker(
            self.settings.environment(Function.TRACKER),
            self.world.client,
            logger=quiet_logger("s3fargate-tracker"),
            clock=self.world.ms,
        )


class _NeverParks:
    """A recorder that leaves every refused record in the queue (the ``queue`` backlog)."""

    def __init__(self, recorder: Any) -> None:
        self._recorder = recorder

    def __getattr__(self, name: str) -> Any:
        return getattr(self._recorder, name)

    def park(self, obj: Any, error: Any) -> bool:
        return False


class OriginalPipeline:
    """The design this project replaces (a model: no queue, no ledger, no retries of ours)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.pending_retries = 0
        self._ecs = world.client("ecs")
        self._concurrency = simpy.Resource(world.env, ACCOUNT_CONCURRENCY)

    def start(self) -> None:
        """Start the uploads; each notification invokes the function asynchronously."""
        self.world.env.process(self.world.uploads(self._notify))

    def waiting(self) -> int:
        """Invocations waiting for their retry."""
        return self.pending_retries

    def settled(self) -> bool:
        """No task, invocation or retry left."""
        world = self.world
        return not (world.ecs.running or world.functions.in_flight or self.pending_retries)

    def slots_held(self) -> int:
        """No ledger, no slots."""
        return 0

    def outcome(self) -> Counter[str]:
        """Every object not succeeded is lost: nothing records what happened to it."""
        return Counter(
            lost=sum(1 for fate in self.world.fates.values() if fate.succeeded_at is None)
        )

    def _notify(self, record: dict[str, Any], delay: float) -> None:
        self.world.env.process(self._deliver(record, delay))

    def _deliver(self, record: dict[str, Any], delay: float) -> Generator[simpy.Event, Any, None]:
        env, functions = self.world.env, self.world.functions
        yield env.timeout(delay)
        for retry_delay in (*ASYNC_RETRY_DELAYS_S, None):
            # Lambda's asynchronous queue holds the event until the account can run it.
            with self._concurrency.request() as slot:
                yield slot
                invocation = yield env.process(functions.invoke(self._handler, record))
            if invocation.error is None or retry_delay is None:
                break
            self.pending_retries += 1
            yield env.timeout(retry_delay)
            self.pending_retries -= 1

    def _handler(self, event: dict[str, Any]) -> None:
        obj = event["Records"][0]["s3"]
        key = unquote_plus(obj["object"]["key"])
        strategy = "FARGATE_SPOT" if self.world.scenario.spot else "FARGATE"
        # Failures in the answer are ignored, as the original function did.
        self._ecs.run_task(
            cluster=CLUSTER_ARN,
            taskDefinition=TASK_DEFINITION_ARN,
            capacityProviderStrategy=[{"capacityProvider": strategy, "weight": 1}],
            startedBy="original",
            overrides={
                "containerOverrides": [
                    {
                        "name": "task",
                        "environment": c.TaskEnvironment(
                            bucket=obj["bucket"]["name"], key=key
                        ).override(),
                    }
                ]
            },
        )
