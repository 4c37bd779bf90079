"""The local pipeline's programmatic API: what ``s3fargate dev|demo|upload|jobs|logs`` call."""

from __future__ import annotations

import os
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import BotoCoreError, ClientError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from s3fargate.display import describe, job_table, make_console, ordered, program, safe
from s3fargate.exit_codes import CliExit, UsageError
from s3fargate.ledger import Job, JobStatus
from s3fargate.local import preflight
from s3fargate.local.console import JobView, LedgerFollower
from s3fargate.local.pipeline import LocalPipeline
from s3fargate.rundir import LOCAL_REGION, RunState, credentials_shell_prefix
from s3fargate.sizing.sizes import format_bytes

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from rich.console import Console

    from s3fargate.local.config import LocalConfig


def _banner(pipeline: LocalPipeline, console: Console) -> None:
    config = pipeline.config
    where = (
        f"embedded S3, SQS, DynamoDB and SNS (moto) at {pipeline.endpoint} — in memory: "
        "everything is gone when this stops (use --endpoint URL for a persistent server)"
        if pipeline.embedded
        else f"AWS-compatible server at {pipeline.endpoint} (--endpoint)"
    )
    console.print(Text(f"s3fargate local pipeline  {where}"))
    console.print(
        Text(
            f"bucket {config.bucket}: objects created under {safe(config.input_prefix)}"
            f"{f' ending in {safe(config.suffix)}' if config.suffix else ''} → queue → runner → "
            f"task → tracker; results under {safe(config.results_prefix)}"
        )
    )
    task = f"image {config.task_image}" if config.task_image else " ".join(config.task_cmd)
    props = config.props
    limit = f", at most {props.max_running_tasks} at once" if props.max_running_tasks else ""
    retries = f"; up to {props.max_attempts} attempts per job"
    console.print(Text(f"task: {task}{limit}{retries}; logs in {config.run_dir}/"))
    if config.faults.any:
        console.print(Text(f"injecting faults: {config.faults.describe()}", style="yellow"))
    if props.task_sizes:
        sizes = "; ".join(
            f"{'up to ' + format_bytes(s.up_to_bytes) if s.up_to_bytes is not None else 'larger'}: "
            f"{s.label}"
            for s in props.task_sizes
        )
        console.print(Text(f"task sizes: {sizes} (one size up after a memory kill)"))
    elif config.memory is not None:
        console.print(Text(f"task memory: {config.memory} MiB, enforced"))


def _jobs_of(pipeline: LocalPipeline) -> list[Job]:
    return ordered(pipeline.store.jobs())


def _view(pipeline: LocalPipeline, console: Console) -> JobView:
    return JobView(
        LedgerFollower(pipeline.store).jobs,
        console,
        summary=pipeline.queue_summary,
        notifications=(pipeline.sqs, pipeline.resources.notifications_queue.url),
    )


def run_dev(config: LocalConfig, console: Console | None = None) -> int:
    """Run the pipeline until Ctrl-C (or SIGTERM); return the exit code."""
    console = console or make_console()
    with _interruptible(console) as interrupt, LocalPipeline(config) as pipeline:
        interrupt.on_repeat(pipeline.hurry)
        _banner(pipeline, console)
        run_dir = config.run_dir
        me = program()
        # Each command on one line, never wrapped: pasted from a narrow terminal, it still runs.
        console.print(
            "upload with:\n"
            f"  {me} upload FILE --run-dir {run_dir}\n"
            f"  {credentials_shell_prefix()} aws --region {LOCAL_REGION} "
            f"--endpoint-url {pipeline.endpoint} s3 cp FILE s3://{config.bucket}/{config.input_prefix}\n"
            f"see jobs: {me} jobs --run-dir {run_dir}\n"
            f"a task's output: {me} logs KEY --run-dir {run_dir}\n"
            "Ctrl-C stops (running tasks get "
            f"{config.grace_period:g}s to finish).",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        try:
            with _view(pipeline, console):
                interrupt.wait()
        except KeyboardInterrupt:
            _say_stopping(console, config)
        return _stop_interrupted(pipeline, interrupt, console)


def run_demo(
    config: LocalConfig,
    files: list[Path] | None = None,
    *,
    timeout: float = 300.0,
    console: Console | None = None,
) -> int:
    """Upload sample (or given) files, wait for every job, print results; 0 if all succeeded."""
    console = console or make_console()
    uploads = _demo_uploads(config, files)
    keys = [config.input_prefix + name for _, name in uploads]
    with _interruptible(console) as interrupt, LocalPipeline(config) as pipeline:
        interrupt.on_repeat(pipeline.hurry)
        _banner(pipeline, console)
        try:
            _upload_and_wait(
                pipeline, uploads, keys, timeout=timeout, interrupt=interrupt, console=console
            )
        except KeyboardInterrupt:
            _say_stopping(console, config)
            return _stop_interrupted(pipeline, interrupt, console)
        latest = _latest(pipeline, keys)
        finished = len(latest) == len(keys) and all(j.status.final for j in latest.values())
        interrupt.stopping()  # a Ctrl-C now hurries the stop of tasks still running
        pipeline.drain()
        console.print(job_table(_jobs_of(pipeline), title="demo jobs"))
        ok = finished and _print_results(pipeline, keys, console)
        if not finished:
            console.print(Text(f"timed out after {timeout:g}s waiting for jobs", style="red"))
    _explain(console, ok, config)
    return CliExit.OK if ok else CliExit.JOBS_FAILED


def _upload_and_wait(
    pipeline: LocalPipeline,
    uploads: list[tuple[Path, str]],
    keys: list[str],
    *,
    timeout: float,
    interrupt: Interrupt,
    console: Console,
) -> None:
    """Upload every file, then wait (up to ``timeout``) until every job has ended."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        uploading = progress.add_task("uploading", total=len(uploads))
        for (path, _), key in zip(uploads, keys, strict=True):
            interrupt.check()
            pipeline.upload(path, key)
            progress.advance(uploading)
        finishing = progress.add_task("jobs finished", total=len(keys))
        deadline = time.monotonic() + timeout
        follower = LedgerFollower(pipeline.store)
        wanted = set(keys)
        while time.monotonic() < deadline:
            interrupt.check()
            latest = {j.key: j for j in follower.jobs() if j.key in wanted}
            done = sum(1 for job in latest.values() if job.status.final)
            progress.update(finishing, completed=done)
            if done == len(keys):
                return
            interrupt.wait(0.2)


def _stop_interrupted(pipeline: LocalPipeline, interrupt: Interrupt, console: Console) -> int:
    """Stop after a Ctrl-C (another one hurries the stop), show the final state; the exit
    code."""
    interrupt.stopping()
    pipeline.drain()
    _print_final(pipeline, console)
    return CliExit.INTERRUPTED


def _say_stopping(console: Console, config: LocalConfig) -> None:
    console.print(
        f"stopping: running tasks get {config.grace_period:g}s to finish "
        "(Ctrl-C again stops them at once) …",
        highlight=False,
        markup=False,
    )


def upload_files(
    run_dir: Path, files: list[Path], key: str | None = None, *, console: Console | None = None
) -> list[str]:
    """Upload files to the running dev pipeline found in ``run_dir``; return their keys.

    Everything is checked first (the pipeline runs, every file is readable, the keys are
    distinct and valid): a mistake uploads nothing.
    """
    if key is not None and len(files) != 1:
        raise UsageError("--key names one object: upload one file with it")
    preflight.check_readable(files)
    if key is not None:
        preflight.check_key(key)
    state = RunState.read(run_dir)
    uploads = (
        [(files[0], key)]
        if key is not None
        else [(path, state.input_prefix + name) for path, name in distinct_names(files)]
    )
    for _, target in uploads:
        preflight.check_key(target)
        if target.startswith(state.input_prefix):
            preflight.check_result_key(
                target, input_prefix=state.input_prefix, results_prefix=state.results_prefix
            )
    console = console or make_console(stderr=True)
    for _, target in uploads:
        if not target.startswith(state.input_prefix):
            why = f"is outside the input prefix {safe(state.input_prefix)}"
        elif state.suffix and not target.endswith(state.suffix):
            why = f"does not end with the pipeline's --suffix {safe(state.suffix)}"
        else:
            continue
        console.print(
            Text(f"warning: {safe(target)} {why}: no task will run for it", style="yellow")
        )
    s3 = state.client("s3")
    for path, target in uploads:
        try:
            s3.upload_file(str(path), state.bucket, target)
        except (S3UploadFailedError, BotoCoreError, ClientError) as exc:
            raise UsageError(
                f"{safe(str(path))}: the upload to {safe(target)} failed ({exc})"
            ) from exc
    return [target for _, target in uploads]


def distinct_names(files: list[Path]) -> list[tuple[Path, str]]:
    """Each distinct file with a name unique among them: its file name, or as many of its
    parent folders as tell it apart (``a/data.csv``, ``b/data.csv``). A file given twice is
    uploaded once."""
    unique: dict[Path, Path] = {}
    for path in files:
        # Absolute, not resolved: a symbolic link is uploaded under its own name.
        unique.setdefault(Path(os.path.abspath(path)), path)
    resolved = list(unique)
    depth = dict.fromkeys(resolved, 1)
    while True:
        names = {p: "/".join(p.parts[-depth[p] :]).lstrip("/") for p in resolved}
        counts: dict[str, int] = {}
        for name in names.values():
            counts[name] = counts.get(name, 0) + 1
        clashing = [p for p in resolved if counts[names[p]] > 1 and depth[p] < len(p.parts)]
        if not clashing:
            return [(unique[p], names[p]) for p in resolved]
        for p in clashing:
            depth[p] += 1


def _demo_uploads(config: LocalConfig, files: list[Path] | None) -> list[tuple[Path, str]]:
    """The files and their keys, checked: readable, valid keys, each will start a task."""
    from s3fargate.local.samples import sample_files

    if files:
        preflight.check_readable(files)
        uploads = distinct_names(files)
    else:
        uploads = sample_files()
    for _, name in uploads:
        preflight.check_key(config.input_prefix + name)
        preflight.check_result_key(
            config.input_prefix + name,
            input_prefix=config.input_prefix,
            results_prefix=config.results_prefix,
        )
    filtered = [
        name for _, name in uploads if not preflight.will_launch(config, config.input_prefix + name)
    ]
    if filtered:
        raise UsageError(
            f"--suffix {safe(config.suffix)!r} filters out {', '.join(safe(n) for n in filtered)}: "
            "no task would run for them"
        )
    return uploads


def _latest(pipeline: LocalPipeline, keys: list[str]) -> dict[str, Job]:
    wanted = set(keys)
    return {j.key: j for j in _jobs_of(pipeline) if j.key in wanted}


def _print_results(pipeline: LocalPipeline, keys: list[str], console: Console) -> bool:
    latest = _latest(pipeline, keys)
    ok = True
    for key in keys:
        job = latest[key]
        if job.status is not JobStatus.SUCCEEDED:
            ok = False
            console.print(
                Text(f"{describe(job)}  ({program()} logs shows its output)", style="red")
            )
            continue
        document = pipeline.result(key) if job.result_key else None
        if document is None:
            # The task exited 0 and wrote no result document: it succeeded, with nothing to show.
            console.print(
                Text(f"{safe(key)}: succeeded, with no result document (the task wrote none)")
            )
            continue
        console.print(Text(f"{safe(key)} →", style="bold"))
        # Whole and unpadded, whatever the width: digests and keys are copied from here.
        console.print_json(data=document, ensure_ascii=False)
    return ok


def _print_final(pipeline: LocalPipeline, console: Console) -> None:
    jobs = _jobs_of(pipeline)
    console.print(job_table(jobs, title="final state", limit=len(jobs) or 1))


def _explain(console: Console, ok: bool, config: LocalConfig) -> None:
    verdict = Text("every job succeeded" if ok else "some jobs did not succeed")
    verdict.stylize("green" if ok else "red")
    how = f"a container of {safe(config.task_image)}" if config.task_image else "a local process"
    console.print(
        Text.assemble(
            "\n",
            verdict,
            f". What happened: each file was uploaded to s3://{config.bucket}/"
            f"{safe(config.input_prefix)}…; S3 notified the queue; the dispatcher handed the "
            "messages to the same runner handler the Lambda uses; it recorded each job in the "
            f"ledger and launched one task per object as {how}, which read the "
            f"object, wrote any outputs under {safe(config.results_prefix)}<name>/ and then "
            f"{safe(config.results_prefix)}<name>.json; the task's state "
            "changes went, as ECS events, to the same tracker the Lambda runs, which recorded "
            f"how each job ended. Task output is kept in {config.run_dir}/logs/.",
        )
    )


class Interrupt:
    """Ctrl-C (or SIGTERM) for the local pipeline's commands.

    The first one is kept as a flag as well as raised as ``KeyboardInterrupt``: code that
    catches the exception on its way (a transfer's cancellation path) cannot lose the request,
    since the loops that do long work check the flag too. Every later one never raises (so it
    cannot abort the stop that saves the state): it calls the hurry callback, which kills the
    running tasks instead of waiting out their grace period.
    """

    def __init__(self, console: Console) -> None:
        self._console = console
        # A plain flag, not an Event: the handler runs in the main thread, which may be inside
        # an Event's own lock when the signal lands.
        self._requested = False
        self._hurry: Callable[[], None] | None = None

    def on_repeat(self, hurry: Callable[[], None]) -> None:
        """What a second Ctrl-C does."""
        self._hurry = hurry

    def stopping(self) -> None:
        """The stop has begun (asked for or not): from now on a Ctrl-C hurries it, never
        aborts it."""
        self._requested = True

    def signalled(self, _signum: int = signal.SIGINT, _frame: object = None) -> None:
        """The signal handler."""
        if not self._requested:
            self._requested = True
            raise KeyboardInterrupt
        if self._hurry is not None:
            self._hurry()
        self._console.print("stopping now: running tasks are killed and recorded …")

    def check(self) -> None:
        """Raise ``KeyboardInterrupt`` if a stop was requested."""
        if self._requested:
            raise KeyboardInterrupt

    def wait(self, seconds: float | None = None) -> None:
        """Sleep up to ``seconds`` (None: until a stop); raise ``KeyboardInterrupt`` as soon as
        a stop is requested (the signal handler raises it out of the sleep)."""
        self.check()
        if seconds is not None:
            time.sleep(seconds)
        else:
            while True:
                time.sleep(3600)
        self.check()


@contextmanager
def _interruptible(console: Console) -> Iterator[Interrupt]:
    """SIGTERM behaves like Ctrl-C, so `kill` stops the pipeline cleanly too; and Ctrl-C
    (SIGINT) stops it even when the shell that started it ignores SIGINT (a background job
    of a script), where Python would otherwise leave it ignored."""
    interrupt = Interrupt(console)
    if threading.current_thread() is not threading.main_thread():
        yield interrupt
        return
    previous = {
        sig: signal.signal(sig, interrupt.signalled) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield interrupt
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
