"""The state a running ``s3fargate dev`` leaves in its run directory for the other commands
(``upload``, ``jobs``, ``logs``, ``retry``, ``backfill``, ``redrive``): one type, written and
read here only."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from s3fargate.exit_codes import UsageError
from s3fargate.rundir.credentials import local_session

if TYPE_CHECKING:
    from pathlib import Path

    import boto3

STATE_FILE = "state.json"


@dataclass(frozen=True, slots=True)
class RunState:
    """Where a running local pipeline's server and resources are."""

    endpoint: str
    #: True when the pipeline runs its own in-memory server (throwaway credentials).
    embedded: bool
    bucket: str
    input_prefix: str
    results_prefix: str
    #: Only keys ending with it start tasks (None: every key under the input prefix).
    suffix: str | None
    queue_url: str
    dlq_url: str
    jobs_table: str
    topic_arn: str
    logs_dir: str
    pid: int
    started_at: float

    def write(self, run_dir: Path) -> None:
        """Write the state atomically: the other commands never read half a file."""
        path = run_dir / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(dataclasses.asdict(self), indent=1), encoding="utf-8")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> RunState:
        """Read a state file (no check that its pipeline still runs).

        Raises:
            OSError, ValueError, KeyError, TypeError: the file is missing or malformed.
        """
        return cls._from(json.loads(path.read_text(encoding="utf-8")))

    @classmethod
    def read(cls, run_dir: Path) -> RunState:
        """The state of the ``s3fargate dev`` running with ``run_dir``.

        Raises:
            UsageError: no dev is running with that run directory (none started, or the one
                that wrote the state has died), or its state cannot be read.
        """
        path = run_dir / STATE_FILE
        hint = "start `s3fargate dev`, or pass the --run-dir it uses"
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            pid = _pid(data)
        except FileNotFoundError:
            raise UsageError(f"no running `s3fargate dev` uses {run_dir} ({hint})") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"{path} cannot be read ({exc}); {hint}") from exc
        # A dead pipeline's state says nothing more: name that first.
        if not _alive(pid):
            raise UsageError(
                f"the `s3fargate dev` that used {run_dir} (pid {pid}) is no longer running; {hint}"
            )
        try:
            return cls._from(data)
        except (ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"{path} cannot be read ({exc}); {hint}") from exc

    @classmethod
    def _from(cls, data: dict[str, Any]) -> RunState:
        names = {item.name for item in dataclasses.fields(cls)}
        missing = names - set(data)
        if missing:
            raise KeyError(f"missing {', '.join(sorted(missing))}")
        _pid(data)
        return cls(**{name: data[name] for name in names})

    @staticmethod
    def remove(run_dir: Path) -> None:
        """Remove the state (the pipeline has stopped)."""
        (run_dir / STATE_FILE).unlink(missing_ok=True)

    def session(self) -> boto3.session.Session:
        """A boto3 session for this pipeline's server (:func:`local_session`)."""
        return local_session(embedded=self.embedded)

    def client(self, service: str) -> Any:
        """A client of ``service`` on this pipeline's server."""
        return self.session().client(service, endpoint_url=self.endpoint)  # type: ignore[call-overload]


def _pid(data: dict[str, Any]) -> int:
    pid = data["pid"]
    if not isinstance(pid, int) or isinstance(pid, bool):
        raise TypeError(f"pid must be a whole number, got {pid!r}")
    return pid


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True
