"""What the terminal shows: the job ledger as a live table (rich), or one line per change when
not a TTY, and the notifications operators would receive.

Keys, prefixes and reasons are data from uploaders: they are shown as text (never as markup)
with control characters escaped.
"""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING, Self, TypeVar

from rich.live import Live
from rich.text import Text

from s3fargate.display import describe, job_table, ordered, safe

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

    from mypy_boto3_sqs import SQSClient
    from rich.console import Console
    from rich.table import Table

    from s3fargate.ledger import Job, JobStatus, LedgerStore

T = TypeVar("T")
#: How often, at most, the view reads the ledger again (the table is redrawn more often)...
LEDGER_EVERY_S = 1.0
#: ... and the most of its time the view spends reading it.
LEDGER_SHARE = 0.05


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
        self._cached: tuple[float, list[Job]] | None = None
        self._every = LEDGER_EVERY_S
        self._cache_lock = threading.Lock()
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
        self._cached = None  # the last lines and table show the ledger as it is now
        self._tick()
        if self._live:
            self._live.stop()

    def _render(self) -> Table:
        return job_table(self._current_jobs(), summary=self._read(self._summary))

    def _current_jobs(self) -> list[Job]:
        """The ledger's rows, read again at most every second, and less often when reading
        costs more than ``LEDGER_SHARE`` of the time (each read is a query per status; on the
        embedded server each query is a pass over the whole table, which grows with the jobs,
        and the view must not slow the pipeline it shows)."""
        now = time.monotonic()
        with self._cache_lock:
            if self._cached is None or now - self._cached[0] >= self._every:
                jobs = self._read(self._jobs) or []
                took = time.monotonic() - now
                self._every = max(LEDGER_EVERY_S, took / LEDGER_SHARE)
                self._cached = (now, jobs)
            return self._cached[1]

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
        for job in ordered(self._current_jobs()):
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
