"""A small IAM policy evaluator: who may do what to which resource, as IAM decides it.

It proves the stack's deliveries (tests) and authorises every call of each component of the
local pipeline against the policies the construct synthesizes (``s3fargate.iam.authority``).

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
  matched on its own) and ``Bool``, each also ``...IfExists``, and their negations. Keys of one
  operator and operators of one statement must all match (AND); the values of one key are
  alternatives (OR); a key missing from the request fails its operator unless it is
  ``...IfExists`` (a negated operator holds).

What it leaves out, raising ``NotImplementedError`` where a policy uses it rather than answer
wrongly: ``NotPrincipal``, other principal types, set operators (``ForAnyValue:``,
``ForAllValues:``), numeric or date operators, and policy variables. It never sees service
control policies, permission boundaries, session policies, grants, VPC endpoint policies, AWS
managed policies attached by ARN, or a service's default resource policy.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

Policy = dict[str, Any]

#: The account a request is evaluated in when none is given.
ACCOUNT = "111122223333"


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


def as_list(value: Any) -> list[Any]:
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
        for value in as_list(values):
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
    patterns = as_list(positive if positive is not None else negative)
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
                if value is not None and any(match(_text(v), value) for v in as_list(values)):
                    return False
                continue
            if value is None:
                if if_exists:
                    continue
                return False
            if not any(match(_text(v), value) for v in as_list(values)):
                return False
    return True


# --- principals and ARNs ---------------------------------------------------------------------
def _is_role(principal: str) -> bool:
    return principal.startswith("arn:")


def _account_of(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[4] or None if len(parts) > 5 and parts[0] == "arn" else None
