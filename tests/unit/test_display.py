"""How jobs are shown: running times from the clock."""

from __future__ import annotations

import dataclasses

from s3fargate.display import duration_s
from s3fargate.ledger import Job, JobStatus


def test_a_running_job_s_time_runs_with_the_clock() -> None:
    running = Job(
        job_id="j",
        bucket="b",
        key="k",
        status=JobStatus.RUNNING,
        started_at=1_000,
        updated_at=1_100,
    )
    assert duration_s(running, now_ms=61_000) == 60.0  # not the 0.1 s of its last update
    stopped = dataclasses.replace(running, status=JobStatus.SUCCEEDED, stopped_at=31_000)
    assert duration_s(stopped, now_ms=99_000) == 30.0
