"""The ``s3fargate`` command: a thin layer over :mod:`s3fargate.local.app`, :mod:`s3fargate.ops`
and :mod:`s3fargate.sim`.

Exit codes are :class:`s3fargate.exit_codes.CliExit`. A user's mistake is one line on stderr
and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from s3fargate import __version__
from s3fargate.contracts import UserError
from s3fargate.exit_codes import CliExit, UsageError
from s3fargate.options import add_options, values_from

if TYPE_CHECKING:
    from s3fargate.local.config import LocalConfig
    from s3fargate.ops.target import Target


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Shows every option's default (unless it is "unset"); keeps descriptions as written."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        unset = action.default in (None, False, "", argparse.SUPPRESS)
        if "%(default)" in text or "(default: " in text or unset or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


def _pipeline_options(parser: argparse.ArgumentParser, *, run_dir: Path) -> None:
    from s3fargate.local.config import OPTION_GROUPS, LocalConfig

    add_options(parser, LocalConfig, groups=OPTION_GROUPS, defaults={"run_dir": run_dir})


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
    _pipeline_options(dev, run_dir=DEFAULT_RUN_DIR / "dev")

    demo = command("demo", "run the pipeline on sample files (or yours), print the results")
    demo.add_argument(
        "files", nargs="*", type=Path, help="files to upload (default: the bundled samples)"
    )
    demo.add_argument(
        "--timeout", type=float, default=300.0, metavar="S", help="give up on jobs after S seconds"
    )
    _pipeline_options(demo, run_dir=DEFAULT_RUN_DIR / "demo")

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
    from s3fargate.sim.scenario import OPTION_GROUPS, RUN, Scenario

    sections = add_options(parser, Scenario, groups=OPTION_GROUPS)
    out = sections[RUN]
    out.add_argument(
        "--compare",
        action="store_true",
        help="simulate the other design beside it, on the same uploads",
    )
    out.add_argument("--json", action="store_true", help="print one JSON object")
    out.add_argument(
        "--plot",
        type=Path,
        default=None,
        metavar="FILE",
        help="also draw running tasks and waiting uploads into a PNG",
    )


def _local_config(args: argparse.Namespace) -> LocalConfig:
    from s3fargate.local.config import LocalConfig

    return LocalConfig(**values_from(LocalConfig, args))


def _dev(args: argparse.Namespace) -> int:
    from s3fargate.local import app

    return app.run_dev(_local_config(args))


def _demo(args: argparse.Namespace) -> int:
    from s3fargate.local import app

    if not (math.isfinite(args.timeout) and args.timeout > 0):
        raise UsageError(f"--timeout must be a positive number of seconds, got {args.timeout:g}")
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
        from s3fargate.sim.scenario import Scenario
    except ImportError as exc:  # the `sim` extra is not installed
        print(
            f"s3fargate simulate: {exc}. Install the simulator's extra: in a checkout, "
            "`make test` installs every extra (or `.tools/bin/uv sync --frozen --all-extras`); "
            "elsewhere `pip install 's3fargate[sim]'`",
            file=sys.stderr,
        )
        return CliExit.USAGE
    scenario = Scenario(**values_from(Scenario, args))
    # One quota option: the simulated account has as much Spot as On-Demand.
    scenario = dataclasses.replace(scenario, spot_vcpu_quota=scenario.vcpu_quota)
    plot = args.plot
    if plot is not None:
        if plot.is_dir():
            raise UsageError(f"--plot {plot}: a folder; name the PNG file to write")
        if plot.suffix.lower() != ".png":
            plot = plot.with_name(f"{plot.name}.png")  # the file written is the one reported
        if plot.parent and not plot.parent.is_dir():
            raise UsageError(f"--plot {plot}: the folder {plot.parent} does not exist")
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
    except (UserError, OSError, ClientError, BotoCoreError) as exc:
        # The user's to fix: a mistake in what was asked (every validation error is a
        # UserError), a file or socket the user named, a server that went away or refused.
        first_line = " ".join(str(exc).split()) or type(exc).__name__
        print(f"s3fargate {args.command}: {safe(first_line)}", file=sys.stderr)
        return CliExit.USAGE
    except Exception as exc:  # a bug of ours: say so, and keep the traceback
        log = _internal_error_log(args, exc)
        first_line = " ".join(f"{type(exc).__name__}: {exc}".split())
        print(
            f"s3fargate {args.command}: internal error: {safe(first_line[:300])}; details in "
            f"{log} (please report it)",
            file=sys.stderr,
        )
        return CliExit.INTERNAL_ERROR


def _internal_error_log(args: argparse.Namespace, exc: BaseException) -> Path:
    """Write the traceback of an unexpected error to the run directory (else the temporary
    folder); return the file."""
    run_dir = getattr(args, "run_dir", None)
    folder = Path(run_dir) if run_dir and Path(run_dir).is_dir() else Path(tempfile.gettempdir())
    log = folder / f"s3fargate-internal-error-{time.strftime('%Y%m%dT%H%M%S')}.log"
    text = "".join(traceback.format_exception(exc))
    try:
        log.write_text(f"s3fargate {' '.join(sys.argv[1:])}\n{text}", encoding="utf-8")
    except OSError:
        return Path("(could not be written)")
    return log


if __name__ == "__main__":
    sys.exit(main())
