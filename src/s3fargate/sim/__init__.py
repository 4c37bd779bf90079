"""The burst simulator: AWS's limits in virtual time, driving the real runner and tracker.

``Scenario`` and its options import nothing beyond the core, so the CLI can describe them
without the ``sim`` extra; ``simulate`` and ``Result`` need it (SimPy, greenlet).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from s3fargate.sim.scenario import Design, Durations, Scenario, ScenarioError

if TYPE_CHECKING:
    from s3fargate.sim.simulation import Result, simulate

__all__ = ["Design", "Durations", "Result", "Scenario", "ScenarioError", "simulate"]


def __getattr__(name: str) -> Any:
    if name in ("Result", "simulate"):
        from s3fargate.sim import simulation

        return getattr(simulation, name)
    raise AttributeError(name)
