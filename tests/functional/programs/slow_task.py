"""A task that records when it ran (for concurrency checks), sleeps, then fingerprints."""

import json
import os
import sys
import time
from pathlib import Path

from s3fargate.examples.fingerprint import fingerprint
from s3fargate.task import run

marks = Path(os.environ["MARKS_DIR"])
start = time.time()
time.sleep(float(os.environ.get("SLEEP_SECONDS", "0.5")))
code = run(fingerprint)
record = {"key": os.environ["S3_KEY"], "start": start, "end": time.time(), "pid": os.getpid()}
(marks / f"{os.getpid()}.json").write_text(json.dumps(record))
sys.exit(code)
