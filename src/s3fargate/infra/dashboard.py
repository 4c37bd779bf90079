"""The pipeline's CloudWatch dashboard: the queues, the tasks, the outcomes, time and cost."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch

from s3fargate.infra.tracking import job_metric
from s3fargate.tracker import metrics as jm

if TYPE_CHECKING:
    from aws_cdk import aws_sqs as sqs
    from constructs import Construct

PERIOD = Duration.minutes(5)
WIDTH = 8


def pipeline_dashboard(
    scope: Construct,
    construct_id: str,
    *,
    pipeline_id: str,
    queue: sqs.IQueue,
    dead_letter_queue: sqs.IQueue,
) -> cloudwatch.Dashboard:
    """A dashboard of the pipeline: queue and dead-letter depth, the oldest upload's age, tasks
    in flight and jobs waiting, outcomes, p50/p95 times, and cost per hour."""

    def job(name: str, statistic: str, label: str, period: Duration = PERIOD) -> cloudwatch.Metric:
        return job_metric(pipeline_id, name, statistic, period).with_(label=label)

    def graph(title: str, metrics: list[cloudwatch.IMetric]) -> cloudwatch.GraphWidget:
        return cloudwatch.GraphWidget(title=title, left=metrics, width=WIDTH)

    dashboard = cloudwatch.Dashboard(scope, construct_id, default_interval=Duration.hours(6))
    dashboard.add_widgets(
        graph(
            "Queue",
            [
                queue.metric_approximate_number_of_messages_visible(
                    period=PERIOD, statistic="Maximum", label="uploads waiting"
                ),
                dead_letter_queue.metric_approximate_number_of_messages_visible(
                    period=PERIOD, statistic="Maximum", label="dead-lettered"
                ),
            ],
        ),
        graph(
            "Oldest upload waiting (s)",
            [
                queue.metric_approximate_age_of_oldest_message(
                    period=PERIOD, statistic="Maximum", label="oldest message age"
                )
            ],
        ),
        graph(
            "Tasks and waiting room",
            [
                job(jm.IN_FLIGHT, "Maximum", "tasks in flight"),
                job(jm.WAITING, "Maximum", "jobs waiting"),
            ],
        ),
    )
    dashboard.add_widgets(
        graph(
            "Outcomes",
            [
                job(jm.SUCCEEDED, "Sum", "succeeded"),
                job(jm.FAILED, "Sum", "failed"),
                job(jm.RETRIED, "Sum", "retried"),
            ],
        ),
        graph(
            "Times (s)",
            [
                job(jm.UPLOAD_TO_START, "p50", "upload to start p50"),
                job(jm.UPLOAD_TO_START, "p95", "upload to start p95"),
                job(jm.RUN_TIME, "p50", "run time p50"),
                job(jm.RUN_TIME, "p95", "run time p95"),
            ],
        ),
        graph(
            "Fargate cost per hour (USD)",
            [job(jm.COST, "Sum", "cost", Duration.hours(1))],
        ),
    )
    return dashboard
