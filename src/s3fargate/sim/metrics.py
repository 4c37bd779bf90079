"""What a simulation counts: requests per service, and what became of each object."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Requests:
    """API requests by service (``sqs``, ``lambda``, ``ecs``, ``dynamodb``, ``sns``)."""

    by_service: Counter[str] = field(default_factory=Counter)
    by_operation: Counter[str] = field(default_factory=Counter)

    def add(self, service: str, operation: str, count: int = 1) -> None:
        """Count ``count`` requests of ``service:operation``."""
        self.by_service[service] += count
        self.by_operation[f"{service}:{operation}"] += count

    @property
    def total(self) -> int:
        """Every request."""
        return sum(self.by_service.values())


@dataclass
class Sample:
    """The pipeline at one instant, for the chart."""

    t: float
    running: int
    waiting: int


@dataclass
class ObjectFate:
    """The ground truth for one uploaded object, kept by the simulated services."""

    key: str
    tasks: int = 0
    succeeded_at: float | None = None
    #: Tasks started while another task of the object was active or had succeeded.
    duplicates: int = 0
    active: int = 0
