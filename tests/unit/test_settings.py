"""The pipeline's settings: rendered into each function's environment, parsed back exactly."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from s3fargate.lambda_runtime import ConfigurationError
from s3fargate.lambda_runtime.settings import (
    ENV_SERVICE_NAME,
    Function,
    PipelineSettings,
    spec_of,
)
from s3fargate.launching import RunnerConfig
from s3fargate.sizing import FargatePrices, TaskSize, TaskSizes
from s3fargate.tracker import TrackerConfig

DESIGN = Path(__file__).resolve().parents[2] / "docs" / "design.md"

#: Every setting away from its default.
EVERYTHING = PipelineSettings(
    cluster_arn="arn:aws:ecs:eu-west-1:111122223333:cluster/c",
    task_definition_arn="arn:aws:ecs:eu-west-1:111122223333:task-definition/f:3",
    container_name="work",
    subnets=("subnet-1", "subnet-2"),
    security_groups=("sg-1",),
    assign_public_ip="DISABLED",
    capacity_provider="FARGATE_SPOT",
    max_running_tasks=8,
    pipeline_id="s3fargate-abc/def_1",
    jobs_table="jobs",
    notification_topic_arn="arn:aws:sns:eu-west-1:111122223333:t",
    job_ttl_days=30,
    input_prefix="in/",
    results_prefix="out/",
    max_receive_count=50,
    queue_url="https://sqs.eu-west-1.amazonaws.com/111122223333/q",
    task_log_group="/logs/tasks",
    max_attempts=5,
    retry_exit_codes=(75, 111),
    retry_delay_s=10,
    task_sizes=TaskSizes(
        (
            TaskSize(up_to_bytes=10**9, cpu=512, memory_limit_mib=2048),
            TaskSize(up_to_bytes=None, cpu=4096, memory_limit_mib=16384, ephemeral_storage_gib=60),
        )
    ),
    spot_fallback_after=0,
    fargate_prices=FargatePrices(vcpu_hour=0.05, gb_hour=0.005, storage_gb_hour=0.0002),
    reconcile_after_s=120,
)


@pytest.mark.parametrize("function", list(Function))
def test_each_environment_round_trips_to_exactly_the_settings_its_code_reads(
    function: Function,
) -> None:
    # GIVEN every setting changed; WHEN rendered for a function and parsed back there
    environment = EVERYTHING.environment(function)
    parsed = PipelineSettings.from_environment(environment, function)
    # THEN the function sees exactly its settings, and the others stay at their defaults
    assert parsed == EVERYTHING.used_by(function)
    assert parsed.environment(function) == environment
    assert environment[ENV_SERVICE_NAME] == f"s3fargate-{function.value}"


def test_every_setting_is_read_by_some_function_and_every_default_differs_from_everything() -> None:
    defaults = PipelineSettings()
    for item in dataclasses.fields(PipelineSettings):
        spec = spec_of(item.name)
        assert spec.used_by, item.name
        assert getattr(EVERYTHING, item.name) != getattr(defaults, item.name), item.name


def test_the_runner_keeps_rows_as_long_as_the_tracker_does() -> None:
    # The runner creates most rows: it must read the same TTL and prefixes as the tracker.
    runner = RunnerConfig.from_env(EVERYTHING.environment(Function.RUNNER))
    tracker = TrackerConfig.from_env(EVERYTHING.environment(Function.TRACKER))
    assert runner.policy.ttl_days == tracker.policy.ttl_days == 30
    assert runner.policy.results_prefix == tracker.policy.results_prefix == "out/"


def test_the_tracker_does_not_get_the_runners_receive_count() -> None:
    assert "MAX_RECEIVE_COUNT" in EVERYTHING.environment(Function.RUNNER)
    assert "MAX_RECEIVE_COUNT" not in EVERYTHING.environment(Function.TRACKER)
    assert "QUEUE_URL" not in EVERYTHING.environment(Function.RUNNER)


def test_props_are_checked_with_their_names_and_placeholders_are_left_alone() -> None:
    bad = PipelineSettings(max_attempts=0, retry_exit_codes=(1, 256), job_ttl_days=4000)
    assert bad.problems() == [
        "job_ttl_days=4000 is out of range 1-3650",
        "max_attempts=0 is out of range 1-100",
        "retry_exit_codes[1]=256 is out of range 1-255",
    ]
    with pytest.raises(ValueError, match="max_attempts=0"):
        bad.check()
    # A value known only at deployment (a CDK token) is not judged before it.
    assert PipelineSettings(assign_public_ip="${Token[TOKEN.12]}").problems() == []  # type: ignore[arg-type]


def test_overlapping_prefixes_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="overlaps"):
        PipelineSettings(input_prefix="in/", results_prefix="in/out/").check()


def test_bad_variables_are_named_at_once() -> None:
    with pytest.raises(ConfigurationError) as info:
        PipelineSettings.from_environment(
            {"MAX_ATTEMPTS": "many", "RETRY_DELAY_S": "901", "PIPELINE_ID": "a b"},
            Function.TRACKER,
        )
    assert info.value.problems == [
        "CLUSTER_ARN is required but not set",
        "JOBS_TABLE is required but not set",
        "QUEUE_URL is required but not set",
        "MAX_ATTEMPTS must be a whole number 1-100, got 'many'",
        "PIPELINE_ID must be 1-128 letters, digits, '-', '_' or '/' (it is ECS's startedBy), "
        "got 'a b'",
        "RETRY_DELAY_S is out of range 0-900, got 901",
    ]


def test_the_design_document_lists_every_variable() -> None:
    text = DESIGN.read_text(encoding="utf-8")
    for item in dataclasses.fields(PipelineSettings):
        assert f"`{spec_of(item.name).env}`" in text, item.name


def test_a_function_s_environment_has_no_placeholders_to_excuse() -> None:
    # A CDK token is excused at synthesis only; at cold start it is just an invalid value.
    with pytest.raises(ConfigurationError, match="PIPELINE_ID"):
        PipelineSettings.from_environment(
            {**EVERYTHING.environment(Function.RUNNER), "PIPELINE_ID": "${Token[X.1]}"},
            Function.RUNNER,
        )


@pytest.mark.parametrize("raw", ["²", "٣", "1e3", "-1", " 5 x"])
def test_numbers_are_plain_ascii_digits(raw: str) -> None:
    with pytest.raises(ConfigurationError, match="MAX_ATTEMPTS"):
        PipelineSettings.from_environment(
            {**EVERYTHING.environment(Function.TRACKER), "MAX_ATTEMPTS": raw}, Function.TRACKER
        )


def test_a_numeric_token_is_excused_at_synthesis() -> None:
    token = -1.8881545897087626e289  # how the CDK shows a number known only at deployment
    assert PipelineSettings(max_attempts=token).problems() == []  # type: ignore[arg-type]


def test_local_resources_are_named_per_bucket_within_sqs_limits() -> None:
    from s3fargate.local.config import LocalConfig

    long_a, long_b = "a" * 62 + "x", "a" * 62 + "y"
    names = {LocalConfig(bucket=b).resource_name for b in ("in.box", "inbox", long_a, long_b)}
    assert len(names) == 4  # one per bucket, even past the cut
    for name in names:
        assert len(name + "-notifications") <= 80  # SQS's longest queue name
        assert all(ch.isalnum() or ch in "-_" for ch in name)


def test_the_task_environment_round_trips_and_its_table_is_the_type() -> None:
    from s3fargate.contracts import TaskEnvironment

    every = TaskEnvironment(
        bucket="b",
        key="incoming/ü a+b.csv",
        version_id="v1",
        etag='"e"',
        size=10,
        job_id="j",
        attempt=2,
        read_concurrency=8,
    )
    environ = {item["name"]: item["value"] for item in every.override()}
    assert TaskEnvironment.read(environ) == (every, [])
    # Each variable the type writes is in docs/design.md's table, and no more.
    text = DESIGN.read_text(encoding="utf-8")
    table = text.split("### Task environment", 1)[1].split("\n### ", 1)[0]
    documented = {
        name.strip().strip("`")
        for line in table.splitlines()
        if line.startswith("| `")
        for name in line.split("|")[1].split(",")
    }
    assert documented == {*every.variables(), "INPUT_PREFIX", "RESULTS_PREFIX"}


@pytest.mark.parametrize("raw", ["-1", "1e3", "٣", "ten"])
def test_the_task_environment_reads_a_size_one_way(raw: str) -> None:
    from s3fargate.contracts import TaskEnvironment

    found, problems = TaskEnvironment.read({"S3_BUCKET": "b", "S3_KEY": "k", "S3_SIZE": raw})
    assert found.size is None
    assert problems == [f"S3_SIZE must be a whole number of bytes, got {raw!r}"]
