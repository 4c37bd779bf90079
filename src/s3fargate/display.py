"""How jobs and text from uploaders are shown on a terminal, by the live view and the
operator commands alike.

Keys, prefixes and reasons are data from uploaders: they are shown as text (never as markup)
with control characters escaped.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from s3fargate.ledger import Job, JobStatus

if TYPE_CHECKING:
    from collections.abc import Iterable

#: Keys longer than this are cut in the middle in tables (``logs`` takes the full key).
KEY_WIDTH = 60
#: The width output for a program (not a terminal) is laid out at: lines are never cut.
UNBOUNDED_WIDTH = 100_000


def make_console(*, stderr: bool = False, **options: Any) -> Console:
    """A console for this command's output. On a terminal, rich's own; for a program (a pipe,
    a file), lines are never wrapped, cut or padded, so what a program reads is whole
    (``COLUMNS``, when set, still sets the width tables fold to)."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr, **options)
    width = int(os.environ["COLUMNS"]) if os.environ.get("COLUMNS", "").isdigit() else None
    return Console(stderr=stderr, soft_wrap=True, width=width or UNBOUNDED_WIDTH, **options)


def program() -> str:
    """How to run this installation's ``s3fargate`` from here: the bare name when the
    ``PATH`` finds this one, else its path (relative to the working folder when below it)."""
    script = Path(sys.executable).parent / "s3fargate"
    found = shutil.which("s3fargate")
    if found is not None and script.exists() and Path(found).resolve() == script.resolve():
        return "s3fargate"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


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


def duration_s(job: Job, now_ms: int | None = None) -> float | None:
    """Seconds the current attempt ran: until it stopped, or (while it runs) until now."""
    if job.started_at is None:
        return None
    if job.stopped_at is not None:
        end = job.stopped_at
    elif job.status.final:
        end = job.updated_at
    else:
        end = now_ms if now_ms is not None else int(time.time() * 1000)
    return max(end - job.started_at, 0) / 1000


def time_shown(job: Job, now_ms: int | None = None) -> str:
    """The table's time: what the current attempt ran, or, for a launched task that has not
    started yet, how long it has waited since its launch (``+`` marks it)."""
    ran = duration_s(job, now_ms)
    if ran is not None:
        return f"{ran:.1f}s"
    if job.launched_at is not None and not job.status.final:
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        return f"+{max(now - job.launched_at, 0) / 1000:.1f}s"
    return ""


def job_table(
    jobs: list[Job], *, title: str = "jobs", limit: int = 50, summary: str | None = None
) -> Table:
    """A table of the last ``limit`` jobs: key, status, attempts, exit code, time, reason."""
    # One space between columns, so that seven columns fit 80 terminal columns.
    table = Table(
        title=title, title_justify="left", expand=False, collapse_padding=True, pad_edge=False
    )
    shown = jobs[-limit:]
    table.add_column("key", overflow="fold")
    table.add_column("status")
    table.add_column("attempts", justify="right")
    table.add_column("exit", justify="right")
    table.add_column("time", justify="right")
    table.add_column("cost", justify="right")
    table.add_column("reason", overflow="fold", style="dim")
    for job in shown:
        table.add_row(
            Text(shorten(safe(job.key))),
            Text(job.status.value, style=STATUS_STYLE[job.status]),
            str(job.attempts or ""),
            "" if job.exit_code is None else str(job.exit_code),
            time_shown(job),
            "" if job.cost_usd is None else usd(job.cost_usd),
            Text(safe(job.reason)),
        )
    notes = [figures_line(jobs)] if jobs else []
    notes += [summary] if summary else []
    if len(jobs) > limit:
        notes.append(f"{len(jobs) - limit} older jobs not shown (`{program()} jobs` lists all)")
    if notes:
        table.caption = " · ".join(notes)
    return table


def usd(amount: float) -> str:
    """``$0.0123``: four decimals, enough for a minute of the smallest task."""
    return f"${amount:.4f}" if amount < 100 else f"${amount:,.2f}"


def _percentile(values: list[float], share: float) -> float:
    ordered_values = sorted(values)
    return ordered_values[min(len(ordered_values) - 1, int(share * len(ordered_values)))]


def figures_line(jobs: Iterable[Job]) -> str:
    """The figures the pipeline's dashboard charts, from the ledger's rows: outcomes, retried
    jobs, upload-to-start and run times (p50/p95), and what the jobs cost."""
    rows = list(jobs)
    counts = {status: sum(j.status is status for j in rows) for status in JobStatus}
    failed = counts[JobStatus.FAILED] + counts[JobStatus.DEAD_LETTERED]
    parts = [f"{counts[JobStatus.SUCCEEDED]} succeeded", f"{failed} failed"]
    parts.append(f"{sum(j.attempts > 1 for j in rows)} retried")
    waits = [
        max(0, j.started_at - j.uploaded_at) / 1000
        for j in rows
        if j.started_at and j.attempts == 1
    ]
    runs = [(j.stopped_at - j.started_at) / 1000 for j in rows if j.started_at and j.stopped_at]
    for label, values in (("upload→start", waits), ("run", runs)):
        if values:
            p50, p95 = _percentile(values, 0.5), _percentile(values, 0.95)
            parts.append(f"{label} p50 {p50:.1f}s p95 {p95:.1f}s")
    costs = [j.cost_usd for j in rows if j.cost_usd is not None]
    if costs:
        parts.append(f"cost {usd(sum(costs))}")
    return " · ".join(parts)


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
    if job.cost_usd is not None:
        parts.append(usd(job.cost_usd))
    if job.reason:
        parts.append(f"({safe(job.reason)})")
    return " ".join(parts)
