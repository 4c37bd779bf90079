"""The local pipeline end to end, through the CLI in subprocesses on free ports."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from s3fargate import cli
from s3fargate.exit_codes import CliExit
from s3fargate.ledger import LedgerStore
from s3fargate.rundir import RunState
from tests.devserver import CLI, Dev, dev_pipeline, external_moto_server, run_demo, wait_for

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pytest

PROGRAMS = Path(__file__).parent / "programs"
PY = sys.executable

TRICKY = [
    "incoming/plain.csv",
    "incoming/with space.txt",
    "incoming/a+b=c&d.txt",
    "incoming/100% sure.txt",
    "incoming/ünï/çødé.bin",
    "incoming/🚀 rocket.dat",
    "incoming/deep/er/still deeper/x.json",
]


def _upload_all(dev: Dev, keys: list[str]) -> dict[str, bytes]:
    bodies = {key: f"{key}\nline two\n".encode() * (i + 1) for i, key in enumerate(keys)}
    for key, body in bodies.items():
        dev.s3.put_object(Bucket=dev.state.bucket, Key=key, Body=body)
    return bodies


def _latest(dev: Dev) -> dict[str, dict[str, Any]]:
    return {job["key"]: job for job in dev.jobs()}


def test_uploads_with_tricky_keys_each_get_one_correct_result(tmp_path: Path) -> None:
    with dev_pipeline(tmp_path) as dev:
        # GIVEN objects with tricky keys uploaded to the local bucket
        bodies = _upload_all(dev, TRICKY)
        # WHEN the pipeline processes them
        results = wait_for(
            lambda: all(dev.result(k) for k in TRICKY) and {k: dev.result(k) for k in TRICKY},
            60,
            "every result",
        )
        # THEN each result has the sha256 of the uploaded bytes and the exact key
        for key, body in bodies.items():
            assert results[key]["sha256"] == hashlib.sha256(body).hexdigest()
            assert results[key]["key"] == key
        jobs = wait_for(
            lambda: (
                len(dev.jobs()) == len(TRICKY)
                and all(j["status"] == "succeeded" for j in dev.jobs())
                and dev.jobs()
            ),
            30,
            "all jobs succeeded in jobs.json",
        )
        assert sorted(j["key"] for j in jobs) == sorted(TRICKY)
        # AND results never re-trigger: nothing under results/ became a job, queue is empty
        assert not any(j["key"].startswith("results/") for j in dev.jobs())
        attrs = dev.sqs.get_queue_attributes(
            QueueUrl=dev.state.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        assert attrs["ApproximateNumberOfMessages"] == "0"
        # AND the CLI shows jobs and a task's output
        listing = dev.cli("jobs")
        assert listing.returncode == 0
        assert "succeeded" in listing.stdout
        log = dev.cli("logs", "with space.txt")
        assert log.returncode == 0, log.stderr
        assert '"message":"end"' in log.stdout
        missing = dev.cli("logs", "incoming/never-uploaded.txt")
        assert missing.returncode == 2
        assert "no job for key" in missing.stderr


def test_upload_command_sends_files_to_the_running_pipeline(tmp_path: Path) -> None:
    data = tmp_path / "report 2026.csv"
    data.write_bytes(b"a,b\n1,2\n")
    with dev_pipeline(tmp_path) as dev:
        sent = subprocess.run(
            [CLI, "upload", str(data), "--run-dir", str(dev.run_dir)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert sent.returncode == 0, sent.stderr
        assert "uploaded incoming/report 2026.csv" in sent.stdout
        result = wait_for(lambda: dev.result("incoming/report 2026.csv"), 30, "the result")
        assert result["sha256"] == hashlib.sha256(b"a,b\n1,2\n").hexdigest()


def test_failing_task_shows_as_failed_with_its_exit_code(tmp_path: Path) -> None:
    cmd = f"{PY} -c 'import sys; print(\"bad input\"); sys.exit(7)'"
    with dev_pipeline(tmp_path, "--task-cmd", cmd) as dev:
        _upload_all(dev, ["incoming/doomed.csv"])
        job = wait_for(
            lambda: (
                _latest(dev).get("incoming/doomed.csv", {}).get("status") == "failed"
                and _latest(dev)["incoming/doomed.csv"]
            ),
            30,
            "the job to fail",
        )
        assert job["exit_code"] == 7
        assert "bad input" in dev.cli("logs", "incoming/doomed.csv").stdout


def test_unparseable_message_reaches_dlq_and_dispatch_goes_on(tmp_path: Path) -> None:
    args = ("--visibility-timeout", "1", "--max-receive-count", "2")
    with dev_pipeline(tmp_path, *args) as dev:
        # GIVEN a message that is not an S3 event, and an S3 test event
        sqs = dev.sqs
        sent = sqs.send_message(QueueUrl=dev.state.queue_url, MessageBody="{not json")
        sqs.send_message(
            QueueUrl=dev.state.queue_url,
            MessageBody=json.dumps(
                {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "x"}
            ),
        )

        # WHEN it has been received twice, THEN it is in the dead-letter queue
        def in_dlq() -> list[dict[str, Any]]:
            return sqs.receive_message(
                QueueUrl=dev.state.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=0
            ).get("Messages", [])

        dead = wait_for(in_dlq, 60, "the message in the DLQ")
        assert [m["MessageId"] for m in dead] == [sent["MessageId"]]
        # AND the dead-letter alarm is shown, as the construct's alarm would notify operators
        wait_for(
            lambda: "dead-letter queue" in dev.output.read_text(errors="replace"),
            30,
            "the dead-letter notification in the dev view",
        )
        # AND the dispatcher keeps going: a later upload is processed, the test event ignored
        _upload_all(dev, ["incoming/after.csv"])
        assert wait_for(lambda: dev.result("incoming/after.csv"), 30, "a later result")
        keys = wait_for(
            lambda: (
                _latest(dev).get("incoming/after.csv", {}).get("status") == "succeeded"
                and {j["key"] for j in dev.jobs()}
            ),
            10,
            "the later job to succeed",
        )
        assert keys == {"incoming/after.csv"}  # neither bad message nor test event made a job


def test_max_running_two_never_runs_more_than_two_tasks(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    cmd = f"{PY} {PROGRAMS / 'slow_task.py'}"
    keys = [f"incoming/file-{i}.csv" for i in range(6)]
    env = {"MARKS_DIR": str(marks), "SLEEP_SECONDS": "0.7"}
    with dev_pipeline(tmp_path, "--max-running", "2", "--task-cmd", cmd, env=env) as dev:
        _upload_all(dev, keys)
        wait_for(lambda: len(list(marks.glob("*.json"))) == len(keys), 90, "all six tasks")
    intervals = [json.loads(p.read_text()) for p in marks.glob("*.json")]
    events = sorted([(r["start"], 1) for r in intervals] + [(r["end"], -1) for r in intervals])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert peak <= 2
    assert peak == 2  # the cap is used, not just respected
    assert sorted(r["key"] for r in intervals) == keys


def test_killed_dispatcher_loses_no_message(tmp_path: Path) -> None:
    # GIVEN a persistent S3/SQS server outside the pipeline (moto, in its own process)
    marks = tmp_path / "marks"
    marks.mkdir()
    env = {"MARKS_DIR": str(marks), "SLEEP_SECONDS": "0.3"}
    keys = [f"incoming/k{i}.txt" for i in range(8)]
    with external_moto_server() as endpoint:
        args = (
            "--endpoint", endpoint,
            "--max-running", "2",
            "--visibility-timeout", "2",
            "--task-cmd", f"{PY} {PROGRAMS / 'slow_task.py'}",
        )  # fmt: skip
        with dev_pipeline(tmp_path, *args, env=env) as first:
            bodies = _upload_all(first, keys)
            wait_for(lambda: first.result(keys[0]) or first.result(keys[1]), 60, "a first result")
            # WHEN the pipeline is killed mid-run (no clean shutdown, batches in flight)
            first.stop(signal.SIGKILL)
        # THEN a new pipeline against the same server finishes every object
        with dev_pipeline(tmp_path, *args, env=env) as second:
            wait_for(lambda: all(second.result(k) for k in keys), 120, "every result after restart")
            for key in keys:
                assert second.result(key)["sha256"] == hashlib.sha256(bodies[key]).hexdigest()


def test_ctrl_c_terminates_running_tasks_after_grace_and_prints_final_state(
    tmp_path: Path,
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    env = {"MARKS_DIR": str(marks), "SLEEP_SECONDS": "60"}
    cmd = f"{PY} {PROGRAMS / 'slow_task.py'}"
    args = ("--task-cmd", cmd, "--grace-period", "1", "--track-running")
    with dev_pipeline(tmp_path, *args, env=env) as dev:
        _upload_all(dev, ["incoming/long.csv"])
        wait_for(
            lambda: _latest(dev).get("incoming/long.csv", {}).get("status") == "running",
            30,
            "the task to run",
        )
        code = dev.stop(signal.SIGINT)
        assert code == 130
        # THEN the final table shows the task stopped by SIGTERM (exit 143, as ECS reports it),
        # its job to be retried when the pipeline runs again (a termination notice)
        final = dev.output.read_text().split("final state", 1)[1]
        row = next(line for line in final.splitlines() if "incoming/long.csv" in line)
        assert "retrying" in row
        assert "143" in row
        # The reason column may fold the word across lines: read the table's text unbroken.
        assert "TerminationNotice" in re.sub(r"[\s│┃]", "", final)


def test_a_second_ctrl_c_kills_the_tasks_at_once_and_records_them(tmp_path: Path) -> None:
    # GIVEN a task that ignores SIGTERM, under a grace period of an hour
    stubborn = "sh -c 'trap \"\" TERM; exec sleep 600'"
    args = ("--task-cmd", stubborn, "--grace-period", "3600", "--track-running")
    with dev_pipeline(tmp_path, *args, env={"COLUMNS": "200"}) as dev:
        _upload_all(dev, ["incoming/stubborn.csv"])
        wait_for(
            lambda: _latest(dev).get("incoming/stubborn.csv", {}).get("status") == "running",
            30,
            "the task to run",
        )
        # WHEN Ctrl-C starts the stop, and a second Ctrl-C comes while it waits for the task
        dev.proc.send_signal(signal.SIGINT)
        wait_for(lambda: "stopping:" in dev.output.read_text(), 30, "the stop to begin")
        dev.proc.send_signal(signal.SIGINT)
        # THEN it does not wait out the hour: the task is killed (137, as ECS reports SIGKILL),
        # recorded to be retried, and the pipeline exits as interrupted
        assert dev.proc.wait(timeout=60) == CliExit.INTERRUPTED
        out = dev.output.read_text()
        assert "stopping now" in out
        final = out.split("final state", 1)[1]
        row = next(line for line in final.splitlines() if "incoming/stubborn.csv" in line)
        assert "retrying" in row
        assert "137" in row


def test_ctrl_c_during_the_demo_upload_stops_it(tmp_path: Path) -> None:
    # GIVEN a demo of 300 files
    files = tmp_path / "files"
    files.mkdir()
    for i in range(300):
        (files / f"f{i:03}.txt").write_text(f"file {i}\n")
    run_dir = tmp_path / "demo-run"
    out_path = tmp_path / "demo.out"
    with out_path.open("wb") as out:
        proc = subprocess.Popen(
            [CLI, "demo", *sorted(map(str, files.iterdir())), "--run-dir", str(run_dir)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "COLUMNS": "200"},
        )
    try:
        # WHEN Ctrl-C comes once its first uploads have reached the ledger
        state = wait_for(
            lambda: (run_dir / "state.json").exists() and RunState.load(run_dir / "state.json"),
            60,
            "the demo's pipeline to start",
        )
        store = LedgerStore(dynamodb=state.client("dynamodb"), table=state.jobs_table)
        wait_for(lambda: list(store.jobs()), 60, "a first upload's job")
        proc.send_signal(signal.SIGINT)
        # THEN the upload stops there: the demo exits as interrupted, with the final state of
        # the jobs it had started, not of all 300
        assert proc.wait(timeout=60) == CliExit.INTERRUPTED
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    final = out_path.read_text().split("final state", 1)[1]
    rows = [line for line in final.splitlines() if "incoming/f" in line]
    assert 0 < len(rows) < 300


def test_demo_prints_every_result_and_exits_zero_whole_when_piped(tmp_path: Path) -> None:
    # WHEN the demo's output goes to a program (a pipe), with no width set
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    proc = subprocess.run(
        [CLI, "demo", "--run-dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    from s3fargate.local.samples import sample_files

    # THEN every result document is there whole: each digest on its own unpadded line
    lines = proc.stdout.splitlines()
    for path, name in sample_files():
        assert f'  "key": "incoming/{name}",' in lines
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert f'  "sha256": "{digest}",' in lines, proc.stdout
    assert "every job succeeded" in proc.stdout
    assert "in memory" in proc.stdout


def test_demo_exits_one_when_a_job_fails(tmp_path: Path) -> None:
    data = tmp_path / "x.csv"
    data.write_text("x\n")
    proc = run_demo(tmp_path, str(data), "--task-cmd", "false")
    assert proc.returncode == 1
    assert "some jobs did not succeed" in proc.stdout


def test_the_demo_prices_its_jobs_at_the_size_it_was_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN one small file and a Fargate size
    data = tmp_path / "x.csv"
    data.write_text("x\n")
    # WHEN the demo runs with it
    code = cli.main(
        ["demo", str(data), "--run-dir", str(tmp_path / "d"), "--cpu", "1024", "--memory", "2048"]
    )
    # THEN it succeeds, says the memory is enforced, and prices the job
    out = capsys.readouterr().out
    assert code == CliExit.OK, out
    assert "task memory: 2048 MiB, enforced" in out
    assert "cost $0.0" in out


def test_a_task_out_of_memory_is_retried_one_size_up_to_success(tmp_path: Path) -> None:
    # GIVEN two sizes: 512 MiB for objects up to 1 KiB, 1 GiB for the rest, and a task that
    # needs 600 MiB for this small object
    sizes = [
        "--task-size",
        "up_to_bytes=1KiB,cpu=256,memory_limit_mib=512",
        "--task-size",
        "cpu=256,memory_limit_mib=1024",
    ]
    task = f"{PY} {PROGRAMS / 'memory_task.py'}"
    with dev_pipeline(tmp_path, "--task-cmd", task, "--retry-delay", "0", *sizes) as dev:
        dev.s3.put_object(Bucket=dev.state.bucket, Key="incoming/needs-600.txt", Body=b"600")
        job = wait_for(
            lambda: (
                _latest(dev).get("incoming/needs-600.txt", {}).get("status") == "succeeded"
                and _latest(dev)["incoming/needs-600.txt"]
            ),
            60,
            "the job to succeed one size up",
        )
    # THEN the first attempt was killed as ECS kills for memory, the second ran one size up
    assert job["attempts"] == 2
    assert job["size_up"] == 1
    assert job["attempt_sizes"] == ["1: 0.25 vCPU, 0.5 GiB", "2: 0.25 vCPU, 1 GiB"]
    # Each attempt is billed at least a minute at its size (us-east-1 list prices).
    minute = (0.25 * 0.04048 + 0.5 * 0.004445) / 60 + (0.25 * 0.04048 + 1 * 0.004445) / 60
    assert job["cost_usd"] >= minute * 0.999


def test_an_object_overwritten_before_its_task_starts_is_superseded_not_misread(
    tmp_path: Path,
) -> None:
    # GIVEN a cap of one, its slot held by a gated task, a bucket without versioning (it is
    # suspended, as on a bucket the stack imports), and x.txt uploaded, then overwritten while
    # its job waits behind the cap
    gate = tmp_path / "open"
    with _held_slot(tmp_path, gate) as dev:
        bucket = dev.state.bucket
        dev.s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
        first = dev.s3.put_object(Bucket=bucket, Key="incoming/x.txt", Body=b"first\n")
        second = dev.s3.put_object(Bucket=bucket, Key="incoming/x.txt", Body=b"second one\n")
        # WHEN the slot frees up
        gate.touch()
        wait_for(
            lambda: (
                sorted(j["status"] for j in dev.jobs() if j["key"] == "incoming/x.txt")
                == ["cancelled", "succeeded"]
            ),
            90,
            "both jobs of x.txt to end",
        )
        jobs = {j["etag"]: j for j in dev.jobs() if j["key"] == "incoming/x.txt"}
        result = dev.result("incoming/x.txt")
    # THEN the first upload's job never read the second's bytes: it is superseded
    older = jobs[first["ETag"].strip('"')]
    assert older["status"] == "cancelled"
    assert older["exit_code"] == 4
    assert "superseded" in older["reason"]
    assert older["result_key"] is None
    # AND the second upload's job processed its own bytes
    newer = jobs[second["ETag"].strip('"')]
    assert newer["status"] == "succeeded"
    assert result is not None
    assert result["size"] == len(b"second one\n")


def test_an_object_overwritten_before_its_task_starts_on_a_versioned_bucket_is_read_as_uploaded(
    tmp_path: Path,
) -> None:
    # GIVEN a cap of one, its slot held by a gated task, the bucket versioned (the stack's
    # default), and x.txt uploaded, then overwritten while its job waits behind the cap
    gate = tmp_path / "open"
    with _held_slot(tmp_path, gate) as dev:
        bucket = dev.state.bucket
        first = dev.s3.put_object(Bucket=bucket, Key="incoming/x.txt", Body=b"first\n")
        second = dev.s3.put_object(Bucket=bucket, Key="incoming/x.txt", Body=b"second one\n")
        # WHEN the slot frees up
        gate.touch()
        wait_for(
            lambda: (
                [j["status"] for j in dev.jobs() if j["key"] == "incoming/x.txt"]
                == ["succeeded", "succeeded"]
            ),
            90,
            "both jobs of x.txt to succeed",
        )
        result_key = f"{dev.state.results_prefix}x.txt.json"
        versions = dev.s3.list_object_versions(Bucket=bucket, Prefix=result_key)["Versions"]
        documents = [
            json.loads(
                dev.s3.get_object(Bucket=bucket, Key=result_key, VersionId=v["VersionId"])[
                    "Body"
                ].read()
            )
            for v in versions
        ]
    # THEN each upload's job read its own version's bytes: one result per version read
    read = {d["version_id"]: d["size"] for d in documents}
    assert read == {
        first["VersionId"]: len(b"first\n"),
        second["VersionId"]: len(b"second one\n"),
    }


def test_ctrl_c_stops_dev_even_when_its_shell_ignores_sigint(tmp_path: Path) -> None:
    # GIVEN `s3fargate dev` started as a script's background job would be: SIGINT ignored
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [CLI, "dev", "--run-dir", str(run_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=functools.partial(signal.signal, signal.SIGINT, signal.SIG_IGN),  # noqa: PLW1509
    )
    try:
        wait_for((run_dir / "state.json").exists, 60, "s3fargate dev to start")
        # WHEN it gets Ctrl-C (SIGINT)
        proc.send_signal(signal.SIGINT)
        # THEN it stops, as Ctrl-C promises, with the interrupted exit code
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_task_that_succeeds_without_a_result_is_recorded_without_one(tmp_path: Path) -> None:
    # GIVEN a task command that exits 0 and writes nothing
    data = tmp_path / "x.csv"
    data.write_text("x\n")
    proc = run_demo(tmp_path, str(data), "--task-cmd", "true")
    # THEN the demo says the job succeeded with no result document, and exits 0
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "succeeded, with no result document" in proc.stdout
    # AND the ledger of a running pipeline names no result for such a job
    with dev_pipeline(tmp_path, "--task-cmd", "true") as dev:
        dev.s3.put_object(Bucket=dev.state.bucket, Key="incoming/y.csv", Body=b"y\n")
        (job,) = wait_for(
            lambda: [j for j in dev.jobs() if j["status"] == "succeeded"], 60, "the job"
        )
    assert job["result_key"] is None
    assert job["reason"] == "succeeded without a result document"


def test_backfill_during_a_backlog_starts_no_second_task(tmp_path: Path) -> None:
    # GIVEN a cap of one held by a gated task, and four uploads waiting behind it
    gate = tmp_path / "open"
    keys = [f"incoming/waiting-{n}.txt" for n in range(4)]
    with _held_slot(tmp_path, gate) as dev:
        bucket = dev.state.bucket
        for key in keys:
            dev.s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
        # WHEN backfill runs while they wait
        backfill = dev.cli("backfill")
        assert backfill.returncode == 0, backfill.stderr
        gate.touch()
        # THEN each upload ran exactly one task, and the backfilled jobs say why they ran none
        wait_for(
            lambda: (
                sorted(j["key"] for j in dev.jobs() if j["status"] == "succeeded")
                == sorted([*keys, "incoming/gate.txt"])
            ),
            120,
            "every upload to succeed",
        )
        wait_for(
            lambda: all(j["status"] in ("succeeded", "cancelled") for j in dev.jobs()),
            60,
            "every backfilled job to settle",
        )
        jobs = dev.jobs()
    tasks = sum(len(j["task_arns"]) for j in jobs)
    assert tasks == 5, jobs
    for job in jobs:
        if job["status"] == "cancelled":
            assert job["reason"].startswith("not needed: job ")
            assert job["task_arns"] == []


def test_a_9_mb_cli_upload_is_announced_once_and_processed_once(tmp_path: Path) -> None:
    # GIVEN a file over the size where boto3 would start a multipart upload (8 MiB)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(9 * 1000 * 1000))
    with dev_pipeline(tmp_path) as dev:
        # WHEN it is uploaded with the CLI
        upload = dev.cli("upload", str(big))
        assert upload.returncode == 0, upload.stderr
        wait_for(lambda: dev.result("incoming/big.bin"), 60, "the result")
        jobs = [j for j in dev.jobs() if j["key"] == "incoming/big.bin"]
    # THEN one job ran one task for it
    assert len(jobs) == 1
    assert len(jobs[0]["task_arns"]) == 1


def test_two_pipelines_on_one_server_never_see_each_other(tmp_path: Path) -> None:
    # GIVEN two pipelines with their own buckets on one server
    with (
        external_moto_server() as endpoint,
        dev_pipeline(tmp_path, "--endpoint", endpoint, "--bucket", "first-inbox") as first,
        dev_pipeline(tmp_path, "--endpoint", endpoint, "--bucket", "second-inbox") as second,
    ):
        # THEN their queues and ledgers are their own
        assert first.state.queue_url != second.state.queue_url
        assert first.state.jobs_table != second.state.jobs_table
        # WHEN each gets a file
        first.s3.put_object(Bucket="first-inbox", Key="incoming/one.txt", Body=b"1\n")
        second.s3.put_object(Bucket="second-inbox", Key="incoming/two.txt", Body=b"2\n")
        wait_for(lambda: first.result("incoming/one.txt"), 60, "the first result")
        wait_for(lambda: second.result("incoming/two.txt"), 60, "the second result")
        # THEN each ledger holds exactly its own job
        assert [j["key"] for j in first.jobs()] == ["incoming/one.txt"]
        assert [j["key"] for j in second.jobs()] == ["incoming/two.txt"]


def test_the_tracker_gets_the_changes_the_construct_s_rule_passes(tmp_path: Path) -> None:
    # GIVEN the rule as the construct makes it (STOPPED only), and with track_running
    seen: dict[bool, set[str]] = {}
    for track_running in (False, True):
        args = ("--track-running",) if track_running else ()
        with dev_pipeline(tmp_path, *args) as dev:
            dev.s3.put_object(Bucket=dev.state.bucket, Key="incoming/a.csv", Body=b"a\n")
            wait_for(lambda: dev.result("incoming/a.csv"), 60, "the result")
            wait_for(lambda: [j["status"] for j in dev.jobs()] == ["succeeded"], 30, "the job")
            log = dev.run_dir / "tracker.log"

            def statuses(log: Path = log) -> set[str]:
                lines = log.read_text().splitlines()
                return {json.loads(line)["last_status"] for line in lines if "last_status" in line}

            # The tracker logs a change after it has written the ledger: wait for the last one.
            wait_for(lambda: "STOPPED" in statuses(), 30, "the tracker's log of the stop")
            seen[track_running] = statuses()
    # THEN only those changes reached the tracker
    assert seen[False] == {"STOPPED"}
    assert seen[True] == {"RUNNING", "STOPPED"}


@contextmanager
def _held_slot(tmp_path: Path, gate: Path) -> Iterator[Dev]:
    """A pipeline with a cap of one, its slot held by a task that waits until ``gate`` exists."""
    env = {"GATE_KEY": "incoming/gate.txt", "GATE_FILE": str(gate)}
    cmd = f"{PY} {PROGRAMS / 'gated_task.py'}"
    with dev_pipeline(tmp_path, "--max-running", "1", "--task-cmd", cmd, env=env) as dev:
        dev.s3.put_object(Bucket=dev.state.bucket, Key="incoming/gate.txt", Body=b"gate\n")
        wait_for(
            lambda: any(j["status"] in ("pending", "running") for j in dev.jobs()),
            60,
            "the gated task",
        )
        yield dev


def test_ctrl_c_during_a_task_then_dev_again_processes_the_object_once(tmp_path: Path) -> None:
    # GIVEN a persistent server, and a job allowed a single attempt whose task is running
    started = tmp_path / "started"
    hold = tmp_path / "hold.sh"
    hold.write_text(f': > "{started}"\nexec sleep 300\n')
    with external_moto_server() as endpoint:
        common = ("--endpoint", endpoint, "--max-attempts", "1", "--grace-period", "1")
        run_dir = tmp_path / "run"
        with dev_pipeline(tmp_path, *common, "--task-cmd", f"sh {hold}", run_dir=run_dir) as dev:
            dev.s3.put_object(Bucket=dev.state.bucket, Key="incoming/once.txt", Body=b"once\n")
            wait_for(started.exists, 60, "the task to start")
            # WHEN dev is stopped with Ctrl-C while the task runs
            assert dev.stop() == 130
            (job,) = [j for j in dev.jobs() if j["key"] == "incoming/once.txt"]
            # THEN the job waits for a pipeline to run it again; the stop spent no attempt
            assert job["status"] == "retrying", job
        # WHEN dev runs again (the default task)
        with dev_pipeline(tmp_path, *common, run_dir=run_dir) as again:
            done = wait_for(
                lambda: next(
                    (
                        j
                        for j in again.jobs()
                        if j["key"] == "incoming/once.txt" and j["status"] == "succeeded"
                    ),
                    None,
                ),
                90,
                "the job to succeed",
            )
            result = again.result("incoming/once.txt")
    # THEN it succeeded on its next attempt, once: one result, of the object's bytes
    assert done["attempts"] == 2
    assert result is not None
    assert result["sha256"] == hashlib.sha256(b"once\n").hexdigest()
