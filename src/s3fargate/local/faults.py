"""Fault injection for the local ECS stand-in: the failures Fargate has, on demand.

``--faults spot=P,start-failure=P,oom=P,seed=N``: each attempt, with probability P, is
interrupted as Fargate Spot interrupts a task (SIGTERM, exit 143, ``stopCode``
``SpotInterruption``), fails to start (``TaskFailedToStart``, no process at all), or is killed
for memory as ECS kills a container (SIGKILL, exit 137, ``OutOfMemoryError``). ``seed`` makes
the draws repeatable.
"""

from __future__ import annotations

import enum
import math
import random
import threading
from dataclasses import dataclass

from s3fargate.contracts import UserError


class FaultSpecError(UserError, ValueError):
    """A ``--faults`` value that cannot be read; the message says what is wrong."""


class Fault(enum.Enum):
    """What happens to one attempt."""

    NONE = "none"
    SPOT_INTERRUPTION = "spot"
    START_FAILURE = "start-failure"
    OUT_OF_MEMORY = "oom"


@dataclass(frozen=True, slots=True)
class Faults:
    """Probabilities of each fault per attempt, and the seed of their draws."""

    spot: float = 0.0
    start_failure: float = 0.0
    oom: float = 0.0
    seed: int | None = None

    @classmethod
    def parse(cls, text: str) -> Faults:
        """Read ``spot=P,start-failure=P,oom=P,seed=N`` (any subset, any order).

        Raises:
            FaultSpecError: an unknown name, a probability outside 0-1, or a bad seed.
        """
        values: dict[str, float | int | None] = {}
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            name, sep, raw = part.partition("=")
            name = name.strip()
            if not sep:
                raise FaultSpecError(f"--faults: {part!r} is not NAME=VALUE")
            if name == "seed":
                try:
                    values["seed"] = int(raw)
                except ValueError:
                    raise FaultSpecError(
                        f"--faults: seed must be a whole number, got {raw!r}"
                    ) from None
                continue
            field = {"spot": "spot", "start-failure": "start_failure", "oom": "oom"}.get(name)
            if field is None:
                raise FaultSpecError(
                    f"--faults: unknown fault {name!r}; use spot=P, start-failure=P, oom=P, seed=N"
                )
            try:
                probability = float(raw)
            except ValueError:
                probability = math.nan
            if not 0.0 <= probability <= 1.0:
                raise FaultSpecError(f"--faults: {name} must be a probability 0-1, got {raw!r}")
            values[field] = probability
        faults = cls(**values)  # type: ignore[arg-type]
        if faults.spot + faults.start_failure + faults.oom > 1.0:
            raise FaultSpecError("--faults: spot, start-failure and oom together exceed 1")
        return faults

    @property
    def any(self) -> bool:
        """True when some fault can happen."""
        return self.spot > 0 or self.start_failure > 0 or self.oom > 0

    def describe(self) -> str:
        """``spot=0.3, start-failure=0.1, seed=7`` for the banner."""
        parts = [
            f"spot={self.spot:g}",
            f"start-failure={self.start_failure:g}",
            f"oom={self.oom:g}",
        ]
        if self.seed is not None:
            parts.append(f"seed={self.seed}")
        return ", ".join(parts)


class FaultDraws:
    """Draws one fault per attempt, in launch order, from the seeded generator."""

    def __init__(self, faults: Faults) -> None:
        self._faults = faults
        self._random = random.Random(faults.seed)  # noqa: S311 -- fault injection, not security
        self._lock = threading.Lock()

    def next(self) -> Fault:
        """The fault for the next attempt launched."""
        with self._lock:
            draw = self._random.random()
        if draw < self._faults.start_failure:
            return Fault.START_FAILURE
        if draw < self._faults.start_failure + self._faults.spot:
            return Fault.SPOT_INTERRUPTION
        if draw < self._faults.start_failure + self._faults.spot + self._faults.oom:
            return Fault.OUT_OF_MEMORY
        return Fault.NONE
