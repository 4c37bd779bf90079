"""The one place that decides which credentials talk to the local pipeline's server."""

from __future__ import annotations

import boto3

#: Region of every local resource (the embedded server accepts any).
LOCAL_REGION = "us-east-1"
#: Throwaway credentials for the embedded server (moto accepts any); never real ones.
LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
}


def local_session(*, embedded: bool) -> boto3.session.Session:
    """A boto3 session for the pipeline's server: throwaway credentials for the embedded one,
    the user's own (environment, profile) for an ``--endpoint`` server."""
    if not embedded:
        return boto3.session.Session(region_name=LOCAL_REGION)
    return boto3.session.Session(
        region_name=LOCAL_REGION,
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def credentials_shell_prefix() -> str:
    """``AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=…`` for a command line shown to the user."""
    return " ".join(f"{name}={value}" for name, value in LOCAL_CREDENTIALS.items())
