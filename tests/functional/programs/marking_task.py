"""The fingerprint task that writes its pid when it starts and a mark when it succeeds."""

import json
import os
import sys
import time
from pathlib import Path

from s3fargate.examples.fingerprint import fingerprint
from s3fargate.task import run

marks = Path(os.environ["MARKS_DIR"])
(marks / f"started-{os.getpid()}.pid").write_text(str(os.getpid()))
time.sleep(float(os.environ.get("SLEEP_SECONDS", "0")))
code = run(fingerprint)
if code == 0:
    (marks / f"ok-{os.getpid()}.json").write_text(json.dumps({"key": os.environ["S3_KEY"]}))
sys.exit(code)
