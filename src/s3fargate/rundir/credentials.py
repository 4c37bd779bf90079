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


#: The account of every local resource: the embedded server's (moto's own default).
LOCAL_ACCOUNT = "123456789012"
#: Each component's own access key on the embedded server: the server authorises a call
#: signed with one against that component's role, as IAM does on AWS (the pipeline's plumbing
#: and the user sign with ``LOCAL_CREDENTIALS``, which are not checked).
COMPONENT_KEYS = {
    "runner": "S3FARGATELOCALRUNNER",
    "tracker": "S3FARGATELOCALTRACKER",
    "reconciler": "S3FARGATELOCALRECONCILER",
    "task": "S3FARGATELOCALTASK",
}


def local_session(*, embedded: bool, component: str | None = None) -> boto3.session.Session:
    """A boto3 session for the pipeline's server: throwaway credentials for the embedded one
    (``component``'s own key when given), the user's own (environment, profile) for an
    ``--endpoint`` server."""
    if not embedded:
        return boto3.session.Session(region_name=LOCAL_REGION)
    return boto3.session.Session(
        region_name=LOCAL_REGION,
        aws_access_key_id=COMPONENT_KEYS[component]
        if component
        else LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def credentials_shell_prefix() -> str:
    """``AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=…`` for a command line shown to the user."""
    return " ".join(f"{name}={value}" for name, value in LOCAL_CREDENTIALS.items())
