"""The ``s3fargate`` command: a thin layer over :mod:`s3fargate.local.app`, :mod:`s3fargate.ops`
and :mod:`s3fargate.sim`.

Exit codes are :class:`s3fargate.exit_codes.CliExit`. A user's mistake is one line on stderr
and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from s3fargate import __version__, contracts
from s3fargate.exit_codes import CliExit

if TYPE_CHECKING:
    from s3fargate.local.config import LocalConfig
    from s3fargate.ops.target import Target


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Shows every option's default (unless it is "unset"); keeps descriptions as written."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        unset = action.default in (None, False, "", argparse.SUPPRESS)
        if "%(default)" in text or unset or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


def _pipeline_options(parser: argparse.ArgumentParser, *, default_run_dir: Path) -> None:
    from s3fargate.local import config as defaults

    net = parser.add_argument_group("server")
    net.add_argument(
        "--port",
        type=int,
        default=0,
        help="port of the embedded server, always on 127.0.0.1 (0: a free one)",
    )
    net.add_argument("--bucket", default=defaults.DEFAULT_BUCKET, help="the input bucket")
    net.add_argument(
        "--endpoint",
        metavar="URL",
        default=None,
        help="use this AWS-compatible server (S3, SQS, DynamoDB, SNS) instead of the embedded "
        "in-memory one; it keeps the data across restarts",
    )
    pipe = parser.add_argument_group("pipeline (the same vocabulary as the CDK construct)")
    pipe.add_argument(
        "--input-prefix",
        default=contracts.DEFAULT_INPUT_PREFIX,
        help="objects created under it launch tasks",
    )
    pipe.add_argument(
        "--results-prefix",
        default=contracts.DEFAULT_RESULTS_PREFIX,
        help="where results are written; must not overlap the input prefix",
    )
    pipe.add_argument(
        "--suffix", default=None, help="only keys ending in this launch tasks (e.g. .csv)"
    )
    pipe.add_argument(
        "--max-running",
        type=int,
        metavar="N",
        default=None,
        help="at most N tasks at once (the construct's max_running_tasks)",
    )
    task = pipe.add_mutually_exclusive_group()
    task.add_argument(
        "--task-cmd",
        metavar="CMD",
        default=None,
        help="the task command, split as a shell would (no shell runs it); "
        "default: the fingerprint example",
    )
    task.add_argument(
        "--docker",
        metavar="IMAGE",
        default=None,
        help="run each task with `docker run --rm --network host IMAGE` (needs an engine)",
    )
    pipe.add_argument(
        "--visibility-timeout",
        type=int,
        default=defaults.DEFAULT_VISIBILITY_TIMEOUT_S,
        metavar="S",
        help="seconds before a message that launched nothing comes back",
    )
    pipe.add_argument(
        "--max-receive-count",
        type=int,
        default=contracts.DEFAULT_MAX_RECEIVE_COUNT,
        metavar="N",
        help="receives before a message moves to the dead-letter queue",
    )
    pipe.add_argument(
        "--grace-period",
        type=float,
        default=defaults.DEFAULT_GRACE_PERIOD_S,
        metavar="S",
        help="on Ctrl-C, running tasks get SIGTERM, then SIGKILL after S seconds",
    )
    pipe.add_argument(
        "--track-running",
        action="store_true",
        help="the construct's track_running: the tracker also gets RUNNING changes (else only "
        "STOPPED ones, and a long task shows running when the reconciler looks)",
    )
    pipe.add_argument(
        "--run-dir",
        type=Path,
        default=default_run_dir,
        help="state, logs and task output; one pipeline at a time uses it",
    )
    jobs = parser.add_argument_group("retries and fault injection (the construct's props)")
    jobs.add_argument(
        "--max-attempts",
        type=int,
        default=contracts.DEFAULT_MAX_ATTEMPTS,
        metavar="N",
        help="attempts per job when the platform stops a task (Spot, failed start)",
    )
    jobs.add_argument(
        "--retry-exit-codes",
        default="",
        metavar="CODES",
        help="task exit codes that are retried too, e.g. 75,111",
    )
    jobs.add_argument(
        "--retry-delay",
        type=int,
        default=defaults.DEFAULT_RETRY_DELAY_S,
        metavar="S",
        help="seconds before the first retry; each later one doubles it",
    )
    jobs.add_argument(
        "--faults",
        default="",
        metavar="SPEC",
        help="inject Fargate failures: spot=P,start-failure=P,seed=N (probabilities 0-1)",
    )
    aws = parser.add_argument_group("AWS-only (accepted and ignored locally)")
    aws.add_argument("--cpu", type=int, default=None, help="Fargate CPU units")
    aws.add_argument("--memory", type=int, default=None, help="Fargate memory (MiB)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    from s3fargate.local.config import DEFAULT_RUN_DIR

    parser = argparse.ArgumentParser(
        prog="s3fargate",
        description="Run one container task for every file uploaded to S3 — locally here.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"s3fargate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name, help=help_text, description=help_text, formatter_class=_Formatter
        )

    def run_dir_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--run-dir",
            type=Path,
            default=DEFAULT_RUN_DIR / "dev",
            help="the run directory of the `s3fargate dev` to talk to",
        )

    def target_options(p: argparse.ArgumentParser) -> None:
        where = p.add_argument_group("where (one of)")
        where.add_argument(
            "--stack",
            metavar="NAME",
            default=None,
            help="a deployed s3fargate stack (its CloudFormation outputs; region and "
            "credentials from the usual AWS configuration)",
        )
        where.add_argument(
            "--run-dir",
            type=Path,
            default=DEFAULT_RUN_DIR / "dev",
            help="the local pipeline (`s3fargate dev`) using this run directory",
        )

    dev = command("dev", "run the local pipeline until Ctrl-C, with a live job table")
    _pipeline_options(dev, default_run_dir=DEFAULT_RUN_DIR / "dev")

    demo = command("demo", "run the pipeline on sample files (or yours), print the results")
    demo.add_argument(
        "files", nargs="*", type=Path, help="files to upload (default: the bundled samples)"
    )
    demo.add_argument(
        "--timeout", type=float, default=300.0, metavar="S", help="give up on jobs after S seconds"
    )
    _pipeline_options(demo, default_run_dir=DEFAULT_RUN_DIR / "demo")

    upload = command("upload", "upload files to a running `s3fargate dev`")
    upload.add_argument("files", nargs="+", type=Path, help="files to upload")
    upload.add_argument(
        "--key", default=None, help="object key for one file (default: <input prefix><file name>)"
    )
    run_dir_option(upload)

    jobs = command("jobs", "list the job ledger, newest first, with queue and DLQ counts")
    target_options(jobs)
    jobs.add_argument(
        "--status",
        default=None,
        help="only jobs in this status: waiting, pending, running, retrying, succeeded, "
        "failed, cancelled or dead-lettered",
    )
    jobs.add_argument("--prefix", default=None, help="only keys starting with this")
    jobs.add_argument("--since", default=None, help="only jobs created in the last 30m, 2h, 1d")
    jobs.add_argument("--json", action="store_true", help="print a JSON array, one object per job")
    jobs.add_argument("--watch", action="store_true", help="refresh until Ctrl-C")
    jobs.add_argument(
        "--timeline", action="store_true", help="show where each job's time went (a chart)"
    )

    logs = command("logs", "print the output of every attempt of the latest job for KEY")
    logs.add_argument("key", help="the object key, or its path under the input prefix")
    target_options(logs)

    results = command(
        "results", "print the result document of the latest job for KEY, or download its outputs"
    )
    results.add_argument("key", help="the object key, or its path under the input prefix")
    results.add_argument(
        "--download",
        metavar="DIR",
        type=Path,
        default=None,
        help="download the job's output files into DIR (relative names kept, checksums checked)",
    )
    target_options(results)

    again = command("retry", "queue a new attempt of jobs (the runner's cap applies)")
    again.add_argument("keys", nargs="*", help="object keys (or paths under the input prefix)")
    again.add_argument("--failed", action="store_true", help="every failed job instead")
    again.add_argument("--since", default=None, help="with --failed: created in the last 1d, …")
    target_options(again)

    fill = command(
        "backfill", "queue every object under the input prefix that no job processed (once)"
    )
    fill.add_argument("--prefix", default=None, help="only objects under this (sub)prefix")
    fill.add_argument("--dry-run", action="store_true", help="list what would be queued")
    target_options(fill)

    target_options(command("redrive", "move the dead-letter queue's messages back to the queue"))

    _new_options(
        command("new", "start a pipeline of your own: a task, its Dockerfile, a CDK app, tests")
    )

    sim = command(
        "simulate",
        "simulate a burst of uploads against AWS's limits (virtual time, our real runner and "
        "tracker): makespan against the physical bound, losses, requests, cost",
    )
    _simulate_options(sim)
    return parser


def _new_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, help="the new project's folder (new or empty)")
    parser.add_argument(
        "--task",
        choices=["python", "command"],
        default="python",
        help="a Python function with the task SDK, or any command run by s3fargate-task",
    )
    parser.add_argument(
        "--name", default=None, help="project name (default: the folder's name, lower-cased)"
    )


def _simulate_options(parser: argparse.ArgumentParser) -> None:
    from s3fargate.sim.scenario import DEFAULT_VCPU_QUOTA, Design, Scenario

    default = Scenario()
    burst = parser.add_argument_group("the burst and the task")
    burst.add_argument(
        "--uploads", type=int, default=default.uploads, metavar="N", help="objects uploaded at once"
    )
    burst.add_argument(
        "--upload-seconds",
        type=float,
        default=0.0,
        metavar="S",
        help="spread the uploads evenly over S seconds",
    )
    burst.add_argument(
        "--task-seconds",
        default="60",
        metavar="T",
        help="each task's run time: seconds (60) or a uniform range (30-90)",
    )
    burst.add_argument(
        "--cpu",
        type=float,
        default=default.cpu * 1024,
        metavar="UNITS",
        help="CPU per task in CPU units, as the construct's cpu (256 = 0.25 vCPU)",
    )
    burst.add_argument(
        "--memory",
        type=float,
        default=default.memory_gb * 1024,
        metavar="MIB",
        help="memory per task in MiB, as the construct's memory_limit_mib",
    )
    account = parser.add_argument_group("the account and the pipeline")
    account.add_argument(
        "--vcpu-quota",
        type=float,
        default=DEFAULT_VCPU_QUOTA,
        metavar="V",
        help="Fargate vCPUs the account may run at once (On-Demand or Spot)",
    )
    account.add_argument(
        "--max-running",
        type=int,
        default=None,
        metavar="N",
        help="the construct's max_running_tasks",
    )
    account.add_argument(
        "--max-concurrency",
        type=int,
        default=default.max_concurrency,
        metavar="N",
        help="the construct's max_concurrency (runner Lambdas)",
    )
    account.add_argument(
        "--batch-size",
        type=int,
        default=default.batch_size,
        metavar="N",
        help="the construct's batch_size",
    )
    account.add_argument(
        "--batching-window",
        type=float,
        default=0.0,
        metavar="S",
        help="the construct's max_batching_window, in seconds",
    )
    account.add_argument(
        "--max-receive-count",
        type=int,
        default=default.max_receive_count,
        metavar="N",
        help="the construct's max_receive_count",
    )
    account.add_argument(
        "--max-attempts",
        type=int,
        default=default.max_attempts,
        metavar="N",
        help="the construct's max_attempts",
    )
    account.add_argument(
        "--track-running",
        action="store_true",
        help="the construct's track_running (RUNNING events to the tracker)",
    )
    faults = parser.add_argument_group("Fargate's failures")
    faults.add_argument("--spot", action="store_true", help="run tasks on Fargate Spot")
    faults.add_argument(
        "--spot-interruption-rate",
        type=float,
        default=0.0,
        metavar="P",
        help="share of Spot tasks interrupted while running",
    )
    faults.add_argument(
        "--start-failure-rate",
        type=float,
        default=0.0,
        metavar="P",
        help="share of tasks that fail to start",
    )
    faults.add_argument(
        "--duplicate-rate",
        type=float,
        default=default.duplicate_rate,
        metavar="P",
        help="share of S3 notifications delivered twice",
    )
    out = parser.add_argument_group("the run and its report")
    out.add_argument(
        "--design",
        choices=[d.value for d in Design],
        default=Design.S3FARGATE,
        help="which pipeline to simulate",
    )
    out.add_argument(
        "--compare",
        action="store_true",
        help="simulate the other design beside it, on the same uploads",
    )
    out.add_argument("--seed", type=int, default=default.seed, help="the same seed, the same run")
    out.add_argument("--json", action="store_true", help="print one JSON object")
    out.add_argument(
        "--plot",
        type=Path,
        default=None,
        metavar="FILE",
        help="also draw running tasks and waiting uploads into a PNG",
    )


def _local_config(args: argparse.Namespace) -> LocalConfig:
    from s3fargate.local.config import DEFAULT_TASK_CMD, LocalConfig, LocalConfigError
    from s3fargate.local.faults import Faults

    if args.task_cmd is not None and not args.task_cmd.strip():
        raise LocalConfigError("--task-cmd is empty: give a command, or leave the option out")
    return LocalConfig(
        bucket=args.bucket,
        port=args.port,
        endpoint=args.endpoint,
        input_prefix=args.input_prefix,
        results_prefix=args.results_prefix,
        suffix=args.suffix,
        max_running=args.max_running,
        task_cmd=(
            LocalConfig.parse_task_cmd(args.task_cmd)
            if args.task_cmd is not None
            else DEFAULT_TASK_CMD
        ),
        docker_image=args.docker,
        run_dir=args.run_dir,
        visibility_timeout=args.visibility_timeout,
        max_receive_count=args.max_receive_count,
        grace_period=args.grace_period,
        cpu=args.cpu,
        memory=args.memory,
        faults=Faults.parse(args.faults),
        max_attempts=args.max_attempts,
        retry_exit_codes=LocalConfig.parse_exit_codes(args.retry_exit_codes),
        retry_delay=args.retry_delay,
        track_running=args.track_running,
    )


def _dev(args: argparse.Namespace) -> int:
    from s3fargate.local import app

    return app.run_dev(_local_config(args))


def _demo(args: argparse.Namespace) -> int:
    from s3fargate.local import app

    if not (math.isfinite(args.timeout) and args.timeout > 0):
        raise ValueError(f"--timeout must be a positive number of seconds, got {args.timeout:g}")
    return app.run_demo(_local_config(args), args.files, timeout=args.timeout)


def _upload(args: argparse.Namespace) -> int:
    from s3fargate.display import safe
    from s3fargate.local import app

    for key in app.upload_files(args.run_dir, args.files, args.key):
        print(f"uploaded {safe(key)}")
    return CliExit.OK


def _target(args: argparse.Namespace) -> Target:
    from s3fargate.ops.target import local_target, stack_target

    if args.stack is not None:
        import boto3

        return stack_target(args.stack, boto3.session.Session())
    return local_target(args.run_dir)


def _jobs(args: argparse.Namespace) -> int:
    from s3fargate.ops import app

    return app.list_jobs(
        _target(args),
        status=args.status,
        prefix=args.prefix,
        since=args.since,
        as_json=args.json,
        timeline=args.timeline,
        watch=args.watch,
    )


def _logs(args: argparse.Namespace) -> int:
    from s3fargate.display import safe_lines
    from s3fargate.ops import app

    text = app.show_log(_target(args), args.key)
    # Task output may carry anything an uploader put in a key: not raw to a terminal.
    sys.stdout.write(safe_lines(text) if sys.stdout.isatty() else text)
    return CliExit.OK


def _results(args: argparse.Namespace) -> int:
    from s3fargate.display import safe
    from s3fargate.ops import results

    target = _target(args)
    document = results.result_document(target, args.key)
    if args.download is None:
        print(json.dumps(document, indent=2, ensure_ascii=False))
        return CliExit.OK
    files = results.download_outputs(
        target,
        document,
        args.download,
        on_file=lambda f: print(f"{safe(str(f.path))}  ({f.size:,} bytes)"),
    )
    name = safe(str(document.get("key", args.key)))
    print(f"{len(files)} output(s) of {name} in {args.download}")
    return CliExit.OK


def _new(args: argparse.Namespace) -> int:
    from s3fargate.display import safe
    from s3fargate.scaffold import TaskKind, create_project

    written = create_project(args.folder, kind=TaskKind(args.task), name=args.name)
    print(f"created {len(written)} files in {safe(str(args.folder))}. Next:")
    print(f"  cd {safe(str(args.folder))}")
    print("  make demo   # the task on samples/, through the local pipeline")
    print("  make test   # its test")
    return CliExit.OK


def _retry(args: argparse.Namespace) -> int:
    from s3fargate.ops import app

    app.check_retry_request(args.keys, failed=args.failed, since=args.since)  # before connecting
    return app.retry_jobs(_target(args), args.keys, failed=args.failed, since=args.since)


def _backfill(args: argparse.Namespace) -> int:
    from s3fargate.ops import app

    return app.backfill_objects(_target(args), prefix=args.prefix, dry_run=args.dry_run)


def _redrive(args: argparse.Namespace) -> int:
    from s3fargate.ops import app

    return app.redrive_dead_letters(_target(args))


def _simulate(args: argparse.Namespace) -> int:
    try:
        from s3fargate.sim.app import run_simulation
        from s3fargate.sim.scenario import Design, Durations, Scenario
    except ImportError as exc:  # the `sim` extra is not installed
        print(
            f"s3fargate simulate: {exc}. Install the simulator's extra: `make test` (or "
            "`uv sync --extra sim`) in a checkout, `pip install 's3fargate[sim]'` otherwise",
            file=sys.stderr,
        )
        return CliExit.USAGE
    scenario = Scenario(
        uploads=args.uploads,
        upload_seconds=args.upload_seconds,
        task_seconds=Durations.parse(args.task_seconds),
        cpu=args.cpu / 1024,  # the construct's CPU units and MiB, the simulator's vCPUs and GB
        memory_gb=args.memory / 1024,
        vcpu_quota=args.vcpu_quota,
        spot_vcpu_quota=args.vcpu_quota,
        max_running=args.max_running,
        max_concurrency=args.max_concurrency,
        batch_size=args.batch_size,
        batching_window_s=args.batching_window,
        max_receive_count=args.max_receive_count,
        max_attempts=args.max_attempts,
        track_running=args.track_running,
        spot=args.spot,
        spot_interruption_rate=args.spot_interruption_rate,
        start_failure_rate=args.start_failure_rate,
        duplicate_rate=args.duplicate_rate,
        design=Design(args.design),
        seed=args.seed,
    )
    plot = args.plot
    if plot is not None:
        if plot.is_dir():
            raise ValueError(f"--plot {plot}: a folder; name the PNG file to write")
        if plot.suffix.lower() != ".png":
            plot = plot.with_name(f"{plot.name}.png")  # the file written is the one reported
        if plot.parent and not plot.parent.is_dir():
            raise ValueError(f"--plot {plot}: the folder {plot.parent} does not exist")
    return run_simulation(scenario, compare=args.compare, as_json=args.json, plot_path=plot)


COMMANDS = {
    "dev": _dev,
    "demo": _demo,
    "upload": _upload,
    "jobs": _jobs,
    "logs": _logs,
    "results": _results,
    "retry": _retry,
    "backfill": _backfill,
    "redrive": _redrive,
    "simulate": _simulate,
    "new": _new,
}


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return its exit code."""
    args = build_parser().parse_args(argv)
    try:
        from botocore.exceptions import BotoCoreError, ClientError

        from s3fargate.display import safe
    except ImportError as exc:  # the `local` extra is not installed
        print(f"s3fargate: {exc}. Install the local pipeline: pip install 's3fargate[local]'")
        return CliExit.USAGE
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        return CliExit.INTERRUPTED
    except (ValueError, OSError, KeyError, ClientError, BotoCoreError) as exc:
        # ValueError covers every validation error here (UsageError, LocalConfigError,
        # FaultSpecError); OSError a file or socket the user named; botocore a server that
        # went away or refused. None of them is worth a traceback.
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        first_line = " ".join(str(message).split()) or type(exc).__name__
        print(f"s3fargate {args.command}: {safe(first_line)}", file=sys.stderr)
        return CliExit.USAGE


if __name__ == "__main__":
    sys.exit(main())
