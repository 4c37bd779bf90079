"""What Fargate bills for a task, as its pricing page says it bills.

A Linux task is billed per second, with a one-minute minimum, from the moment its image pull
starts until it stops: vCPU-hours, GB-hours of memory, and GB-hours of ephemeral storage beyond
the 20 GiB every task gets. Fargate Spot is billed the same way at a lower, varying rate. A task
with a public IPv4 address (``assign_public_ip``, the construct's public network) also pays
Amazon VPC's hourly charge for it, since February 2024 (aws.amazon.com/vpc/pricing: "$0.005 per
IP per hour for all public IPv4 addresses"), counted here over the same billed time, at the
same rate on Spot.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from typing import Final

from s3fargate.sizing.sizes import CPU_UNITS_PER_VCPU, DEFAULT_EPHEMERAL_GIB

#: Linux tasks are billed for at least this long.
MINIMUM_BILLED_S: Final = 60
SPOT_CAPACITY: Final = "FARGATE_SPOT"
ARM64: Final = "arm64"


@dataclass(frozen=True, slots=True)
class FargatePrices:
    """Fargate's list prices in USD for one region and CPU architecture.

    ``spot_share``: Fargate Spot's price as a share of On-Demand. AWS advertises Spot at up to
    70% off and moves its price with spare capacity; 0.3 is that advertised discount.
    """

    vcpu_hour: float
    gb_hour: float
    storage_gb_hour: float
    spot_share: float = 0.3
    #: Amazon VPC's charge for a public IPv4 address, per hour (not a Fargate price: no Spot
    #: discount applies).
    public_ipv4_hour: float = 0.005
    #: Where the figures come from and when they were read.
    source: str = ""

    def problems(self) -> list[str]:
        """What is not a price."""
        found = [
            f"{name}={value!r} must be a number >= 0"
            for name, value in (
                ("vcpu_hour", self.vcpu_hour),
                ("gb_hour", self.gb_hour),
                ("storage_gb_hour", self.storage_gb_hour),
                ("spot_share", self.spot_share),
                ("public_ipv4_hour", self.public_ipv4_hour),
            )
            if isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ]
        if not found and self.spot_share > 1:
            found.append(f"spot_share={self.spot_share} must be at most 1 (a share of On-Demand)")
        return found

    def encode(self) -> str:
        """The prices as one variable (JSON)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def decode(cls, text: str) -> FargatePrices:
        """The prices :meth:`encode` wrote.

        Raises:
            ValueError: not a JSON object of prices.
        """
        try:
            data = json.loads(text)
            prices = cls(**data)
        except (ValueError, TypeError) as exc:
            raise ValueError(
                "Fargate prices are a JSON object with vcpu_hour, gb_hour, storage_gb_hour "
                f"and optionally spot_share, public_ipv4_hour and source: {exc}"
            ) from exc
        problems = prices.problems()
        if problems:
            raise ValueError("; ".join(problems))
        return prices


_PAGE = "https://aws.amazon.com/fargate/pricing/ (Linux, read 2026-12)"
_X86 = FargatePrices(
    vcpu_hour=0.04048, gb_hour=0.004445, storage_gb_hour=0.000111, source=f"us-east-1 {_PAGE}"
)
_ARM = FargatePrices(
    vcpu_hour=0.03238, gb_hour=0.00356, storage_gb_hour=0.000111, source=f"us-east-1 {_PAGE}"
)
#: List prices by region and architecture. Regions not listed are priced at us-east-1's with a
#: note in ``source``; a deployment may pass its own (the construct's ``fargate_prices``).
PRICE_TABLE: Final[dict[tuple[str, str], FargatePrices]] = {
    (region, arch): replace(prices, source=prices.source.replace("us-east-1", region))
    for region in ("us-east-1", "us-east-2", "us-west-2")
    for arch, prices in (("x86_64", _X86), (ARM64, _ARM))
}


def prices_for(region: str | None, architecture: str | None = None) -> FargatePrices:
    """The list prices of ``region`` for ``architecture`` (``x86_64`` or ``arm64``)."""
    arch = ARM64 if (architecture or "").lower() in (ARM64, "arm", "aarch64") else "x86_64"
    known = PRICE_TABLE.get((region or "", arch))
    if known is not None:
        return known
    fallback = PRICE_TABLE[("us-east-1", arch)]
    return replace(
        fallback, source=f"{region or 'unknown region'} priced at us-east-1's: {fallback.source}"
    )


def billed_seconds(start_ms: int | None, stop_ms: int | None) -> int:
    """Seconds billed for a task that ran from ``start_ms`` to ``stop_ms`` (epoch ms): whole
    seconds rounded up, at least one minute; 0 when it never started pulling its image."""
    if start_ms is None or stop_ms is None:
        return 0
    return max(MINIMUM_BILLED_S, math.ceil(max(0, stop_ms - start_ms) / 1000))


@dataclass(frozen=True, slots=True)
class TaskBill:
    """What one task cost."""

    seconds: int
    cpu: int
    memory_mib: int
    ephemeral_gib: int
    spot: bool
    public_ip: bool
    #: All of it, and the part of it that is the public IPv4 address (Amazon VPC's).
    usd: float
    public_ipv4_usd: float = 0.0

    @property
    def fargate_usd(self) -> float:
        """What Fargate itself bills (no address)."""
        return self.usd - self.public_ipv4_usd


def task_bill(
    *,
    cpu: int,
    memory_mib: int,
    seconds: int,
    prices: FargatePrices,
    ephemeral_gib: int | None = None,
    spot: bool = False,
    public_ip: bool = False,
) -> TaskBill:
    """The bill of a task of ``cpu`` units and ``memory_mib`` that ran ``seconds`` (already
    rounded by :func:`billed_seconds`), with its public IPv4 address if it had one. Fargate's
    GB is the GiB of the task's size."""
    storage = ephemeral_gib or DEFAULT_EPHEMERAL_GIB
    hours = seconds / 3600
    per_hour = (
        cpu / CPU_UNITS_PER_VCPU * prices.vcpu_hour
        + memory_mib / 1024 * prices.gb_hour
        + max(0, storage - DEFAULT_EPHEMERAL_GIB) * prices.storage_gb_hour
    )
    share = prices.spot_share if spot else 1.0
    address = prices.public_ipv4_hour if public_ip else 0.0
    return TaskBill(
        seconds=seconds,
        cpu=cpu,
        memory_mib=memory_mib,
        ephemeral_gib=storage,
        spot=spot,
        public_ip=public_ip,
        usd=(per_hour * share + address) * hours,
        public_ipv4_usd=address * hours,
    )


def region_of(arn: str) -> str | None:
    """The region in an ARN (``arn:aws:ecs:REGION:...``)."""
    parts = arn.split(":")
    return parts[3] or None if len(parts) > 3 else None
