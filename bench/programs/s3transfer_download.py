"""Baseline: s3transfer's download_file (its default concurrency) to a file on disk; prints
the download's own seconds to stderr as ``transfer_s=…``."""

import os
import sys
import tempfile
import time

import boto3

s3 = boto3.client("s3")
with tempfile.TemporaryDirectory() as folder:
    start = time.perf_counter()
    s3.download_file(os.environ["S3_BUCKET"], os.environ["S3_KEY"], os.path.join(folder, "object"))
    print(f"transfer_s={time.perf_counter() - start}", file=sys.stderr)
