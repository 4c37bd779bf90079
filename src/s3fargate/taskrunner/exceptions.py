"""Errors of the runner."""

from __future__ import annotations


class RecordFailedError(RuntimeError):
    """One SQS record had at least one object that could not be launched."""
