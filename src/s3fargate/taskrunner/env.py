"""Reading a Lambda's environment: every problem collected, then reported at once."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from s3fargate import contracts as c
from s3fargate.taskrunner.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Mapping


class EnvReader:
    """Reads variables and notes what is missing or invalid; :meth:`check` raises once."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[str] = []

    def required(self, name: str) -> str:
        """A variable that must be set (and not blank)."""
        value = self.environ.get(name, "").strip()
        if not value:
            self.problems.append(f"{name} is required but not set")
        return value

    def optional(self, name: str) -> str | None:
        """A variable that may be unset (blank counts as unset)."""
        return self.environ.get(name, "").strip() or None

    def pipeline_id(self) -> str:
        """``PIPELINE_ID``: ECS's ``startedBy`` of this pipeline's tasks."""
        value = self.optional(c.ENV_PIPELINE_ID) or c.STARTED_BY
        if not re.match(c.PIPELINE_ID_PATTERN, value):
            self.problems.append(
                f"{c.ENV_PIPELINE_ID} must be 1-128 letters, digits, '-', '_' or '/' "
                f"(it is ECS's startedBy), got {value!r}"
            )
        return value

    def check(self) -> None:
        """Raise :class:`ConfigurationError` naming every problem noted."""
        if self.problems:
            raise ConfigurationError(self.problems)
