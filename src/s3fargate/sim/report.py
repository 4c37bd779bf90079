"""How a simulation is shown: a table of results, a terminal chart, a PNG."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from pathlib import Path

    from s3fargate.sim.metrics import Sample
    from s3fargate.sim.simulation import Result

#: Eight heights of a bar, for the terminal chart.
BARS = " ▁▂▃▄▅▆▇█"


def results_table(results: list[Result]) -> Table:
    """One column per design: makespan against the bound, outcomes, requests, cost."""
    table = Table(title="s3fargate simulate", title_justify="left")
    table.add_column("")
    designs = [r.scenario.design for r in results]
    for result in results:
        name = result.scenario.design.value
        if designs.count(result.scenario.design) > 1:  # the same design with and without sizes
            name += " (task sizes)" if result.scenario.props.task_sizes else " (one size)"
        table.add_column(name, justify="right")

    def row(name: str, *cells: str | Text) -> None:
        table.add_row(name, *cells)

    row("makespan", *(_duration(r.makespan_s) for r in results))
    row("bound (mean start and run)", *(_duration(r.bound_s) for r in results))
    row("makespan / bound", *(_ratio(r) for r in results))
    row("floor (shortest start and run)", *(_duration(r.scenario.floor_s()) for r in results))
    row("objects", *(f"{r.objects:,}" for r in results))
    row("succeeded", *(f"{r.succeeded:,}" for r in results))
    row("failed", *(_bad(r.failed) for r in results))
    row("dead-lettered", *(_bad(r.dead_lettered) for r in results))
    row("lost", *(_bad(r.lost) for r in results))
    row("duplicate tasks", *(_bad(r.duplicate_tasks) for r in results))
    row("tasks launched", *(f"{r.tasks:,}" for r in results))
    row("peak running", *(f"{r.peak_running:,}" for r in results))
    row("throttled RunTask calls", *(f"{r.throttled:,}" for r in results))
    row("requests per object", *(f"{r.requests_per_object:.1f}" for r in results))
    for service in ("sqs", "lambda", "ecs", "dynamodb"):
        row(f"  {service}", *(f"{r.requests.get(service, 0) / r.objects:.2f}" for r in results))
    row("cost: Fargate", *(f"${r.cost.fargate:,.2f}" for r in results))
    row("cost: public IPv4", *(f"${r.cost.public_ipv4:,.2f}" for r in results))
    row(
        "cost: requests + Lambda",
        *(f"${r.cost.requests + r.cost.lambda_duration:,.4f}" for r in results),
    )
    row("cost per 1,000 objects", *(f"${1000 * r.cost.total / r.objects:,.3f}" for r in results))
    return table


def chart(samples: list[Sample], *, width: int = 72) -> Text:
    """Running tasks and waiting uploads over time, one bar per column."""
    text = Text()
    if not samples:
        return text
    columns = _columns(samples, width)
    end = samples[-1].t
    for label, values, style in (
        ("running tasks", [max(s.running for s in c) for c in columns], "green"),
        ("waiting uploads", [max(s.waiting for s in c) for c in columns], "yellow"),
    ):
        top = max(values) or 1
        text.append(f"{label} (peak {top:,})\n", style="bold")
        text.append("".join(BARS[round(v / top * (len(BARS) - 1))] for v in values), style=style)
        text.append("\n")
    text.append(f"0{_duration(end).rjust(len(columns) - 1)}\n", style="dim")
    return text


def plot(results: list[Result], path: Path) -> None:
    """Running tasks and waiting uploads over time, one line per design, as a PNG."""
    import matplotlib as mpl

    mpl.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    figure, (running, waiting) = plt.subplots(2, 1, sharex=True, figsize=(9, 6))
    for result in results:
        hours = [s.t / 3600 for s in result.samples]
        name = result.scenario.design.value
        running.plot(hours, [s.running for s in result.samples], label=name)
        waiting.plot(hours, [s.waiting for s in result.samples], label=name)
    running.set_ylabel("running tasks")
    waiting.set_ylabel("waiting uploads")
    waiting.set_xlabel("hours since the burst")
    running.legend()
    scenario = results[0].scenario
    figure.suptitle(
        f"{scenario.uploads:,} uploads, {scenario.task_seconds} s tasks, "
        f"{scenario.tasks_at_once:,} tasks at once"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _columns(samples: list[Sample], width: int) -> list[list[Sample]]:
    per = max(1, -(-len(samples) // width))
    return [samples[i : i + per] for i in range(0, len(samples), per)]


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def _ratio(result: Result) -> Text:
    if result.lost or result.dead_lettered:
        return Text(f"{result.ratio:.3f} (work lost)", style="red")
    if result.ratio < 1:  # the bound is the mean; only the floor is physical
        return Text(f"{result.ratio:.3f} (starts ran shorter than the mean)", style="yellow")
    return Text(f"{result.ratio:.3f}", style="green" if result.ratio <= 1.05 else "yellow")


def _bad(count: int) -> Text:
    return Text(f"{count:,}", style="red bold" if count else "green")
