"""``s3fargate simulate``: run a scenario (and the original design beside it) and report."""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import TYPE_CHECKING

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from s3fargate.display import make_console
from s3fargate.exit_codes import CliExit
from s3fargate.sim.report import chart, plot, results_table
from s3fargate.sim.scenario import Design
from s3fargate.sim.simulation import simulate

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console

    from s3fargate.sim.scenario import Scenario
    from s3fargate.sim.simulation import Result


def run_simulation(
    scenario: Scenario,
    *,
    compare: bool = False,
    as_json: bool = False,
    plot_path: Path | None = None,
    console: Console | None = None,
) -> int:
    """Simulate ``scenario`` (with ``compare``, the other design too) and print the report.

    Raises:
        ScenarioError: an option is out of range.
    """
    scenario.check()
    console = console or make_console(highlight=False)
    for warning in scenario.warnings():
        make_console(stderr=True).print(f"warning: {warning}", style="yellow", markup=False)
    results = [_run(s) for s in _scenarios(scenario, compare=compare)]
    if plot_path is not None:
        plot(results, plot_path)
    # A broken promise (the cap passed, a makespan below the physical floor) fails the run.
    broken = [v for r in results if r.scenario.design == Design.S3FARGATE for v in r.violations]
    code = CliExit.JOBS_FAILED if broken else CliExit.OK
    if as_json:
        document = results[0].as_dict()
        document["warnings"] = scenario.warnings()
        for other_result in results[1:]:
            if other_result.scenario.design == scenario.design:
                document["single_size"] = other_result.as_dict()
                document["sizing"] = sizing_comparison(results[0], other_result)
            else:
                document[other_result.scenario.design.value] = other_result.as_dict()
        print(json.dumps(document, indent=2))
        return code
    console.print(results_table(results))
    if scenario.props.task_sizes:
        versus = sizing_comparison(results[0], results[-1])
        console.print(
            f"with task sizes: cost {versus['cost_ratio']:.2f}x and makespan "
            f"{versus['makespan_ratio']:.2f}x those of one size fitting the largest object; "
            f"{results[0].out_of_memory} tasks killed for memory with sizes, "
            f"{results[-1].out_of_memory} at one size"
        )
    for result in results:
        console.print(f"\n[bold]{result.scenario.design.value}[/bold]")
        console.print(chart(result.samples))
    if plot_path is not None:
        # A path is printed whole (no wrapping), so it can be copied.
        console.print(f"chart written to {plot_path}", soft_wrap=True, markup=False)
    if not all(r.settled for r in results):
        console.print("[red]the simulation reached its 30-day horizon before settling[/red]")
    for violation in broken:
        console.print(f"[bold red]broken promise:[/bold red] {violation}")
    return code


def _run(scenario: Scenario) -> Result:
    """One simulation, with a progress bar on a terminal (simulated time, objects done)."""
    if not sys.stderr.isatty():
        return simulate(scenario)
    with Progress(
        TextColumn(f"simulating {scenario.design.value}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f} succeeded"),
        TextColumn("· {task.fields[virtual]}"),
        TimeElapsedColumn(),
        console=make_console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task("simulate", total=scenario.uploads, virtual="0 s")

        def advance(virtual_s: float, done: int) -> None:
            progress.update(task, completed=done, virtual=f"{virtual_s / 3600:.2f} h simulated")

        return simulate(scenario, progress=advance)


def sizing_comparison(sized: Result, single: Result) -> dict[str, float]:
    """Cost and makespan with task sizes, as ratios of those at one size."""
    return {
        "cost_ratio": round(sized.cost.fargate / single.cost.fargate, 4)
        if single.cost.fargate
        else 0.0,
        "makespan_ratio": round(sized.makespan_s / single.makespan_s, 4)
        if single.makespan_s
        else 0.0,
    }


def _scenarios(scenario: Scenario, *, compare: bool) -> list[Scenario]:
    """The scenario, the other design with ``compare``, and with task sizes the same burst
    at one size, the largest (what a pipeline without sizes must run)."""
    scenarios = [scenario]
    if compare:
        other = Design.ORIGINAL if scenario.design == Design.S3FARGATE else Design.S3FARGATE
        scenarios.append(dataclasses.replace(scenario, design=other))
    if scenario.props.task_sizes:
        largest = scenario.props.task_sizes[-1]
        scenarios.append(
            dataclasses.replace(
                scenario,
                props=dataclasses.replace(scenario.props, task_sizes=()),
                cpu=largest.cpu / 1024,
                memory_gb=largest.memory_limit_mib / 1024,
            )
        )
    return scenarios
