"""Run a task program as a real subprocess against the moto server, and read its result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

FINGERPRINT = [sys.executable, "-m", "s3fargate.examples.fingerprint"]
PROGRAMS = Path(__file__).parent / "functional" / "programs"


@dataclass
class TaskRun:
    returncode: int
    stdout: str
    stderr: str

    @property
    def logs(self) -> list[dict[str, Any]]:
        """The JSON log lines the task printed."""
        out = []
        for line in self.stdout.splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out


def run_task(
    endpoint: str,
    env: dict[str, str],
    *,
    cmd: list[str] | None = None,
    drop: tuple[str, ...] = (),
) -> TaskRun:
    """Run ``cmd`` (default: the fingerprint example) with the task environment ``env``."""
    full_env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, **env}
    for name in drop:
        full_env.pop(name, None)
    proc = subprocess.run(
        cmd or FINGERPRINT, env=full_env, capture_output=True, text=True, timeout=300, check=False
    )
    return TaskRun(proc.returncode, proc.stdout, proc.stderr)


def read_result(endpoint: str, bucket: str, key: str) -> dict[str, Any]:
    s3 = boto3.client("s3", endpoint_url=endpoint)
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
