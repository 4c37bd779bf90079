"""The dashboard, the failed-jobs alarm and the sizing settings, in the synthesized template."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from s3fargate.sizing import FargatePrices, TaskSizes
from s3fargate.tracker import metrics as jm

if TYPE_CHECKING:
    from tests.infra.conftest import Synth


def _body(synth: Synth, name: str) -> dict[str, Any]:
    """The dashboard's body, with every deploy-time reference written as ``<ref>``."""
    (dashboard,) = synth.templates[name].find_resources("AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]
    parts = body["Fn::Join"][1] if isinstance(body, dict) else [body]
    text = "".join(part if isinstance(part, str) else "<ref>" for part in parts)
    return json.loads(text)


def _function_env(synth: Synth, name: str, handler: str) -> dict[str, Any]:
    (function,) = (
        synth.templates[name]
        .find_resources("AWS::Lambda::Function", {"Properties": {"Handler": handler}})
        .values()
    )
    return function["Properties"]["Environment"]["Variables"]


def test_the_dashboard_shows_queues_tasks_outcomes_times_and_cost(synth: Synth) -> None:
    pipeline = synth.construct("default")
    widgets = _body(synth, "default")["widgets"]
    titles = [w["properties"]["title"] for w in widgets]
    assert titles == [
        "Queue",
        "Oldest upload waiting (s)",
        "Tasks and waiting room",
        "Outcomes",
        "Times (s)",
        "Fargate cost per hour (USD)",
    ]
    by_title = {w["properties"]["title"]: w["properties"]["metrics"] for w in widgets}
    queue_metrics = {m[1] for m in by_title["Queue"]}
    assert queue_metrics == {"ApproximateNumberOfMessagesVisible"}
    assert by_title["Oldest upload waiting (s)"][0][1] == "ApproximateAgeOfOldestMessage"

    def ours(title: str) -> list[tuple[str, str]]:
        found = []
        for metric in by_title[title]:
            namespace, name, *dims = metric[:-1] if isinstance(metric[-1], dict) else metric
            assert namespace == jm.NAMESPACE
            assert dict(zip(dims[::2], dims[1::2], strict=True)) == jm.dimensions(
                pipeline.pipeline_id
            )
            found.append((name, metric[-1]["stat"]))
        return found

    assert ours("Tasks and waiting room") == [(jm.IN_FLIGHT, "Maximum"), (jm.WAITING, "Maximum")]
    assert ours("Outcomes") == [(jm.SUCCEEDED, "Sum"), (jm.FAILED, "Sum"), (jm.RETRIED, "Sum")]
    assert sorted(ours("Times (s)")) == sorted(
        [(n, s) for n in (jm.UPLOAD_TO_START, jm.RUN_TIME) for s in ("p50", "p95")]
    )
    ((name, stat),) = ours("Fargate cost per hour (USD)")
    assert (name, stat) == (jm.COST, "Sum")
    (cost,) = by_title["Fargate cost per hour (USD)"]
    assert cost[-1]["period"] == 3600


def test_a_rate_of_failed_jobs_alarms_to_the_topic(synth: Synth) -> None:
    pipeline = synth.construct("default")
    alarms = synth.templates["default"].find_resources("AWS::CloudWatch::Alarm").values()
    (alarm,) = [a for a in alarms if "Metrics" in a["Properties"]]
    properties = alarm["Properties"]
    assert properties["AlarmActions"] == [synth.resolve("default", pipeline.topic.topic_arn)]
    assert properties["ComparisonOperator"] == "GreaterThanThreshold"
    assert properties["Threshold"] == 10
    assert properties["TreatMissingData"] == "notBreaching"
    queries = {q["Id"]: q for q in properties["Metrics"]}
    assert "100 * FILL(bad, 0) / (FILL(ok, 0) + FILL(bad, 0))" in next(
        q["Expression"] for q in queries.values() if "Expression" in q
    )
    names = {
        q["Id"]: q["MetricStat"]["Metric"]["MetricName"]
        for q in queries.values()
        if "MetricStat" in q
    }
    assert names == {"ok": jm.SUCCEEDED, "bad": jm.FAILED}
    for query in queries.values():
        if "MetricStat" in query:
            stat = query["MetricStat"]
            assert stat["Metric"]["Namespace"] == jm.NAMESPACE
            dims = {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]}
            assert dims == jm.dimensions(pipeline.pipeline_id)
            assert stat["Stat"] == "Sum"


def test_sizes_fallback_and_prices_reach_the_functions_that_read_them(synth: Synth) -> None:
    runner = _function_env(synth, "private", "s3fargate.taskrunner.handler.handler")
    tracker = _function_env(synth, "private", "s3fargate.tracker.handler.handler")
    sizes = TaskSizes.decode(runner["TASK_SIZES"])
    assert [(s.up_to_bytes, s.cpu, s.memory_limit_mib) for s in sizes] == [
        (2**30, 512, 2048),
        (None, 4096, 16384),
    ]
    assert tracker["TASK_SIZES"] == runner["TASK_SIZES"]
    assert tracker["SPOT_FALLBACK_AFTER"] == "2"
    assert FargatePrices.decode(tracker["FARGATE_PRICES"]).vcpu_hour == 0.03238
    assert "SPOT_FALLBACK_AFTER" not in runner
    assert "FARGATE_PRICES" not in runner
    default = _function_env(synth, "default", "s3fargate.taskrunner.handler.handler")
    assert "TASK_SIZES" not in default
