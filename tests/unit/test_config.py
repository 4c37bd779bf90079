"""Runner configuration from the environment: every problem named at once."""

from __future__ import annotations

import pytest

from s3fargate.lambda_runtime import ConfigurationError
from s3fargate.launching import RunnerConfig

VALID = {
    "CLUSTER_ARN": "arn:cluster",
    "TASK_DEFINITION_ARN": "arn:td",
    "CONTAINER_NAME": "task",
    "SUBNETS": "subnet-1, subnet-2,",
}


def test_valid_minimal_configuration_has_documented_defaults() -> None:
    config = RunnerConfig.from_env(VALID)
    assert config.subnets == ("subnet-1", "subnet-2")
    assert config.security_groups == ()
    assert config.assign_public_ip == "ENABLED"
    assert config.capacity_provider is None
    assert config.max_running_tasks is None


def test_all_options() -> None:
    config = RunnerConfig.from_env(
        {
            **VALID,
            "SECURITY_GROUPS": "sg-1,sg-2",
            "ASSIGN_PUBLIC_IP": "disabled",
            "CAPACITY_PROVIDER": "FARGATE_SPOT",
            "MAX_RUNNING_TASKS": "8",
        }
    )
    assert config.security_groups == ("sg-1", "sg-2")
    assert config.assign_public_ip == "DISABLED"
    assert config.capacity_provider == "FARGATE_SPOT"
    assert config.max_running_tasks == 8


def test_every_problem_is_named_in_one_error() -> None:
    with pytest.raises(ConfigurationError) as info:
        RunnerConfig.from_env({"ASSIGN_PUBLIC_IP": "maybe", "MAX_RUNNING_TASKS": "0"})
    text = str(info.value)
    for name in (
        "CLUSTER_ARN",
        "TASK_DEFINITION_ARN",
        "CONTAINER_NAME",
        "SUBNETS",
        "ASSIGN_PUBLIC_IP",
        "MAX_RUNNING_TASKS",
    ):
        assert name in text
    assert len(info.value.problems) == 6


@pytest.mark.parametrize("raw", ["-1", "zero", "1.5"])
def test_max_running_tasks_must_be_positive_int(raw: str) -> None:
    with pytest.raises(ConfigurationError, match="MAX_RUNNING_TASKS"):
        RunnerConfig.from_env({**VALID, "MAX_RUNNING_TASKS": raw})


def test_tracker_config_names_every_problem_at_once() -> None:
    from s3fargate.tracker import TrackerConfig

    with pytest.raises(ConfigurationError) as info:
        TrackerConfig.from_env(
            {"PIPELINE_ID": "bad id!", "RETRY_EXIT_CODES": "75,x,300", "MAX_ATTEMPTS": "0"}
        )
    text = str(info.value)
    for expected in ("JOBS_TABLE", "QUEUE_URL", "CLUSTER_ARN", "PIPELINE_ID", "'x'", "got 300",
                     "MAX_ATTEMPTS"):  # fmt: skip
        assert expected in text


def test_tracker_config_reads_the_retry_policy() -> None:
    from s3fargate.tracker import TrackerConfig

    config = TrackerConfig.from_env(
        {
            "JOBS_TABLE": "jobs",
            "QUEUE_URL": "https://sqs/q",
            "CLUSTER_ARN": "arn:c",
            "MAX_ATTEMPTS": "5",
            "RETRY_EXIT_CODES": "75, 111",
            "RETRY_DELAY_S": "10",
            "INPUT_PREFIX": "in/",
            "RESULTS_PREFIX": "out/",
        }
    )
    assert config.pipeline_id == "s3fargate"
    assert config.policy.max_attempts == 5
    assert config.policy.retry_exit_codes == frozenset({75, 111})
    assert config.policy.retry_delay_s(1) == 10
    assert config.policy.retry_delay_s(3) == 40
    assert (config.policy.input_prefix, config.policy.results_prefix) == ("in/", "out/")
