"""The local pipeline's programmatic API: what ``s3fargate dev|demo|upload|jobs|logs`` call."""

from __future__ import annotations

import json
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.syntax import Syntax

from s3fargate.exit_codes import CliExit
from s3fargate.local.console import JobView, describe, job_table
from s3fargate.local.credentials import LOCAL_REGION, credentials_shell_prefix, local_session
from s3fargate.local.jobs import JobStatus, read_jobs
from s3fargate.local.pipeline import LocalPipeline, read_state
from s3fargate.local.samples import sample_files

if TYPE_CHECKING:
    from collections.abc import Iterator

    from s3fargate.local.config import LocalConfig


def _banner(pipeline: LocalPipeline, console: Console) -> None:
    config = pipeline.config
    where = (
        f"embedded S3 + SQS (moto) at {pipeline.endpoint} — in memory: everything is gone "
        "when this stops (use --endpoint URL for a persistent S3/SQS-compatible server)"
        if pipeline.embedded
        else f"S3 + SQS at {pipeline.endpoint} (--endpoint)"
    )
    console.print(f"[bold]s3fargate local pipeline[/]  {where}", highlight=False)
    console.print(
        f"bucket [bold]{config.bucket}[/]: objects created under [bold]{config.input_prefix}[/]"
        f"{f' ending in {config.suffix}' if config.suffix else ''} → queue → runner → task; "
        f"results under {config.results_prefix}",
        highlight=False,
    )
    task = f"docker run {config.docker_image}" if config.docker_image else " ".join(config.task_cmd)
    limit = f", at most {config.max_running} at once" if config.max_running else ""
    console.print(f"task: {task}{limit}; logs in {config.run_dir}/", highlight=False, markup=False)
    if config.ignored_options:
        console.print(
            f"ignored locally (they size Fargate tasks on AWS): {', '.join(config.ignored_options)}"
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
            with JobView(pipeline.jobs, console, summary=pipeline.queue_summary):
                threading.Event().wait()
        except KeyboardInterrupt:
            console.print("stopping: waiting for running tasks …")
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
    uploads = _demo_uploads(files)
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
            while time.monotonic() < deadline:
                done = _final_count(pipeline, keys)
                progress.update(finishing, completed=done)
                if done == len(keys):
                    break
                time.sleep(0.1)
        finished = _final_count(pipeline, keys) == len(keys)
        pipeline.drain()
        console.print(job_table(pipeline.jobs.snapshot(), title="demo jobs"))
        ok = finished and _print_results(pipeline, keys, console)
        if not finished:
            console.print(f"[red]timed out after {timeout:g}s waiting for jobs[/]")
    _explain(console, ok, config)
    return CliExit.OK if ok else CliExit.JOBS_FAILED


def upload_files(run_dir: Path, files: list[Path], key: str | None = None) -> list[str]:
    """Upload files to the running dev pipeline found in ``run_dir``; return their keys."""
    state = read_state(run_dir)
    if key is not None and len(files) != 1:
        raise ValueError("--key names one object: upload one file with it")
    session = local_session(embedded=bool(state["embedded"]))
    s3 = session.client("s3", endpoint_url=state["endpoint"])
    keys = []
    for path in files:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        target = key or state["input_prefix"] + path.name
        s3.upload_file(str(path), state["bucket"], target)
        keys.append(target)
    return keys


def list_jobs(run_dir: Path, *, as_json: bool = False, console: Console | None = None) -> int:
    """Print the jobs of the dev pipeline that uses ``run_dir``."""
    console = console or Console()
    jobs = read_jobs(run_dir)
    if as_json:
        print(json.dumps([{**vars(j), "status": j.status.value} for j in jobs], indent=1))
    else:
        console.print(job_table(jobs, limit=len(jobs) or 1))
    return CliExit.OK


def show_log(run_dir: Path, key: str) -> str:
    """The output of the latest task for ``key`` (with or without the input prefix)."""
    jobs = read_jobs(run_dir)
    matches = [j for j in jobs if j.key == key or j.key.endswith("/" + key.lstrip("/"))]
    if not matches:
        known = ", ".join(sorted({j.key for j in jobs})[:10]) or "none yet"
        raise KeyError(f"no job for key {key!r} (jobs: {known})")
    job = matches[-1]
    if not job.log_path:
        raise KeyError(f"job for {job.key!r} has no task output yet ({job.status.value})")
    return Path(job.log_path).read_text(encoding="utf-8", errors="replace")


def _demo_uploads(files: list[Path] | None) -> list[tuple[Path, str]]:
    if not files:
        return sample_files()
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"no such file(s): {', '.join(missing)}")
    return [(f, f.name) for f in files]


def _final_count(pipeline: LocalPipeline, keys: list[str]) -> int:
    latest = {j.key: j for j in pipeline.jobs.snapshot()}
    return sum(1 for k in keys if k in latest and latest[k].status.final)


def _print_results(pipeline: LocalPipeline, keys: list[str], console: Console) -> bool:
    latest = {j.key: j for j in pipeline.jobs.snapshot()}
    ok = True
    for key in keys:
        job = latest[key]
        if job.status is not JobStatus.SUCCEEDED:
            ok = False
            console.print(f"[red]{describe(job)}[/]  (output: {job.log_path})", highlight=False)
            continue
        document = pipeline.result(key)
        if document is None:
            ok = False
            console.print(f"[red]{key}: succeeded but wrote no result[/]", highlight=False)
            continue
        console.print(f"[bold]{key}[/] →", highlight=False)
        console.print(Syntax(json.dumps(document, ensure_ascii=False, indent=2), "json"))
    return ok


def _print_final(pipeline: LocalPipeline, console: Console) -> None:
    jobs = pipeline.jobs.snapshot()
    console.print(job_table(jobs, title="final state", limit=len(jobs) or 1))


def _explain(console: Console, ok: bool, config: LocalConfig) -> None:
    verdict = "[green]every job succeeded[/]" if ok else "[red]some jobs did not succeed[/]"
    console.print(
        f"\n{verdict}. What happened: each file was uploaded to s3://{config.bucket}/"
        f"{config.input_prefix}…; S3 notified the queue; the dispatcher handed the messages to "
        "the same runner handler the Lambda uses; it launched one task per object as a local "
        f"process, which streamed the object and wrote {config.results_prefix}<name>.json. "
        f"Task output is kept in {config.run_dir}/logs/."
    )


@contextmanager
def _interruptible() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C, so `kill` stops the pipeline cleanly too."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
