"""Same work as the fingerprint task, in one plain loop without read-ahead (for comparison)."""

import hashlib
import os

import boto3

s3 = boto3.client("s3")
body = s3.get_object(Bucket=os.environ["S3_BUCKET"], Key=os.environ["S3_KEY"])["Body"]
digest, newlines = hashlib.sha256(), 0
while chunk := body.read(1024 * 1024):
    digest.update(chunk)
    newlines += chunk.count(b"\n")
print(digest.hexdigest(), newlines)
