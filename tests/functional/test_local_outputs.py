"""Outputs through the whole local pipeline: ``s3fargate-task`` under ``dev``, the ledger's
record of the outputs, and ``s3fargate results``."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

from tests.devserver import dev_pipeline, wait_for

if TYPE_CHECKING:
    from pathlib import Path

KEY = "incoming/batch 7/données.txt"
BASE = "results/batch 7/données.txt"
# `s3fargate-task` and a POSIX tool, as a user would write it: no path to any interpreter.
COMMAND = (
    's3fargate-task -- sh -c \'sort "{input}" > "{output_dir}/sorted.txt" && '
    'mkdir "{output_dir}/stats" && wc -l < "{input}" > "{output_dir}/stats/lines"\''
)


def test_a_command_tasks_outputs_are_recorded_and_downloadable(tmp_path: Path) -> None:
    body = b"pear\napple\nfig\n"
    with dev_pipeline(tmp_path, "--task-cmd", COMMAND) as dev:
        dev.s3.put_object(Bucket=dev.state.bucket, Key=KEY, Body=body)
        (job,) = wait_for(
            lambda: [j for j in dev.jobs() if j["status"] in ("succeeded", "failed")],
            60,
            "the job to end",
        )
        assert job["status"] == "succeeded", dev.cli("logs", KEY).stdout
        # THEN the ledger names the result and both outputs
        assert job["result_key"] == f"{BASE}.json"
        assert sorted(job["output_keys"]) == [f"{BASE}/sorted.txt", f"{BASE}/stats/lines"]
        assert job["output_count"] == 2
        listed = json.loads(dev.cli("jobs", "--json").stdout)
        assert listed[0]["output_keys"] == job["output_keys"]

        # AND `results` prints the result document (a path under the input prefix will do)
        shown = dev.cli("results", "batch 7/données.txt")
        assert shown.returncode == 0, shown.stderr
        document = json.loads(shown.stdout)
        assert document["exit_code"] == 0
        assert {o["name"] for o in document["outputs"]} == {"sorted.txt", "stats/lines"}

        # AND `results --download` writes the outputs under their relative names
        target = tmp_path / "out"
        fetched = dev.cli("results", KEY, "--download", str(target))
        assert fetched.returncode == 0, fetched.stderr
        assert "2 output(s)" in fetched.stdout
        assert (target / "sorted.txt").read_bytes() == b"apple\nfig\npear\n"
        assert (target / "stats" / "lines").read_text().strip() == "3"

        # AND an output overwritten since is refused, not silently downloaded
        dev.s3.put_object(Bucket=dev.state.bucket, Key=f"{BASE}/sorted.txt", Body=b"other")
        again = dev.cli("results", KEY, "--download", str(tmp_path / "again"))
        assert again.returncode == 2
        assert "differs from what the task recorded" in again.stderr
        digest = hashlib.sha256(b"apple\nfig\npear\n").hexdigest()
        assert {o["sha256"] for o in document["outputs"]} >= {digest}


def test_results_of_a_job_without_a_result_says_why(tmp_path: Path) -> None:
    with dev_pipeline(tmp_path, "--task-cmd", "s3fargate-task -- false") as dev:
        dev.s3.put_object(Bucket=dev.state.bucket, Key="incoming/x.txt", Body=b"x")
        wait_for(lambda: [j for j in dev.jobs() if j["status"] == "failed"], 60, "the failure")
        shown = dev.cli("results", "x.txt")
        assert shown.returncode == 2
        assert "has no result (failed" in shown.stderr
        assert "Traceback" not in shown.stderr
