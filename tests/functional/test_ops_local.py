"""No upload ignored locally, and the operator commands on the local pipeline."""

from __future__ import annotations

import json
import sys
import threading
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from s3fargate.rundir.credentials import local_session
from tests.devserver import dev_pipeline, external_moto_server, free_port, wait_for

if TYPE_CHECKING:
    from pathlib import Path

PY = sys.executable


def _succeeded(jobs: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for job in jobs:
        if job["status"] == "succeeded":
            counts[job["key"]] = counts.get(job["key"], 0) + 1
    return counts


def test_objects_already_in_the_bucket_are_processed_once_and_never_again(
    tmp_path: Path,
) -> None:
    # GIVEN objects uploaded to a persistent server while no pipeline ran
    with external_moto_server() as endpoint:
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        s3.create_bucket(Bucket="s3fargate-local")
        keys = [f"incoming/early {i}.csv" for i in range(4)]
        for key in keys:
            s3.put_object(Bucket="s3fargate-local", Key=key, Body=key.encode())
        s3.put_object(Bucket="s3fargate-local", Key="elsewhere/x.csv", Body=b"x")
        run_dir = tmp_path / "run"
        # WHEN dev starts, THEN it catches up on each of them, once
        with dev_pipeline(tmp_path, "--endpoint", endpoint, run_dir=run_dir) as dev:
            wait_for(lambda: _succeeded(dev.jobs()) == dict.fromkeys(keys, 1), 120, "catch-up")
            assert {j["key"] for j in dev.jobs()} == set(keys)
        # AND a restart processes nothing again
        with dev_pipeline(tmp_path, "--endpoint", endpoint, run_dir=run_dir) as dev:
            dev.s3.put_object(Bucket="s3fargate-local", Key="incoming/late.csv", Body=b"late")
            wait_for(lambda: "incoming/late.csv" in _succeeded(dev.jobs()), 60, "the new upload")
            assert _succeeded(dev.jobs()) == {**dict.fromkeys(keys, 1), "incoming/late.csv": 1}
            assert len(dev.jobs()) == len(keys) + 1


def test_uploads_made_the_moment_the_bucket_answers_are_never_lost(tmp_path: Path) -> None:
    # GIVEN uploaders hammering a fixed port before dev has even started
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    keys = [f"incoming/eager {i}.csv" for i in range(20)]
    done = threading.Event()
    errors: list[str] = []

    def upload_as_soon_as_possible() -> None:
        s3 = local_session(embedded=True).client(
            "s3",
            endpoint_url=endpoint,
            config=Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=30),
        )
        pending = list(keys)
        while pending and not done.is_set():
            try:
                s3.put_object(Bucket="s3fargate-local", Key=pending[0], Body=b"eager")
                pending.pop(0)
            except Exception as exc:  # not up yet, or no bucket yet: try again
                errors.append(type(exc).__name__)
                done.wait(0.01)

    uploader = threading.Thread(target=upload_as_soon_as_possible)
    uploader.start()
    try:
        with dev_pipeline(tmp_path, "--port", str(port)) as dev:
            # THEN every one of them is processed
            wait_for(lambda: set(_succeeded(dev.jobs())) == set(keys), 120, "every upload")
            assert _succeeded(dev.jobs()) == dict.fromkeys(keys, 1)
    finally:
        done.set()
        uploader.join(timeout=30)


def test_operator_commands_on_the_local_pipeline(tmp_path: Path) -> None:
    cmd = f"{PY} -c 'import sys; sys.exit(3)'"
    args = ("--task-cmd", cmd, "--visibility-timeout", "1", "--max-receive-count", "1")
    with dev_pipeline(tmp_path, *args) as dev:
        dev.s3.put_object(Bucket=dev.state.bucket, Key="incoming/bad.csv", Body=b"x")
        wait_for(lambda: [j["status"] for j in dev.jobs()] == ["failed"], 60, "the failure")
        # retry --failed: a second attempt, recorded in the ledger
        retried = dev.cli("retry", "--failed")
        assert retried.returncode == 0, retried.stderr
        assert "1 job(s) queued" in retried.stdout
        wait_for(
            lambda: dev.jobs()[0]["attempts"] == 2 and dev.jobs()[0]["status"] == "failed",
            60,
            "the second attempt",
        )
        # redrive: a message in the DLQ goes back to the queue (and, unreadable, back again)
        dev.sqs.send_message(QueueUrl=dev.state.dlq_url, MessageBody="{not json")
        moved = dev.cli("redrive")
        assert moved.returncode == 0, moved.stderr
        assert "moved 1 message(s)" in moved.stdout
        # jobs --status and --json agree
        listed = json.loads(dev.cli("jobs", "--json", "--status", "failed").stdout)
        assert [j["key"] for j in listed] == ["incoming/bad.csv"]
        chart = dev.cli("jobs", "--timeline")
        assert chart.returncode == 0, chart.stderr


def test_logs_says_why_an_attempt_has_no_output(tmp_path: Path) -> None:
    # GIVEN a job whose only attempt never started (a failed image pull), and one whose task
    # printed nothing
    args = ("--faults", "start-failure=1", "--max-attempts", "1")
    with dev_pipeline(tmp_path, *args) as dev:
        dev.s3.put_object(Bucket=dev.state.bucket, Key="incoming/never.csv", Body=b"x\n")
        wait_for(lambda: [j["status"] for j in dev.jobs()] == ["failed"], 60, "the job to fail")
        # WHEN its logs are asked for
        never = dev.cli("logs", "incoming/never.csv")
    # THEN the command says why there is nothing to show, instead of printing nothing
    assert never.returncode == 0, never.stderr
    assert "no output: the task never started (CannotPullContainerError" in never.stdout
    with dev_pipeline(tmp_path, "--task-cmd", "true") as dev:
        dev.s3.put_object(Bucket=dev.state.bucket, Key="incoming/quiet.csv", Body=b"x\n")
        wait_for(
            lambda: [j["status"] for j in dev.jobs()] == ["succeeded"], 60, "the job to succeed"
        )
        quiet = dev.cli("logs", "incoming/quiet.csv")
    assert quiet.returncode == 0, quiet.stderr
    assert "no output: the task wrote none" in quiet.stdout
