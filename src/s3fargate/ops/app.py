"""The operator commands' programmatic API (``s3fargate jobs|logs|retry|backfill|redrive``),
the same for a deployed stack and the local pipeline."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from s3fargate.display import STATUS_STYLE, figures_line, job_table, make_console, safe, shorten
from s3fargate.events.ecs import StopCode
from s3fargate.exit_codes import CliExit, UsageError
from s3fargate.ledger import JobStatus
from s3fargate.ops import jobs as ledger_view
from s3fargate.ops.actions import backfill, backfill_candidates, redrive, retry
from s3fargate.ops.jobs import document, latest_for_key, phases, select
from s3fargate.ops.target import key_prefix, queue_summary

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console

    from s3fargate.ledger import Job
    from s3fargate.ops.target import Target

#: How often ``jobs --watch`` reads the ledger again.
WATCH_EVERY_S = 2.0
#: Failed reads in a row after which ``jobs --watch`` gives up (a refused connection: at once).
WATCH_FAILURES = 5
#: The timeline's bars fit the terminal, within these widths.
MIN_TIMELINE_WIDTH = 10
MAX_TIMELINE_WIDTH = 100
KEY_WIDTH = 40
PHASE_MARK = {"waiting": ("·", "yellow"), "pending": ("▒", "yellow"), "running": ("█", "cyan")}


def list_jobs(
    target: Target,
    *,
    status: str | None = None,
    prefix: str | None = None,
    since: str | None = None,
    as_json: bool = False,
    timeline: bool = False,
    watch: bool = False,
    console: Console | None = None,
) -> int:
    """Print the ledger, newest first, with the queue's and dead-letter queue's counts."""
    console = console or make_console()
    wanted = ledger_view.parse_status(status)
    since_ms = ledger_view.parse_since(since)

    def chosen() -> list[Job]:
        return select(
            target.store.jobs(),
            status=wanted,
            prefix=key_prefix(target, prefix) if prefix else None,
            since_ms=since_ms,
        )

    def render() -> Table:
        jobs = chosen()
        summary = queue_summary(target.sqs, target.queue_url, target.dlq_url)
        if timeline:
            return timeline_table(jobs, summary=summary, width=console.width)
        return job_table(
            jobs, title=f"jobs of {target.description}", limit=len(jobs) or 1, summary=summary
        )

    if as_json:
        print(json.dumps([document(j) for j in chosen()], ensure_ascii=False, indent=1))
        return CliExit.OK
    if not watch:
        console.print(render())
        return CliExit.OK
    return _watch(target, render, console)


def _watch(target: Target, render: Callable[[], Table], console: Console) -> int:
    """Refresh the table until Ctrl-C; when the pipeline stops answering, stop with one line
    (the last table stays on screen, but no longer pretends to be live)."""
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.exceptions import ConnectionError as Unreachable

    gone: Exception
    failures = 0
    with Live(render(), console=console, auto_refresh=False) as live:
        while True:
            time.sleep(WATCH_EVERY_S)  # Ctrl-C ends it here
            try:
                table = render()
            except Unreachable as exc:  # nothing listens there any more
                gone = exc
                break
            except (BotoCoreError, ClientError) as exc:  # throttled, a token expiring: wait
                failures += 1
                if failures >= WATCH_FAILURES:
                    gone = exc
                    break
                continue
            failures = 0
            live.update(table, refresh=True)
    reason = " ".join(str(gone).split()) or type(gone).__name__
    raise UsageError(f"stopped watching: {target.description} no longer answers ({reason})")


def timeline_table(
    jobs: list[Job], *, summary: str | None = None, width: int = 80, now_ms: int | None = None
) -> Table:
    """Each job's waiting, pending and running time as a bar on one shared time axis, the
    bars as wide as a table ``width`` columns wide leaves them."""
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    marks_of = {j.job_id: phases(j, now_ms) for j in jobs}
    spans = [p for marks in marks_of.values() for p in marks]
    table = Table(title="where the time went", title_justify="left")
    table.add_column("key", overflow="fold")
    table.add_column("status")
    table.add_column("timeline", no_wrap=True)
    table.add_column("total", justify="right")
    if not spans:
        table.caption = summary
        return table
    start = min(a for _, a, _ in spans)
    span_ms = max(max(b for _, _, b in spans) - start, 1)
    rows = []
    for job in jobs:
        marks = marks_of[job.job_id]
        seconds = (marks[-1][2] - marks[0][1]) / 1000 if marks else 0
        rows.append((shorten(safe(job.key), KEY_WIDTH), job, marks, f"{seconds:.1f}s"))
    # Every other column at its widest, then the table's lines and padding (1 + 3 per column).
    others = (
        max(len("key"), *(cell_len(key) for key, *_ in rows))
        + max(len("status"), *(len(job.status.value) for _, job, _, _ in rows))
        + max(len("total"), *(len(total) for *_, total in rows))
    )
    bar_width = max(MIN_TIMELINE_WIDTH, min(MAX_TIMELINE_WIDTH, width - others - 13))
    for key, job, marks, total in rows:
        cells = [" "] * bar_width
        for name, a, b in marks:
            first = int((a - start) / span_ms * (bar_width - 1))
            last = max(first, int((b - start) / span_ms * (bar_width - 1)))
            for i in range(first, last + 1):
                cells[i] = name
        bar = Text()
        for cell in cells:
            mark, style = PHASE_MARK.get(cell, (" ", ""))
            bar.append(mark, style=style)
        table.add_row(Text(key), Text(job.status.value, style=STATUS_STYLE[job.status]), bar, total)
    table.caption = (
        f"· waiting  ▒ pending  █ running; {span_ms / 1000:.1f}s in all · {figures_line(jobs)}"
        + (f" · {summary}" if summary else "")
    )
    return table


def show_log(target: Target, key: str) -> str:
    """Every attempt's output for the latest job of ``key``, oldest attempt first."""

    job = latest_for_key(target.store.jobs(), key, target.input_prefix)
    if not job.task_arns:
        raise UsageError(f"the job for {safe(job.key)!r} has no task yet ({job.status.value})")
    parts = []
    attempts = len(job.task_arns)
    for attempt, arn in enumerate(job.task_arns, start=1):
        text = target.logs.read(arn)
        if not text:  # say why, rather than print nothing
            text = f"({_no_output(job, latest=attempt == attempts)})\n"
        header = f"== attempt {attempt} of {attempts}: {arn} ==\n"
        parts.append((header if attempts > 1 else "") + text)
    return "".join(parts)


def _no_output(job: Job, *, latest: bool) -> str:
    """Why an attempt shows no output, as far as the ledger knows."""
    if latest and job.stop_code == StopCode.TASK_FAILED_TO_START:
        return f"no output: the task never started ({job.stopped_reason or 'no reason given'})"
    if latest and job.status in (JobStatus.WAITING, JobStatus.PENDING):
        return "no output yet: the task has not started"
    return "no output: the task wrote none, never started, or its log is gone"


def check_retry_request(keys: list[str], *, failed: bool, since: str | None) -> None:
    """Refuse a retry that names nothing, or both keys and ``--failed``.

    Raises:
        UsageError: naming what to pass instead.
    """

    if keys and failed:
        raise UsageError("retry takes KEY…, or --failed, not both")
    if not keys and not failed:
        raise UsageError(
            "retry needs the KEY of each job to retry, or --failed for every failed job"
        )
    if since is not None and not failed:
        raise UsageError("--since chooses among failed jobs: use it with --failed")


def retry_jobs(
    target: Target,
    keys: list[str],
    *,
    failed: bool = False,
    since: str | None = None,
    console: Console | None = None,
) -> int:
    """Queue a new attempt for each key's latest job, or for every failed job."""

    console = console or make_console()
    check_retry_request(keys, failed=failed, since=since)
    jobs = list(target.store.jobs())
    if failed:
        chosen = select(jobs, status=JobStatus.FAILED, since_ms=ledger_view.parse_since(since))
    else:
        chosen = [latest_for_key(jobs, key, target.input_prefix) for key in keys]
    outcomes = retry(target, chosen, reason="operator retry")
    for outcome in outcomes:
        verdict = "queued" if outcome.queued else "skipped"
        console.print(Text(f"{verdict} {safe(outcome.job.key)}: {outcome.why}"))
    console.print(Text(f"{sum(o.queued for o in outcomes)} job(s) queued for another attempt"))
    return CliExit.OK


def backfill_objects(
    target: Target,
    *,
    prefix: str | None = None,
    dry_run: bool = False,
    console: Console | None = None,
) -> int:
    """Queue every object under the input prefix that no job processed (once)."""
    console = console or make_console()
    candidates = list(backfill_candidates(target, prefix=prefix))
    if dry_run:
        for candidate in candidates:
            console.print(Text(f"would queue {safe(candidate.key)}"))
        console.print(Text(f"{len(candidates)} object(s) would be queued"))
        return CliExit.OK
    with Progress(
        TextColumn("queueing"), BarColumn(), MofNCompleteColumn(), console=console
    ) as progress:
        bar = progress.add_task("queueing", total=len(candidates))
        sent = backfill(target, candidates, progress=lambda n: progress.advance(bar, n))
    console.print(Text(f"{sent} object(s) queued"))
    return CliExit.OK


def redrive_dead_letters(target: Target, *, console: Console | None = None) -> int:
    """Move the dead-letter queue back into the queue."""
    console = console or make_console()
    moved = redrive(target)
    how = "SQS is moving" if target.redrive_with_move_task else "moved"
    console.print(Text(f"{how} {moved} message(s) from the dead-letter queue to the queue"))
    return CliExit.OK
