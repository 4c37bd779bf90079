"""The Lambdas tested as the synthesized template deploys them.

For each of our functions the test takes, from the template, its asset folder, its handler and
its environment (references resolved to resources made for the test on the moto server), and
invokes the handler in a fresh interpreter that has only what Lambda's Python runtime gives
(boto3 and its dependencies) and the asset (our code and the bundled Powertools). ECS is moto's,
over HTTP: its answers reach the functions in ECS's wire format.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import botocore
import pytest

from s3fargate.lambda_runtime.settings import Function, PipelineSettings
from s3fargate.ledger import JobStatus, Launched, LedgerStore, ObjectRef
from s3fargate.local.resources import create_jobs_table
from tests.aws import load_document, validate_request
from tests.builders import ecs_event, s3_notification, sqs_event, sqs_record
from tests.functional.conftest import moto_launch_target

if TYPE_CHECKING:
    from tests.infra.conftest import Synth

pytestmark = pytest.mark.slow

REGION = "us-east-1"
ACCOUNT = "123456789012"
#: What Lambda's Python runtime provides besides the standard library.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six.py", "urllib3")
HANDLERS = {
    "runner": "s3fargate.taskrunner.handler.handler",
    "tracker": "s3fargate.tracker.handler.handler",
    "reconciler": "s3fargate.tracker.handler.reconcile",
}
DRIVER = """
import importlib, json, sys
module_name, _, attr = sys.argv[1].rpartition(".")
handler = getattr(importlib.import_module(module_name), attr)

class Context:
    function_name = "fn"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:fn"
    memory_limit_in_mb = 256
    aws_request_id = "request-1"
    log_group_name = "/aws/lambda/fn"
    log_stream_name = "stream"
    def get_remaining_time_in_millis(self):
        return 60_000

result = handler(json.loads(sys.stdin.read()), Context())
import aws_lambda_powertools
found = {
    "result": result,
    "foreign": [m for m in ("aws_cdk", "moto", "rich", "s3fargate.local") if m in sys.modules],
    "powertools": aws_lambda_powertools.__file__,
}
with open(sys.argv[2], "w") as out:
    json.dump(found, out)
"""


class Deployment:
    """One synthesized stack's functions, deployed onto the moto server."""

    def __init__(self, synth: Synth, stack: str, endpoint: str, tmp: Path) -> None:
        self.stack = stack
        self.template: dict[str, Any] = synth.templates[stack].to_json()
        self.outdir = synth.outdir
        self.endpoint = endpoint
        self.tmp = tmp
        self.runtime = _lambda_runtime(tmp / "runtime")
        self._values: dict[tuple[str, str], str] = {}
        cluster_name = f"cluster-{uuid.uuid4().hex[:8]}"
        self.launch = moto_launch_target(endpoint, cluster_name)
        self.ecs = boto3.client("ecs", endpoint_url=endpoint, region_name=REGION)

    # --- the template's functions -----------------------------------------------------------
    def function(self, role: str) -> dict[str, Any]:
        (function,) = [
            r
            for r in self.template["Resources"].values()
            if r["Type"] == "AWS::Lambda::Function"
            and r["Properties"].get("Handler") == HANDLERS[role]
        ]
        return function

    def environment(self, role: str) -> dict[str, str]:
        variables = self.function(role)["Properties"]["Environment"]["Variables"]
        return {name: self.resolve(value) for name, value in variables.items()}

    def invoke(self, role: str, event: dict[str, Any], **extra_env: str) -> Any:
        function = self.function(role)
        # The asset's S3 key is its content hash; cdk.out holds it as asset.<hash>/.
        asset_hash = function["Properties"]["Code"]["S3Key"].removesuffix(".zip")
        asset = self.outdir / f"asset.{asset_hash}"
        out = self.tmp / f"{role}-{uuid.uuid4().hex[:6]}.json"
        env = {
            "PATH": os.environ.get("PATH", ""),
            # Lambda puts the function's code first, then its runtime's packages.
            "PYTHONPATH": f"{asset}{os.pathsep}{self.runtime}",
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_LAMBDA_FUNCTION_NAME": "fn",
            # Lambda's code folder is read-only: nothing is written into the asset.
            "PYTHONDONTWRITEBYTECODE": "1",
            **self.environment(role),
            **extra_env,
        }
        proc = subprocess.run(
            # -S: no site-packages of this interpreter, only the asset and the runtime's.
            [sys.executable, "-S", "-c", DRIVER, function["Properties"]["Handler"], str(out)],
            input=json.dumps(event),
            env=env,
            capture_output=True,
            text=True,
            check=False,
            cwd=asset,
        )
        assert proc.returncode == 0, proc.stderr
        found = json.loads(out.read_text())
        assert found["foreign"] == []
        assert found["powertools"].startswith(str(asset))
        return found["result"]

    # --- references resolved to test resources ---------------------------------------------
    def resolve(self, value: Any) -> str:
        if isinstance(value, str):
            return value
        if "Ref" in value:
            return self._value(value["Ref"], "Ref")
        if "Fn::GetAtt" in value:
            logical_id, attribute = value["Fn::GetAtt"]
            return self._value(logical_id, attribute)
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return separator.join(self.resolve(part) for part in parts)
        raise AssertionError(f"unresolved intrinsic in a function's environment: {value}")

    def _value(self, logical_id: str, attribute: str) -> str:
        pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws"}
        if logical_id in pseudo:
            return pseudo[logical_id]
        key = (logical_id, attribute)
        if key not in self._values:
            kind = self.template["Resources"][logical_id]["Type"]
            self._values[key] = self._create(kind, attribute)
        return self._values[key]

    def _create(self, kind: str, attribute: str) -> str:
        suffix = uuid.uuid4().hex[:8]
        client = self._client
        if kind == "AWS::DynamoDB::Table":
            create_jobs_table(client("dynamodb"), f"jobs-{suffix}")
            return f"jobs-{suffix}"
        if kind == "AWS::SQS::Queue" and attribute == "Ref":
            return str(client("sqs").create_queue(QueueName=f"q-{suffix}")["QueueUrl"])
        if kind == "AWS::SNS::Topic":
            return str(client("sns").create_topic(Name=f"t-{suffix}")["TopicArn"])
        if kind == "AWS::Logs::LogGroup":
            return f"/test/{suffix}"
        by_kind = {
            "AWS::ECS::Cluster": "CLUSTER_ARN",
            "AWS::ECS::TaskDefinition": "TASK_DEFINITION_ARN",
            "AWS::EC2::Subnet": "SUBNETS",
            "AWS::EC2::SecurityGroup": "SECURITY_GROUPS",
        }
        if kind in by_kind:
            return self.launch[by_kind[kind]]
        raise AssertionError(f"no test resource for {kind} ({attribute})")

    def _client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION)

    def store(self) -> LedgerStore:
        table = self.environment("runner")["JOBS_TABLE"]
        return LedgerStore(dynamodb=self._client("dynamodb"), table=table)


def _lambda_runtime(folder: Path) -> Path:
    """A folder holding only the packages Lambda's Python runtime has (links to ours)."""
    folder.mkdir(parents=True)
    site = Path(botocore.__file__).resolve().parents[1]
    for name in RUNTIME_PACKAGES:
        source = site / name
        assert source.exists(), f"{name} is missing from {site}: run make test's set-up"
        (folder / name).symlink_to(source)
    return folder


@pytest.fixture
def deployment(request: pytest.FixtureRequest, synth: Synth, moto_endpoint: str, tmp_path: Path):
    return Deployment(synth, request.param, moto_endpoint, tmp_path)


@pytest.mark.parametrize("deployment", ["default", "private"], indirect=True)
def test_every_function_reads_its_environment_as_deployed(deployment: Deployment) -> None:
    # GIVEN each function's environment from the template; WHEN its settings are parsed
    for role in HANDLERS:
        environment = deployment.environment(role)
        settings = PipelineSettings.from_environment(environment, Function(role))
        # THEN they render back to exactly that environment: nothing dropped, nothing extra
        assert settings.environment(Function(role)) == environment
        # AND the runner, too, keeps rows as long as the construct's job_ttl_days says
        assert environment["JOB_TTL_DAYS"] == ("30" if deployment.stack == "private" else "90")


@pytest.mark.parametrize("deployment", ["default", "private"], indirect=True)
def test_runner_tracker_and_reconciler_work_as_deployed(deployment: Deployment) -> None:
    runner_env = deployment.environment("runner")
    ttl_days = int(runner_env["JOB_TTL_DAYS"])
    cluster = runner_env["CLUSTER_ARN"]
    store = deployment.store()
    # GIVEN an upload's notification in an SQS batch
    key = f"incoming/as deployed {uuid.uuid4().hex[:6]} ü.csv"
    body = s3_notification(key, bucket="example-inbox", version_id=None)
    batch = sqs_event(sqs_record(body, message_id="m-1"))
    # WHEN the runner, as deployed, handles it
    result = deployment.invoke("runner", batch)
    # THEN one task runs on the cluster, and the job is recorded with the configured TTL
    assert result == {"batchItemFailures": []}
    arns = deployment.ecs.list_tasks(cluster=cluster, startedBy=runner_env["PIPELINE_ID"])
    (task_arn,) = arns["taskArns"]
    (job,) = [j for j in store.jobs() if j.key == key]
    assert (job.status, job.task_arn) == (JobStatus.PENDING, task_arn)
    assert job.expires_at is not None
    assert job.expires_at - job.created_at // 1000 == ttl_days * 86_400

    # WHEN the task's STOPPED event reaches the tracker, as the rule delivers it
    event = ecs_event(
        "fargate-stopped-exit-0",
        job_id=job.job_id,
        attempt=1,
        task_arn=task_arn,
        cluster_arn=cluster,
        started_by=runner_env["PIPELINE_ID"],
        key=key,
    )
    result = deployment.invoke("tracker", sqs_event(sqs_record(event, message_id="e-1")))
    # THEN the job succeeded
    assert result == {"batchItemFailures": []}
    done = store.get(job.job_id)
    assert done is not None
    assert done.status is JobStatus.SUCCEEDED

    # GIVEN another job whose task stopped, quiet for an hour (its events were lost), and ECS
    # answering DescribeTasks over HTTP with its wire document (moto's leaves out `version`)
    quiet_arn = f"{cluster.replace(':cluster/', ':task/')}/{uuid.uuid4().hex}"
    described = load_document("describe-tasks-stopped-exit-0").body["tasks"][0]
    described.update(taskArn=quiet_arn, clusterArn=cluster, startedBy=runner_env["PIPELINE_ID"])
    described["overrides"]["containerOverrides"][0]["environment"] = [
        {"name": "S3FARGATE_JOB_ID", "value": "job-quiet"},
        {"name": "S3FARGATE_ATTEMPT", "value": "1"},
    ]
    an_hour_ago = LedgerStore(
        dynamodb=deployment._client("dynamodb"),
        table=runner_env["JOBS_TABLE"],
        clock=lambda: int((time.time() - 3600) * 1000),
    )
    ref = ObjectRef(bucket="example-inbox", key="incoming/quiet.csv", size=3)
    an_hour_ago.apply("job-quiet", Launched(ref, 1, quiet_arn))
    # WHEN the reconciler runs, as deployed
    with WireEcs({quiet_arn: described}) as ecs_endpoint:
        report = deployment.invoke("reconciler", {}, AWS_ENDPOINT_URL_ECS=ecs_endpoint)
    # THEN it checked the job and settled it from ECS's answer (epoch times on the wire)
    assert report["checked"] == 1
    settled = store.get("job-quiet")
    assert settled is not None
    assert settled.status is JobStatus.SUCCEEDED
    assert settled.stopped_at == round(described["stoppedAt"] * 1000)


class WireEcs:
    """ECS's DescribeTasks (and an empty ListTasks) over HTTP on 127.0.0.1, answering with wire
    documents (JSON 1.1)."""

    def __init__(self, tasks: dict[str, dict[str, Any]]) -> None:
        tasks_by_arn = tasks

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                target = self.headers.get("X-Amz-Target", "")
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if target.endswith(".ListTasks"):  # the waiting room's top-up, under a cap
                    validate_request("ecs", "ListTasks", request)
                    self._send(200, {"taskArns": []})
                    return
                if not target.endswith(".DescribeTasks"):
                    self._send(400, {"__type": "InvalidParameterException", "message": target})
                    return
                validate_request("ecs", "DescribeTasks", request)
                arns = request["tasks"]
                self._send(
                    200,
                    {
                        "tasks": [tasks_by_arn[a] for a in arns if a in tasks_by_arn],
                        "failures": [
                            {"arn": a, "reason": "MISSING"} for a in arns if a not in tasks_by_arn
                        ],
                    },
                )

            def _send(self, status: int, document: dict[str, Any]) -> None:
                body = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self._thread.start()
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
