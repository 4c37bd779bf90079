"""A failed job says why: the error's own words, from the end of its task's log, in `jobs`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING

from tests.devserver import CLI, dev_pipeline, wait_for

if TYPE_CHECKING:
    from pathlib import Path

PY = sys.executable


def _failed_reason(tmp_path: Path, task_cmd: str) -> tuple[dict[str, object], str]:
    with dev_pipeline(tmp_path, "--task-cmd", task_cmd, "--max-attempts", "1") as dev:
        dev.s3.put_object(Bucket=dev.state.bucket, Key="incoming/rows.csv", Body=b"a\nb\n")
        (job,) = wait_for(
            lambda: [j for j in dev.jobs() if j["status"] == "failed"], 120, "the job to fail"
        )
        # Read by a program, with no width set: the table is laid out whole.
        table = subprocess.run(
            [CLI, "jobs", "--run-dir", str(dev.run_dir)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            env={k: v for k, v in os.environ.items() if k != "COLUMNS"},
        ).stdout
        listed = json.loads(dev.cli("jobs", "--json").stdout)
    assert listed[0]["reason"] == job["reason"]
    return job, table


def test_a_python_task_s_exception_is_the_job_s_reason(tmp_path: Path) -> None:
    # GIVEN a task whose processing function raises
    task = tmp_path / "task.py"
    task.write_text(
        "from s3fargate.task import main\n"
        "def process(obj):\n"
        "    raise ValueError('bad row 7')\n"
        "main(process)\n"
    )
    # WHEN it runs on an upload
    job, table = _failed_reason(tmp_path, f"{PY} {task}")
    # THEN `jobs` and `jobs --json` say why, in the exception's words
    assert job["reason"] == "exited with code 1: ValueError: bad row 7"
    assert "exited with code 1: ValueError: bad row 7" in table, table


def test_a_command_s_last_line_on_stderr_is_the_job_s_reason(tmp_path: Path) -> None:
    # GIVEN a command that says what went wrong on stderr, then exits 3
    script = tmp_path / "fail.sh"
    script.write_text("echo 'working on it'\necho 'error: xyz' >&2\nexit 3\n")
    # WHEN it runs on an upload through s3fargate-task
    job, table = _failed_reason(tmp_path, f"s3fargate-task -- sh {script}")
    # THEN the reason quotes that line
    assert job["exit_code"] == 3
    assert job["reason"] == "exited with code 3: error: xyz"
    assert "exited with code 3: error: xyz" in table, table


def test_a_task_without_the_sdk_is_quoted_by_its_last_line(tmp_path: Path) -> None:
    job, _ = _failed_reason(tmp_path, "sh -c 'echo \"fatal: no such column\" >&2; exit 2'")
    assert job["reason"] == "exited with code 2: fatal: no such column"


def test_outputs_that_would_be_a_file_and_a_folder_fail_the_job_naming_both(
    tmp_path: Path,
) -> None:
    # GIVEN a task that writes `report`, then `report/details.csv`
    task = tmp_path / "task.py"
    task.write_text(
        "from s3fargate.task import main\n"
        "def process(obj):\n"
        "    with obj.outputs.open('report') as out:\n"
        "        out.write(b'summary')\n"
        "    with obj.outputs.open('report/details.csv') as out:\n"
        "        out.write(b'a,b')\n"
        "    return {}\n"
        "main(process)\n"
    )
    job, _ = _failed_reason(tmp_path, f"{PY} {task}")
    # THEN the job fails with a reason naming both (and no output was published)
    assert "'report'" in job["reason"], job
    assert "'report/details.csv'" in job["reason"], job
    assert job["output_keys"] == []


def test_an_output_name_with_a_line_break_is_published_as_s3_takes_it(tmp_path: Path) -> None:
    task = tmp_path / "task.py"
    task.write_text(
        "from s3fargate.task import main\n"
        "def process(obj):\n"
        "    with obj.outputs.open('line\\nbreak.txt') as out:\n"
        "        out.write(b'x')\n"
        "    return {}\n"
        "main(process)\n"
    )
    with dev_pipeline(tmp_path, "--task-cmd", f"{PY} {task}") as dev:
        dev.s3.put_object(Bucket=dev.state.bucket, Key="incoming/n.txt", Body=b"n\n")
        (job,) = wait_for(
            lambda: [j for j in dev.jobs() if j["status"] in ("succeeded", "failed")],
            120,
            "the job to end",
        )
        assert job["status"] == "succeeded", job
        (key,) = job["output_keys"]
        assert key == "results/n.txt/line\nbreak.txt"
        assert dev.s3.get_object(Bucket=dev.state.bucket, Key=key)["Body"].read() == b"x"
