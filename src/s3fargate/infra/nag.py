"""cdk-nag (AwsSolutions) acknowledgements for what the construct creates, each with a reason.

cdk-nag 3 reads CDK's own ``Validations.of(scope).acknowledge``; a wildcard finding is named by
its resource as cdk-nag prints it (``<LogicalId.Arn>/incoming/*``), computed here from the
template, never hard-coded with a hash.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_cdk import Acknowledgment, Stack, Validations

if TYPE_CHECKING:
    from constructs import IConstruct

LAMBDA_BASIC_EXECUTION = (
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
    "AWSLambdaBasicExecutionRole]"
)


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one finding (``rule`` may name a resource: ``AwsSolutions-IAM5[...]``)."""
    Validations.of(scope).acknowledge(Acknowledgment(id=rule, reason=reason))


def wildcard_finding(scope: IConstruct, resource: str) -> str:
    """The IAM5 finding id cdk-nag reports for a wildcard ``resource`` (an ARN, maybe a token)."""
    return f"AwsSolutions-IAM5[Resource::{_flatten(Stack.of(scope).resolve(resource))}]"


def _flatten(value: Any) -> str:
    # The notation cdk-nag uses for intrinsic functions in finding ids.
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((name, arg),) = value.items()
        if name == "Ref":
            return f"<{arg}>"
        if name == "Fn::GetAtt":
            return f"<{arg[0]}.{arg[1]}>"
        if name == "Fn::Join":
            separator, parts = arg
            return str(separator).join(_flatten(p) for p in parts)
    raise ValueError(f"cannot name a cdk-nag finding for {value!r}")
