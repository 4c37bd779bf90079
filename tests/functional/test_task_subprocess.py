"""The example task as a real subprocess against a moto server over HTTP."""

from __future__ import annotations

import hashlib
import io
import os
import sys
import uuid

import boto3
import pytest

from tests.taskrun import PROGRAMS, read_result, run_task


@pytest.fixture
def bucket(moto_endpoint: str) -> str:
    name = f"task-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_endpoint).create_bucket(Bucket=name)
    return name


def _put(endpoint: str, bucket: str, key: str, body: bytes) -> None:
    boto3.client("s3", endpoint_url=endpoint).put_object(Bucket=bucket, Key=key, Body=body)


@pytest.mark.parametrize(
    ("key", "expected_result_key"),
    [
        ("incoming/data.csv", "results/data.csv.json"),
        ("incoming/red flower ü.jpg", "results/red flower ü.jpg.json"),
        ("incoming/a+b=c&d.txt", "results/a+b=c&d.txt.json"),
        ("incoming/deep/er/🚀 rocket.bin", "results/deep/er/🚀 rocket.bin.json"),
        ("incoming/100% done.txt", "results/100% done.txt.json"),
        ("elsewhere/outside.txt", "results/elsewhere/outside.txt.json"),
    ],
)
def test_fingerprint_writes_result_where_the_contract_says(
    moto_endpoint: str, bucket: str, key: str, expected_result_key: str
) -> None:
    # GIVEN an object with three lines, the last without a newline
    body = "alpha,1\nbeta,2\ngamma ü,3".encode()
    _put(moto_endpoint, bucket, key, body)
    # WHEN the example task runs as a subprocess
    run = run_task(moto_endpoint, {"S3_BUCKET": bucket, "S3_KEY": key, "S3_SIZE": str(len(body))})
    # THEN it exits 0 and the result is at results/<key without incoming/>.json
    assert run.returncode == 0, run.stdout + run.stderr
    result = read_result(moto_endpoint, bucket, expected_result_key)
    assert result["bucket"] == bucket
    assert result["key"] == key
    assert result["size"] == len(body)
    assert result["sha256"] == hashlib.sha256(body).hexdigest()
    assert result["lines"] == 3
    assert result["started_at"] <= result["finished_at"]
    messages = [line["message"] for line in run.logs]
    assert messages[0] == "start"
    assert messages[-1] == "end"
    assert run.logs[-1]["result"] == f"s3://{bucket}/{expected_result_key}"


def test_empty_object(moto_endpoint: str, bucket: str) -> None:
    _put(moto_endpoint, bucket, "incoming/empty.txt", b"")
    run = run_task(moto_endpoint, {"S3_BUCKET": bucket, "S3_KEY": "incoming/empty.txt"})
    assert run.returncode == 0, run.stdout + run.stderr
    result = read_result(moto_endpoint, bucket, "results/empty.txt.json")
    assert result["size"] == 0
    assert result["lines"] == 0
    assert result["sha256"] == hashlib.sha256(b"").hexdigest()


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param({}, id="defaults"),
        pytest.param({"S3_READ_CONCURRENCY": "1"}, id="one-stream"),
        pytest.param({"S3_READ_CONCURRENCY": "6", "S3_PART_SIZE": "3MiB"}, id="6x3MiB-parts"),
    ],
)
def test_fifty_megabyte_object_streams_to_the_right_hash(
    moto_endpoint: str, bucket: str, settings: dict[str, str]
) -> None:
    # GIVEN a 50 MB multipart upload (parts of 8 MiB, the SDK's default part size)
    body = os.urandom(50 * 1024 * 1024)
    boto3.client("s3", endpoint_url=moto_endpoint).upload_fileobj(
        io.BytesIO(body), bucket, "incoming/big.bin"
    )
    # WHEN the example task reads it with these read settings
    run = run_task(moto_endpoint, {"S3_BUCKET": bucket, "S3_KEY": "incoming/big.bin", **settings})
    assert run.returncode == 0, run.stdout + run.stderr
    result = read_result(moto_endpoint, bucket, "results/big.bin.json")
    assert result["size"] == len(body)
    assert result["sha256"] == hashlib.sha256(body).hexdigest()
    assert result["lines"] == body.count(b"\n") + (0 if body.endswith(b"\n") else 1)


def test_version_id_pins_the_version_that_triggered_the_task(
    moto_endpoint: str, bucket: str
) -> None:
    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket=bucket, Key="incoming/v.txt", Body=b"first\n")["VersionId"]
    s3.put_object(Bucket=bucket, Key="incoming/v.txt", Body=b"second version\n")
    run = run_task(
        moto_endpoint, {"S3_BUCKET": bucket, "S3_KEY": "incoming/v.txt", "S3_VERSION_ID": first}
    )
    assert run.returncode == 0, run.stdout + run.stderr
    result = read_result(moto_endpoint, bucket, "results/v.txt.json")
    assert result["sha256"] == hashlib.sha256(b"first\n").hexdigest()
    assert result["version_id"] == first


def test_missing_object_exits_3_with_one_line_reason(moto_endpoint: str, bucket: str) -> None:
    run = run_task(moto_endpoint, {"S3_BUCKET": bucket, "S3_KEY": "incoming/deleted.csv"})
    assert run.returncode == 3
    error = run.logs[-1]
    assert error["level"] == "ERROR"
    assert error["exit_code"] == 3
    assert "NoSuchKey" in error["message"]
    assert "incoming/deleted.csv" in error["message"]


def test_missing_bucket_exits_3(moto_endpoint: str) -> None:
    run = run_task(moto_endpoint, {"S3_BUCKET": "no-such-bucket-here", "S3_KEY": "incoming/x"})
    assert run.returncode == 3
    assert "NoSuchBucket" in run.logs[-1]["message"]


def test_missing_variables_exit_2_naming_each(moto_endpoint: str) -> None:
    run = run_task(moto_endpoint, {}, drop=("S3_BUCKET", "S3_KEY"))
    assert run.returncode == 2
    error = run.logs[-1]
    assert "S3_BUCKET" in error["message"]
    assert "S3_KEY" in error["message"]
    assert len(error["problems"]) == 2


def test_overlapping_prefixes_are_refused_with_exit_2(moto_endpoint: str, bucket: str) -> None:
    env = {"S3_BUCKET": bucket, "S3_KEY": "incoming/x", "RESULTS_PREFIX": "incoming/results/"}
    run = run_task(moto_endpoint, env)
    assert run.returncode == 2
    assert "overlaps" in run.logs[-1]["message"]


def test_processing_function_that_raises_exits_1_with_its_message(
    moto_endpoint: str, bucket: str
) -> None:
    _put(moto_endpoint, bucket, "incoming/bad.csv", b"a,b,c,d\n1,2\n")
    cmd = [sys.executable, str(PROGRAMS / "raising_task.py")]
    run = run_task(moto_endpoint, {"S3_BUCKET": bucket, "S3_KEY": "incoming/bad.csv"}, cmd=cmd)
    assert run.returncode == 1
    assert "ValueError: cannot parse row 3: expected 4 columns" in run.logs[-1]["message"]
    keys = boto3.client("s3", endpoint_url=moto_endpoint).list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in keys["Contents"]] == ["incoming/bad.csv"]  # no result written


def test_as_file_gives_libraries_a_file_object(moto_endpoint: str, bucket: str) -> None:
    body = "".join(f"{i},naïve,{i * 2}\r\n" for i in range(20_000)).encode()
    _put(moto_endpoint, bucket, "incoming/rows.csv", body)
    cmd = [sys.executable, str(PROGRAMS / "csv_task.py")]
    run = run_task(moto_endpoint, {"S3_BUCKET": bucket, "S3_KEY": "incoming/rows.csv"}, cmd=cmd)
    assert run.returncode == 0, run.stdout + run.stderr
    result = read_result(moto_endpoint, bucket, "results/rows.csv.json")
    assert result["rows"] == 20_000
    assert result["columns"] == 3
