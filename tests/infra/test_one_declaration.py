"""The pipeline's behaviour is declared once (PipelineProps): the construct, `dev` and
`simulate` accept and refuse the same values, with the same meaning."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App, Stack

from s3fargate import cli
from s3fargate.infra import S3TriggeredFargateTask
from s3fargate.lambda_runtime.settings import PipelineSettings
from s3fargate.local.config import LocalConfig, LocalConfigError
from s3fargate.options import flags_of
from s3fargate.props import PipelineProps, PropsError, parse_fallback
from s3fargate.sim import Scenario, ScenarioError
from s3fargate.sizing import TaskSize

FLAGS = flags_of(PipelineProps)
SMALL_ONLY = TaskSize(up_to_bytes=10, cpu=256, memory_limit_mib=512)


@pytest.mark.parametrize(
    "bad",
    [
        {"max_running_tasks": 0},
        {"max_running_tasks": 100_001},
        {"max_receive_count": 0},
        {"max_receive_count": 1001},
        {"max_attempts": 0},
        {"max_attempts": 101},
        {"retry_exit_codes": (0,)},
        {"retry_exit_codes": (75, 256)},
        {"retry_delay_s": -1},
        {"retry_delay_s": 901},
        {"spot_fallback_after": 0},
        {"spot_fallback_after": 101},
        {"task_sizes": (SMALL_ONLY,)},
    ],
    ids=lambda bad: "-".join(f"{k}={v}" for k, v in bad.items()),
)
def test_a_value_one_front_end_refuses_every_front_end_refuses(bad: dict[str, Any]) -> None:
    (name,) = bad
    flag = FLAGS[name]
    # The construct, naming the prop
    with pytest.raises(ValueError, match=name):
        S3TriggeredFargateTask(Stack(App(), "T"), "P", **bad)
    # dev and simulate, naming the flag
    props = PipelineProps(**bad)
    with pytest.raises(LocalConfigError, match=flag):
        LocalConfig(props=props)
    with pytest.raises(ScenarioError, match=flag):
        Scenario(props=props).check()
    with pytest.raises(PropsError, match=name):
        props.checked()


def test_the_edges_every_front_end_accepts_mean_the_same_to_the_functions() -> None:
    for values in (
        {
            "max_running_tasks": 1,
            "max_receive_count": 1,
            "max_attempts": 1,
            "retry_exit_codes": (1,),
            "retry_delay_s": 0,
            "spot_fallback_after": 1,
        },
        {
            "max_running_tasks": 100_000,
            "max_receive_count": 1000,
            "max_attempts": 100,
            "retry_exit_codes": (255,),
            "retry_delay_s": 900,
            "spot_fallback_after": None,
        },
    ):
        S3TriggeredFargateTask(Stack(App(), "T"), "P", **values)
        props = PipelineProps(**values)
        LocalConfig(props=props)
        Scenario(props=props).check()
        settings = props.to_settings()
        assert settings.spot_fallback_after == (values["spot_fallback_after"] or 0)
        # What the functions read back means what was given: None is never, for every reader
        assert settings.policy.spot_fallback_after == values["spot_fallback_after"]
        assert isinstance(settings, PipelineSettings)


def test_the_command_line_says_never_and_refuses_zero_with_the_word_to_use(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert parse_fallback("never") is None
    assert parse_fallback("NEVER") is None
    assert parse_fallback("4") == 4
    with pytest.raises(PropsError, match="'never'"):
        parse_fallback("sometimes")
    for command in (["simulate", "--uploads", "1"], ["demo", "--run-dir", "unused"]):
        assert cli.main([*command, "--spot-fallback-after", "0"]) == 2
        err = capsys.readouterr().err
        assert "--spot-fallback-after must be 1-100, got 0" in err
        assert "'never'" in err
