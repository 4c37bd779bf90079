"""The burst simulator: AWS's limits in virtual time, driving the real runner and tracker."""

from s3fargate.sim.scenario import Design, Durations, Scenario, ScenarioError
from s3fargate.sim.simulation import Result, simulate

__all__ = ["Design", "Durations", "Result", "Scenario", "ScenarioError", "simulate"]
