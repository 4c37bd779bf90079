"""Stands in for the docker CLI: records its arguments, then runs the task in-process."""

import json
import os
import sys
from pathlib import Path

from s3fargate.examples.fingerprint import fingerprint
from s3fargate.task import run

Path(os.environ["FAKE_DOCKER_LOG"]).write_text(json.dumps(sys.argv[1:]))
# `--env NAME` takes the value from this process's environment, as docker does.
sys.exit(run(fingerprint))
