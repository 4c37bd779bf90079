"""How jobs are shown: running times from the clock, a timeline that fits the terminal."""

from __future__ import annotations

import dataclasses
import io
import sys
from pathlib import Path

import pytest
from rich.console import Console

from s3fargate.display import duration_s, make_console, program, time_shown
from s3fargate.ledger import Job, JobStatus
from s3fargate.ops.app import timeline_table


def test_a_running_job_s_time_runs_with_the_clock() -> None:
    running = Job(
        job_id="j",
        bucket="b",
        key="k",
        status=JobStatus.RUNNING,
        started_at=1_000,
        updated_at=1_100,
    )
    assert duration_s(running, now_ms=61_000) == 60.0  # not the 0.1 s of its last update
    stopped = dataclasses.replace(running, status=JobStatus.SUCCEEDED, stopped_at=31_000)
    assert duration_s(stopped, now_ms=99_000) == 30.0


def _timeline_jobs() -> list[Job]:
    long_key = "incoming/" + "a-rather-long-folder-name/" * 3 + "file.csv"
    done = Job(
        job_id="done",
        bucket="b",
        key=long_key,
        status=JobStatus.SUCCEEDED,
        created_at=0,
        launched_at=1_000,
        started_at=31_000,
        stopped_at=91_000,
        updated_at=91_000,
    )
    running = Job(
        job_id="running",
        bucket="b",
        key="incoming/short.csv",
        status=JobStatus.RUNNING,
        created_at=10_000,
        launched_at=11_000,
        started_at=40_000,
        updated_at=40_100,  # its last update, long ago: the clock says it still runs
    )
    return [done, running]


@pytest.mark.parametrize("width", [60, 80, 120, 250])
def test_the_timeline_fits_the_terminal_and_keeps_each_bar_s_right_end(width: int) -> None:
    # GIVEN a finished job and one still running at 200 s on the clock
    table = timeline_table(_timeline_jobs(), width=width, now_ms=200_000)
    # WHEN it is drawn on a terminal `width` columns wide
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(table)
    lines = out.getvalue().splitlines()
    # THEN no line is longer than the terminal, and no bar is wrapped or cut
    assert all(len(line) <= width for line in lines), out.getvalue()
    bars = [line for line in lines if line.startswith("│") and "█" in line]
    assert len(bars) == 2, out.getvalue()
    # AND the running job's bar reaches the right end (now), the finished one stops short
    running = next(line for line in bars if "short.csv" in line)
    done = next(line for line in bars if "running" not in line)
    assert running.split("│")[3].rstrip().endswith("█")
    assert done.split("│")[3].rstrip() != done.split("│")[3]


@pytest.mark.parametrize("key", ["k", "incoming/中文/文件.csv"], ids=["one-letter", "wide"])
def test_the_timeline_counts_the_key_column_as_the_terminal_shows_it(key: str) -> None:
    # GIVEN keys narrower than the column's header, or of characters two columns wide
    jobs = [dataclasses.replace(job, key=key) for job in _timeline_jobs()]
    out = io.StringIO()
    Console(file=out, width=80, color_system=None).print(
        timeline_table(jobs, width=80, now_ms=200_000)
    )
    # THEN every cell fits: no status is cut short, no line passes the terminal
    text = out.getvalue()
    assert "succeeded" in text
    assert "running" in text
    assert all(len(line) <= 80 for line in text.splitlines()), text


def test_a_launched_job_not_yet_started_shows_how_long_it_has_waited() -> None:
    pending = Job(job_id="j", bucket="b", key="k", status=JobStatus.PENDING, launched_at=1_000)
    assert time_shown(pending, now_ms=13_000) == "+12.0s"
    running = dataclasses.replace(pending, status=JobStatus.RUNNING, started_at=4_000)
    assert time_shown(running, now_ms=13_000) == "9.0s"
    waiting = dataclasses.replace(pending, status=JobStatus.WAITING, launched_at=None)
    assert time_shown(waiting, now_ms=13_000) == ""


def test_output_for_a_program_is_never_cut_wrapped_or_padded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN stdout that is not a terminal, and no width set
    monkeypatch.delenv("COLUMNS", raising=False)
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    console = make_console()
    # WHEN a long line and a JSON document are printed
    long_line = "x" * 300
    console.print(long_line)
    console.print_json(data={"sha256": "f" * 64, "key": "incoming/" + "k" * 200})
    # THEN each is whole, on its own line, without padding
    lines = out.getvalue().splitlines()
    assert long_line in lines
    assert f'  "sha256": "{"f" * 64}",' in lines
    assert all(line == line.rstrip() for line in lines)


def test_the_command_is_named_as_it_can_be_run_from_here(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    script = Path(sys.executable).parent / "s3fargate"
    # Not on PATH: its path, relative to the working folder when below it
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.chdir(script.parents[2])
    assert program() == str(script.relative_to(script.parents[2]))
    monkeypatch.chdir(tmp_path)
    assert program() == str(script)
    # On PATH: the bare name
    monkeypatch.setenv("PATH", str(script.parent))
    assert program() == "s3fargate"
