"""The command line in-process: what it refuses before it starts anything."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from s3fargate import cli
from s3fargate.exit_codes import CliExit

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bucket", "Bad_Bucket"], "not a valid S3 bucket name"),
        (["--results-prefix", "incoming/out/"], "overlaps"),
        (["--max-running", "0"], "--max-running must be 1-100000, got 0"),
        (["--task-cmd", "'unclosed"], "--task-cmd"),
        (["--max-receive-count", "0"], "--max-receive-count must be 1-1000"),
        (["--visibility-timeout", "50000"], "--visibility-timeout must be 0-43200"),
        (["--port", "70000"], "is not a TCP port"),
        (
            ["--task-size", "cpu=256,memory_limit_mib=512", "--memory", "2048"],
            "give one or the other",
        ),
        (
            [
                "--task-size",
                "up_to_bytes=1GiB,cpu=1024,memory_limit_mib=4096",
                "--task-size",
                "cpu=256,memory_limit_mib=512",
            ],
            "list the sizes smallest first",
        ),
    ],
)
def test_bad_options_exit_2_with_a_clear_message(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # WHEN the demo is started with a bad option
    code = cli.main(["demo", "--run-dir", str(tmp_path / "d"), *args])
    # THEN it refuses before starting anything, naming the problem on stderr
    assert code == CliExit.USAGE
    err = capsys.readouterr().err
    assert message in err
    assert not (tmp_path / "d").exists()


def test_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["demo", "--no-such-option"])
    assert info.value.code == CliExit.USAGE
    assert "unrecognized arguments: --no-such-option" in capsys.readouterr().err


def test_an_unexpected_error_is_ours_exit_1_with_the_traceback_in_a_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a command that fails with an error no user input explains (a bug of ours)
    def broken(_args: object) -> int:
        raise KeyError("a key our code expected")

    monkeypatch.setitem(cli.COMMANDS, "jobs", broken)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    # WHEN it runs
    code = cli.main(["jobs", "--run-dir", str(run_dir)])
    # THEN it says so in one line, exits 1 (not a usage error), and keeps the traceback
    err = capsys.readouterr().err
    assert code == 1
    assert "internal error: KeyError: 'a key our code expected'" in err
    (log,) = run_dir.glob("s3fargate-internal-error-*.log")
    assert str(log) in err
    assert "Traceback" in log.read_text()
    assert "raise KeyError" in log.read_text()


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"PATH": "/nonexistent"}, "neither docker nor podman is installed"),
        (
            {"DOCKER_HOST": "unix:///nonexistent/docker.sock"},
            "the docker engine does not answer",
        ),
    ],
    ids=["no-engine-installed", "engine-not-running"],
)
def test_a_task_image_without_an_engine_is_refused_in_one_line(
    environment: dict[str, str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN no container engine to run the image on
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    # WHEN the demo is asked to run its tasks as containers
    code = cli.main(["demo", "--run-dir", str(tmp_path / "d"), "--task-image", "any:1"])
    # THEN it refuses in one line, before starting anything
    assert code == CliExit.USAGE
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "d").exists()


def test_task_image_and_task_cmd_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["demo", "--task-image", "any:1", "--task-cmd", "true"])
    assert info.value.code == CliExit.USAGE
    assert "not allowed with argument" in capsys.readouterr().err


def test_cpu_alone_takes_the_least_memory_fargate_runs_it_with() -> None:
    from s3fargate.local.config import LocalConfig

    assert LocalConfig(cpu=1024).task_size == (1024, 2048)
    assert LocalConfig(cpu=4096).task_size == (4096, 8192)
    assert LocalConfig(memory=1024).task_size == (256, 1024)
    assert LocalConfig().task_size == (256, 512)
