"""Operator commands against a deployed stack: a CloudFormation stack on the moto server with
the construct's output names, its table, queues, bucket and task logs."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.stub import Stubber

from s3fargate import cli
from s3fargate.contracts import StackOutput
from s3fargate.events.ecs import parse_task_state_change
from s3fargate.exit_codes import CliExit
from s3fargate.ledger import JobStatus, Launched, LedgerStore, ObjectRef, TaskChanged
from s3fargate.local.resources import create_jobs_table
from s3fargate.ops import target as ops_target
from tests.builders import ecs_event
from tests.devserver import CLI

if TYPE_CHECKING:
    from pathlib import Path

REGION = "us-east-1"


@pytest.fixture
def stack(moto_endpoint: str) -> dict[str, str]:
    """The resources of a deployed pipeline, and a stack whose outputs name them."""
    suffix = uuid.uuid4().hex[:8]
    session = boto3.session.Session(region_name=REGION)
    s3 = session.client("s3", endpoint_url=moto_endpoint)
    sqs = session.client("sqs", endpoint_url=moto_endpoint)
    logs = session.client("logs", endpoint_url=moto_endpoint)
    bucket = f"inbox-{suffix}"
    s3.create_bucket(Bucket=bucket)
    table = f"jobs-{suffix}"
    create_jobs_table(session.client("dynamodb", endpoint_url=moto_endpoint), table)
    queue = sqs.create_queue(QueueName=f"q-{suffix}")["QueueUrl"]
    dlq = sqs.create_queue(QueueName=f"dlq-{suffix}")["QueueUrl"]
    group = f"/tasks/{suffix}"
    logs.create_log_group(logGroupName=group)
    out = StackOutput
    outputs = {
        out.BUCKET: bucket,
        out.QUEUE_URL: queue,
        out.DEAD_LETTER_QUEUE_URL: dlq,
        out.JOBS_TABLE: table,
        out.TASK_LOG_GROUP: group,
        out.INPUT_PREFIX: "incoming/",
        out.RESULTS_PREFIX: "results/",
        out.TASK_CONTAINER_NAME: "task",
        out.NOTIFICATION_TOPIC_ARN: f"arn:aws:sns:{REGION}:123456789012:t",
    }
    name = f"Pipeline{suffix}"
    session.client("cloudformation", endpoint_url=moto_endpoint).create_stack(
        StackName=name, TemplateBody=json.dumps(_template(outputs))
    )
    return {"name": name, "endpoint": moto_endpoint, **outputs}


def _template(outputs: dict[str, str]) -> dict[str, Any]:
    return {
        "Resources": {"Placeholder": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {k: {"Value": v} for k, v in outputs.items()},
    }


def _run(stack: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_ENDPOINT_URL": stack["endpoint"], "AWS_DEFAULT_REGION": REGION}
    return subprocess.run(
        [CLI, *args, "--stack", stack["name"]],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**env, "COLUMNS": "200"},
    )


def _store(stack: dict[str, str]) -> LedgerStore:
    dynamodb = boto3.client("dynamodb", endpoint_url=stack["endpoint"], region_name=REGION)
    return LedgerStore(dynamodb=dynamodb, table=stack["JobsTableName"])


def _finished_job(stack: dict[str, str], job: str, key: str, stopped: str, task: str) -> None:
    store = _store(stack)
    arn = f"arn:aws:ecs:{REGION}:123456789012:task/c/{task}"
    store.apply(job, Launched(ObjectRef(bucket=stack["BucketName"], key=key, etag="e"), 1, arn))
    event = ecs_event(stopped, job_id=job, task_arn=arn, key=key)
    store.apply(job, TaskChanged(parse_task_state_change(event)))


def _messages(stack: dict[str, str], queue: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", endpoint_url=stack["endpoint"], region_name=REGION)
    found = []
    while batch := sqs.receive_message(QueueUrl=stack[queue], MaxNumberOfMessages=10).get(
        "Messages", []
    ):
        found.extend(json.loads(m["Body"]) for m in batch)
    return found


def test_jobs_lists_the_ledger_of_the_stack(stack: dict[str, str]) -> None:
    _finished_job(stack, "j-ok", "incoming/ok.csv", "fargate-stopped-exit-0", "t1")
    _finished_job(stack, "j-bad", "incoming/bad.csv", "fargate-stopped-exit-1", "t2")
    listed = _run(stack, "jobs", "--json")
    assert listed.returncode == 0, listed.stderr
    assert {j["key"]: j["status"] for j in json.loads(listed.stdout)} == {
        "incoming/ok.csv": "succeeded",
        "incoming/bad.csv": "failed",
    }
    failed = json.loads(_run(stack, "jobs", "--json", "--status", "failed").stdout)
    assert [j["key"] for j in failed] == ["incoming/bad.csv"]
    table = _run(stack, "jobs")
    assert "incoming/ok.csv" in table.stdout
    assert "dead-letter queue: 0" in table.stdout
    chart = _run(stack, "jobs", "--timeline")
    assert chart.returncode == 0, chart.stderr
    assert "where the time went" in chart.stdout


def test_retry_queues_the_next_attempt_through_the_runner(stack: dict[str, str]) -> None:
    _finished_job(stack, "j-bad", "incoming/bad.csv", "fargate-stopped-exit-1", "t2")
    proc = _run(stack, "retry", "bad.csv")
    assert proc.returncode == 0, proc.stderr
    assert "queued incoming/bad.csv: attempt 2" in proc.stdout
    row = _store(stack).get("j-bad")
    assert row is not None
    assert row.status is JobStatus.RETRYING
    [request] = _messages(stack, "QueueUrl")
    assert (request["s3fargate"], request["job_id"], request["attempt"]) == ("retry", "j-bad", 2)


def test_backfill_queues_each_unprocessed_object_once(stack: dict[str, str]) -> None:
    s3 = boto3.client("s3", endpoint_url=stack["endpoint"], region_name=REGION)
    bucket = stack["BucketName"]
    for key in ("incoming/new 1.csv", "incoming/new+2.csv", "incoming/done.csv", "other/x"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    s3.put_object(Bucket=bucket, Key="results/done.csv.json", Body=b"{}")
    dry = _run(stack, "backfill", "--dry-run")
    assert "2 object(s) would be queued" in dry.stdout
    first = _run(stack, "backfill")
    assert first.returncode == 0, first.stderr
    assert "2 object(s) queued" in first.stdout
    second = _run(stack, "backfill")
    assert "0 object(s) queued" in second.stdout
    events = _messages(stack, "QueueUrl")
    assert len(events) == 2
    # each is an S3 notification the runner decodes to the exact key
    from s3fargate.events import parse_event

    keys = sorted(item.key for e in events for item in parse_event(e))  # type: ignore[union-attr]
    assert keys == ["incoming/new 1.csv", "incoming/new+2.csv"]
    waiting = [j for j in _store(stack).jobs() if j.status is JobStatus.WAITING]
    assert len(waiting) == 2


def test_logs_reads_every_attempt_from_cloudwatch(stack: dict[str, str]) -> None:
    _finished_job(stack, "j-ok", "incoming/ok.csv", "fargate-stopped-exit-0", "task-id-1")
    logs = boto3.client("logs", endpoint_url=stack["endpoint"], region_name=REGION)
    stream = "task/task/task-id-1"
    logs.create_log_stream(logGroupName=stack["TaskLogGroup"], logStreamName=stream)
    logs.put_log_events(
        logGroupName=stack["TaskLogGroup"],
        logStreamName=stream,
        logEvents=[{"timestamp": int(time.time() * 1000), "message": '{"message": "start"}'}],
    )
    proc = _run(stack, "logs", "incoming/ok.csv")
    assert proc.returncode == 0, proc.stderr
    assert '{"message": "start"}' in proc.stdout


def test_redrive_uses_sqs_message_move_task(
    stack: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # moto has no StartMessageMoveTask: the AWS call is stubbed, everything else is real.
    real = ops_target.stack_target

    def stubbed(name: str, session: Any) -> ops_target.Target:
        target = real(name, boto3.session.Session(region_name=REGION))
        stubber = Stubber(target.sqs)
        for url, arn in (
            (target.dlq_url, "arn:dlq"),
            (target.dlq_url, None),
            (target.queue_url, "arn:q"),
        ):
            if arn is None:
                stubber.add_response(
                    "get_queue_attributes",
                    {"Attributes": {"ApproximateNumberOfMessages": "4"}},
                    {"QueueUrl": url, "AttributeNames": ["ApproximateNumberOfMessages"]},
                )
            else:
                stubber.add_response(
                    "get_queue_attributes",
                    {"Attributes": {"QueueArn": arn}},
                    {"QueueUrl": url, "AttributeNames": ["QueueArn"]},
                )
        stubber.add_response(
            "start_message_move_task",
            {"TaskHandle": "h"},
            {"SourceArn": "arn:dlq", "DestinationArn": "arn:q"},
        )
        stubber.activate()
        return target

    monkeypatch.setenv("AWS_ENDPOINT_URL", stack["endpoint"])
    monkeypatch.setattr(ops_target, "stack_target", stubbed)
    assert cli.main(["redrive", "--stack", stack["name"]]) == CliExit.OK
    assert "SQS is moving 4 message(s)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["jobs", "--stack", "NoSuchStack"], "--stack NoSuchStack"),
        (["jobs", "--status", "done"], "--status 'done' is not a status"),
        (["jobs", "--since", "yesterday"], "--since 'yesterday'"),
        (["logs", "incoming/never.csv"], "no job for key 'incoming/never.csv'"),
        (["retry", "incoming/never.csv"], "no job for key"),
        (["retry"], "retry needs the KEY of each job to retry, or --failed"),
    ],
)
def test_bad_operator_input_exits_2_naming_the_problem(
    stack: dict[str, str], args: list[str], message: str
) -> None:
    env = {**os.environ, "AWS_ENDPOINT_URL": stack["endpoint"], "AWS_DEFAULT_REGION": REGION}
    argv = [CLI, *args] if "--stack" in args else [CLI, *args, "--stack", stack["name"]]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, env=env)
    assert proc.returncode == CliExit.USAGE, proc.stdout + proc.stderr
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_stack_without_the_outputs_is_refused(stack: dict[str, str], tmp_path: Path) -> None:
    cloudformation = boto3.client(
        "cloudformation", endpoint_url=stack["endpoint"], region_name=REGION
    )
    name = f"NotOurs{uuid.uuid4().hex[:6]}"
    cloudformation.create_stack(
        StackName=name, TemplateBody=json.dumps(_template({"BucketName": "b"}))
    )
    env = {**os.environ, "AWS_ENDPOINT_URL": stack["endpoint"], "AWS_DEFAULT_REGION": REGION}
    proc = subprocess.run(
        [CLI, "jobs", "--stack", name], capture_output=True, text=True, check=False, env=env
    )
    assert proc.returncode == CliExit.USAGE
    assert "has no output(s) QueueUrl" in proc.stderr


def _clean_aws_environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """This environment without any AWS configuration (no region, no credentials)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    empty = tmp_path / "empty-aws-config"
    empty.write_text("")
    return {
        **env,
        "AWS_CONFIG_FILE": str(empty),
        "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        "AWS_EC2_METADATA_DISABLED": "true",
        **extra,
    }


def test_a_stack_command_without_a_region_says_what_to_set(tmp_path: Path) -> None:
    proc = subprocess.run(
        [CLI, "jobs", "--stack", "S3Fargate"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=_clean_aws_environment(tmp_path),
    )
    assert proc.returncode == CliExit.USAGE, proc.stderr
    assert "no AWS Region is set: set AWS_DEFAULT_REGION" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_a_stack_command_without_credentials_says_what_to_set(tmp_path: Path) -> None:
    proc = subprocess.run(
        [CLI, "jobs", "--stack", "S3Fargate"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=_clean_aws_environment(tmp_path, AWS_DEFAULT_REGION="eu-west-1"),
    )
    assert proc.returncode == CliExit.USAGE, proc.stderr
    assert "no AWS credentials found" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_an_endpoint_that_answers_html_is_one_line_not_a_page(tmp_path: Path) -> None:
    # GIVEN an endpoint that answers every request with an HTML page (a wrong URL)
    import http.server
    import threading

    class Html(http.server.BaseHTTPRequestHandler):
        status = 200

        def do_POST(self) -> None:
            body = b"<html><body>" + b"<p>not an AWS service</p>" * 200 + b"</body></html>"
            self.send_response(self.status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Html)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    answers = []
    try:
        env = _clean_aws_environment(
            tmp_path,
            AWS_DEFAULT_REGION="eu-west-1",
            AWS_ACCESS_KEY_ID="x",
            AWS_SECRET_ACCESS_KEY="x",
            AWS_ENDPOINT_URL=f"http://127.0.0.1:{server.server_address[1]}",
        )
        for status in (200, 404):  # a page where an API answer should be, or a missing page
            Html.status = status
            answers.append(
                subprocess.run(
                    [CLI, "jobs", "--stack", "S3Fargate"],
                    capture_output=True,
                    text=True,
                    timeout=60,
                    check=False,
                    env=env,
                )
            )
    finally:
        server.shutdown()
    # THEN one line says the endpoint is not CloudFormation, and the exit code is 2
    for proc in answers:
        assert proc.returncode == CliExit.USAGE, proc.stderr
        assert "as CloudFormation does" in proc.stderr
        assert "<p>" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
