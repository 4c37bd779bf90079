"""IAM in the local pipeline: a task calling beyond its role is refused as on AWS, with a hint;
--task-policy grants more, --no-iam turns the check off. `s3fargate dev` as a subprocess."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.devserver import Dev, dev_pipeline, wait_for

pytestmark = pytest.mark.permissions

PEEK = f"{sys.executable} {Path(__file__).parent / 'programs' / 'peeking_task.py'}"


def _ended(dev: Dev, key: str) -> dict[str, Any]:
    found: dict[str, Any] = wait_for(
        lambda: next(
            (j for j in dev.jobs() if j["key"] == key and j["status"] in ("succeeded", "failed")),
            None,
        ),
        60,
        f"the job of {key} to end",
    )
    return found


def _run(tmp_path: Path, *args: str) -> tuple[dict[str, Any], str]:
    with dev_pipeline(tmp_path, "--task-cmd", PEEK, *args) as dev:
        dev.s3.put_object(Bucket=dev.state.bucket, Key="elsewhere/secret.txt", Body=b"secret")
        dev.s3.put_object(Bucket=dev.state.bucket, Key="incoming/a.txt", Body=b"a")
        job = _ended(dev, "incoming/a.txt")
        log = dev.cli("logs", "incoming/a.txt")
    return job, log.stdout


def test_a_task_reading_outside_its_prefix_is_refused_by_default(tmp_path: Path) -> None:
    job, log = _run(tmp_path)
    assert job["status"] == "failed"
    assert job["exit_code"] == 9
    assert "refused: AccessDenied" in log
    assert "is not authorized to perform: s3:GetObject" in log
    assert "elsewhere/secret.txt" in log
    assert "dev --task-policy FILE" in log  # the hint says how to grant it


def test_a_task_policy_grants_what_the_stack_would(tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::s3fargate-local/elsewhere/*",
                    }
                ],
            }
        )
    )
    job, log = _run(tmp_path, "--task-policy", str(policy))
    assert job["status"] == "succeeded", log
    assert "read: secret" in log


def test_no_iam_turns_the_check_off(tmp_path: Path) -> None:
    job, log = _run(tmp_path, "--no-iam")
    assert job["status"] == "succeeded", log
