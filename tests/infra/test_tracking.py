"""The job ledger's infrastructure: table, rule, queue, tracker, schedule, topic, alarms, IAM."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from aws_cdk.assertions import Match

from s3fargate.ledger.store import STATUS_INDEX
from tests.infra.conftest import task_definition_family_arn

if TYPE_CHECKING:
    from s3fargate.infra import S3TriggeredFargateTask
    from tests.infra.conftest import Synth

TRACKER = "s3fargate.tracker.handler.handler"
RUNNER = "s3fargate.taskrunner.handler.handler"
RECONCILER = "s3fargate.tracker.handler.reconcile"


def _function(synth: Synth, name: str, handler: str) -> tuple[str, dict[str, Any]]:
    found = synth.templates[name].find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": handler}}
    )
    assert len(found) == 1
    ((logical_id, function),) = found.items()
    return logical_id, function


def _role_statements(synth: Synth, name: str, handler: str) -> list[dict[str, Any]]:
    """Every statement of the inline policies attached to the function's role."""
    _, function = _function(synth, name, handler)
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = []
    for policy in synth.templates[name].find_resources("AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"]["Roles"]:
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def _resources(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


def test_table_is_on_demand_recoverable_encrypted_with_ttl_and_retained(synth: Synth) -> None:
    template = synth.templates["default"]
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "DeletionPolicy": "Retain",
            "Properties": {
                "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": [{"AttributeName": "job_id", "KeyType": "HASH"}],
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "SSESpecification": {"SSEEnabled": True},
                "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
                "GlobalSecondaryIndexes": [
                    Match.object_like(
                        {
                            "IndexName": "by-status",
                            "KeySchema": [
                                {"AttributeName": "status", "KeyType": "HASH"},
                                {"AttributeName": "updated_at", "KeyType": "RANGE"},
                            ],
                        }
                    )
                ],
            },
        },
    )


def test_rule_sends_only_this_pipelines_task_changes_to_the_events_queue(synth: Synth) -> None:
    pipeline = synth.construct("default")
    rules = synth.templates["default"].find_resources(
        "AWS::Events::Rule", {"Properties": {"EventPattern": {"source": ["aws.ecs"]}}}
    )
    ((_, rule),) = rules.items()
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["detail-type"] == ["ECS Task State Change"]
    assert pattern["detail"] == {
        "clusterArn": [synth.resolve("default", pipeline.cluster.cluster_arn)],
        "startedBy": [pipeline.pipeline_id],
        # How each task ended is what the ledger needs; each event costs requests.
        "lastStatus": ["STOPPED"],
    }
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == synth.resolve("default", pipeline.tracking.events_queue.queue_arn)


def test_track_running_also_sends_running_changes(synth: Synth) -> None:
    rules = synth.templates["private"].find_resources(
        "AWS::Events::Rule", {"Properties": {"EventPattern": {"source": ["aws.ecs"]}}}
    )
    ((_, rule),) = rules.items()
    assert rule["Properties"]["EventPattern"]["detail"]["lastStatus"] == ["RUNNING", "STOPPED"]


def test_events_queue_has_its_own_dead_letter_queue(synth: Synth) -> None:
    tracking = synth.construct("default").tracking
    queue = synth.resolve("default", tracking.events_queue.node.default_child.logical_id)  # type: ignore[union-attr]
    properties = synth.templates["default"].to_json()["Resources"][queue]["Properties"]
    assert properties["RedrivePolicy"]["deadLetterTargetArn"] == synth.resolve(
        "default", tracking.events_dead_letter_queue.queue_arn
    )
    assert properties["SqsManagedSseEnabled"] is True


def test_events_reach_sqs_through_a_queue_policy_for_this_rule_only(synth: Synth) -> None:
    tracking = synth.construct("default").tracking
    policies = synth.templates["default"].find_resources("AWS::SQS::QueuePolicy")
    queue = synth.resolve("default", tracking.events_queue.queue_arn)
    allows = [
        s
        for p in policies.values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow" and s["Resource"] == queue
    ]
    (allow,) = allows
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Condition"] == {
        "ArnEquals": {"aws:SourceArn": synth.resolve("default", tracking.rule.rule_arn)}
    }


def test_tracker_reads_the_events_queue_with_partial_batch_failures(synth: Synth) -> None:
    tracking = synth.construct("default").tracking
    logical_id, _ = _function(synth, "default", TRACKER)
    synth.templates["default"].has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "FunctionName": {"Ref": logical_id},
            "EventSourceArn": synth.resolve("default", tracking.events_queue.queue_arn),
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "BatchSize": 10,
            "ScalingConfig": {"MaximumConcurrency": 2},
        },
    )


def test_reconciler_runs_every_five_minutes(synth: Synth) -> None:
    logical_id, _ = _function(synth, "default", RECONCILER)
    synth.templates["default"].has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "rate(5 minutes)",
            "Targets": [Match.object_like({"Arn": {"Fn::GetAtt": [logical_id, "Arn"]}})],
        },
    )


@pytest.mark.parametrize("handler", [TRACKER, RECONCILER])
def test_tracker_and_reconciler_configuration(synth: Synth, handler: str) -> None:
    pipeline = synth.construct("private")
    _, function = _function(synth, "private", handler)
    env = function["Properties"]["Environment"]["Variables"]
    assert env["JOBS_TABLE"] == synth.resolve("private", pipeline.table.table_name)
    assert env["QUEUE_URL"] == synth.resolve("private", pipeline.queue.queue_url)
    assert env["CLUSTER_ARN"] == synth.resolve("private", pipeline.cluster.cluster_arn)
    assert env["PIPELINE_ID"] == pipeline.pipeline_id
    assert env["NOTIFICATION_TOPIC_ARN"] == synth.resolve("private", pipeline.topic.topic_arn)
    assert env["MAX_ATTEMPTS"] == "5"
    assert env["RETRY_EXIT_CODES"] == "75,111"
    assert env["JOB_TTL_DAYS"] == "30"
    assert env["INPUT_PREFIX"] == "incoming/"
    assert env["RESULTS_PREFIX"] == "results/"
    assert env["CONTAINER_NAME"] == "task"


def test_runner_records_jobs_in_the_ledger(synth: Synth) -> None:
    pipeline = synth.construct("default")
    _, function = _function(synth, "default", "s3fargate.taskrunner.handler.handler")
    env = function["Properties"]["Environment"]["Variables"]
    assert env["JOBS_TABLE"] == synth.resolve("default", pipeline.table.table_name)
    assert env["PIPELINE_ID"] == pipeline.pipeline_id
    assert env["MAX_RECEIVE_COUNT"] == "5"
    assert env["NOTIFICATION_TOPIC_ARN"] == synth.resolve("default", pipeline.topic.topic_arn)


def test_topic_is_encrypted_with_a_rotated_key_that_alarms_may_use(synth: Synth) -> None:
    pipeline = synth.construct("default")
    template = synth.templates["default"]
    (topic,) = template.find_resources("AWS::SNS::Topic").values()
    key_id = topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    key = template.to_json()["Resources"][key_id]
    assert key["Properties"]["EnableKeyRotation"] is True
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    (alarms,) = [s for s in statements if s.get("Sid") == "CloudWatchAlarmsPublish"]
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert alarms["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    # TLS only
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            },
            "Topics": [synth.resolve("default", pipeline.topic.topic_arn)],
        },
    )


def test_email_subscription_only_when_asked(synth: Synth) -> None:
    synth.templates["default"].resource_count_is("AWS::SNS::Subscription", 0)
    synth.templates["private"].has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"}
    )


def test_dead_letter_queues_alarm_to_the_topic(synth: Synth) -> None:
    pipeline = synth.construct("default")
    alarms = synth.templates["default"].find_resources(
        "AWS::CloudWatch::Alarm",
        {"Properties": {"MetricName": "ApproximateNumberOfMessagesVisible"}},
    )
    assert len(alarms) == 3
    queues = set()
    for alarm in alarms.values():
        properties = alarm["Properties"]
        assert properties["MetricName"] == "ApproximateNumberOfMessagesVisible"
        assert properties["Threshold"] == 1
        assert properties["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert properties["AlarmActions"] == [synth.resolve("default", pipeline.topic.topic_arn)]
        (dimension,) = properties["Dimensions"]
        queues.add(str(dimension["Value"]))
    assert queues == {
        str(synth.resolve("default", pipeline.dead_letter_queue.queue_name)),
        str(synth.resolve("default", pipeline.tracking.events_dead_letter_queue.queue_name)),
        str(synth.resolve("default", pipeline.tracking.reconciler_dead_letter_queue.queue_name)),
    }


def test_runner_may_only_get_put_and_update_rows_and_publish(synth: Synth) -> None:
    pipeline = synth.construct("default")
    statements = _role_statements(synth, "default", "s3fargate.taskrunner.handler.handler")
    (rows,) = [s for s in statements if s.get("Sid") == "RecordJobs"]
    # UpdateItem: a capped admission updates the slot counter in its transaction, which IAM
    # authorises item by item.
    assert _actions(rows) == ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
    assert _resources(rows) == [synth.resolve("default", pipeline.table.table_arn)]
    publish = [s for s in statements if "sns:Publish" in _actions(s)]
    assert [_resources(s) for s in publish] == [
        [synth.resolve("default", pipeline.topic.topic_arn)]
    ]


@pytest.mark.parametrize("handler", [TRACKER, RECONCILER])
def test_tracker_and_reconciler_roles_are_least_privilege(synth: Synth, handler: str) -> None:
    pipeline: S3TriggeredFargateTask = synth.construct("default")
    statements = _role_statements(synth, "default", handler)
    table = synth.resolve("default", pipeline.table.table_arn)
    for statement in statements:
        for action in _actions(statement):
            service, _, name = action.partition(":")
            # No wildcard actions on the ledger, the queues or the topic.
            if service in ("dynamodb", "sqs", "sns"):
                assert "*" not in name, action
    dynamo = [s for s in statements if any(a.startswith("dynamodb:") for a in _actions(s))]
    rows, listing = dynamo
    assert _actions(rows) == ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
    assert _resources(rows) == [table]
    # Query on the status index only: not the table, not every index.
    assert _actions(listing) == ["dynamodb:Query"]
    assert _resources(listing) == [{"Fn::Join": ["", [table, f"/index/{STATUS_INDEX}"]]}]
    send = [s for s in statements if "sqs:SendMessage" in _actions(s)]
    assert [_resources(s) for s in send] == [[synth.resolve("default", pipeline.queue.queue_arn)]]
    describe = [s for s in statements if "ecs:DescribeTasks" in _actions(s)]
    if handler == TRACKER:
        assert describe == []
    else:
        (statement,) = describe
        assert statement["Condition"] == {
            "ArnEquals": {"ecs:cluster": synth.resolve("default", pipeline.cluster.cluster_arn)}
        }


def test_pipelines_sharing_a_cluster_see_only_their_own_tasks(synth: Synth) -> None:
    template = synth.templates["shared"]
    runners = template.find_resources(
        "AWS::Lambda::Function",
        {"Properties": {"Handler": "s3fargate.taskrunner.handler.handler"}},
    )
    ids = {f["Properties"]["Environment"]["Variables"]["PIPELINE_ID"] for f in runners.values()}
    assert len(ids) == 2
    rules = template.find_resources(
        "AWS::Events::Rule", {"Properties": {"EventPattern": {"source": ["aws.ecs"]}}}
    )
    started_by = {
        tuple(r["Properties"]["EventPattern"]["detail"]["startedBy"]) for r in rules.values()
    }
    assert started_by == {(i,) for i in ids}
    for pipeline_id in ids:
        assert len(pipeline_id) <= 128


@pytest.mark.parametrize("handler", [TRACKER, RECONCILER])
@pytest.mark.parametrize(("stack", "cap"), [("default", None), ("private", "8")])
def test_tracker_and_reconciler_launch_parked_jobs_as_the_runner_does(
    synth: Synth, handler: str, stack: str, cap: str | None
) -> None:
    pipeline: S3TriggeredFargateTask = synth.construct(stack)
    _, function = _function(synth, stack, handler)
    variables = function["Properties"]["Environment"]["Variables"]
    _, runner = _function(synth, stack, RUNNER)
    runner_variables = runner["Properties"]["Environment"]["Variables"]
    assert variables.get("MAX_RUNNING_TASKS") == cap
    assert variables["TASK_DEFINITION_ARN"] == synth.resolve(
        stack, pipeline.task_definition.task_definition_arn
    )
    for name in (
        "CLUSTER_ARN",
        "TASK_DEFINITION_ARN",
        "CONTAINER_NAME",
        "SUBNETS",
        "SECURITY_GROUPS",
        "ASSIGN_PUBLIC_IP",
        "CAPACITY_PROVIDER",
        "MAX_RUNNING_TASKS",
        "PIPELINE_ID",
    ):
        assert variables.get(name) == runner_variables.get(name), name
    statements = _role_statements(synth, stack, handler)
    (run,) = [s for s in statements if "ecs:RunTask" in _actions(s)]
    assert _resources(run) == [synth.resolve(stack, task_definition_family_arn(pipeline))]
    assert run["Condition"] == {
        "ArnEquals": {"ecs:cluster": synth.resolve(stack, pipeline.cluster.cluster_arn)}
    }
    (pass_role,) = [s for s in statements if "iam:PassRole" in _actions(s)]
    assert pass_role["Condition"] == {
        "StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    }
