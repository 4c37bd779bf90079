"""The simulated AWS account: services, request accounting, latencies, the upload burst."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

import simpy
from botocore.exceptions import ClientError

from s3fargate import contracts as c
from s3fargate.lambda_runtime.clients import MAX_ATTEMPTS
from s3fargate.sim.bridge import Call, SimClient
from s3fargate.sim.ecs import EPOCH, Ecs, iso
from s3fargate.sim.lambdas import Functions
from s3fargate.sim.metrics import ObjectFate, Requests
from s3fargate.sim.sqs import Queue, Sqs
from s3fargate.wire import wire_format

if TYPE_CHECKING:
    from collections.abc import Callable, Generator

    from s3fargate.sim.dynamodb import DynamoDb
    from s3fargate.sim.scenario import Scenario

BUCKET = "uploads"
#: How long a request takes (uniform, seconds), by service and operation.
LATENCY_S: dict[str, tuple[float, float]] = {
    "ecs:run_task": (0.15, 0.45),
    "ecs": (0.03, 0.08),
    "dynamodb": (0.004, 0.012),
    "sqs": (0.01, 0.03),
    "sns": (0.01, 0.03),
    "s3": (0.01, 0.03),
}
#: S3 -> SQS and EventBridge -> SQS delivery times (uniform, seconds).
NOTIFICATION_DELAY_S = (0.05, 1.0)
EVENT_DELAY_S = (0.1, 0.8)


def upload_key(n: int) -> str:
    """The key of upload ``n``."""
    return f"{c.DEFAULT_INPUT_PREFIX}burst/file-{n:07d}.dat"


@dataclass(eq=False)
class World:
    """Everything the designs run against, in one virtual clock."""

    scenario: Scenario
    env: simpy.Environment = field(default_factory=simpy.Environment)
    requests: Requests = field(default_factory=Requests)
    fates: dict[str, ObjectFate] = field(default_factory=dict)
    sent_to_tracker: Callable[[dict[str, Any]], None] | None = None

    def __post_init__(self) -> None:
        # Simulated randomness, seeded so that a run is repeatable: not for security.
        self.rng = random.Random(self.scenario.seed)  # noqa: S311
        self.ecs = Ecs(
            env=self.env,
            scenario=self.scenario,
            rng=self.rng,
            emit=self._event,
            fates=self.fates,
        )
        self.queues: list[Queue] = []
        self.sqs = Sqs(self.queues)
        self.dynamodb: DynamoDb | None = None
        self.functions = Functions(self.env, self.requests, self.perform, self.latency)
        self.published = 0

    # --- the services -------------------------------------------------------------------------
    def add_queue(self, queue: Queue) -> Queue:
        """Make ``queue`` reachable by URL."""
        self.queues.append(queue)
        self.sqs = Sqs(self.queues)
        return queue

    def client(self, service: str) -> SimClient:
        """A client as :func:`s3fargate.lambda_runtime.create_client` makes it (its retries)."""
        return SimClient(service, rng=self.rng, max_attempts=MAX_ATTEMPTS)

    def latency(self, call: Call) -> float:
        """How long ``call`` takes."""
        low, high = LATENCY_S.get(f"{call.service}:{call.operation}") or LATENCY_S[call.service]
        return self.rng.uniform(low, high)

    def perform(self, call: Call) -> Any:
        """Answer ``call`` (counted) as boto3 would hand it back, or raise the service's
        ClientError as botocore parses it (:mod:`s3fargate.wire`)."""
        self.requests.add(call.service, call.operation)
        wire = wire_format(call.service)
        if call.service == "sns":
            self.published += 1
            return wire.response(call.operation, {"MessageId": f"sns-{self.published}"})
        if call.service == "s3":
            return self._head_result(call)
        service: Any = {"ecs": self.ecs, "sqs": self.sqs, "dynamodb": self.dynamodb}[call.service]
        try:
            document = getattr(service, call.operation)(**call.kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            fields = {
                k: v for k, v in exc.response.items() if k not in ("Error", "ResponseMetadata")
            }
            raise wire.error(
                call.operation,
                str(error.get("Code", "")),
                str(error.get("Message", "")),
                exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode"),
                **fields,
            ) from None
        return wire.response(call.operation, document)

    def _head_result(self, call: Call) -> Any:
        """HeadObject of a result document: the simulated task writes one when it succeeds."""
        wire = wire_format("s3")
        if call.operation != "head_object":
            raise NotImplementedError(f"the simulated S3 answers HeadObject only, not {call}")
        key = str(call.kwargs["Key"])
        rel = key.removeprefix(c.DEFAULT_RESULTS_PREFIX).removesuffix(c.RESULT_SUFFIX)
        fate = self.fates.get(f"{c.DEFAULT_INPUT_PREFIX}{rel}")
        if fate is None or fate.succeeded_at is None:
            raise wire.error("HeadObject", "404", "Not Found", 404)
        written = datetime.fromtimestamp(EPOCH.timestamp() + fate.succeeded_at, UTC)
        return wire.response("head_object", {"ContentLength": 512, "LastModified": written})

    def ms(self) -> int:
        """The virtual clock in epoch milliseconds (the ledger's clock)."""
        return int((EPOCH.timestamp() + self.env.now) * 1000)

    # --- uploads ------------------------------------------------------------------------------
    def uploads(
        self, deliver: Callable[[dict[str, Any], float], None]
    ) -> Generator[simpy.Event, Any, None]:
        """The burst: each upload's S3 notification, delivered at least once."""
        n, spread = self.scenario.uploads, self.scenario.upload_seconds
        sizes = self.scenario.object_size_list()
        for i in range(n):
            at = spread * i / n
            if at > self.env.now:
                yield self.env.timeout(at - self.env.now)
            key = upload_key(i)
            self.fates[key] = ObjectFate(key)
            record = s3_record(key, i, self.env.now, sizes[i])
            deliver(record, self.rng.uniform(*NOTIFICATION_DELAY_S))
            if self.rng.random() < self.scenario.duplicate_rate:
                deliver(record, self.rng.uniform(1.0, 30.0))

    def _event(self, event: dict[str, Any]) -> None:
        if self.sent_to_tracker is not None:
            self.sent_to_tracker(event)


def s3_record(key: str, n: int, t: float, size: int = 1024 * 1024) -> dict[str, Any]:
    """The S3 event notification of upload ``n`` (keys URL-encoded, as S3 sends them)."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "sim",
                "eventTime": iso(t),
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": BUCKET, "arn": f"arn:aws:s3:::{BUCKET}"},
                    "object": {
                        "key": quote_plus(key, safe="/"),
                        "size": size,
                        "eTag": f"{n:032x}",
                        "sequencer": f"{n + 1:016X}",
                    },
                },
            }
        ]
    }


def body(payload: dict[str, Any]) -> str:
    """A message body."""
    return json.dumps(payload, separators=(",", ":"))
