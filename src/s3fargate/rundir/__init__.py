"""What a local run keeps in its run directory for the other commands: where its server and
resources are (:class:`RunState`), and the credentials that reach its server."""

from s3fargate.rundir.credentials import (
    COMPONENT_KEYS,
    LOCAL_ACCOUNT,
    LOCAL_CREDENTIALS,
    LOCAL_REGION,
    credentials_shell_prefix,
    local_session,
)
from s3fargate.rundir.state import STATE_FILE, RunState

__all__ = [
    "COMPONENT_KEYS",
    "LOCAL_ACCOUNT",
    "LOCAL_CREDENTIALS",
    "LOCAL_REGION",
    "STATE_FILE",
    "RunState",
    "credentials_shell_prefix",
    "local_session",
]
