"""Baseline: a raw boto3 get_object read loop (1 MiB reads), no processing."""

import os

import boto3

s3 = boto3.client("s3")
body = s3.get_object(Bucket=os.environ["S3_BUCKET"], Key=os.environ["S3_KEY"])["Body"]
total = 0
while chunk := body.read(1024 * 1024):
    total += len(chunk)
print(total)
