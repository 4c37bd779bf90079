"""The synthesized template, resolved for a fake account, so its policies can be evaluated
with the project's IAM evaluator (:mod:`s3fargate.iam.policy`).

CloudFormation's ``Ref``, ``Fn::GetAtt``, ``Fn::Join``, ``Fn::Sub``, ``Fn::Select`` and
``Fn::Split`` are resolved to strings for a fake account, Region and partition, each resource
getting a physical name (its logical id) and the ARN, URL or id its type's ``Ref`` and
``GetAtt`` return.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from s3fargate.iam.policy import ACCOUNT, Decision, Policy, Request, as_list, evaluate

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = [
    "ACCOUNT",
    "OTHER_ACCOUNT",
    "PARTITION",
    "REGION",
    "Decision",
    "Policy",
    "Request",
    "ResolvedTemplate",
    "evaluate",
]

OTHER_ACCOUNT = "444455556666"
REGION = "eu-west-1"
PARTITION = "aws"
URL_SUFFIX = "amazonaws.com"


# --- the template ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Physical:
    """What ``Ref`` and ``Fn::GetAtt`` of a resource type return, from its physical name."""

    ref: str
    attributes: Mapping[str, str]


_ARN = "arn:{partition}:{service}:{region}:{account}:"
_PHYSICAL: dict[str, _Physical] = {
    "AWS::SQS::Queue": _Physical(
        "https://sqs.{region}.{url_suffix}/{account}/{name}",
        {
            "Arn": _ARN.replace("{service}", "sqs") + "{name}",
            "QueueName": "{name}",
            "QueueUrl": "https://sqs.{region}.{url_suffix}/{account}/{name}",
        },
    ),
    "AWS::SNS::Topic": _Physical(
        _ARN.replace("{service}", "sns") + "{name}",
        {"TopicArn": _ARN.replace("{service}", "sns") + "{name}", "TopicName": "{name}"},
    ),
    "AWS::S3::Bucket": _Physical("{name}", {"Arn": "arn:{partition}:s3:::{name}"}),
    "AWS::KMS::Key": _Physical(
        "{name}", {"Arn": _ARN.replace("{service}", "kms") + "key/{name}", "KeyId": "{name}"}
    ),
    "AWS::DynamoDB::Table": _Physical(
        "{name}", {"Arn": _ARN.replace("{service}", "dynamodb") + "table/{name}"}
    ),
    "AWS::Lambda::Function": _Physical(
        "{name}", {"Arn": _ARN.replace("{service}", "lambda") + "function:{name}"}
    ),
    "AWS::IAM::Role": _Physical(
        "{name}", {"Arn": "arn:{partition}:iam::{account}:role/{name}", "RoleId": "{name}"}
    ),
    "AWS::Events::Rule": _Physical(
        "{name}", {"Arn": _ARN.replace("{service}", "events") + "rule/{name}"}
    ),
    "AWS::CloudWatch::Alarm": _Physical(
        "{name}", {"Arn": _ARN.replace("{service}", "cloudwatch") + "alarm:{name}"}
    ),
    "AWS::ECS::Cluster": _Physical(
        "{name}", {"Arn": _ARN.replace("{service}", "ecs") + "cluster/{name}"}
    ),
    "AWS::ECS::TaskDefinition": _Physical(
        _ARN.replace("{service}", "ecs") + "task-definition/{name}:1", {}
    ),
    "AWS::Logs::LogGroup": _Physical(
        "{name}", {"Arn": _ARN.replace("{service}", "logs") + "log-group:{name}:*"}
    ),
}


class ResolvedTemplate:
    """A synthesized template whose intrinsic functions resolve to strings for one account."""

    def __init__(
        self,
        template: Mapping[str, Any],
        *,
        account: str = ACCOUNT,
        region: str = REGION,
        partition: str = PARTITION,
        url_suffix: str = URL_SUFFIX,
    ) -> None:
        self.resources: Mapping[str, Mapping[str, Any]] = template["Resources"]
        self.account = account
        self._env = {
            "account": account,
            "region": region,
            "partition": partition,
            "url_suffix": url_suffix,
        }
        self._pseudo = {
            "AWS::AccountId": account,
            "AWS::Region": region,
            "AWS::Partition": partition,
            "AWS::URLSuffix": url_suffix,
        }

    # --- intrinsics --------------------------------------------------------------------------
    def resolve(self, value: Any) -> Any:
        """``value`` with every intrinsic function replaced by its string."""
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((name, arg),) = value.items()
            if name == "Ref":
                return self.ref(arg)
            if name.startswith("Fn::"):
                function = self._functions.get(name)
                if function is None:
                    raise NotImplementedError(f"intrinsic {name} is not modeled")
                return function(arg)
        return {k: self.resolve(v) for k, v in value.items()}

    @property
    def _functions(self) -> dict[str, Callable[[Any], Any]]:
        return {
            "Fn::GetAtt": self._get_att,
            "Fn::Join": self._join,
            "Fn::Sub": self._sub,
            "Fn::Select": self._select,
            "Fn::Split": self._split,
        }

    def _get_att(self, arg: str | list[str]) -> str:
        logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
        return self.get_att(logical_id, attribute)

    def _join(self, arg: list[Any]) -> str:
        separator, parts = arg
        return str(separator).join(str(self.resolve(p)) for p in self.resolve(parts))

    def _select(self, arg: list[Any]) -> Any:
        index, items = arg
        return self.resolve(items)[int(self.resolve(index))]

    def _split(self, arg: list[Any]) -> list[str]:
        separator, text = arg
        return str(self.resolve(text)).split(separator)

    def ref(self, logical_id: str) -> str:
        if logical_id in self._pseudo:
            return self._pseudo[logical_id]
        return self._physical(logical_id).ref.format(**self._names(logical_id))

    def get_att(self, logical_id: str, attribute: str) -> str:
        attributes = self._physical(logical_id).attributes
        if attribute not in attributes:
            raise NotImplementedError(f"{logical_id}.{attribute} is not modeled")
        return attributes[attribute].format(**self._names(logical_id))

    def _physical(self, logical_id: str) -> _Physical:
        kind = self.resources[logical_id]["Type"]
        # A resource type not in the table gets its logical id as Ref and no attributes.
        return _PHYSICAL.get(kind, _Physical("{name}", {}))

    def _names(self, logical_id: str) -> dict[str, str]:
        name = (
            logical_id.lower()
            if self.resources[logical_id]["Type"] == "AWS::S3::Bucket"
            else logical_id
        )
        return {**self._env, "name": name}

    def _sub(self, arg: str | list[Any]) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def replace(match: re.Match[str]) -> str:
            inner = match.group(1)
            if inner.startswith("!"):
                return "${" + inner[1:] + "}"
            if inner in variables:
                return str(self.resolve(variables[inner]))
            if "." in inner and inner not in self._pseudo:
                logical_id, attribute = inner.split(".", 1)
                return self.get_att(logical_id, attribute)
            return self.ref(inner)

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    # --- policies ----------------------------------------------------------------------------
    def of_type(self, kind: str) -> dict[str, Mapping[str, Any]]:
        """The resources of one type, by logical id."""
        return {k: r for k, r in self.resources.items() if r["Type"] == kind}

    def arn(self, logical_id: str) -> str:
        """The resource's ARN (``Ref`` where that is the ARN, else ``Fn::GetAtt Arn``)."""
        kind = self.resources[logical_id]["Type"]
        if kind in ("AWS::SNS::Topic", "AWS::ECS::TaskDefinition"):
            return self.ref(logical_id)
        return self.get_att(logical_id, "Arn")

    def logical_id(self, physical: str) -> str:
        """The resource whose ``Ref`` or ARN is ``physical``."""
        for logical_id in self.resources:
            names = {self.ref(logical_id)}
            if "Arn" in self._physical(logical_id).attributes:
                names.add(self.arn(logical_id))
            if physical in names:
                return logical_id
        raise KeyError(f"no resource of the template is {physical}")

    def resource_policy(self, logical_id: str) -> Policy | None:
        """The policy the service evaluates for this resource, resolved; ``None`` if none.

        SQS queues, SNS topics and S3 buckets: the one policy resource naming the resource (a
        second would replace the first when deployed, so it is an error here). KMS keys: the
        key policy. Lambda functions: a statement per ``AWS::Lambda::Permission``, as Lambda
        writes them.
        """
        kind = self.resources[logical_id]["Type"]
        if kind == "AWS::KMS::Key":
            key_policy: Policy = self.resolve(self.resources[logical_id]["Properties"]["KeyPolicy"])
            return key_policy
        if kind == "AWS::Lambda::Function":
            return self._lambda_policy(logical_id)
        attached = {
            "AWS::SQS::Queue": ("AWS::SQS::QueuePolicy", "Queues"),
            "AWS::SNS::Topic": ("AWS::SNS::TopicPolicy", "Topics"),
            "AWS::S3::Bucket": ("AWS::S3::BucketPolicy", "Bucket"),
        }
        if kind not in attached:
            return None
        policy_type, target = attached[kind]
        me = self.ref(logical_id)
        found = [
            p["Properties"]["PolicyDocument"]
            for p in self.of_type(policy_type).values()
            if me in as_list(self.resolve(p["Properties"][target]))
        ]
        if len(found) > 1:
            raise ValueError(f"{logical_id} has {len(found)} {policy_type}s; one would win")
        if not found:
            return None
        policy: Policy = self.resolve(found[0])
        return policy

    def _lambda_policy(self, logical_id: str) -> Policy | None:
        names = {self.ref(logical_id), self.arn(logical_id)}
        statements = []
        for permission in self.of_type("AWS::Lambda::Permission").values():
            properties = self.resolve(permission["Properties"])
            if properties["FunctionName"] not in names:
                continue
            principal = properties["Principal"]
            condition: dict[str, dict[str, str]] = {}
            if "SourceArn" in properties:
                condition["ArnLike"] = {"AWS:SourceArn": properties["SourceArn"]}
            if "SourceAccount" in properties:
                condition["StringEquals"] = {"AWS:SourceAccount": properties["SourceAccount"]}
            statements.append(
                {
                    "Effect": "Allow",
                    "Principal": (
                        {"Service": principal}
                        if principal.endswith(".amazonaws.com")
                        else {"AWS": principal}
                    ),
                    "Action": properties["Action"],
                    "Resource": self.arn(logical_id),
                    "Condition": condition,
                }
            )
        return {"Version": "2012-10-17", "Statement": statements} if statements else None

    def identity_policies(self, role_logical_id: str) -> list[Policy]:
        """The role's inline policies and the ``AWS::IAM::Policy`` resources attached to it,
        resolved (managed policies attached by ARN are not in the template)."""
        role = self.resources[role_logical_id]
        policies = [p["PolicyDocument"] for p in role["Properties"].get("Policies", [])]
        me = self.ref(role_logical_id)
        for policy in self.of_type("AWS::IAM::Policy").values():
            if me in self.resolve(policy["Properties"].get("Roles", [])):
                policies.append(policy["Properties"]["PolicyDocument"])
        return [self.resolve(p) for p in policies]

    def role_of_function(self, function_logical_id: str) -> str:
        """The logical id of the function's execution role."""
        role = self.resources[function_logical_id]["Properties"]["Role"]
        return str(role["Fn::GetAtt"][0])
