"""The job ledger: one row per upload event, changed only by the pure transition function."""

from s3fargate.ledger.changes import (
    Admitted,
    Change,
    DeadLettered,
    Launched,
    NotNeeded,
    RetryRequested,
    TaskChanged,
    TaskLost,
    Waiting,
)
from s3fargate.ledger.identity import client_token, job_id
from s3fargate.ledger.models import FINAL_STATUSES, Job, JobStatus, ObjectRef
from s3fargate.ledger.store import (
    LedgerConflictError,
    LedgerContentionError,
    LedgerStore,
    Slots,
    SlotsFullError,
)
from s3fargate.ledger.transitions import Decision, Policy, RetryOrder, apply

__all__ = [
    "FINAL_STATUSES",
    "Admitted",
    "Change",
    "DeadLettered",
    "Decision",
    "Job",
    "JobStatus",
    "Launched",
    "LedgerConflictError",
    "LedgerContentionError",
    "LedgerStore",
    "NotNeeded",
    "ObjectRef",
    "Policy",
    "RetryOrder",
    "RetryRequested",
    "Slots",
    "SlotsFullError",
    "TaskChanged",
    "TaskLost",
    "Waiting",
    "apply",
    "client_token",
    "job_id",
]
