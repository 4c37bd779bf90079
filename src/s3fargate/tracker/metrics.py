"""Per-job figures for CloudWatch, in its embedded metric format (Powertools Metrics).

The tracker records each job's outcome, timings and cost as it learns them; the reconciler
records how many tasks are in flight and how many jobs wait. The construct's dashboard and
alarm read these names (one home: :data:`METRIC_NAMES`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from aws_lambda_powertools.metrics import MetricUnit

from s3fargate.ledger import JobStatus

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics

    from s3fargate.ledger import Decision

NAMESPACE: Final = "s3fargate"
#: Powertools' ``service`` dimension, the same for the tracker and the reconciler (which
#: applies the task changes it finds through the tracker).
SERVICE: Final = "s3fargate"
#: The dimension naming the pipeline (its ``startedBy``), beside Powertools' ``service``.
PIPELINE_DIMENSION: Final = "pipeline"
SUCCEEDED: Final = "JobsSucceeded"
FAILED: Final = "JobsFailed"
RETRIED: Final = "JobsRetried"
UPLOAD_TO_START: Final = "UploadToStartSeconds"
RUN_TIME: Final = "RunSeconds"
COST: Final = "CostUSD"
IN_FLIGHT: Final = "TasksInFlight"
WAITING: Final = "JobsWaiting"
METRIC_NAMES: Final = (SUCCEEDED, FAILED, RETRIED, UPLOAD_TO_START, RUN_TIME, COST)
GAUGE_NAMES: Final = (IN_FLIGHT, WAITING)
_ENDS_BADLY = frozenset({JobStatus.FAILED, JobStatus.DEAD_LETTERED})


def job_figures(decision: Decision) -> list[tuple[str, float]]:
    """What one applied change adds to the job metrics: ``(name, value)`` pairs."""
    new, old = decision.row, decision.previous
    if new is None:
        return []
    figures: list[tuple[str, float]] = []
    moved = old is None or old.status != new.status
    if moved and new.status is JobStatus.SUCCEEDED:
        figures.append((SUCCEEDED, 1))
    if moved and new.status in _ENDS_BADLY:
        figures.append((FAILED, 1))
    if decision.retry is not None:
        figures.append((RETRIED, 1))
    cost = (new.cost_usd or 0.0) - ((old.cost_usd or 0.0) if old else 0.0)
    if cost > 0:
        figures.append((COST, cost))
    stopped_now = new.stopped_at is not None and (old is None or old.stopped_at != new.stopped_at)
    if stopped_now and new.started_at is not None and new.stopped_at is not None:
        figures.append((RUN_TIME, max(0, new.stopped_at - new.started_at) / 1000))
    started_now = new.started_at is not None and (old is None or old.started_at is None)
    if started_now and new.started_at is not None and new.attempts == 1:
        figures.append((UPLOAD_TO_START, max(0, new.started_at - new.uploaded_at) / 1000))
    return figures


def _unit(name: str) -> MetricUnit:
    if name in (UPLOAD_TO_START, RUN_TIME):
        return MetricUnit.Seconds
    return MetricUnit.Count if name != COST else MetricUnit.NoUnit


def flush(metrics: Metrics) -> None:
    """Write what ``metrics`` holds (an invocation that changed nothing writes nothing)."""
    if metrics.metric_set:
        metrics.flush_metrics()


def dimensions(pipeline_id: str) -> dict[str, str]:
    """Every metric's dimensions, as the dashboard and the alarm must name them."""
    return {"service": SERVICE, PIPELINE_DIMENSION: pipeline_id}


class JobMetrics:
    """Adds figures to a Powertools ``Metrics``; the Lambda handler flushes them."""

    def __init__(self, metrics: Metrics, *, pipeline_id: str) -> None:
        self._metrics = metrics
        metrics.set_default_dimensions(**{PIPELINE_DIMENSION: pipeline_id})

    def job_changed(self, decision: Decision) -> None:
        """Record what ``decision`` did to the job."""
        for name, value in job_figures(decision):
            self._metrics.add_metric(name=name, unit=_unit(name), value=value)

    def gauges(self, *, in_flight: int, waiting: int) -> None:
        """Record how many tasks are in flight and how many jobs wait (the reconciler)."""
        self._metrics.add_metric(name=IN_FLIGHT, unit=MetricUnit.Count, value=in_flight)
        self._metrics.add_metric(name=WAITING, unit=MetricUnit.Count, value=waiting)
