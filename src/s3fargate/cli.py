"""The ``s3fargate`` command: a thin layer over :mod:`s3fargate.local.app`.

Exit codes are :class:`s3fargate.exit_codes.CliExit`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from s3fargate import __version__, contracts
from s3fargate.exit_codes import CliExit

if TYPE_CHECKING:
    from s3fargate.local.config import LocalConfig


def _pipeline_options(parser: argparse.ArgumentParser, *, default_run_dir: Path) -> None:
    from s3fargate.local import config as defaults

    net = parser.add_argument_group("server")
    net.add_argument("--port", type=int, default=0, help="embedded server port (default: free)")
    net.add_argument(
        "--bucket",
        default=defaults.DEFAULT_BUCKET,
        help=f"bucket (default {defaults.DEFAULT_BUCKET})",
    )
    net.add_argument(
        "--endpoint",
        metavar="URL",
        help="use this S3/SQS-compatible server instead of the embedded in-memory one",
    )
    pipe = parser.add_argument_group("pipeline (the same vocabulary as the CDK construct)")
    pipe.add_argument("--input-prefix", default=contracts.DEFAULT_INPUT_PREFIX)
    pipe.add_argument("--results-prefix", default=contracts.DEFAULT_RESULTS_PREFIX)
    pipe.add_argument("--suffix", help="only keys ending in this launch tasks (e.g. .csv)")
    pipe.add_argument("--max-running", type=int, metavar="N", help="at most N tasks at once")
    task = pipe.add_mutually_exclusive_group()
    task.add_argument(
        "--task-cmd",
        metavar="CMD",
        help="the task command (default: the fingerprint example); split like a shell would",
    )
    task.add_argument("--docker", metavar="IMAGE", help="run each task with `docker run IMAGE`")
    pipe.add_argument(
        "--visibility-timeout", type=int, default=defaults.DEFAULT_VISIBILITY_TIMEOUT_S, metavar="S"
    )
    pipe.add_argument(
        "--max-receive-count", type=int, default=contracts.DEFAULT_MAX_RECEIVE_COUNT, metavar="N"
    )
    pipe.add_argument(
        "--grace-period", type=float, default=defaults.DEFAULT_GRACE_PERIOD_S, metavar="S"
    )
    pipe.add_argument("--run-dir", type=Path, default=default_run_dir, help="task logs, job list")
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
        help="task exit codes that are retried too, e.g. 75,111 (default: none)",
    )
    jobs.add_argument(
        "--retry-delay",
        type=int,
        default=defaults.DEFAULT_RETRY_DELAY_S,
        metavar="S",
        help="delay before the first retry; each later one doubles it",
    )
    jobs.add_argument(
        "--faults",
        default="",
        metavar="SPEC",
        help="inject Fargate failures: spot=P,start-failure=P,seed=N (probabilities 0-1)",
    )
    aws = parser.add_argument_group("AWS-only (accepted and ignored locally)")
    aws.add_argument("--cpu", type=int, help="Fargate CPU units")
    aws.add_argument("--memory", type=int, help="Fargate memory (MiB)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    from s3fargate.local.config import DEFAULT_RUN_DIR

    parser = argparse.ArgumentParser(
        prog="s3fargate",
        description="Run one container task for every file uploaded to S3 — locally here.",
    )
    parser.add_argument("--version", action="version", version=f"s3fargate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="run the local pipeline until Ctrl-C")
    _pipeline_options(dev, default_run_dir=DEFAULT_RUN_DIR / "dev")

    demo = sub.add_parser("demo", help="run the pipeline on sample files and print the results")
    demo.add_argument("files", nargs="*", type=Path, help="files to upload (default: samples)")
    demo.add_argument("--timeout", type=float, default=300.0, metavar="S")
    _pipeline_options(demo, default_run_dir=DEFAULT_RUN_DIR / "demo")

    upload = sub.add_parser("upload", help="upload files to a running `s3fargate dev`")
    upload.add_argument("files", nargs="+", type=Path)
    upload.add_argument("--key", help="object key (default: <input prefix><file name>)")
    upload.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR / "dev")

    jobs = sub.add_parser("jobs", help="list the jobs of a running `s3fargate dev`")
    jobs.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR / "dev")
    jobs.add_argument("--json", action="store_true", help="print JSON")

    logs = sub.add_parser("logs", help="show the output of the latest task for KEY")
    logs.add_argument("key")
    logs.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR / "dev")
    return parser


def _local_config(args: argparse.Namespace) -> LocalConfig:
    from s3fargate.local.config import DEFAULT_TASK_CMD, LocalConfig
    from s3fargate.local.faults import Faults

    return LocalConfig(
        bucket=args.bucket,
        port=args.port,
        endpoint=args.endpoint,
        input_prefix=args.input_prefix,
        results_prefix=args.results_prefix,
        suffix=args.suffix,
        max_running=args.max_running,
        task_cmd=LocalConfig.parse_task_cmd(args.task_cmd) if args.task_cmd else DEFAULT_TASK_CMD,
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
    )


def _dev(args: argparse.Namespace) -> int:
    from s3fargate.local import app

    return app.run_dev(_local_config(args))


def _demo(args: argparse.Namespace) -> int:
    from s3fargate.local import app

    return app.run_demo(_local_config(args), args.files, timeout=args.timeout)


def _upload(args: argparse.Namespace) -> int:
    from s3fargate.local import app

    for key in app.upload_files(args.run_dir, args.files, args.key):
        print(f"uploaded {key}")
    return CliExit.OK


def _jobs(args: argparse.Namespace) -> int:
    from s3fargate.local import app

    return app.list_jobs(args.run_dir, as_json=args.json)


def _logs(args: argparse.Namespace) -> int:
    from s3fargate.local import app

    sys.stdout.write(app.show_log(args.run_dir, args.key))
    return CliExit.OK


COMMANDS = {"dev": _dev, "demo": _demo, "upload": _upload, "jobs": _jobs, "logs": _logs}


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return its exit code."""
    args = build_parser().parse_args(argv)
    try:
        from s3fargate.local.config import LocalConfigError
    except ImportError as exc:  # the `local` extra is not installed
        print(f"s3fargate: {exc}. Install the local pipeline: pip install 's3fargate[local]'")
        return CliExit.USAGE
    try:
        return COMMANDS[args.command](args)
    except (LocalConfigError, FileNotFoundError, KeyError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"s3fargate {args.command}: {message}", file=sys.stderr)
        return CliExit.USAGE
    except KeyboardInterrupt:
        return CliExit.INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
