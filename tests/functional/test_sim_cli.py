"""The simulator's command line: its table, chart, JSON and refusals, and what it says when
the `sim` extra is missing."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from typing import Any

import pytest

from s3fargate.cli import main


def test_cli_json_has_every_documented_field(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "simulate",
            "--uploads",
            "40",
            "--max-running",
            "8",
            "--vcpu-quota",
            "2",
            "--task-seconds",
            "30-90",
            "--compare",
            "--json",
            "--seed",
            "5",
        ]
    )
    assert code == 0
    document = json.loads(capsys.readouterr().out)
    for field in (
        "makespan_s",
        "bound_s",
        "ratio",
        "objects",
        "succeeded",
        "lost",
        "dead_lettered",
        "duplicate_tasks",
        "requests_per_object",
    ):
        assert field in document
        assert field in document["original"]
    assert document["objects"] == 40
    assert document["succeeded"] == 40
    assert document["original"]["design"] == "original"
    assert math.isclose(
        document["ratio"], document["makespan_s"] / document["bound_s"], rel_tol=1e-3
    )
    assert set(document["requests"]) >= {"sqs", "lambda", "ecs", "dynamodb"}


def test_cli_table_chart_and_png(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "burst.png"
    assert main(["simulate", "--uploads", "30", "--max-running", "4", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "makespan / bound" in out
    assert "running tasks" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_plot_names_the_file_it_wrote(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a chart name without an extension
    name = tmp_path / "burst"
    assert main(["simulate", "--uploads", "10", "--plot", str(name)]) == 0
    # THEN it writes burst.png, and says so
    assert f"chart written to {name}.png" in capsys.readouterr().out
    assert (tmp_path / "burst.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not name.exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--uploads", "0"], "--uploads must be"),
        (["--task-seconds", "soon"], "--task-seconds"),
        (["--spot-interruption-rate", "0.3"], "needs --spot"),
        (["--plot", "/no/such/folder/x.png"], "does not exist"),
        (["--plot", "/tmp"], "a folder; name the PNG file"),
        (["--vcpu-quota", "inf"], "--vcpu-quota must be a finite number, got inf"),
        (["--vcpu-quota", "nan"], "--vcpu-quota must be a finite number, got nan"),
        (["--upload-seconds", "inf"], "--upload-seconds must be a finite number"),
    ],
)
def test_cli_bad_options_exit_2_with_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_without_the_sim_extra_the_cli_still_works_and_simulate_says_what_to_install() -> None:
    # `make demo` installs the core and the local extra only: SimPy and greenlet are missing.
    code = (
        "import sys; sys.modules['simpy'] = None; sys.modules['greenlet'] = None\n"
        "from s3fargate.cli import build_parser, main\n"
        "build_parser()\n"
        "sys.exit(main(['simulate', '--uploads', '5']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 2, done.stderr
    # AND it names the project's own install command as well as pip's
    assert "uv sync --frozen --all-extras" in done.stdout + done.stderr
    assert "pip install 's3fargate[sim]'" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_cli_sizes_in_the_construct_s_units(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a task of 1 vCPU and 2 GiB, in CPU units and MiB as the construct takes them
    code = main(["simulate", "--uploads", "8", "--cpu", "1024", "--memory", "2048", "--json"])
    scenario = json.loads(capsys.readouterr().out)["scenario"]
    assert code == 0
    assert (scenario["cpu"], scenario["memory_gb"]) == (1.0, 2.0)
    # AND a vCPU count is refused, naming the unit
    assert main(["simulate", "--cpu", "0.25"]) == 2
    assert "CPU units (256 512 1024" in capsys.readouterr().err
