"""Launching a task: the RunTask request for an object, the launch and what can stop it, and
the launch configuration. The runner launches with it, and so does the tracker's waiting room
(parked jobs), so it belongs to neither.
"""

from s3fargate.launching.config import RunnerConfig
from s3fargate.launching.exceptions import LaunchError
from s3fargate.launching.launcher import Launched, RunTaskLauncher
from s3fargate.launching.request import client_token, run_task_request

__all__ = [
    "LaunchError",
    "Launched",
    "RunTaskLauncher",
    "RunnerConfig",
    "client_token",
    "run_task_request",
]
