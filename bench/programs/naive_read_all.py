"""Naive: read the whole object into memory, then hash it (what bounded streaming avoids)."""

import hashlib
import os

import boto3

s3 = boto3.client("s3")
data = s3.get_object(Bucket=os.environ["S3_BUCKET"], Key=os.environ["S3_KEY"])["Body"].read()
print(hashlib.sha256(data).hexdigest(), data.count(b"\n"))
