"""Whatever a user types: one-line errors with exit code 2, nothing half-done, no hangs."""

from __future__ import annotations

import json
import socket
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from s3fargate import cli
from s3fargate.exit_codes import CliExit
from s3fargate.local.config import LocalConfig
from s3fargate.options import flag_of, options_of
from tests.devserver import dev_pipeline, free_port, run_demo, wait_for


def _refused(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> str:
    code = cli.main(argv)
    captured = capsys.readouterr()
    assert code == CliExit.USAGE, captured
    err_lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(err_lines) == 1, captured.err  # one line, no traceback
    assert "Traceback" not in captured.err
    assert message in err_lines[0], err_lines[0]
    return err_lines[0]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    ok = tmp_path / "ok.txt"
    ok.write_text("ok\n")
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder\n")
    script = tmp_path / "not-executable.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(stat.S_IRUSR)
    folder = tmp_path / "folder"
    folder.mkdir()
    return {"ok": ok, "file": a_file, "script": script, "folder": folder}


Args = Callable[[Path, dict[str, Path]], list[str]]
#: (what the user typed, given a temporary folder and the files above; what the error says)
BAD_INPUT: list[tuple[str, Args, str]] = [
    ("grace-nan", lambda t, f: ["demo", "--grace-period", "nan"], "--grace-period must be 0-3600"),
    ("grace-negative", lambda t, f: ["demo", "--grace-period", "-1"], "--grace-period must be"),
    ("task-cmd-empty", lambda t, f: ["demo", "--task-cmd", ""], "--task-cmd is empty"),
    ("task-cmd-blank", lambda t, f: ["demo", "--task-cmd", "   "], "--task-cmd is empty"),
    ("task-cmd-missing", lambda t, f: ["demo", "--task-cmd", "/no/such/program"], "does not exist"),
    ("task-cmd-folder", lambda t, f: ["demo", "--task-cmd", str(t)], "is a folder, not a program"),
    ("demo-timeout-nan", lambda t, f: ["demo", "--timeout", "nan"], "--timeout must be a positive"),
    ("demo-timeout-zero", lambda t, f: ["demo", "--timeout", "0"], "--timeout must be a positive"),
    ("demo-timeout-neg", lambda t, f: ["demo", "--timeout", "-1"], "--timeout must be a positive"),
    ("retry-nothing", lambda t, f: ["retry"], "retry needs the KEY of each job"),
    ("retry-both", lambda t, f: ["retry", "k", "--failed"], "or --failed, not both"),
    ("retry-since", lambda t, f: ["retry", "k", "--since", "1d"], "use it with --failed"),
    ("task-cmd-unknown", lambda t, f: ["demo", "--task-cmd", "no-such-cmd-xyz"], "not a command"),
    ("task-cmd-not-exec", lambda t, f: ["demo", "--task-cmd", str(f["script"])], "not executable"),
    ("task-cmd-quote", lambda t, f: ["demo", "--task-cmd", "'unclosed"], "--task-cmd"),
    ("faults-range", lambda t, f: ["demo", "--faults", "spot=2"], "spot must be a probability"),
    ("faults-name", lambda t, f: ["demo", "--faults", "lightning=0.1"], "unknown fault"),
    ("faults-form", lambda t, f: ["demo", "--faults", "spot"], "is not NAME=VALUE"),
    ("faults-sum", lambda t, f: ["demo", "--faults", "spot=0.7,start-failure=0.7"], "exceed 1"),
    ("faults-oom-sum", lambda t, f: ["demo", "--faults", "spot=0.5,oom=0.6"], "exceed 1"),
    ("memory-pair", lambda t, f: ["demo", "--memory", "100"], "--memory 100 is not valid with"),
    ("cpu-value", lambda t, f: ["demo", "--cpu", "300"], "--cpu 300 is not a Fargate CPU value"),
    (
        "task-size-form",
        lambda t, f: ["demo", "--task-size", "cpu=256"],
        "a task size needs memory_limit_mib",
    ),
    (
        "task-size-pair",
        lambda t, f: ["demo", "--task-size", "cpu=256,memory_limit_mib=4096"],
        "memory_limit_mib=4096 is not valid with cpu=256",
    ),
    (
        "task-size-unit",
        lambda t, f: ["demo", "--task-size", "up_to_bytes=1XB,cpu=256,memory_limit_mib=512"],
        "is not a size",
    ),
    (
        "task-size-last",
        lambda t, f: ["demo", "--task-size", "up_to_bytes=1GB,cpu=256,memory_limit_mib=512"],
        "the last size must have up_to_bytes=None",
    ),
    (
        "task-size-order",
        lambda t, f: [
            "demo",
            "--task-size",
            "up_to_bytes=2GB,cpu=256,memory_limit_mib=512",
            "--task-size",
            "up_to_bytes=1GB,cpu=256,memory_limit_mib=1024",
            "--task-size",
            "cpu=512,memory_limit_mib=1024",
        ],
        "up_to_bytes must grow",
    ),
    ("retry-codes", lambda t, f: ["demo", "--retry-exit-codes", "x"], "--retry-exit-codes: 'x'"),
    ("retry-codes-range", lambda t, f: ["demo", "--retry-exit-codes", "300"], "exit codes 1-255"),
    ("attempts", lambda t, f: ["demo", "--max-attempts", "0"], "--max-attempts must be 1-100"),
    ("bucket", lambda t, f: ["demo", "--bucket", "Bad_Bucket"], "not a valid S3 bucket name"),
    ("prefixes", lambda t, f: ["demo", "--results-prefix", "incoming/out/"], "overlaps"),
    ("max-running", lambda t, f: ["demo", "--max-running", "0"], "--max-running must be"),
    ("port", lambda t, f: ["demo", "--port", "70000"], "is not a TCP port"),
    ("run-dir-file", lambda t, f: ["demo", "--run-dir", str(f["file"])], "is a file, not a folder"),
    ("endpoint-scheme", lambda t, f: ["demo", "--endpoint", "ftp://x"], "not an http:// or https"),
    (
        "endpoint-down",
        lambda t, f: ["demo", "--endpoint", f"http://127.0.0.1:{free_port()}"],
        "cannot connect",
    ),
    ("demo-missing", lambda t, f: ["demo", str(t / "missing.csv")], "missing.csv: no such file"),
    ("demo-folder", lambda t, f: ["demo", str(f["folder"])], "folder: not a file"),
    ("demo-suffix", lambda t, f: ["demo", "--suffix", ".csv", str(f["ok"])], "filters out ok.txt"),
    ("upload-no-dev", lambda t, f: ["upload", str(f["ok"])], "no running `s3fargate dev` uses"),
    ("upload-missing", lambda t, f: ["upload", str(f["ok"]), str(t / "no.txt")], "no.txt: no such"),
    ("upload-newline", lambda t, f: ["upload", str(f["ok"]), "--key", "incoming/a\nb"], "control"),
    ("upload-key-two", lambda t, f: ["upload", str(f["ok"]), str(f["ok"]), "--key", "k"], "one"),
    ("jobs-no-dev", lambda t, f: ["jobs"], "no running `s3fargate dev` uses"),
    ("logs-no-dev", lambda t, f: ["logs", "x.csv"], "no running `s3fargate dev` uses"),
]


@pytest.mark.parametrize(
    ("argv", "message"), [c[1:] for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT]
)
def test_bad_input_is_one_line_and_exit_2(
    argv: Args,
    message: str,
    tmp_path: Path,
    files: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = argv(tmp_path, files)
    if "--run-dir" not in args:
        args += ["--run-dir", str(tmp_path / "run")]
    _refused(capsys, args, message)
    # and nothing was started or left behind
    assert not (tmp_path / "run" / "state.json").exists()


def test_busy_port_is_refused_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = _refused(
            capsys,
            ["demo", "--run-dir", str(tmp_path / "run"), "--port", str(port)],
            f"--port {port}",
        )
    assert "in use" in line


def test_state_left_by_a_dead_dev_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "state.json").write_text(json.dumps({"pid": 2**22 + 12345, "endpoint": "x"}))
    _refused(capsys, ["jobs", "--run-dir", str(run)], "is no longer running")
    (run / "state.json").write_text("{half a fi")
    _refused(capsys, ["jobs", "--run-dir", str(run)], "cannot be read")


def test_a_second_dev_on_the_same_run_directory_is_refused(tmp_path: Path) -> None:
    run_dir = tmp_path / "shared"
    with dev_pipeline(tmp_path, run_dir=run_dir) as first:
        second = first.cli("dev", "--run-dir", str(run_dir))  # the helper appends it again
        assert second.returncode == CliExit.USAGE
        assert "is in use by another s3fargate" in second.stderr
        assert str(first.proc.pid) in second.stderr
        # the first one's state is untouched
        assert (run_dir / "state.json").exists()
    # a lock left by a dead process is taken over
    with dev_pipeline(tmp_path, run_dir=run_dir) as again:
        again.proc.kill()
        again.proc.wait()
    with dev_pipeline(tmp_path, run_dir=run_dir) as third:
        assert third.proc.poll() is None


def test_upload_checks_everything_before_uploading_anything(tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_text("good\n")
    with dev_pipeline(tmp_path) as dev:
        proc = dev.cli("upload", str(good), str(tmp_path / "missing.txt"))
        assert proc.returncode == CliExit.USAGE
        assert "missing.txt: no such file" in proc.stderr
        listed = dev.s3.list_objects_v2(Bucket=dev.state.bucket).get("Contents", [])
        assert listed == []  # good.txt was not uploaded either
        outside = dev.cli("upload", str(good), "--key", "elsewhere/good.txt")
        assert outside.returncode == 0
        assert "outside the input prefix" in outside.stderr
        # A key S3 takes whose result key S3 would not (1,021 bytes: its result key, 1,025)
        too_long = dev.cli("upload", str(good), "--key", "incoming/" + "k" * 1012)
        assert too_long.returncode == CliExit.USAGE
        assert "its result key would be 1025 bytes, over S3's 1024" in too_long.stderr
        longest = dev.cli("upload", str(good), "--key", "incoming/" + "k" * 1011)
        assert longest.returncode == 0, longest.stderr


def test_upload_warns_of_a_file_the_suffix_filters_out(tmp_path: Path) -> None:
    text = tmp_path / "A.txt"
    text.write_text("a\n")
    with dev_pipeline(tmp_path, "--suffix", ".csv") as dev:
        upload = dev.cli("upload", str(text))
    assert upload.returncode == 0
    warning = " ".join(upload.stderr.split())  # the terminal's width may wrap it
    assert "does not end with the pipeline's --suffix .csv: no task will run" in warning


def test_markup_and_control_characters_in_keys_are_shown_as_text(tmp_path: Path) -> None:
    keys = ["incoming/x[red]y.txt", "incoming/[/]closing.txt", "incoming/esc\x1b[31mred.txt"]
    with dev_pipeline(tmp_path) as dev:
        for key in keys:
            dev.s3.put_object(Bucket=dev.state.bucket, Key=key, Body=b"x\n")
        wait_for(
            lambda: [j["status"] for j in dev.jobs()] == ["succeeded"] * 3,
            60,
            "three jobs",
        )
        listing = dev.cli("jobs")
        assert listing.returncode == 0, listing.stderr
        assert "x[red]y.txt" in listing.stdout
        assert "[/]closing.txt" in listing.stdout
        assert "\x1b" not in listing.stdout
        assert "esc\\x1b[31mred.txt" in listing.stdout
        logs = dev.cli("logs", "incoming/[/]closing.txt")
        assert logs.returncode == 0, logs.stderr
        missing = dev.cli("logs", "incoming/esc\x1b[31mnope.txt")
        assert missing.returncode == CliExit.USAGE
        assert "\x1b" not in missing.stderr
    output = dev.output.read_text(errors="replace")
    assert "\x1b[31m" not in output
    assert "x[red]y.txt" in output


def test_logs_matches_exactly_and_names_the_candidates(tmp_path: Path) -> None:
    with dev_pipeline(tmp_path) as dev:
        for key in ("incoming/a.txt", "incoming/sub/a.txt"):
            dev.s3.put_object(Bucket=dev.state.bucket, Key=key, Body=b"a\n")
        wait_for(
            lambda: len(dev.jobs()) == 2 and all(j["task_arn"] for j in dev.jobs()), 60, "jobs"
        )
        assert dev.cli("logs", "a.txt").returncode == 0
        assert dev.cli("logs", "sub/a.txt").returncode == 0
        empty = dev.cli("logs", "")
        assert empty.returncode == CliExit.USAGE
        assert "a key is needed" in empty.stderr
        near = dev.cli("logs", "b/a.txt")
        assert near.returncode == CliExit.USAGE
        assert "no job for key 'b/a.txt'" in near.stderr


def test_demo_keeps_files_with_the_same_name_apart(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    top, nested = tmp_path / "data.csv", tmp_path / "sub" / "data.csv"
    top.write_text("top\n")
    nested.write_text("nested\nfile\n")
    proc = run_demo(tmp_path, str(nested), str(top))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "incoming/sub/data.csv" in proc.stdout
    assert f"incoming/{tmp_path.name}/data.csv" in proc.stdout
    assert proc.stdout.count('"lines": 2') == 1
    assert proc.stdout.count('"lines": 1') == 1


def test_help_shows_every_option_with_its_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["dev", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # as one line, whatever the wrapping
    # Every option of the local configuration is there, declared once on LocalConfig
    for item, opt in options_of(LocalConfig):
        assert flag_of(item, opt) in text, item.name
    assert "--max-attempts N attempts per job" in text
    assert "(default: 3)" in text
    assert "(default: 10.0)" in text
    assert "(default: .s3fargate/dev)" in text
    assert "CPU units of a task (1024 = 1 vCPU)" in text
    assert "a task using more is killed as ECS kills it for memory" in text
    assert "--task-size SIZE task sizes by object size, one per option" in text
    # The pipeline's props, in a section of their own, with the local defaults
    assert "the pipeline (the CDK construct's props: same names, same meaning)" in text
    assert "--retry-delay S seconds before the first retry; each later one doubles it " in text
    assert "(default: 1)" in text


def test_prefixes_mean_the_same_in_every_command(tmp_path: Path) -> None:
    with dev_pipeline(tmp_path) as dev:
        for key in ("incoming/2026/a.csv", "incoming/other.csv"):
            dev.s3.put_object(Bucket=dev.state.bucket, Key=key, Body=b"x\n")
        wait_for(
            lambda: len([j for j in dev.jobs() if j["status"] == "succeeded"]) == 2, 60, "jobs"
        )
        listed = [
            [j["key"] for j in json.loads(dev.cli("jobs", "--json", "--prefix", prefix).stdout)]
            for prefix in ("2026/", "incoming/2026/")
        ]
        dry = [
            dev.cli("backfill", "--dry-run", "--prefix", prefix).returncode
            for prefix in ("2026/", "incoming/2026/")
        ]
    # THEN a prefix relative to the input prefix and the full one choose the same jobs
    assert listed == [["incoming/2026/a.csv"], ["incoming/2026/a.csv"]]
    assert dry == [0, 0]
