"""List prices (us-east-1, USD) for the cost of a simulated burst: Fargate as each task is
billed (``s3fargate.sizing``), and the requests and Lambda time around it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from s3fargate.sim.world import World

#: Per million requests: SQS (64 KB chunks), Lambda invocations, DynamoDB on-demand request
#: units (an item under 1 KB written, under 4 KB read), SNS publishes. ECS's API is free.
PER_MILLION = {
    "sqs": 0.40,
    "lambda": 0.20,
    "dynamodb_write": 0.625,
    "dynamodb_read": 0.125,
    "sns": 0.50,
}
#: Lambda duration per GB-second (arm64) at the functions' 256 MB.
LAMBDA_GB_SECOND = 0.0000133334
LAMBDA_GB = 0.25


@dataclass(frozen=True, slots=True)
class Cost:
    """What the burst cost, in USD."""

    fargate: float
    requests: float
    lambda_duration: float
    #: The tasks' public IPv4 addresses (the construct's public network).
    public_ipv4: float = 0.0

    @property
    def total(self) -> float:
        """Everything."""
        return self.fargate + self.public_ipv4 + self.requests + self.lambda_duration

    def as_dict(self) -> dict[str, float]:
        """For the JSON report."""
        return {
            "fargate": round(self.fargate, 4),
            "public_ipv4": round(self.public_ipv4, 4),
            "requests": round(self.requests, 4),
            "lambda_duration": round(self.lambda_duration, 4),
            "total": round(self.total, 4),
        }


def cost_of(world: World) -> Cost:
    """The cost of what ``world`` did (Fargate: each task as billed, ``sizing.pricing``)."""
    fargate = world.ecs.totals.fargate_usd
    ops = world.requests.by_operation
    writes = ops["dynamodb:put_item"]
    reads = sum(n for op, n in ops.items() if op.startswith("dynamodb:")) - writes
    by_service = world.requests.by_service
    requests = (
        by_service["sqs"] * PER_MILLION["sqs"]
        + by_service["lambda"] * PER_MILLION["lambda"]
        + writes * PER_MILLION["dynamodb_write"]
        + reads * PER_MILLION["dynamodb_read"]
        + by_service["sns"] * PER_MILLION["sns"]
    ) / 1e6
    return Cost(
        fargate=fargate,
        public_ipv4=world.ecs.totals.public_ipv4_usd,
        requests=requests,
        lambda_duration=world.functions.seconds * LAMBDA_GB * LAMBDA_GB_SECOND,
    )
