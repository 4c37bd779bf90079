"""Errors every Lambda of the pipeline shares."""

from __future__ import annotations

from s3fargate.contracts import UserError


class ConfigurationError(UserError, ValueError):
    """A function's environment (or the settings it is rendered from) is missing or has invalid
    values.

    Raised at cold start, with every problem named at once, so one deploy fixes them all.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid s3fargate configuration ({len(problems)} problem(s)):\n{lines}")
