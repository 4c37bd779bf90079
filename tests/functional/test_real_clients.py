"""Real clients against the local pipeline: the AWS CLI and boto3's transfer manager send
large files as multipart uploads, and each object is still one job, as on S3."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from boto3.s3.transfer import TransferConfig

from s3fargate.rundir.credentials import LOCAL_CREDENTIALS, LOCAL_REGION
from tests.devserver import Dev, dev_pipeline, wait_for

if TYPE_CHECKING:
    from collections.abc import Iterator

AWS_CLI = str(Path(sys.executable).parent / "aws")
MB = 1000 * 1000


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    if not Path(AWS_CLI).exists():
        pytest.fail(f"the AWS CLI is needed: {AWS_CLI} is missing (make test installs it)")
    with dev_pipeline(tmp_path_factory.mktemp("clients")) as running:
        yield running


def _aws(dev: Dev, tmp_path: Path, *args: str, chunk: str | None = None) -> None:
    """The AWS CLI, as ``dev`` prints it, with its own configuration (and part size)."""
    config = tmp_path / "aws-config"
    s3 = (
        f"s3 =\n  multipart_threshold = {chunk}\n  multipart_chunksize = {chunk}\n" if chunk else ""
    )
    config.write_text(f"[default]\nregion = {LOCAL_REGION}\n{s3}")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        **LOCAL_CREDENTIALS,
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }
    done = subprocess.run(
        [AWS_CLI, "--endpoint-url", dev.state.endpoint, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _jobs_for(dev: Dev, keys: list[str]) -> dict[str, list[dict[str, Any]]]:
    jobs = dev.jobs()
    return {key: [j for j in jobs if j["key"] == key] for key in keys}


def _processed(dev: Dev, keys: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Once every key's job succeeded: each key's jobs."""

    def done() -> dict[str, list[dict[str, Any]]] | None:
        found = _jobs_for(dev, keys)
        ok = all(any(j["status"] == "succeeded" for j in jobs) for jobs in found.values())
        return found if ok else None

    wait_for(done, 120, "every upload's job to succeed")
    # Nothing more is on its way: the queue holds no second announcement of any of them.
    wait_for(
        lambda: (
            dev.sqs.get_queue_attributes(
                QueueUrl=dev.state.queue_url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]
            == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}
        ),
        60,
        "the upload queue to be empty",
    )
    return _jobs_for(dev, keys)


@pytest.mark.parametrize("chunk", [None, "5MB"], ids=["cli-default-parts", "5-MB-parts"])
def test_aws_s3_cp_of_20_mb_is_one_job(dev: Dev, tmp_path: Path, chunk: str | None) -> None:
    # GIVEN a 20 MB file, which the AWS CLI sends as a multipart upload
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(20 * MB))
    key = f"incoming/cp-{chunk or 'default'}.bin"
    # WHEN it is copied with the very command dev prints
    _aws(dev, tmp_path, "s3", "cp", str(big), f"s3://{dev.state.bucket}/{key}", chunk=chunk)
    # THEN one job ran one task for it, and the task read the whole object
    jobs = _processed(dev, [key])[key]
    assert len(jobs) == 1
    assert len(jobs[0]["task_arns"]) == 1
    result = dev.result(key)
    assert result is not None
    assert result["size"] == 20 * MB


def test_boto3_upload_file_of_20_mb_is_one_job(dev: Dev, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(20 * MB))
    key = "incoming/upload-file.bin"
    dev.s3.upload_file(str(big), dev.state.bucket, key, Config=TransferConfig())
    jobs = _processed(dev, [key])[key]
    assert len(jobs) == 1
    assert len(jobs[0]["task_arns"]) == 1


def test_aws_s3_sync_of_20_files_is_20_jobs(dev: Dev, tmp_path: Path) -> None:
    folder = tmp_path / "batch"
    folder.mkdir()
    for n in range(20):
        (folder / f"file {n:02d}.bin").write_bytes(os.urandom((9 if n % 4 == 0 else 1) * MB))
    _aws(dev, tmp_path, "s3", "sync", str(folder), f"s3://{dev.state.bucket}/incoming/batch/")
    keys = [f"incoming/batch/file {n:02d}.bin" for n in range(20)]
    jobs = _processed(dev, keys)
    assert {key: len(found) for key, found in jobs.items()} == dict.fromkeys(keys, 1)
