"""Props validation, cfn-lint, cdk-nag and the assets' contents."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aws_cdk import App, Stack, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Match, Template
from cdk_nag import AwsSolutionsChecks

from s3fargate.infra import FargatePrices, S3TriggeredFargateTask, TaskSize
from tests.dockerignore import DockerIgnore

if TYPE_CHECKING:
    from tests.infra.conftest import Synth

ROOT = Path(__file__).resolve().parents[2]


def _build(**props: Any) -> None:
    S3TriggeredFargateTask(Stack(App(), "T"), "P", **props)


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"cpu": 256, "memory_limit_mib": 4096}, "not valid with cpu=256"),
        ({"cpu": 256, "memory_limit_mib": 1536}, "allows 512, 1024 or 2048 MiB"),
        ({"cpu": 512, "memory_limit_mib": 512}, "not valid with cpu=512"),
        ({"cpu": 8192, "memory_limit_mib": 18432}, "steps of 4096"),
        ({"cpu": 16384, "memory_limit_mib": 36864}, "steps of 8192"),
        ({"cpu": 300, "memory_limit_mib": 512}, "not a Fargate CPU value"),
        ({"ephemeral_storage_gib": 20}, "21-200 GiB"),
        ({"ephemeral_storage_gib": 201}, "21-200 GiB"),
        ({"results_prefix": "incoming/results/"}, "overlaps"),
        ({"input_prefix": ""}, "non-empty"),
        ({"max_receive_count": 0}, "max_receive_count must be 1-1000, got 0"),
        ({"max_concurrency": 1}, "max_concurrency=1"),
        ({"batch_size": 11}, "batch_size=11"),
        ({"max_running_tasks": 0}, "max_running_tasks must be 1-100000, got 0"),
        ({"network": "dmz"}, "network='dmz'"),
        ({"capacity_provider": "EC2"}, "use 'FARGATE' or 'FARGATE_SPOT'"),
        ({"max_attempts": 0}, "max_attempts must be 1-100, got 0"),
        ({"retry_exit_codes": [1, 256]}, "retry_exit_codes must be exit codes 1-255, got 256"),
        ({"job_ttl_days": 0}, "job_ttl_days=0"),
        ({"bucket_props": {"versioned": True}, "existing_bucket_obj": object()}, "not both"),
        (
            {"task_sizes": [TaskSize(up_to_bytes=None, cpu=256, memory_limit_mib=4096)]},
            r"task_sizes\[0\]: memory_limit_mib=4096 is not valid with cpu=256",
        ),
        (
            {"task_sizes": [TaskSize(up_to_bytes=10, cpu=256, memory_limit_mib=512)]},
            "the last size must have up_to_bytes=None",
        ),
        (
            {
                "task_sizes": [
                    TaskSize(up_to_bytes=10, cpu=256, memory_limit_mib=512),
                    TaskSize(up_to_bytes=5, cpu=512, memory_limit_mib=1024),
                    TaskSize(up_to_bytes=None, cpu=1024, memory_limit_mib=2048),
                ]
            },
            "must grow",
        ),
        ({"spot_fallback_after": 0}, "spot_fallback_after must be 1-100, got 0 \\(for never: None"),
        (
            {"task_sizes": [TaskSize(up_to_bytes=None, cpu=256, memory_limit_mib=1536)]},
            r"task_sizes\[0\]: memory_limit_mib=1536 is not valid with cpu=256",
        ),
        (
            {"capacity_provider": "FARGATE_SPOT", "cpu_architecture": ecs.CpuArchitecture.ARM64},
            "Fargate Spot runs X86_64 tasks only",
        ),
        (
            {"fargate_prices": FargatePrices(vcpu_hour=-1, gb_hour=0, storage_gb_hour=0)},
            "vcpu_hour=-1",
        ),
    ],
)
def test_invalid_props_raise_before_synthesis(props: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _build(**props)


def test_spot_on_a_cluster_of_the_app_associates_the_provider_and_an_imported_one_is_refused() -> (
    None
):
    # GIVEN a cluster this app defines without capacity providers
    stack = Stack(App(), "T")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=0)
    cluster = ecs.Cluster(stack, "Theirs", vpc=vpc)
    # WHEN a Spot pipeline runs on it
    S3TriggeredFargateTask(
        stack, "P", existing_vpc=vpc, existing_cluster=cluster, capacity_provider="FARGATE_SPOT"
    )
    # THEN FARGATE_SPOT is associated with the cluster, so RunTask may name it
    Template.from_stack(stack).has_resource_properties(
        "AWS::ECS::ClusterCapacityProviderAssociations",
        {"CapacityProviders": Match.array_with(["FARGATE_SPOT"])},
    )
    # AND a cluster imported by name, whose providers are not this stack's, is refused
    other = Stack(App(), "U")
    imported = ecs.Cluster.from_cluster_attributes(
        other, "Imported", cluster_name="theirs", vpc=ec2.Vpc(other, "Vpc", max_azs=2)
    )
    with pytest.raises(ValueError, match="associated with the cluster"):
        S3TriggeredFargateTask(
            other, "P", existing_cluster=imported, capacity_provider="FARGATE_SPOT"
        )


@pytest.mark.parametrize(
    ("cpu", "memory"),
    [(256, 512), (256, 2048), (512, 4096), (4096, 30720), (8192, 61440), (16384, 122880)],
)
def test_every_documented_fargate_pair_is_accepted(cpu: int, memory: int) -> None:
    from s3fargate.infra.validation import check_task_size

    check_task_size(cpu, memory)  # no exception


def test_cfn_lint_reports_no_errors(synth: Synth) -> None:
    templates = sorted(synth.outdir.glob("*.template.json"))
    assert len(templates) == 4
    proc = subprocess.run(
        [sys.executable, "-m", "cfnlint", "--format", "json", *map(str, templates)],
        capture_output=True,
        text=True,
        check=False,
    )
    findings = json.loads(proc.stdout or "[]")
    errors = [f for f in findings if f["Level"] == "Error"]
    assert errors == [], errors
    # Warnings are tolerated only for the CDK's own redundant DependsOn (W3005).
    assert {f["Rule"]["Id"] for f in findings} <= {"W3005"}


def test_cdk_nag_found_nothing_unacknowledged(synth: Synth) -> None:
    report = json.loads((synth.outdir / "validation-report.json").read_text())
    violations = [v for r in report["pluginReports"] for v in r.get("violations", [])]
    assert violations == []


def test_cdk_nag_is_live_and_catches_a_new_wildcard(tmp_path: Path) -> None:
    # GIVEN the construct plus a careless role nobody acknowledged
    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Careless")
    S3TriggeredFargateTask(stack, "P")
    careless = iam.Role(stack, "Careless", assumed_by=iam.ServicePrincipal("ecs.amazonaws.com"))
    careless.add_to_policy(iam.PolicyStatement(actions=["s3:*"], resources=["*"]))
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    # WHEN synthesized, THEN cdk-nag stops synthesis and names both findings: the construct's
    # acknowledgements do not leak onto resources they were not written for.
    with pytest.raises(RuntimeError, match="ValidationFailed") as info:
        app.synth()
    message = str(info.value)
    assert "AwsSolutions-IAM5[Action::s3:*]" in message
    assert "AwsSolutions-IAM5[Resource::*]" in message
    assert "Careless/Careless/DefaultPolicy" in message
    assert "Careless/P/" not in message  # nothing of the construct itself


def _asset_dirs(synth: Synth) -> list[Path]:
    return [p for p in synth.outdir.iterdir() if p.name.startswith("asset.") and p.is_dir()]


def test_lambda_asset_holds_only_the_lambdas_code(synth: Synth) -> None:
    (runner,) = [p for p in _asset_dirs(synth) if (p / "s3fargate").is_dir()]
    names = sorted(p.name for p in (runner / "s3fargate").iterdir())
    assert names == [
        "__init__.py",
        "contracts.py",
        "events",
        "lambda_runtime",
        "launching",
        "ledger",
        "py.typed",
        "sizing",
        "taskrunner",
        "tracker",
    ]
    # Beside our code, only the bundled Powertools and what it needs beyond Lambda's runtime.
    top = sorted(p.name for p in runner.iterdir())
    assert top == ["aws_lambda_powertools", "s3fargate", "typing_extensions.py"]
    assert not list(runner.rglob("__pycache__"))
    # Every handler (the runner with its ledger, the tracker and reconciler) imports from the
    # asset alone, without CDK, moto or rich.
    code = (
        "import sys, s3fargate.taskrunner.handler as h, s3fargate.tracker.handler as t; "
        "assert h.runner._recorder is not None; "
        "bad = [m for m in ('aws_cdk', 'moto', 'rich', 's3fargate.local') if m in sys.modules]; "
        "assert h.__file__.startswith(sys.argv[1]), h.__file__; "
        "assert t.__file__.startswith(sys.argv[1]), t.__file__; print(bad)"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(runner),
        "PYTHONDONTWRITEBYTECODE": "1",  # the asset is shared by the session's tests
        "CLUSTER_ARN": "c",
        "TASK_DEFINITION_ARN": "t",
        "CONTAINER_NAME": "task",
        "SUBNETS": "s",
        "JOBS_TABLE": "jobs",
        "QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/111122223333/q",
        "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:us-east-1:111122223333:t",
    }
    proc = subprocess.run(
        [sys.executable, "-c", code, str(runner)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=str(runner),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_image_asset_context_is_what_dockerignore_sends(synth: Synth) -> None:
    (context,) = [p for p in _asset_dirs(synth) if (p / "task" / "Dockerfile").is_file()]
    staged = sorted(p.relative_to(context).as_posix() for p in context.rglob("*") if p.is_file())
    # The CDK keeps .dockerignore in the asset; Docker applies it, as tests/dockerignore does.
    assert staged == sorted([".dockerignore", *DockerIgnore.read(ROOT).files(ROOT)])
    assert not (context / ".venv").exists()
    size = sum(f.stat().st_size for f in context.rglob("*") if f.is_file())
    assert size < 2_000_000  # uv.lock is about half of it


def test_app_synthesizes_offline_without_credentials(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AWS_") and not k.startswith("CDK_DEFAULT")
    }
    env.update({"CDK_OUTDIR": str(tmp_path), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"})
    proc = subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    template = json.loads((tmp_path / "S3Fargate.template.json").read_text())
    types = {r["Type"] for r in template["Resources"].values()}
    for expected in (
        "AWS::S3::Bucket",
        "AWS::SQS::Queue",
        "AWS::Lambda::Function",
        "AWS::ECS::Cluster",
        "AWS::ECS::TaskDefinition",
        "AWS::EC2::VPC",
        "Custom::S3BucketNotifications",
    ):
        assert expected in types
