"""A small IAM policy evaluator, for proving that the template's deliveries are allowed.

What it models, for one request in one account (the resource's):

- **Decision**: an explicit ``Deny`` in any policy that applies wins; otherwise the request is
  allowed by an ``Allow`` in the resource policy naming the principal (a service principal, a
  role ARN, or ``*``), or, for an IAM role of the resource's account, by an ``Allow`` in the
  role's identity policies. A resource policy naming an account (its root ARN or its id) only
  delegates to that account's identity policies. A role of another account needs both
  policies. Anything else is not allowed (an implicit deny).
- **KMS**: the key policy is the only resource policy and must allow, either directly or by
  naming the account root, in which case the identity policies must allow too.
- **Elements**: ``Effect``, ``Principal`` (``*``, ``{"AWS": ...}``, ``{"Service": ...}``),
  ``Action``/``NotAction`` (``*`` and ``?``, case-insensitive), ``Resource``/``NotResource``
  (``*`` and ``?``, case-sensitive, matched on the whole ARN), ``Condition`` with
  ``StringEquals``, ``StringLike``, ``ArnEquals``, ``ArnLike`` (each of the six ARN parts
  matched on its own) and ``Bool``, each also ``...IfExists``. Keys of one operator and
  operators of one statement must all match (AND); the values of one key are alternatives
  (OR); a key missing from the request fails its operator unless it is ``...IfExists``.
- **Template**: CloudFormation's ``Ref``, ``Fn::GetAtt``, ``Fn::Join``, ``Fn::Sub``,
  ``Fn::Select`` and ``Fn::Split`` are resolved to strings for a fake account, Region and
  partition, each resource getting a physical name (its logical id) and the ARN, URL or id its
  type's ``Ref`` and ``GetAtt`` return.

What it leaves out, raising ``NotImplementedError`` where a policy uses it rather than answer
wrongly: ``NotPrincipal``, other principal types, set operators (``ForAnyValue:``,
``ForAllValues:``), negated and numeric or date operators, and policy variables. It never sees
service control policies, permission boundaries, session policies, grants, VPC endpoint
policies, AWS managed policies attached by ARN, or a service's default resource policy (a
resource without a policy in the template is evaluated with none).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

Policy = dict[str, Any]

ACCOUNT = "111122223333"
OTHER_ACCOUNT = "444455556666"
REGION = "eu-west-1"
PARTITION = "aws"
URL_SUFFIX = "amazonaws.com"


class Decision(enum.Enum):
    """How IAM answers a request."""

    ALLOWED = "allowed"
    DENIED = "explicitly denied"
    NOT_ALLOWED = "not allowed (implicit deny)"


@dataclass(frozen=True)
class Request:
    """Who asks to do what to which resource, with the request's condition keys."""

    principal: str  # "s3.amazonaws.com" or "arn:aws:iam::111122223333:role/Name"
    action: str  # "sqs:SendMessage"
    resource: str  # the resource's ARN
    context: Mapping[str, str | bool] = field(default_factory=dict)


def evaluate(
    request: Request,
    *,
    resource_policy: Policy | None,
    identity_policies: Sequence[Policy] = (),
    key_policy: bool = False,
    account: str = ACCOUNT,
) -> Decision:
    """Evaluate ``request`` against the resource policy (the key policy if ``key_policy``) and,
    when the principal is an IAM role, the role's identity policies; ``account`` owns the
    resource (an S3 ARN does not say which)."""
    grants: set[_Grant] = set()
    for statement in _statements(resource_policy):
        grant = _principal_grant(statement, request.principal)
        if grant is _Grant.NONE or not _applies(statement, request):
            continue
        if statement["Effect"] == "Deny":
            return Decision.DENIED
        grants.add(grant)
    identity_allows = False
    if _is_role(request.principal):  # a service principal has no identity policies
        for statement in (s for p in identity_policies for s in _statements(p)):
            if "Principal" in statement or "NotPrincipal" in statement:
                raise ValueError(f"an identity policy names no principal: {statement}")
            if not _applies(statement, request):
                continue
            if statement["Effect"] == "Deny":
                return Decision.DENIED
            identity_allows = True
    if key_policy:
        # KMS: the key policy must allow, itself or by delegating to the account's IAM policies.
        allowed = _Grant.DIRECT in grants or (_Grant.ACCOUNT in grants and identity_allows)
    elif not _is_role(request.principal):
        allowed = _Grant.DIRECT in grants
    elif _account_of(request.principal) == account:
        allowed = _Grant.DIRECT in grants or identity_allows
    else:  # a role of another account needs both sides
        allowed = bool(grants) and identity_allows
    return Decision.ALLOWED if allowed else Decision.NOT_ALLOWED


# --- statements ------------------------------------------------------------------------------
class _Grant(enum.Enum):
    NONE = "the statement does not name the principal"
    DIRECT = "names the principal itself (or everyone)"
    ACCOUNT = "names the principal's account: delegates to its identity policies"


def _statements(policy: Policy | None) -> list[dict[str, Any]]:
    if policy is None:
        return []
    statements = policy["Statement"]
    return [statements] if isinstance(statements, dict) else list(statements)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _principal_grant(statement: Mapping[str, Any], principal: str) -> _Grant:
    if "NotPrincipal" in statement:
        raise NotImplementedError("NotPrincipal is not modeled")
    named = statement.get("Principal")
    if named is None:
        raise ValueError(f"a resource policy statement names no principal: {statement}")
    if named == "*":
        return _Grant.DIRECT
    if not isinstance(named, dict):
        raise ValueError(f"a principal is '*' or a mapping: {named!r}")
    grants = {_Grant.NONE}
    for kind, values in named.items():
        for value in _as_list(values):
            if kind == "Service":
                grants.add(_Grant.DIRECT if value == principal else _Grant.NONE)
            elif kind == "AWS":
                grants.add(_aws_principal_grant(str(value), principal))
            else:
                raise NotImplementedError(f"principal type {kind!r} is not modeled")
    for grant in (_Grant.DIRECT, _Grant.ACCOUNT):
        if grant in grants:
            return grant
    return _Grant.NONE


def _aws_principal_grant(named: str, principal: str) -> _Grant:
    if named == "*":
        return _Grant.DIRECT
    if not _is_role(principal):
        return _Grant.NONE  # an account or a role never names a service principal
    root = re.fullmatch(r"arn:[^:]+:iam::(\d{12}):root|(\d{12})", named)
    if root is not None:
        account = root.group(1) or root.group(2)
        return _Grant.ACCOUNT if account == _account_of(principal) else _Grant.NONE
    return _Grant.DIRECT if named == principal else _Grant.NONE


def _applies(statement: Mapping[str, Any], request: Request) -> bool:
    """Action, resource and conditions match (the principal is checked by the caller)."""
    return (
        _matches_element(statement, "Action", request.action, case_sensitive=False)
        and _matches_element(statement, "Resource", request.resource, case_sensitive=True)
        and _conditions_hold(statement.get("Condition", {}), request.context)
    )


def _matches_element(
    statement: Mapping[str, Any], name: str, value: str, *, case_sensitive: bool
) -> bool:
    positive, negative = statement.get(name), statement.get(f"Not{name}")
    if (positive is None) == (negative is None):
        raise ValueError(f"a statement needs exactly one of {name} and Not{name}: {statement}")
    patterns = _as_list(positive if positive is not None else negative)
    matched = any(_glob(str(p), value, case_sensitive=case_sensitive) for p in patterns)
    return matched if positive is not None else not matched


@cache
def _glob_regex(pattern: str, case_sensitive: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.DOTALL if case_sensitive else re.DOTALL | re.IGNORECASE)


def _glob(pattern: str, value: str, *, case_sensitive: bool = True) -> bool:
    """IAM's wildcards: ``*`` any run of characters, ``?`` any one character."""
    return _glob_regex(pattern, case_sensitive).fullmatch(value) is not None


# --- conditions ------------------------------------------------------------------------------
def _string_equals(pattern: str, value: str) -> bool:
    return pattern == value


def _string_like(pattern: str, value: str) -> bool:
    return _glob(pattern, value)


def _arn_like(pattern: str, value: str) -> bool:
    # ArnEquals and ArnLike are the same test: each of the six colon-separated parts on its own.
    pattern_parts, value_parts = pattern.split(":", 5), value.split(":", 5)
    if len(pattern_parts) != 6 or len(value_parts) != 6:
        return False
    return all(_glob(p, v) for p, v in zip(pattern_parts, value_parts, strict=True))


def _bool(pattern: str, value: str) -> bool:
    return pattern.lower() == value.lower()


_OPERATORS = {
    "StringEquals": _string_equals,
    "StringLike": _string_like,
    "ArnEquals": _arn_like,
    "ArnLike": _arn_like,
    "Bool": _bool,
}
#: The negated operators: true when the value matches none of the condition's values, and
#: (as IAM documents) when the key is absent from the request.
_NEGATED = {
    "StringNotEquals": _string_equals,
    "StringNotLike": _string_like,
    "ArnNotEquals": _arn_like,
    "ArnNotLike": _arn_like,
}


def _text(value: str | bool) -> str:
    return str(value).lower() if isinstance(value, bool) else value


def _conditions_hold(conditions: Mapping[str, Any], context: Mapping[str, str | bool]) -> bool:
    # Condition key names are case-insensitive; their values are not (but for Bool).
    known = {key.lower(): _text(value) for key, value in context.items()}
    for operator, tests in conditions.items():
        if ":" in operator:
            raise NotImplementedError(f"set operator {operator!r} is not modeled")
        name, if_exists = operator, operator.endswith("IfExists")
        if if_exists:
            name = operator.removesuffix("IfExists")
        negated = name in _NEGATED
        match = _NEGATED.get(name) or _OPERATORS.get(name)
        if match is None:
            raise NotImplementedError(f"condition operator {operator!r} is not modeled")
        for key, values in tests.items():
            value = known.get(key.lower())
            if negated:
                if value is not None and any(match(_text(v), value) for v in _as_list(values)):
                    return False
                continue
            if value is None:
                if if_exists:
                    continue
                return False
            if not any(match(_text(v), value) for v in _as_list(values)):
                return False
    return True


# --- principals and ARNs ---------------------------------------------------------------------
def _is_role(principal: str) -> bool:
    return principal.startswith("arn:")


def _account_of(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[4] or None if len(parts) > 5 and parts[0] == "arn" else None


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
            if me in _as_list(self.resolve(p["Properties"][target]))
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
