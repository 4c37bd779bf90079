"""Baseline: s3transfer's download_fileobj (its default concurrency) to disk, then the same
sha256 + line count as the fingerprint task over the downloaded file."""

import os
import tempfile

import boto3

from s3fargate.examples.fingerprint import fingerprint_chunks

s3 = boto3.client("s3")
with tempfile.TemporaryFile() as file:
    s3.download_fileobj(os.environ["S3_BUCKET"], os.environ["S3_KEY"], file)
    file.seek(0)
    print(fingerprint_chunks(iter(lambda: file.read(1024 * 1024), b"")))
