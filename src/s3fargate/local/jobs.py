"""The job table: one row per object, from queued to a final state; shared with other CLIs."""

from __future__ import annotations

import enum
import json
import os
import re
import threading
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from s3fargate.events import MalformedEventError, ObjectCreated
    from s3fargate.taskrunner import Launched, LaunchError


class JobStatus(enum.StrEnum):
    """Where a job is; the last three are final."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DEAD_LETTERED = "dead-lettered"

    @property
    def final(self) -> bool:
        """True once nothing more will happen to the job."""
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.DEAD_LETTERED)


@dataclass
class Job:
    """One object's journey through the pipeline."""

    id: int
    key: str
    status: JobStatus = JobStatus.QUEUED
    exit_code: int | None = None
    started_at: float | None = None
    ended_at: float | None = None
    task_arn: str | None = None
    log_path: str | None = None
    receives: int = 0
    reason: str | None = None

    @property
    def duration(self) -> float | None:
        """Seconds the task ran (so far, while running)."""
        if self.started_at is None:
            return None
        return (self.ended_at or time.time()) - self.started_at


class JobTable:
    """Thread-safe job rows, persisted to ``jobs.json`` in the run directory.

    Writes are batched (at most every ``flush_interval`` seconds) so thousands of jobs cost
    little; :meth:`flush` writes now.
    """

    def __init__(self, run_dir: Path, *, flush_interval: float = 0.5) -> None:
        self._path = run_dir / "jobs.json"
        self._logs = run_dir / "logs"
        self._logs.mkdir(parents=True, exist_ok=True)
        for old in self._logs.glob("*.log"):  # a new run starts a new table: numbers restart
            old.unlink()
        self._lock = threading.Condition()
        self._jobs: list[Job] = []
        self._by_key: dict[str, Job] = {}
        self._dirty = False
        self._log_count = 0
        self._flush_interval = flush_interval
        self._subscribers: list[Callable[[Job], None]] = []
        self._stop = threading.Event()
        self._writer = threading.Thread(target=self._write_loop, name="jobs-writer", daemon=True)
        self._writer.start()

    def expect(self, key: str) -> Job:
        """Add a queued job for an upload, unless one is already pending for that key."""
        with self._lock:
            job = self._by_key.get(key)
            if job is None or job.status.final:
                job = self._new(key)
            return job

    def update(self, key: str, **changes: Any) -> Job:
        """Update the latest job for ``key``; a finished job that runs again gets a new row."""
        with self._lock:
            job = self._by_key.get(key)
            restarting = changes.get("status") in (JobStatus.QUEUED, JobStatus.RUNNING)
            if job is None or (job.status.final and restarting):
                job = self._new(key)
            self._apply(job, changes)
            return job

    def update_job(self, job_id: int, **changes: Any) -> None:
        """Update one job by id (a task's own row, even if its key was uploaded again)."""
        with self._lock:
            self._apply(self._jobs[job_id - 1], changes)

    def log_path_for(self, key: str) -> Path:
        """A fresh log file path for the next task of ``key``."""
        with self._lock:
            self._log_count += 1
            number = self._log_count
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", key)[-80:]
        return self._logs / f"{number:05d}-{safe}.log"

    def subscribe(self, callback: Callable[[Job], None]) -> None:
        """Call ``callback`` with a copy of a job each time it is added or changes."""
        with self._lock:
            self._subscribers.append(callback)

    def snapshot(self) -> list[Job]:
        """A copy of every job, oldest first."""
        with self._lock:
            return [Job(**asdict(j)) for j in self._jobs]

    def flush(self) -> None:
        """Write ``jobs.json`` now (atomically)."""
        with self._lock:
            rows = [asdict(j) for j in self._jobs]
            self._dirty = False
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, self._path)

    def close(self) -> None:
        """Stop the writer and flush."""
        self._stop.set()
        self._writer.join(timeout=5)
        self.flush()

    def _new(self, key: str) -> Job:
        job = Job(id=len(self._jobs) + 1, key=key)
        self._jobs.append(job)
        self._by_key[key] = job
        self._changed(job)
        return job

    def _apply(self, job: Job, changes: dict[str, Any]) -> None:
        # Caller holds the lock; waiters (views) wake up, the writer persists soon.
        for name, value in changes.items():
            setattr(job, name, value)
        self._changed(job)

    def _changed(self, job: Job) -> None:
        # Caller holds the lock.
        self._dirty = True
        self._lock.notify_all()
        for callback in self._subscribers:
            callback(Job(**asdict(job)))

    def _write_loop(self) -> None:
        while not self._stop.wait(self._flush_interval):
            if self._dirty:
                self.flush()


class JobRecorder:
    """Records the runner's outcomes in the job table (the runner's ``LaunchRecorder``).

    A launch shows up when the local ECS stand-in starts the task; what this adds is why a
    message waits, and that it has reached the dead-letter queue after ``max_receive_count``
    receives (the queue's redrive policy moves it there on the next receive).
    """

    def __init__(self, jobs: JobTable, *, max_receive_count: int) -> None:
        self._jobs = jobs
        self._max_receive_count = max_receive_count

    def launched(self, obj: ObjectCreated, launched: Launched) -> None:
        """Nothing to add: the task's own row is written when its process starts."""

    def not_launched(
        self, obj: ObjectCreated, error: LaunchError, *, receive_count: int | None
    ) -> None:
        """The object waits in the queue, or has reached the dead-letter queue."""
        self._waiting(obj.key, error.reason, receive_count)

    def malformed(
        self, message_id: str | None, error: MalformedEventError, *, receive_count: int | None
    ) -> None:
        """A message that names no object gets a row of its own, so it is seen."""
        self._waiting(f"(unreadable message {message_id})", error.reason, receive_count)

    def _waiting(self, key: str, reason: str, receive_count: int | None) -> None:
        receives = receive_count or 1
        final = receives >= self._max_receive_count
        status = JobStatus.DEAD_LETTERED if final else JobStatus.QUEUED
        self._jobs.update(key, status=status, receives=receives, reason=reason)


def read_jobs(run_dir: Path) -> list[Job]:
    """Read the jobs another process persisted in ``run_dir``."""
    path = run_dir / "jobs.json"
    rows = json.loads(path.read_text(encoding="utf-8"))
    return [Job(**{**row, "status": JobStatus(row["status"])}) for row in rows]
