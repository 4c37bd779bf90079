"""RunTask's idempotency tokens, kept in the run directory: a token repeated after a restart
still names the task it started, as on ECS."""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


class TokenBook:
    """Each ``clientToken`` and the task ARN it started, appended to a JSON-lines file."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._tokens: dict[str, str] = {}
        with contextlib.suppress(FileNotFoundError):
            for line in path.read_text(encoding="utf-8").splitlines():
                # A line cut short by a crash is skipped: that launch simply has no token.
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    entry = json.loads(line)
                    self._tokens[str(entry["token"])] = str(entry["task_arn"])

    def get(self, token: str) -> str | None:
        """The task ``token`` started, if any."""
        return self._tokens.get(token)

    def record(self, token: str, task_arn: str) -> None:
        """Remember that ``token`` started ``task_arn`` (on disk before it is used)."""
        self._tokens[token] = task_arn
        with self._path.open("a", encoding="utf-8") as file:
            file.write(json.dumps({"token": token, "task_arn": task_arn}) + "\n")
