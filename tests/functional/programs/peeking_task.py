"""A task that reads an object outside the input prefix (``elsewhere/secret.txt``), as a task
exploited by an upload might: its role must refuse it."""

import os
import sys

import boto3
from botocore.exceptions import ClientError

s3 = boto3.client("s3")
try:
    body = s3.get_object(Bucket=os.environ["S3_BUCKET"], Key="elsewhere/secret.txt")["Body"]
except ClientError as exc:
    print(f"refused: {exc.response['Error']['Code']}: {exc}", flush=True)
    sys.exit(9)
print(f"read: {body.read().decode()}", flush=True)
