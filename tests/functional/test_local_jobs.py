"""The job ledger end to end through `s3fargate dev`: faults, retries, true ends, no orphans."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from tests.devserver import CLI, dev_pipeline, wait_for

PROGRAMS = Path(__file__).parent / "programs"
PY = sys.executable
MARKING = f"{PY} {PROGRAMS / 'marking_task.py'}"


def _final(dev_jobs: list[dict[str, object]], keys: list[str]) -> bool:
    latest = {j["key"]: j for j in dev_jobs}
    final = {"succeeded", "failed", "cancelled", "dead-lettered"}
    return all(k in latest and latest[k]["status"] in final for k in keys)


def test_under_faults_every_object_succeeds_once_some_after_several_attempts(
    tmp_path: Path,
) -> None:
    # GIVEN a pipeline where half of all attempts are interrupted by Spot or never start
    marks = tmp_path / "marks"
    marks.mkdir()
    args = (
        "--faults", "spot=0.3,start-failure=0.2,seed=4",
        "--max-attempts", "20",
        "--retry-delay", "0",
        "--task-cmd", MARKING,
    )  # fmt: skip
    with dev_pipeline(tmp_path, *args, env={"MARKS_DIR": str(marks)}) as dev:
        keys = [f"incoming/file {i}.csv" for i in range(8)]
        bodies = {k: f"{k}\n{'x' * i}\n".encode() for i, k in enumerate(keys)}
        for key, body in bodies.items():
            dev.s3.put_object(Bucket=dev.state.bucket, Key=key, Body=body)
        # WHEN every job has ended
        wait_for(lambda: _final(dev.jobs(), keys), 180, "every job to end")
        jobs = {j["key"]: j for j in dev.jobs()}
        # THEN each succeeded with its correct result, some after more than one attempt
        for key in keys:
            assert jobs[key]["status"] == "succeeded", jobs[key]
            assert jobs[key]["exit_code"] == 0
            assert jobs[key]["result_key"] == f"results/{key.removeprefix('incoming/')}.json"
            assert dev.result(key)["sha256"] == hashlib.sha256(bodies[key]).hexdigest()
            assert len(jobs[key]["task_arns"]) == jobs[key]["attempts"]
        assert max(int(j["attempts"]) for j in jobs.values()) > 1
        # AND no object was processed to success twice
        done = Counter(json.loads(p.read_text())["key"] for p in marks.glob("ok-*.json"))
        assert done == dict.fromkeys(keys, 1)
        # AND `jobs --json` tells the same, with every documented field
        listed = json.loads(dev.cli("jobs", "--json").stdout)
        assert {j["key"]: j["status"] for j in listed} == dict.fromkeys(keys, "succeeded")
        for field in ("key", "bucket", "status", "attempts", "exit_code", "stop_code", "reason",
                      "result_key", "task_arn"):  # fmt: skip
            assert all(field in j for j in listed), field


def test_exit_code_not_listed_for_retry_fails_after_one_attempt(tmp_path: Path) -> None:
    cmd = f"{PY} -c 'import sys; print(\"bad input\"); sys.exit(1)'"
    with dev_pipeline(tmp_path, "--task-cmd", cmd, "--retry-delay", "0") as dev:
        dev.s3.put_object(Bucket=dev.state.bucket, Key="incoming/doomed.csv", Body=b"x")
        wait_for(lambda: _final(dev.jobs(), ["incoming/doomed.csv"]), 60, "the job to end")
        (job,) = dev.jobs()
        assert (job["status"], job["attempts"], job["exit_code"]) == ("failed", 1, 1)
        assert job["stop_code"] == "EssentialContainerExited"
        assert job["reason"] == "exited with code 1: bad input"  # its last words
        # the failure is announced, as the SNS topic would tell operators
        wait_for(
            lambda: "notification: failed incoming/doomed.csv" in dev.output.read_text(),
            30,
            "the failure notification",
        )


def test_listed_exit_code_is_retried_up_to_max_attempts(tmp_path: Path) -> None:
    cmd = f"{PY} -c 'import sys; sys.exit(75)'"
    args = ("--task-cmd", cmd, "--retry-exit-codes", "75", "--max-attempts", "3",
            "--retry-delay", "0")  # fmt: skip
    with dev_pipeline(tmp_path, *args) as dev:
        dev.s3.put_object(Bucket=dev.state.bucket, Key="incoming/flaky.csv", Body=b"x")
        wait_for(lambda: _final(dev.jobs(), ["incoming/flaky.csv"]), 60, "the job to end")
        (job,) = dev.jobs()
        assert (job["status"], job["attempts"], job["exit_code"]) == ("failed", 3, 75)
        assert str(job["reason"]).startswith("gave up after 3 attempt(s)")
        # `logs` shows every attempt, oldest first
        logs = dev.cli("logs", "flaky.csv").stdout
        assert logs.index("attempt 1 of 3") < logs.index("attempt 3 of 3")


def test_each_upload_of_the_same_bytes_is_its_own_job(tmp_path: Path) -> None:
    with dev_pipeline(tmp_path) as dev:
        for _ in range(3):
            dev.s3.put_object(Bucket=dev.state.bucket, Key="incoming/same.csv", Body=b"same\n")
        wait_for(
            lambda: len(dev.jobs()) == 3 and _final(dev.jobs(), ["incoming/same.csv"]),
            60,
            "three jobs",
        )
        wait_for(
            lambda: [j["status"] for j in dev.jobs()] == ["succeeded"] * 3, 60, "three successes"
        )
        assert len({j["job_id"] for j in dev.jobs()}) == 3


def test_tasks_do_not_outlive_a_killed_dev(tmp_path: Path) -> None:
    # GIVEN a running task
    marks = tmp_path / "marks"
    marks.mkdir()
    env = {"MARKS_DIR": str(marks), "SLEEP_SECONDS": "120"}
    with dev_pipeline(tmp_path, "--task-cmd", MARKING, env=env) as dev:
        dev.s3.put_object(Bucket=dev.state.bucket, Key="incoming/long.csv", Body=b"x")
        pid_file = wait_for(lambda: next(marks.glob("started-*.pid"), None), 60, "the task")
        pid = int(pid_file.read_text())
        # WHEN dev is killed with no chance to clean up
        dev.stop(signal.SIGKILL)
        # THEN the task process goes too
        wait_for(lambda: not _alive(pid), 15, f"task process {pid} to end")


def test_task_logs_survive_a_restart_on_the_same_run_directory(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    with dev_pipeline(tmp_path, run_dir=run_dir) as dev:
        dev.s3.put_object(Bucket=dev.state.bucket, Key="incoming/a.csv", Body=b"a\n")
        wait_for(lambda: _final(dev.jobs(), ["incoming/a.csv"]), 60, "the job")
    first_logs = sorted((run_dir / "logs").glob("*.log"))
    assert first_logs
    with dev_pipeline(tmp_path, run_dir=run_dir) as dev:
        dev.s3.put_object(Bucket=dev.state.bucket, Key="incoming/b.csv", Body=b"b\n")
        wait_for(lambda: _final(dev.jobs(), ["incoming/b.csv"]), 60, "the job")
    assert set(first_logs) < set((run_dir / "logs").glob("*.log"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purpose: it runs nothing.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def test_cli_reads_the_ledger_of_a_running_dev(tmp_path: Path) -> None:
    with dev_pipeline(tmp_path) as dev:
        dev.s3.put_object(Bucket=dev.state.bucket, Key="incoming/x.csv", Body=b"x\n")
        wait_for(lambda: _final(dev.jobs(), ["incoming/x.csv"]), 60, "the job")
        proc = subprocess.run(
            [CLI, "jobs", "--run-dir", str(dev.run_dir)],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "COLUMNS": "200"},
        )
        assert proc.returncode == 0, proc.stderr
        assert "incoming/x.csv" in proc.stdout
        assert "succeeded" in proc.stdout


def test_jobs_watch_ends_with_one_line_when_its_pipeline_stops(tmp_path: Path) -> None:
    out_path = tmp_path / "watch.out"
    err_path = tmp_path / "watch.err"
    with dev_pipeline(tmp_path) as dev:
        dev.s3.put_object(Bucket=dev.state.bucket, Key="incoming/x.csv", Body=b"x\n")
        wait_for(lambda: _final(dev.jobs(), ["incoming/x.csv"]), 60, "the job")
        # GIVEN `jobs --watch` showing the running pipeline
        with out_path.open("wb") as out, err_path.open("wb") as err:
            watch = subprocess.Popen(
                [CLI, "jobs", "--watch", "--run-dir", str(dev.run_dir)],
                stdout=out,
                stderr=err,
                # As on a terminal, where the table is redrawn in place.
                env={**os.environ, "COLUMNS": "200", "TTY_COMPATIBLE": "1"},
            )
        try:
            wait_for(lambda: "incoming/x.csv" in out_path.read_text(), 60, "the watched table")
            # WHEN the pipeline stops
            assert dev.stop() == 130
            # THEN the watch ends by itself, with one line saying why and no traceback
            assert watch.wait(timeout=60) == 2
        finally:
            if watch.poll() is None:
                watch.kill()
                watch.wait()
    err = err_path.read_text()
    assert "Traceback" not in err + out_path.read_text()
    assert len(err.strip().splitlines()) == 1, err
    assert "stopped watching" in err
    assert "no longer answers" in err
