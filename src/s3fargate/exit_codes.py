"""Exit codes of the ``s3fargate`` command (documented in the README)."""

from __future__ import annotations

import enum

from s3fargate.contracts import UserError


class CliExit(enum.IntEnum):
    """What ``s3fargate`` exits with."""

    OK = 0
    #: A demo job did not succeed, or the demo timed out.
    JOBS_FAILED = 1
    #: An unexpected error (a bug of ours): one line, the traceback in a log file.
    INTERNAL_ERROR = 1
    #: Bad usage or configuration; the message names the problem.
    USAGE = 2
    #: Stopped by Ctrl-C or SIGTERM (``dev`` always ends so).
    INTERRUPTED = 130


class UsageError(UserError, ValueError):
    """A mistake in what the user asked for; the message says what and how to fix it
    (``s3fargate`` exits with :attr:`CliExit.USAGE`)."""
