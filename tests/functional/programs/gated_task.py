"""The example task, except that the object named by GATE_KEY waits until GATE_FILE exists:
a test holds the only slot under the cap while it changes what is queued behind it."""

import os
import sys
import time
from pathlib import Path

from s3fargate.examples.fingerprint import fingerprint
from s3fargate.task import run

if os.environ["S3_KEY"] == os.environ["GATE_KEY"]:
    gate = Path(os.environ["GATE_FILE"])
    deadline = time.monotonic() + 120
    while not gate.exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # a task polling for its own input: not a test waiting on time
sys.exit(run(fingerprint))
