"""The tracker Lambda and the reconciler: how each job ends, and its retries."""

from s3fargate.tracker.actions import JobActions
from s3fargate.tracker.config import TrackerConfig
from s3fargate.tracker.reconciler import Reconciler, ReconcileReport
from s3fargate.tracker.tracker import Tracker

__all__ = ["JobActions", "ReconcileReport", "Reconciler", "Tracker", "TrackerConfig"]
