"""IAM in the loop: the project's policy evaluator, what each API call needs, and the
authority that checks every call of each component against its role (no CDK, no moto)."""

from s3fargate.iam.actions import Need, UnmodeledOperationError, World, needs
from s3fargate.iam.authority import Authority, Denial, Identity
from s3fargate.iam.policy import Decision, Policy, Request, evaluate

__all__ = [
    "Authority",
    "Decision",
    "Denial",
    "Identity",
    "Need",
    "Policy",
    "Request",
    "UnmodeledOperationError",
    "World",
    "evaluate",
    "needs",
]
