"""Baseline: s3transfer's upload_file (its default concurrency) of the local file OUTPUT_FILE;
prints the upload's own seconds to stderr as ``transfer_s=…``."""

import os
import sys
import time

import boto3

s3 = boto3.client("s3")
start = time.perf_counter()
s3.upload_file(os.environ["OUTPUT_FILE"], os.environ["S3_BUCKET"], "results/baseline/out.bin")
print(f"transfer_s={time.perf_counter() - start}", file=sys.stderr)
