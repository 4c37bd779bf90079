"""The local pipeline's programmatic API: what ``s3fargate dev|demo|upload|jobs|logs`` call."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.syntax import Syntax
from rich.text import Text

from s3fargate.display import describe, job_table, ordered, safe
from s3fargate.exit_codes import CliExit, UsageError
from s3fargate.ledger import Job, JobStatus
from s3fargate.local import preflight
from s3fargate.local.console import JobView, LedgerFollower
from s3fargate.local.pipeline import SINGLE_PUT, LocalPipeline
from s3fargate.rundir import LOCAL_REGION, RunState, credentials_shell_prefix

if TYPE_CHECKING:
    from collections.abc import Iterator

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
    task = f"docker run {config.docker_image}" if config.docker_image else " ".join(config.task_cmd)
    limit = f", at most {config.max_running} at once" if config.max_running else ""
    retries = f"; up to {config.max_attempts} attempts per job"
    console.print(Text(f"task: {task}{limit}{retries}; logs in {config.run_dir}/"))
    if config.faults.any:
        console.print(Text(f"injecting faults: {config.faults.describe()}", style="yellow"))
    if config.ignored_options:
        ignored = ", ".join(config.ignored_options)
        console.print(Text(f"ignored locally (they size Fargate tasks on AWS): {ignored}"))


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
    console = console or Console()
    with _interruptible(), LocalPipeline(config) as pipeline:
        _banner(pipeline, console)
        run_dir = config.run_dir
        console.print(
            "upload with:\n"
            f"  s3fargate upload FILE --run-dir {run_dir}\n"
            f"  {credentials_shell_prefix()} aws --region {LOCAL_REGION} "
            f"--endpoint-url {pipeline.endpoint} s3 cp FILE s3://{config.bucket}/{config.input_prefix}\n"
            f"see jobs: s3fargate jobs --run-dir {run_dir}    "
            f"a task's output: s3fargate logs KEY --run-dir {run_dir}\n"
            "Ctrl-C stops (running tasks get "
            f"{config.grace_period:g}s to finish).",
            highlight=False,
            markup=False,
        )
        try:
            with _view(pipeline, console):
                threading.Event().wait()
        except KeyboardInterrupt:
            console.print("stopping: waiting for running tasks …")
        with _shielded(console):
            pipeline.drain()
        _print_final(pipeline, console)
    return CliExit.INTERRUPTED


def run_demo(
    config: LocalConfig,
    files: list[Path] | None = None,
    *,
    timeout: float = 300.0,
    console: Console | None = None,
) -> int:
    """Upload sample (or given) files, wait for every job, print results; 0 if all succeeded."""
    console = console or Console()
    uploads = _demo_uploads(config, files)
    keys = [config.input_prefix + name for _, name in uploads]
    with _interruptible(), LocalPipeline(config) as pipeline:
        _banner(pipeline, console)
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
                pipeline.upload(path, key)
                progress.advance(uploading)
            finishing = progress.add_task("jobs finished", total=len(keys))
            deadline = time.monotonic() + timeout
            follower = LedgerFollower(pipeline.store)
            wanted = set(keys)
            while time.monotonic() < deadline:
                latest = {j.key: j for j in follower.jobs() if j.key in wanted}
                done = sum(1 for job in latest.values() if job.status.final)
                progress.update(finishing, completed=done)
                if done == len(keys):
                    break
                time.sleep(0.2)
        latest = _latest(pipeline, keys)
        finished = len(latest) == len(keys) and all(j.status.final for j in latest.values())
        with _shielded(console):
            pipeline.drain()
        console.print(job_table(_jobs_of(pipeline), title="demo jobs"))
        ok = finished and _print_results(pipeline, keys, console)
        if not finished:
            console.print(Text(f"timed out after {timeout:g}s waiting for jobs", style="red"))
    _explain(console, ok, config)
    return CliExit.OK if ok else CliExit.JOBS_FAILED


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
    console = console or Console(stderr=True)
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
            s3.upload_file(str(path), state.bucket, target, Config=SINGLE_PUT)
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
            console.print(Text(f"{describe(job)}  (s3fargate logs shows its output)", style="red"))
            continue
        document = pipeline.result(key) if job.result_key else None
        if document is None:
            # The task exited 0 and wrote no result document: it succeeded, with nothing to show.
            console.print(
                Text(f"{safe(key)}: succeeded, with no result document (the task wrote none)")
            )
            continue
        console.print(Text(f"{safe(key)} →", style="bold"))
        console.print(Syntax(json.dumps(document, ensure_ascii=False, indent=2), "json"))
    return ok


def _print_final(pipeline: LocalPipeline, console: Console) -> None:
    jobs = _jobs_of(pipeline)
    console.print(job_table(jobs, title="final state", limit=len(jobs) or 1))


def _explain(console: Console, ok: bool, config: LocalConfig) -> None:
    verdict = Text("every job succeeded" if ok else "some jobs did not succeed")
    verdict.stylize("green" if ok else "red")
    console.print(
        Text.assemble(
            "\n",
            verdict,
            f". What happened: each file was uploaded to s3://{config.bucket}/"
            f"{safe(config.input_prefix)}…; S3 notified the queue; the dispatcher handed the "
            "messages to the same runner handler the Lambda uses; it recorded each job in the "
            "ledger and launched one task per object as a local process, which read the "
            f"object, wrote any outputs under {safe(config.results_prefix)}<name>/ and then "
            f"{safe(config.results_prefix)}<name>.json; the task's state "
            "changes went, as ECS events, to the same tracker the Lambda runs, which recorded "
            f"how each job ended. Task output is kept in {config.run_dir}/logs/.",
        )
    )


@contextmanager
def _interruptible() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C, so `kill` stops the pipeline cleanly too; and Ctrl-C
    (SIGINT) stops it even when the shell that started it ignores SIGINT (a background job
    of a script), where Python would otherwise leave it ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous_term = signal.signal(signal.SIGTERM, interrupt)
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)


@contextmanager
def _shielded(console: Console) -> Iterator[None]:
    """While stopping, more Ctrl-C (or SIGTERM) says so instead of abandoning running tasks."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def patience(_signum: int, _frame: object) -> None:
        console.print("still stopping: running tasks are being stopped and recorded …")

    previous = {sig: signal.signal(sig, patience) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
