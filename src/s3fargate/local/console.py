"""What the terminal shows: the job ledger as a live table (rich), or one line per change when
not a TTY, and the notifications operators would receive.

Keys, prefixes and reasons are data from uploaders: they are shown as text (never as markup)
with control characters escaped.
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Self, TypeVar

from rich.live import Live
from rich.table import Table
from rich.text import Text

from s3fargate.ledger import Job, JobStatus

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from types import TracebackType

    from mypy_boto3_sqs import SQSClient
    from rich.console import Console

    from s3fargate.ledger import LedgerStore

T = TypeVar("T")
#: Keys longer than this are cut in the middle in tables (``logs`` takes the full key).
KEY_WIDTH = 60

STATUS_STYLE = {
    JobStatus.WAITING: "yellow",
    JobStatus.PENDING: "yellow",
    JobStatus.RUNNING: "cyan",
    JobStatus.RETRYING: "magenta",
    JobStatus.SUCCEEDED: "green",
    JobStatus.FAILED: "bold red",
    JobStatus.CANCELLED: "dim",
    JobStatus.DEAD_LETTERED: "bold magenta",
}


def safe(text: str | None) -> str:
    """``text`` with control characters shown as escapes (``\\x1b``), never sent raw."""
    if not text:
        return ""
    return "".join(
        ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )


def safe_lines(text: str) -> str:
    """:func:`safe`, keeping line breaks and tabs (for task output shown on a terminal)."""
    return "".join(ch if ch in "\n\t" else safe(ch) for ch in text)


def shorten(text: str, width: int = KEY_WIDTH) -> str:
    """``text`` cut in the middle to ``width`` characters, so both ends stay visible."""
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return f"{text[:head]}…{text[len(text) - (width - 1 - head) :]}"


def ordered(jobs: Iterable[Job]) -> list[Job]:
    """Jobs oldest first (the order they were created in)."""
    return sorted(jobs, key=lambda j: (j.created_at, j.job_id))


def duration_s(job: Job) -> float | None:
    """Seconds the current attempt ran (so far, while running)."""
    if job.started_at is None:
        return None
    end = job.stopped_at or job.updated_at
    return max(end - job.started_at, 0) / 1000


def job_table(
    jobs: list[Job], *, title: str = "jobs", limit: int = 50, summary: str | None = None
) -> Table:
    """A table of the last ``limit`` jobs: key, status, attempts, exit code, time, reason."""
    table = Table(title=title, title_justify="left", expand=False)
    table.add_column("key", overflow="fold")
    table.add_column("status")
    table.add_column("attempts", justify="right")
    table.add_column("exit", justify="right")
    table.add_column("ran", justify="right")
    table.add_column("reason", overflow="fold", style="dim")
    for job in jobs[-limit:]:
        ran = duration_s(job)
        table.add_row(
            Text(shorten(safe(job.key))),
            Text(job.status.value, style=STATUS_STYLE[job.status]),
            str(job.attempts or ""),
            "" if job.exit_code is None else str(job.exit_code),
            "" if ran is None else f"{ran:.1f}s",
            Text(safe(job.reason)),
        )
    notes = [summary] if summary else []
    if len(jobs) > limit:
        notes.append(f"{len(jobs) - limit} older jobs not shown (`s3fargate jobs` lists all)")
    if notes:
        table.caption = " · ".join(notes)
    return table


def describe(job: Job) -> str:
    """One line about a job's state (plain text, control characters escaped)."""
    parts = [f"[{job.status.value}]", safe(job.key)]
    if job.attempts > 1:
        parts.append(f"attempt {job.attempts}")
    if job.exit_code is not None:
        parts.append(f"exit {job.exit_code}")
    ran = duration_s(job)
    if ran is not None and job.status.final:
        parts.append(f"{ran:.1f}s")
    if job.reason:
        parts.append(f"({safe(job.reason)})")
    return " ".join(parts)


class LedgerFollower:
    """The ledger's rows kept current cheaply: one scan, then only the rows written since.

    A live view refreshing twice a second must not scan thousands of rows each time. Rows are
    re-read from a little before the last one seen (clocks of writers on one machine), and the
    newest revision of each wins.
    """

    #: Overlap of each re-read, for rows written in the same instant as the last one seen.
    OVERLAP_MS = 2000

    def __init__(self, store: LedgerStore) -> None:
        self._store = store
        self._jobs: dict[str, Job] = {}
        self._watermark: int | None = None
        self._lock = threading.Lock()

    def jobs(self) -> list[Job]:
        """Every row, oldest first, as of now."""
        with self._lock:
            rows = (
                self._store.jobs()
                if self._watermark is None
                else self._store.changed_since(self._watermark - self.OVERLAP_MS)
            )
            for job in rows:
                known = self._jobs.get(job.job_id)
                if known is None or job.revision >= known.revision:
                    self._jobs[job.job_id] = job
                if self._watermark is None or job.updated_at > self._watermark:
                    self._watermark = job.updated_at
            if self._watermark is None:
                self._watermark = 0
            return ordered(self._jobs.values())


class JobView:
    """Shows the ledger while the pipeline runs; a context manager.

    On a terminal, a rich ``Live`` table that refreshes itself; elsewhere (a pipe, a log file),
    one line per job change. Either way, each notification is printed as it arrives.
    """

    def __init__(
        self,
        jobs: Callable[[], list[Job]],
        console: Console,
        *,
        summary: Callable[[], str] | None = None,
        notifications: tuple[SQSClient, str] | None = None,
        refresh_per_second: float = 2,
    ) -> None:
        self._jobs = jobs
        self._summary = summary
        self._console = console
        self._notifications = notifications
        self._interval = 1 / refresh_per_second
        self._seen: dict[str, tuple[JobStatus, int]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
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
        self._thread = threading.Thread(target=self._watch, name="job-view", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
        self._tick()
        if self._live:
            self._live.stop()

    def _render(self) -> Table:
        return job_table(self._read(self._jobs) or [], summary=self._read(self._summary))

    @staticmethod
    def _read(source: Callable[[], T] | None) -> T | None:
        if source is None:
            return None
        try:
            return source()
        except Exception:  # a view must never stop the pipeline
            return None

    def _watch(self) -> None:
        while not self._stop.wait(self._interval):
            self._tick()

    def _tick(self) -> None:
        self._print_notifications()
        if self._live:
            return
        for job in ordered(self._read(self._jobs) or []):
            mark = (job.status, job.attempts)
            if self._seen.get(job.job_id) != mark:
                self._seen[job.job_id] = mark
                self._console.print(describe(job), markup=False, highlight=False)

    def _print_notifications(self) -> None:
        if self._notifications is None:
            return
        sqs, url = self._notifications
        try:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        except Exception:  # the view goes on without them
            return
        for message in messages:
            try:
                notice = json.loads(message["Body"])
                line = (
                    f"notification: {notice.get('status')} {safe(str(notice.get('key')))} — "
                    f"{safe(str(notice.get('reason')))}"
                )
            except (ValueError, AttributeError):
                line = f"notification: {safe(message['Body'])}"
            self._console.print(Text(line, style="bold red"))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
