"""The IAM policy evaluator the delivery tests rely on, on hand-made policies and templates."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.iam_eval import (
    ACCOUNT,
    OTHER_ACCOUNT,
    Decision,
    Request,
    ResolvedTemplate,
    evaluate,
)

QUEUE = f"arn:aws:sqs:eu-west-1:{ACCOUNT}:jobs"
BUCKET = "arn:aws:s3:::uploads"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/runner"
OTHER_ROLE = f"arn:aws:iam::{OTHER_ACCOUNT}:role/runner"
ALARM = f"arn:aws:cloudwatch:eu-west-1:{ACCOUNT}:alarm:dead-letters"


def _policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _allow(**elements: Any) -> dict[str, Any]:
    return {"Effect": "Allow", **elements}


def _deny(**elements: Any) -> dict[str, Any]:
    return {"Effect": "Deny", **elements}


S3_SENDS = _allow(
    Principal={"Service": "s3.amazonaws.com"},
    Action="sqs:SendMessage",
    Resource=QUEUE,
    Condition={
        "ArnLike": {"aws:SourceArn": BUCKET},
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
    },
)
TLS_ONLY = _deny(
    Principal={"AWS": "*"},
    Action="sqs:*",
    Resource=QUEUE,
    Condition={"Bool": {"aws:SecureTransport": "false"}},
)


def _from_s3(**context: str | bool) -> Request:
    base: dict[str, str | bool] = {
        "aws:SourceArn": BUCKET,
        "aws:SourceAccount": ACCOUNT,
        "aws:SecureTransport": True,
    }
    return Request("s3.amazonaws.com", "sqs:SendMessage", QUEUE, {**base, **context})


# --- decisions -------------------------------------------------------------------------------
def test_a_resource_policy_naming_the_service_allows() -> None:
    assert evaluate(_from_s3(), resource_policy=_policy(S3_SENDS)) is Decision.ALLOWED


def test_an_explicit_deny_wins_over_every_allow() -> None:
    policy = _policy(S3_SENDS, TLS_ONLY)
    assert evaluate(_from_s3(), resource_policy=policy) is Decision.ALLOWED
    insecure = _from_s3(**{"aws:SecureTransport": False})
    assert evaluate(insecure, resource_policy=policy) is Decision.DENIED
    role = Request(ROLE, "sqs:SendMessage", QUEUE, {"aws:SecureTransport": False})
    identity = _policy(_allow(Action="sqs:SendMessage", Resource=QUEUE))
    assert evaluate(role, resource_policy=policy, identity_policies=[identity]) is (Decision.DENIED)
    denied_by_identity = _policy(
        _allow(Action="sqs:*", Resource="*"), _deny(Action="sqs:Send*", Resource="*")
    )
    assert (
        evaluate(role, resource_policy=None, identity_policies=[denied_by_identity])
        is Decision.DENIED
    )


def test_nothing_allows_means_not_allowed() -> None:
    assert evaluate(_from_s3(), resource_policy=None) is Decision.NOT_ALLOWED
    assert evaluate(_from_s3(), resource_policy=_policy(TLS_ONLY)) is Decision.NOT_ALLOWED


def test_a_service_principal_has_no_identity_policies() -> None:
    identity = _policy(_allow(Action="*", Resource="*"))
    assert evaluate(_from_s3(), resource_policy=None, identity_policies=[identity]) is (
        Decision.NOT_ALLOWED
    )


def test_a_role_of_the_account_is_allowed_by_its_identity_policy_alone() -> None:
    request = Request(ROLE, "sqs:SendMessage", QUEUE, {"aws:SecureTransport": True})
    identity = _policy(_allow(Action="sqs:SendMessage", Resource=QUEUE))
    assert evaluate(request, resource_policy=None, identity_policies=[identity]) is (
        Decision.ALLOWED
    )
    assert evaluate(request, resource_policy=None) is Decision.NOT_ALLOWED
    by_name = _policy(_allow(Principal={"AWS": ROLE}, Action="sqs:SendMessage", Resource=QUEUE))
    assert evaluate(request, resource_policy=by_name) is Decision.ALLOWED


def test_naming_the_account_delegates_to_identity_policies() -> None:
    request = Request(ROLE, "sqs:SendMessage", QUEUE)
    to_account = _policy(
        _allow(Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, Action="sqs:*", Resource="*")
    )
    assert evaluate(request, resource_policy=to_account) is Decision.NOT_ALLOWED
    # ... and never names a service principal
    assert evaluate(_from_s3(), resource_policy=to_account) is Decision.NOT_ALLOWED


def test_a_role_of_another_account_needs_both_policies() -> None:
    request = Request(OTHER_ROLE, "sqs:SendMessage", QUEUE)
    identity = _policy(_allow(Action="sqs:SendMessage", Resource=QUEUE))
    to_them = _policy(
        _allow(Principal={"AWS": OTHER_ACCOUNT}, Action="sqs:SendMessage", Resource=QUEUE)
    )
    assert evaluate(request, resource_policy=None, identity_policies=[identity]) is (
        Decision.NOT_ALLOWED
    )
    assert evaluate(request, resource_policy=to_them) is Decision.NOT_ALLOWED
    assert evaluate(request, resource_policy=to_them, identity_policies=[identity]) is (
        Decision.ALLOWED
    )


def test_a_key_policy_must_allow_itself_or_delegate_to_iam() -> None:
    key = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/k"
    request = Request(ROLE, "kms:GenerateDataKey", key)
    identity = _policy(_allow(Action=["kms:Decrypt", "kms:GenerateDataKey*"], Resource=key))
    delegates = _policy(
        _allow(Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, Action="kms:*", Resource="*")
    )
    cloudwatch_only = _policy(
        _allow(Principal={"Service": "cloudwatch.amazonaws.com"}, Action="kms:*", Resource="*")
    )

    def decide(policy: dict[str, Any], identities: list[dict[str, Any]]) -> Decision:
        return evaluate(
            request, resource_policy=policy, identity_policies=identities, key_policy=True
        )

    assert decide(delegates, [identity]) is Decision.ALLOWED
    assert decide(delegates, []) is Decision.NOT_ALLOWED
    # Unlike other resources, the identity policy alone is not enough for a key.
    assert decide(cloudwatch_only, [identity]) is Decision.NOT_ALLOWED


# --- actions and resources -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pattern", "action", "matches"),
    [
        ("sqs:SendMessage", "sqs:SendMessage", True),
        ("sqs:Send*", "sqs:SendMessageBatch", True),
        ("SQS:sendmessage", "sqs:SendMessage", True),  # actions are case-insensitive
        ("sqs:*", "sqs:SendMessage", True),
        ("*", "sqs:SendMessage", True),
        ("sqs:?endMessage", "sqs:SendMessage", True),
        ("sqs:?Message", "sqs:SendMessage", False),
        ("sqs:Receive*", "sqs:SendMessage", False),
        ("sns:*", "sqs:SendMessage", False),
    ],
)
def test_actions_match_with_wildcards_ignoring_case(
    pattern: str, action: str, matches: bool
) -> None:
    policy = _policy(_allow(Principal="*", Action=pattern, Resource="*"))
    request = Request("s3.amazonaws.com", action, QUEUE)
    expected = Decision.ALLOWED if matches else Decision.NOT_ALLOWED
    assert evaluate(request, resource_policy=policy) is expected


def test_not_action_and_not_resource_invert_the_match() -> None:
    request = Request("s3.amazonaws.com", "sqs:SendMessage", QUEUE)
    all_but_delete = _policy(_allow(Principal="*", NotAction="sqs:Delete*", Resource="*"))
    assert evaluate(request, resource_policy=all_but_delete) is Decision.ALLOWED
    all_but_send = _policy(_allow(Principal="*", NotAction="sqs:send*", Resource="*"))
    assert evaluate(request, resource_policy=all_but_send) is Decision.NOT_ALLOWED
    elsewhere = _policy(_allow(Principal="*", Action="sqs:*", NotResource=QUEUE))
    assert evaluate(request, resource_policy=elsewhere) is Decision.NOT_ALLOWED


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [
        (QUEUE, True),
        (f"arn:aws:sqs:eu-west-1:{ACCOUNT}:*", True),
        (f"arn:aws:sqs:eu-west-1:{ACCOUNT}:j?bs", True),
        (f"arn:aws:sqs:eu-west-1:{ACCOUNT}:JOBS", False),  # resources are case-sensitive
        (f"arn:aws:sqs:eu-west-1:{OTHER_ACCOUNT}:jobs", False),
    ],
)
def test_resources_match_with_wildcards(pattern: str, matches: bool) -> None:
    policy = _policy(_allow(Principal="*", Action="sqs:*", Resource=pattern))
    expected = Decision.ALLOWED if matches else Decision.NOT_ALLOWED
    request = Request("s3.amazonaws.com", "sqs:SendMessage", QUEUE)
    assert evaluate(request, resource_policy=policy) is expected


# --- conditions ------------------------------------------------------------------------------
def _with_condition(condition: dict[str, Any]) -> dict[str, Any]:
    return _policy(
        _allow(
            Principal={"Service": "cloudwatch.amazonaws.com"},
            Action="sns:Publish",
            Resource="*",
            Condition=condition,
        )
    )


def _publish(**context: str | bool) -> Request:
    return Request("cloudwatch.amazonaws.com", "sns:Publish", "arn:aws:sns:eu-west-1:1:t", context)


@pytest.mark.parametrize("operator", ["ArnEquals", "ArnLike"])
def test_a_wrong_source_arn_fails_the_condition(operator: str) -> None:
    policy = _with_condition({operator: {"aws:SourceArn": ALARM}})
    assert evaluate(_publish(**{"aws:SourceArn": ALARM}), resource_policy=policy) is (
        Decision.ALLOWED
    )
    other = ALARM.replace("dead-letters", "somebody-elses")
    assert evaluate(_publish(**{"aws:SourceArn": other}), resource_policy=policy) is (
        Decision.NOT_ALLOWED
    )
    foreign = ALARM.replace(ACCOUNT, OTHER_ACCOUNT)
    assert evaluate(_publish(**{"aws:SourceArn": foreign}), resource_policy=policy) is (
        Decision.NOT_ALLOWED
    )


def test_arn_wildcards_stay_within_their_part() -> None:
    any_alarm = _with_condition(
        {"ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:*:{ACCOUNT}:alarm:*"}}
    )
    assert evaluate(_publish(**{"aws:SourceArn": ALARM}), resource_policy=any_alarm) is (
        Decision.ALLOWED
    )
    # "*" in the Region part cannot swallow the account part.
    spanning = _with_condition({"ArnLike": {"aws:SourceArn": "arn:aws:cloudwatch:*:alarm:*"}})
    assert evaluate(_publish(**{"aws:SourceArn": ALARM}), resource_policy=spanning) is (
        Decision.NOT_ALLOWED
    )


def test_a_missing_key_fails_unless_if_exists() -> None:
    strict = _with_condition({"ArnEquals": {"aws:SourceArn": ALARM}})
    lenient = _with_condition({"ArnEqualsIfExists": {"aws:SourceArn": ALARM}})
    assert evaluate(_publish(), resource_policy=strict) is Decision.NOT_ALLOWED
    assert evaluate(_publish(), resource_policy=lenient) is Decision.ALLOWED
    # IfExists still tests a key that is there.
    wrong = _publish(**{"aws:SourceArn": ALARM + "-2"})
    assert evaluate(wrong, resource_policy=lenient) is Decision.NOT_ALLOWED
    deny_plain = _policy(
        _deny(
            Principal="*",
            Action="*",
            Resource="*",
            Condition={"Bool": {"aws:SecureTransport": "false"}},
        )
    )
    deny_if_exists = _policy(
        _deny(
            Principal="*",
            Action="*",
            Resource="*",
            Condition={"BoolIfExists": {"aws:SecureTransport": "false"}},
        )
    )
    assert evaluate(_publish(), resource_policy=deny_plain) is Decision.NOT_ALLOWED
    assert evaluate(_publish(), resource_policy=deny_if_exists) is Decision.DENIED


def test_negated_operators_hold_when_no_value_matches_or_the_key_is_absent() -> None:
    other_accounts_denied = _policy(
        S3_SENDS,
        _deny(
            Principal={"Service": "s3.amazonaws.com"},
            Action="sqs:SendMessage",
            Resource=QUEUE,
            Condition={"StringNotEquals": {"aws:SourceAccount": ACCOUNT}},
        ),
    )
    assert evaluate(_from_s3(), resource_policy=other_accounts_denied) is Decision.ALLOWED
    foreign = _from_s3(**{"aws:SourceAccount": "999999999999"})
    assert evaluate(foreign, resource_policy=other_accounts_denied) is Decision.DENIED
    missing = Request("s3.amazonaws.com", "sqs:SendMessage", QUEUE, {"aws:SourceArn": BUCKET})
    assert evaluate(missing, resource_policy=other_accounts_denied) is Decision.DENIED


def test_keys_and_operators_are_and_values_are_or() -> None:
    policy = _with_condition(
        {
            "ArnLike": {"aws:SourceArn": [ALARM + "-2", ALARM]},  # either alarm
            "StringEquals": {"aws:SourceAccount": ACCOUNT},
        }
    )
    both = {"aws:SourceArn": ALARM, "aws:SourceAccount": ACCOUNT}
    assert evaluate(_publish(**both), resource_policy=policy) is Decision.ALLOWED
    wrong_account = {**both, "aws:SourceAccount": OTHER_ACCOUNT}
    assert evaluate(_publish(**wrong_account), resource_policy=policy) is Decision.NOT_ALLOWED
    only_arn = {"aws:SourceArn": ALARM}
    assert evaluate(_publish(**only_arn), resource_policy=policy) is Decision.NOT_ALLOWED


def test_key_names_ignore_case_values_do_not() -> None:
    policy = _with_condition({"StringEquals": {"AWS:SourceAccount": ACCOUNT}})
    assert evaluate(_publish(**{"aws:sourceaccount": ACCOUNT}), resource_policy=policy) is (
        Decision.ALLOWED
    )
    like = _with_condition({"StringLike": {"aws:SourceArn": "*:alarm:Dead-*"}})
    assert evaluate(_publish(**{"aws:SourceArn": ALARM}), resource_policy=like) is (
        Decision.NOT_ALLOWED
    )


def test_what_is_not_modeled_is_refused() -> None:
    with pytest.raises(NotImplementedError, match="NotPrincipal"):
        evaluate(
            _publish(),
            resource_policy=_policy(_allow(NotPrincipal={"AWS": ROLE}, Action="*", Resource="*")),
        )
    with pytest.raises(NotImplementedError, match="NumericLessThan"):
        evaluate(_publish(), resource_policy=_with_condition({"NumericLessThan": {"k": "1"}}))
    with pytest.raises(NotImplementedError, match="ForAnyValue"):
        evaluate(
            _publish(), resource_policy=_with_condition({"ForAnyValue:StringLike": {"k": "1"}})
        )


# --- the template ----------------------------------------------------------------------------
TEMPLATE: dict[str, Any] = {
    "Resources": {
        "Queue": {"Type": "AWS::SQS::Queue"},
        "Bucket": {"Type": "AWS::S3::Bucket"},
        "Topic": {"Type": "AWS::SNS::Topic"},
        "Fn": {
            "Type": "AWS::Lambda::Function",
            "Properties": {"Role": {"Fn::GetAtt": ["Role", "Arn"]}},
        },
        "Role": {"Type": "AWS::IAM::Role", "Properties": {}},
        "Rule": {"Type": "AWS::Events::Rule"},
        "QueuePolicy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {"Queues": [{"Ref": "Queue"}], "PolicyDocument": _policy(S3_SENDS)},
        },
        "Invoke": {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": {"Fn::GetAtt": ["Fn", "Arn"]},
                "Principal": "events.amazonaws.com",
                "SourceArn": {"Fn::GetAtt": ["Rule", "Arn"]},
            },
        },
        "RolePolicy": {
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "Roles": [{"Ref": "Role"}],
                "PolicyDocument": _policy(_allow(Action="sns:Publish", Resource={"Ref": "Topic"})),
            },
        },
    }
}


def test_intrinsics_resolve_to_the_fake_accounts_names() -> None:
    t = ResolvedTemplate(TEMPLATE)
    assert t.ref("Queue") == f"https://sqs.eu-west-1.amazonaws.com/{ACCOUNT}/Queue"
    assert t.get_att("Queue", "Arn") == f"arn:aws:sqs:eu-west-1:{ACCOUNT}:Queue"
    assert t.get_att("Queue", "QueueName") == "Queue"
    assert t.ref("Topic") == f"arn:aws:sns:eu-west-1:{ACCOUNT}:Topic"
    assert t.arn("Bucket") == "arn:aws:s3:::bucket"
    assert t.ref("Fn") == "Fn"
    assert t.logical_id(f"arn:aws:sqs:eu-west-1:{ACCOUNT}:Queue") == "Queue"
    assert t.logical_id("Fn") == "Fn"
    assert t.resolve({"Fn::GetAtt": "Rule.Arn"}) == f"arn:aws:events:eu-west-1:{ACCOUNT}:rule/Rule"
    joined = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::", {"Ref": "Bucket"}]]}
    assert t.resolve(joined) == "arn:aws:s3:::bucket"
    sub = {"Fn::Sub": ["${AWS::Region}/${Queue.QueueName}/${X}/${!Literal}", {"X": {"Ref": "Fn"}}]}
    assert t.resolve(sub) == "eu-west-1/Queue/Fn/${Literal}"
    assert t.resolve({"Fn::Select": [3, {"Fn::Split": ["/", {"Ref": "Queue"}]}]}) == ACCOUNT
    with pytest.raises(NotImplementedError, match="Fn::If"):
        t.resolve({"Fn::If": ["C", "a", "b"]})


def test_policies_are_found_by_what_they_name() -> None:
    t = ResolvedTemplate(TEMPLATE)
    queue_policy = t.resource_policy("Queue")
    assert queue_policy is not None
    assert evaluate(_from_s3(), resource_policy=queue_policy) is Decision.ALLOWED
    assert t.resource_policy("Topic") is None
    (identity,) = t.identity_policies(t.role_of_function("Fn"))
    publish = Request(t.arn("Role"), "sns:Publish", t.arn("Topic"))
    assert evaluate(publish, resource_policy=None, identity_policies=[identity]) is (
        Decision.ALLOWED
    )


def test_lambda_permissions_become_the_functions_policy() -> None:
    t = ResolvedTemplate(TEMPLATE)
    policy = t.resource_policy("Fn")
    invoke = Request(
        "events.amazonaws.com",
        "lambda:InvokeFunction",
        t.arn("Fn"),
        {"aws:SourceArn": t.arn("Rule")},
    )
    assert evaluate(invoke, resource_policy=policy) is Decision.ALLOWED
    other_rule = Request(
        invoke.principal, invoke.action, invoke.resource, {"aws:SourceArn": t.arn("Rule") + "2"}
    )
    assert evaluate(other_rule, resource_policy=policy) is Decision.NOT_ALLOWED


def test_a_second_policy_for_one_queue_is_an_error() -> None:
    resources = dict(TEMPLATE["Resources"])
    resources["Again"] = resources["QueuePolicy"]
    with pytest.raises(ValueError, match="one would win"):
        ResolvedTemplate({"Resources": resources}).resource_policy("Queue")
