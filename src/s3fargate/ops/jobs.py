"""Reading the ledger for people: filters, one job per key, JSON documents, timelines."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from s3fargate.exit_codes import UsageError
from s3fargate.ledger import Job, JobStatus

if TYPE_CHECKING:
    from collections.abc import Iterable

_SINCE = re.compile(r"^(\d+)\s*([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_status(text: str | None) -> JobStatus | None:
    """``--status``: one of the statuses.

    Raises:
        UsageError: not a status.
    """
    if text is None:
        return None
    try:
        return JobStatus(text)
    except ValueError:
        known = ", ".join(s.value for s in JobStatus)
        raise UsageError(f"--status {text!r} is not a status; use one of {known}") from None


def parse_since(text: str | None, *, now_ms: int | None = None) -> int | None:
    """``--since 2h`` (s, m, h, d) as the epoch milliseconds it names.

    Raises:
        UsageError: not a number with a unit.
    """
    if text is None:
        return None
    match = _SINCE.match(text.strip())
    if not match:
        raise UsageError(f"--since {text!r}: use a number and s, m, h or d, e.g. 30m or 2d")
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    return now - int(match.group(1)) * _UNIT_S[match.group(2)] * 1000


def select(
    jobs: Iterable[Job],
    *,
    status: JobStatus | None = None,
    prefix: str | None = None,
    since_ms: int | None = None,
) -> list[Job]:
    """The jobs that match, newest first."""
    chosen = [
        j
        for j in jobs
        if (status is None or j.status is status)
        and (prefix is None or j.key.startswith(prefix))
        and (since_ms is None or j.created_at >= since_ms)
    ]
    return sorted(chosen, key=lambda j: (j.created_at, j.job_id), reverse=True)


def latest_for_key(jobs: Iterable[Job], key: str, input_prefix: str) -> Job:
    """The newest job of ``key`` (the exact key, or its path under the input prefix).

    Raises:
        UsageError: empty, unknown or ambiguous key; the message names the candidates.
    """
    from s3fargate.display import safe

    if not key:
        raise UsageError("a key is needed (or its path under the input prefix)")
    every = list(jobs)
    wanted = {key, input_prefix + key}
    keys = sorted({j.key for j in every if j.key in wanted})
    if not keys:
        near = sorted({j.key for j in every if j.key.endswith("/" + key.lstrip("/"))})
        hint = f"; did you mean {', '.join(repr(safe(k)) for k in near[:5])}?" if near else ""
        raise UsageError(f"no job for key {safe(key)!r}{hint}")
    if len(keys) > 1:
        raise UsageError(
            f"{safe(key)!r} names more than one key: {', '.join(repr(safe(k)) for k in keys)}; "
            "give the full key"
        )
    return max((j for j in every if j.key == keys[0]), key=lambda j: (j.created_at, j.job_id))


def document(job: Job) -> dict[str, Any]:
    """A job as ``s3fargate jobs --json`` prints it."""
    return {
        "key": job.key,
        "bucket": job.bucket,
        "status": job.status.value,
        "attempts": job.attempts,
        "exit_code": job.exit_code,
        "stop_code": job.stop_code,
        "reason": job.reason,
        "result_key": job.result_key,
        "output_keys": list(job.output_keys),
        "output_count": job.output_count,
        "task_arn": job.task_arn,
        "job_id": job.job_id,
        "version_id": job.version_id,
        "etag": job.etag,
        "size": job.size,
        "cost_usd": job.cost_usd,
        "attempt_sizes": list(job.attempt_sizes),
        "size_up": job.size_up,
        "spot_interruptions": job.spot_interruptions,
        "on_demand": job.on_demand,
        "task_arns": list(job.task_arns),
        "parked": job.parked,
        "stopped_reason": job.stopped_reason,
        "container_reason": job.container_reason,
        "created_at": job.created_at,
        "launched_at": job.launched_at,
        "started_at": job.started_at,
        "stopped_at": job.stopped_at,
        "updated_at": job.updated_at,
    }


def phases(job: Job, now_ms: int | None = None) -> list[tuple[str, int, int]]:
    """Where a job's time went: (phase, start ms, end ms) for waiting, pending, running; a
    job not yet ended is still in its phase now."""
    if job.stopped_at or job.status.final:
        end = job.stopped_at or job.updated_at
    else:
        end = now_ms if now_ms is not None else int(time.time() * 1000)
    points = [
        ("waiting", job.created_at, job.launched_at or job.started_at or end),
        ("pending", job.launched_at, job.started_at or (end if job.launched_at else None)),
        ("running", job.started_at, job.stopped_at or (end if job.started_at else None)),
    ]
    return [(name, a, b) for name, a, b in points if a is not None and b is not None and b >= a]
