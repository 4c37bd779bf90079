"""The Lambda handler modules in a fresh interpreter, as a cold start imports them."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.unit.test_config import VALID


def test_handler_module_fails_at_import_when_unconfigured() -> None:
    # GIVEN an environment without the runner's variables (cold start in a fresh interpreter)
    env = {k: v for k, v in os.environ.items() if k not in VALID}
    # WHEN the Lambda imports the handler module
    proc = subprocess.run(
        [sys.executable, "-c", "import s3fargate.taskrunner.handler"],
        env={**env, "AWS_DEFAULT_REGION": "eu-west-1"},
        capture_output=True,
        text=True,
        check=False,
    )
    # THEN init fails with one error naming every missing variable
    assert proc.returncode != 0
    assert "ConfigurationError" in proc.stderr
    for name in ("CLUSTER_ARN", "TASK_DEFINITION_ARN", "CONTAINER_NAME", "SUBNETS"):
        assert name in proc.stderr
