"""What the terminal shows: a live job table (rich), or one line per change when not a TTY."""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

from rich.live import Live
from rich.table import Table
from rich.text import Text

from s3fargate.local.jobs import Job, JobStatus

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

    from rich.console import Console

    from s3fargate.local.jobs import JobTable

STATUS_STYLE = {
    JobStatus.QUEUED: "yellow",
    JobStatus.RUNNING: "cyan",
    JobStatus.SUCCEEDED: "green",
    JobStatus.FAILED: "bold red",
    JobStatus.DEAD_LETTERED: "bold magenta",
}


def job_table(
    jobs: list[Job], *, title: str = "jobs", limit: int = 50, summary: str | None = None
) -> Table:
    """A table of the last ``limit`` jobs (key, status, exit code, duration, receives)."""
    table = Table(title=title, title_justify="left", expand=False)
    table.add_column("#", justify="right", style="dim")
    table.add_column("key", overflow="fold")
    table.add_column("status")
    table.add_column("exit", justify="right")
    table.add_column("duration", justify="right")
    table.add_column("receives", justify="right")
    table.add_column("note", overflow="fold", style="dim")
    for job in jobs[-limit:]:
        table.add_row(
            str(job.id),
            job.key,
            Text(job.status.value, style=STATUS_STYLE[job.status]),
            "" if job.exit_code is None else str(job.exit_code),
            "" if job.duration is None else f"{job.duration:.1f}s",
            str(job.receives or ""),
            job.reason or "",
        )
    notes = [summary] if summary else []
    if len(jobs) > limit:
        notes.append(f"{len(jobs) - limit} older jobs not shown (`s3fargate jobs` lists all)")
    if notes:
        table.caption = " · ".join(notes)
    return table


def describe(job: Job) -> str:
    """One line about a job's state."""
    parts = [f"[{job.status.value}]", job.key]
    if job.exit_code is not None:
        parts.append(f"exit {job.exit_code}")
    if job.duration is not None and job.status.final:
        parts.append(f"{job.duration:.1f}s")
    if job.reason:
        parts.append(f"({job.reason})")
    return " ".join(parts)


class JobView:
    """Shows the job table while the pipeline runs; a context manager.

    On a terminal, a rich ``Live`` table that refreshes itself; elsewhere (a pipe, a log file),
    one line per job change.
    """

    def __init__(
        self,
        jobs: JobTable,
        console: Console,
        *,
        refresh_per_second: float = 2,
        summary: Callable[[], str] | None = None,
    ) -> None:
        self._jobs = jobs
        self._summary = summary
        self._console = console
        self._live: Live | None = None
        if console.is_terminal:
            self._live = Live(
                console=console,
                refresh_per_second=refresh_per_second,
                get_renderable=self._render,
                transient=False,
            )

    def __enter__(self) -> Self:
        if self._live:
            self._live.start(refresh=True)
        else:
            for job in self._jobs.snapshot():
                self._print(job)
            self._jobs.subscribe(self._print)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live:
            self._live.stop()

    def _render(self) -> Table:
        return job_table(self._jobs.snapshot(), summary=self._read_summary())

    def _read_summary(self) -> str | None:
        if self._summary is None:
            return None
        try:
            return self._summary()
        except Exception:  # a view must never stop the pipeline
            return None

    def _print(self, job: Job) -> None:
        self._console.print(describe(job), markup=False, highlight=False)
