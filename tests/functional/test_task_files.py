"""Files in and out: the object downloaded to disk, outputs that appear only when the task
succeeds, and ``s3fargate-task`` running any command, as real subprocesses against moto."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest

from s3fargate import contracts as c
from s3fargate.task import ExitCode
from tests.taskrun import PROGRAMS, read_result, run_task

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

TASK_CLI = str(Path(sys.executable).parent / "s3fargate-task")
OUTPUTS_TASK = [sys.executable, str(PROGRAMS / "outputs_task.py")]
KEY = "incoming/deep dir/Ünïcode file 🚀.csv"
BASE = "results/deep dir/Ünïcode file 🚀.csv"


@pytest.fixture
def s3(moto_endpoint: str) -> S3Client:
    return boto3.client("s3", endpoint_url=moto_endpoint)


@pytest.fixture
def bucket(s3: S3Client) -> str:
    name = f"files-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def _env(bucket: str, key: str = KEY, **extra: str) -> dict[str, str]:
    return {c.ENV_S3_BUCKET: bucket, c.ENV_S3_KEY: key, **extra}


def _keys(s3: S3Client, bucket: str, prefix: str = "results/") -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def _pending_uploads(s3: S3Client, bucket: str) -> list[str]:
    return [u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


def _body(s3: S3Client, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


# --- outputs from the SDK ----------------------------------------------------------------------
def test_outputs_appear_with_the_result_document_listing_them(
    moto_endpoint: str, s3: S3Client, bucket: str
) -> None:
    # GIVEN an object whose key has spaces, non-ASCII and an emoji
    body = os.urandom(300_000)
    s3.put_object(Bucket=bucket, Key=KEY, Body=body)
    # WHEN a task downloads it and writes three outputs (one streamed over several parts)
    run = run_task(moto_endpoint, _env(bucket), cmd=OUTPUTS_TASK)
    # THEN it succeeds, and each output is at <results>/<key without input prefix>/<name>
    assert run.returncode == 0, run.stdout + run.stderr
    names = ["copy/örig inal.bin", "big.bin", "side car.txt"]
    assert _keys(s3, bucket) == sorted([f"{BASE}.json", *(f"{BASE}/{n}" for n in names)])
    assert _body(s3, bucket, f"{BASE}/copy/örig inal.bin") == body
    assert _body(s3, bucket, f"{BASE}/side car.txt") == b"300000 bytes\n"
    big = _body(s3, bucket, f"{BASE}/big.bin")
    assert big == b"x" * (6 * 1024 * 1024 + 123)
    # AND the result document lists every output with its size and checksum
    document = read_result(moto_endpoint, bucket, f"{BASE}.json")
    # The key's own file name, made safe in any shell (the extension kept).
    assert document["downloaded"] == "_n_code_file__.csv"
    listed = {o["name"]: o for o in document["outputs"]}
    assert list(listed) == names
    assert listed["big.bin"] == {
        "name": "big.bin",
        "key": f"{BASE}/big.bin",
        "size": len(big),
        "sha256": hashlib.sha256(big).hexdigest(),
    }
    assert listed["copy/örig inal.bin"]["sha256"] == hashlib.sha256(body).hexdigest()
    head = s3.head_object(Bucket=bucket, Key=f"{BASE}.json")
    assert head["Metadata"] == {c.RESULT_OUTPUTS_METADATA: "3"}
    assert _pending_uploads(s3, bucket) == []


def test_a_failed_task_leaves_no_outputs_and_no_uploads(
    moto_endpoint: str, s3: S3Client, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key=KEY, Body=b"abc")
    run = run_task(moto_endpoint, _env(bucket, OUTPUTS_MODE="fail"), cmd=OUTPUTS_TASK)
    assert run.returncode == ExitCode.PROCESSING_FAILED, run.stdout + run.stderr
    assert "failed after writing outputs" in run.stdout
    assert _keys(s3, bucket) == []
    # aborted, not merely left incomplete
    assert _pending_uploads(s3, bucket) == []


def _start_hanging(moto_endpoint: str, bucket: str, ready: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": moto_endpoint,
        **_env(bucket, OUTPUTS_MODE="hang", READY_FILE=str(ready)),
    }
    process = subprocess.Popen(
        OUTPUTS_TASK, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, "the task never wrote its outputs"
        time.sleep(0.02)
    return process


def test_a_stopped_task_aborts_its_outputs(
    moto_endpoint: str, s3: S3Client, bucket: str, tmp_path: Path
) -> None:
    # GIVEN a task with every output written, not yet returned from its processing
    s3.put_object(Bucket=bucket, Key=KEY, Body=b"abc")
    process = _start_hanging(moto_endpoint, bucket, tmp_path / "ready")
    # WHEN ECS stops it (SIGTERM)
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=120)
    # THEN it exits 143 and nothing of its outputs is left, visible or not
    assert process.returncode == 143, out
    assert _keys(s3, bucket) == []
    assert _pending_uploads(s3, bucket) == []


def test_a_killed_task_shows_no_outputs_and_its_retry_shows_only_its_own(
    moto_endpoint: str, s3: S3Client, bucket: str, tmp_path: Path
) -> None:
    # GIVEN a task killed with SIGKILL after uploading parts of every output
    s3.put_object(Bucket=bucket, Key=KEY, Body=b"first")
    process = _start_hanging(moto_endpoint, bucket, tmp_path / "ready")
    process.kill()
    process.communicate(timeout=60)
    # THEN no output is visible: its uploads are incomplete (the lifecycle rule removes them)
    assert _keys(s3, bucket) == []
    assert len(_pending_uploads(s3, bucket)) == 3
    # WHEN the job is retried and the new attempt succeeds
    run = run_task(moto_endpoint, _env(bucket), cmd=OUTPUTS_TASK)
    assert run.returncode == 0, run.stdout + run.stderr
    # THEN exactly the retry's outputs are visible
    assert len(_keys(s3, bucket)) == 4
    assert _body(s3, bucket, f"{BASE}/copy/örig inal.bin") == b"first"


def test_an_output_name_that_is_not_a_relative_path_fails_the_task(
    moto_endpoint: str, s3: S3Client, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key=KEY, Body=b"abc")
    program = (
        "from s3fargate.task import run\n"
        "import sys\n"
        "def p(obj):\n"
        "    obj.outputs.open('../escape').close()\n"
        "    return {}\n"
        "sys.exit(run(p))\n"
    )
    run = run_task(moto_endpoint, _env(bucket), cmd=[sys.executable, "-c", program])
    assert run.returncode == ExitCode.PROCESSING_FAILED
    assert "must be a relative path" in run.stdout


def test_an_output_key_over_s3s_limit_fails_the_task_with_the_reason(
    moto_endpoint: str, s3: S3Client, bucket: str
) -> None:
    key = "incoming/" + "k" * 1000
    s3.put_object(Bucket=bucket, Key=key, Body=b"abc")
    cmd = [TASK_CLI, "--", "sh", "-c", ': > "{output_dir}/a-rather-long-output-name.txt"']
    run = run_task(moto_endpoint, _env(bucket, key), cmd=cmd)
    assert run.returncode == ExitCode.PROCESSING_FAILED, run.stdout
    assert "over S3's 1024" in run.stdout
    assert _keys(s3, bucket) == []
    assert _pending_uploads(s3, bucket) == []


# --- the object on disk ------------------------------------------------------------------------
@pytest.mark.parametrize("concurrency", ["1", "4"])
def test_download_writes_the_exact_object_in_parts(
    moto_endpoint: str, s3: S3Client, bucket: str, concurrency: str
) -> None:
    body = os.urandom(700_000)
    s3.put_object(Bucket=bucket, Key=KEY, Body=body)
    cmd = [TASK_CLI, "--", "sh", "-c", 'sha256sum < "{input}" > "{output_dir}/sum"']
    env = _env(bucket, S3_READ_CONCURRENCY=concurrency, S3_PART_SIZE="64KiB")
    run = run_task(moto_endpoint, env, cmd=cmd)
    assert run.returncode == 0, run.stdout + run.stderr
    digest = _body(s3, bucket, f"{BASE}/sum").split()[0].decode()
    assert digest == hashlib.sha256(body).hexdigest()


def test_download_is_pinned_to_the_upload_that_started_the_task(
    moto_endpoint: str, s3: S3Client, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key=KEY, Body=b"old")
    s3.put_object(Bucket=bucket, Key=KEY, Body=b"new")
    cmd = [TASK_CLI, "--", "cp", "{input}", "{output_dir}/copy"]
    run = run_task(moto_endpoint, _env(bucket, S3_ETAG=hashlib.md5(b"old").hexdigest()), cmd=cmd)  # noqa: S324
    assert run.returncode == ExitCode.SUPERSEDED, run.stdout
    assert _keys(s3, bucket) == []


def test_a_disk_that_fills_up_ends_the_task_with_the_no_space_code(
    moto_endpoint: str, s3: S3Client, bucket: str
) -> None:
    if not Path("/dev/full").exists():
        pytest.fail("this test needs /dev/full, which answers every write with ENOSPC")
    s3.put_object(Bucket=bucket, Key=KEY, Body=os.urandom(200_000))
    program = (
        "from s3fargate.task import run\n"
        "import sys\n"
        "sys.exit(run(lambda obj: {'p': str(obj.download('/dev/full'))}))\n"
    )
    run = run_task(moto_endpoint, _env(bucket), cmd=[sys.executable, "-c", program])
    assert run.returncode == ExitCode.NO_SPACE == c.EXIT_NO_SPACE, run.stdout + run.stderr
    assert "ephemeral_storage_gib" in run.stdout


def test_an_object_larger_than_the_free_space_is_refused_before_the_first_byte(
    moto_endpoint: str, s3: S3Client, bucket: str, tmp_path: Path
) -> None:
    # The free space is the file system's: the test asks for an object just over it.
    s3.put_object(Bucket=bucket, Key=KEY, Body=b"abc")
    free = shutil.disk_usage(tmp_path).free
    program = (
        "import sys\n"
        "from s3fargate.task import run\n"
        "def p(obj):\n"
        f"    obj.size = {free}\n"  # as if the object were as large as the free space
        f"    obj.download({str(tmp_path / 'in')!r})\n"
        "    return {}\n"
        "sys.exit(run(p))\n"
    )
    run = run_task(moto_endpoint, _env(bucket), cmd=[sys.executable, "-c", program])
    assert run.returncode == ExitCode.NO_SPACE, run.stdout + run.stderr
    (line,) = [log for log in run.logs if log.get("exit_code") == c.EXIT_NO_SPACE]
    assert "does not fit on the task's disk; raise ephemeral_storage_gib" in line["message"]
    assert not (tmp_path / "in").exists() or (tmp_path / "in").stat().st_size == 0


# --- s3fargate-task ----------------------------------------------------------------------------
def test_command_outputs_keep_their_relative_paths(
    moto_endpoint: str, s3: S3Client, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key=KEY, Body=b"b\na\nc\n")
    cmd = [
        TASK_CLI,
        "--",
        "sh",
        "-c",
        'sort "$S3FARGATE_INPUT" > "$S3FARGATE_OUTPUT_DIR/sorted.txt" && '
        'mkdir -p "{output_dir}/nested/dï r" && echo {bucket} > "{output_dir}/nested/dï r/b"',
    ]
    run = run_task(moto_endpoint, _env(bucket), cmd=cmd)
    assert run.returncode == 0, run.stdout + run.stderr
    assert _body(s3, bucket, f"{BASE}/sorted.txt") == b"a\nb\nc\n"
    assert _body(s3, bucket, f"{BASE}/nested/dï r/b") == f"{bucket}\n".encode()
    document = read_result(moto_endpoint, bucket, f"{BASE}.json")
    assert document["exit_code"] == 0
    assert document["duration_s"] >= document["command_duration_s"] >= 0
    assert [o["name"] for o in document["outputs"]] == ["nested/dï r/b", "sorted.txt"]


def test_command_exit_code_is_the_tasks_and_a_failure_leaves_nothing(
    moto_endpoint: str, s3: S3Client, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key=KEY, Body=b"abc")
    cmd = [TASK_CLI, "--", "sh", "-c", 'echo partial > "{output_dir}/half"; exit 42']
    run = run_task(moto_endpoint, _env(bucket), cmd=cmd)
    assert run.returncode == 42, run.stdout
    assert _keys(s3, bucket) == []
    missing = run_task(moto_endpoint, _env(bucket), cmd=[TASK_CLI, "--", "no-such-tool-xyz"])
    assert missing.returncode == 127


def test_stdin_streams_the_object_to_the_command(
    moto_endpoint: str, s3: S3Client, bucket: str
) -> None:
    body = b"".join(f"line {i}\n".encode() for i in range(50_000))
    s3.put_object(Bucket=bucket, Key=KEY, Body=body)
    cmd = [TASK_CLI, "--stdin", "--", "sh", "-c", 'wc -l > "{output_dir}/count"']
    run = run_task(moto_endpoint, _env(bucket), cmd=cmd)
    assert run.returncode == 0, run.stdout + run.stderr
    assert _body(s3, bucket, f"{BASE}/count").strip() == b"50000"
    # A command that stops reading early is not an error of the task.
    head = [TASK_CLI, "--stdin", "--", "sh", "-c", 'head -c 10 > "{output_dir}/head"']
    assert run_task(moto_endpoint, _env(bucket), cmd=head).returncode == 0
    assert _body(s3, bucket, f"{BASE}/head") == body[:10]


def test_stdin_refuses_the_input_placeholder(moto_endpoint: str, bucket: str) -> None:
    run = run_task(moto_endpoint, _env(bucket), cmd=[TASK_CLI, "--stdin", "--", "cat", "{input}"])
    assert run.returncode == 2
    assert "{input} has no file to name" in run.stderr


def test_sigterm_is_forwarded_to_the_command(
    moto_endpoint: str, s3: S3Client, bucket: str, tmp_path: Path
) -> None:
    # GIVEN a command that records SIGTERM and exits 7 when it gets it
    s3.put_object(Bucket=bucket, Key=KEY, Body=b"abc")
    ready, got = tmp_path / "ready", tmp_path / "got"
    script = (
        f"trap 'echo term > \"{got}\"; exit 7' TERM; "
        f': > "{{output_dir}}/partial"; : > "{ready}"; while :; do sleep 0.05; done'
    )
    env = {**os.environ, "AWS_ENDPOINT_URL": moto_endpoint, **_env(bucket)}
    process = subprocess.Popen(
        [TASK_CLI, "--", "sh", "-c", script],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    # WHEN the task gets SIGTERM
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=60)
    # THEN the command got it, the task exits with the command's code, and leaves nothing
    assert got.read_text() == "term\n"
    assert process.returncode == 7, out
    assert _keys(s3, bucket) == []


def test_usage_without_a_command_is_exit_2() -> None:
    proc = subprocess.run([TASK_CLI], capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert "give the command after --" in proc.stderr


# --- the examples that make files -------------------------------------------------------------
def test_compress_example_writes_a_gzip_copy(moto_endpoint: str, s3: S3Client, bucket: str) -> None:
    body = b"".join(f"{i},row {i}\n".encode() for i in range(100_000))
    s3.put_object(Bucket=bucket, Key=KEY, Body=body)
    cmd = [sys.executable, "-m", "s3fargate.examples.compress"]
    run = run_task(moto_endpoint, _env(bucket), cmd=cmd)
    assert run.returncode == 0, run.stdout + run.stderr
    out = _body(s3, bucket, f"{BASE}/Ünïcode file 🚀.csv.gz")
    assert gzip.decompress(out) == body
    document = read_result(moto_endpoint, bucket, f"{BASE}.json")
    assert document["compressed_size"] == len(out)
    assert document["outputs"][0]["sha256"] == hashlib.sha256(out).hexdigest()


def test_a_result_that_is_not_a_mapping_leaves_no_outputs(
    moto_endpoint: str, s3: S3Client, bucket: str
) -> None:
    # The outputs are complete, but the result cannot be written: nothing may appear.
    s3.put_object(Bucket=bucket, Key=KEY, Body=b"abc")
    program = (
        "import sys\n"
        "from s3fargate.task import run\n"
        "def p(obj):\n"
        "    with obj.outputs.open('a.txt') as out:\n"
        "        out.write(b'a')\n"
        "    return None\n"
        "sys.exit(run(p))\n"
    )
    run = run_task(moto_endpoint, _env(bucket), cmd=[sys.executable, "-c", program])
    assert run.returncode == ExitCode.PROCESSING_FAILED, run.stdout + run.stderr
    assert "must return a JSON-serialisable mapping" in run.stdout
    assert _keys(s3, bucket) == []
    assert _pending_uploads(s3, bucket) == []


def test_placeholders_are_replaced_once_even_in_a_key_that_holds_one(
    moto_endpoint: str, s3: S3Client, bucket: str
) -> None:
    key = "incoming/odd {input} name.txt"
    s3.put_object(Bucket=bucket, Key=key, Body=b"abc")
    cmd = [TASK_CLI, "--", "sh", "-c", 'printf %s "{key}" > "{output_dir}/key"']
    run = run_task(moto_endpoint, _env(bucket, key), cmd=cmd)
    assert run.returncode == 0, run.stdout + run.stderr
    assert _body(s3, bucket, "results/odd {input} name.txt/key") == key.encode()


@pytest.mark.parametrize("code", [c.EXIT_SUPERSEDED, c.EXIT_NO_SPACE])
def test_a_command_exit_code_the_pipeline_reserves_is_reported_as_1(
    moto_endpoint: str, s3: S3Client, bucket: str, code: int
) -> None:
    s3.put_object(Bucket=bucket, Key=KEY, Body=b"abc")
    run = run_task(moto_endpoint, _env(bucket), cmd=[TASK_CLI, "--", "sh", "-c", f"exit {code}"])
    assert run.returncode == 1, run.stdout
    assert f"the command exited with {code}, which the pipeline reserves" in run.stdout


def test_sigterm_reaches_every_process_of_a_pipeline_command(
    moto_endpoint: str, s3: S3Client, bucket: str, tmp_path: Path
) -> None:
    # GIVEN a command whose work is a pipeline of two processes, each recording SIGTERM
    s3.put_object(Bucket=bucket, Key=KEY, Body=b"abc")
    ready = tmp_path / "ready"
    left, right = tmp_path / "left", tmp_path / "right"
    for mark in (left, right):
        stage = f'trap \'echo x >> "{mark}"; exit 0\' TERM\n: > "{mark}.up"\n'
        (tmp_path / f"{mark.name}.sh").write_text(stage + "while :; do sleep 0.05; done\n")
    # The command itself waits for its pipeline to end when it gets SIGTERM.
    script = (
        f'sh "{tmp_path}/left.sh" | sh "{tmp_path}/right.sh" & trap "wait; exit 0" TERM; '
        f'while [ ! -e "{left}.up" ] || [ ! -e "{right}.up" ]; do sleep 0.02; done; '
        f': > "{ready}"; wait'
    )
    env = {**os.environ, "AWS_ENDPOINT_URL": moto_endpoint, **_env(bucket)}
    process = subprocess.Popen(
        [TASK_CLI, "--", "sh", "-c", script],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=60)
    # THEN both stages of the pipeline got it
    assert left.read_text() == "x\n", out
    assert right.read_text() == "x\n", out
