"""The pipeline's behaviour, declared once: the construct's props that ``dev`` and ``simulate``
share, each with its default, its valid range (its setting's :class:`Spec`) and its
command-line flag and help (:mod:`s3fargate.options`).

The construct takes them as keyword arguments and builds a :class:`PipelineProps`;
``LocalConfig`` and ``Scenario`` hold one. :meth:`PipelineProps.problems` refuses the same
values everywhere, naming each by its prop or its flag, and :meth:`PipelineProps.to_settings`
is the one mapping into the functions' :class:`PipelineSettings`. A new behavioural setting is
one field here (plus its :class:`PipelineSettings` field, when a function reads it) and its docs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Self

from s3fargate import contracts as c
from s3fargate.lambda_runtime.settings import PipelineSettings, is_placeholder, spec_of
from s3fargate.options import option
from s3fargate.sizing import TaskSize, TaskSizes

if TYPE_CHECKING:
    from collections.abc import Mapping

#: The help's section for these options, in every command that has them.
PROPS: Final = "props"
PROPS_GROUP: Final = {PROPS: "the pipeline (the CDK construct's props: same names, same meaning)"}
#: ``--spot-fallback-after never``: every attempt stays on Spot (the construct's None).
NEVER: Final = "never"


class PropsError(c.UserError, ValueError):
    """Props the pipeline cannot run with; the message names each problem."""


def parse_exit_codes(text: str) -> tuple[int, ...]:
    """Read ``--retry-exit-codes`` (``75,111``)."""
    codes: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if not part.isdigit():
            raise PropsError(f"--retry-exit-codes: {part!r} is not an exit code")
        codes.add(int(part))
    return tuple(sorted(codes))


def parse_fallback(text: str) -> int | None:
    """Read ``--spot-fallback-after`` (a number of interruptions, or ``never``)."""
    if text.strip().lower() == NEVER:
        return None
    try:
        return int(text)
    except ValueError:
        raise PropsError(
            f"--spot-fallback-after {text!r}: give a number of interruptions or {NEVER!r}"
        ) from None


@dataclass(frozen=True)
class PipelineProps:
    """How the pipeline behaves: the construct's props of the same names (docs/reference.md)."""

    max_running_tasks: int | None = option(
        None,
        group=PROPS,
        flag="--max-running",
        metavar="N",
        help="at most N of the pipeline's tasks at once; the others wait in the ledger",
    )
    max_receive_count: int = option(
        c.DEFAULT_MAX_RECEIVE_COUNT,
        group=PROPS,
        metavar="N",
        help="receives before an upload's message moves to the dead-letter queue",
    )
    max_attempts: int = option(
        c.DEFAULT_MAX_ATTEMPTS,
        group=PROPS,
        metavar="N",
        help="attempts per job when the platform stops a task (Spot, failed start, out of "
        "memory) or it exits with a retried code",
    )
    retry_exit_codes: tuple[int, ...] = option(
        (),
        group=PROPS,
        metavar="CODES",
        parse=parse_exit_codes,
        help="task exit codes that are retried too, e.g. 75,111",
    )
    retry_delay_s: int = option(
        c.DEFAULT_RETRY_DELAY_S,
        group=PROPS,
        flag="--retry-delay",
        metavar="S",
        help="seconds before the first retry; each later one doubles it",
    )
    track_running: bool = option(
        False,
        group=PROPS,
        help="the tracker also gets RUNNING changes (else only STOPPED ones, and a long task "
        "shows running when the reconciler looks)",
    )
    task_sizes: tuple[TaskSize, ...] = option(
        (),
        group=PROPS,
        flag="--task-size",
        metavar="SIZE",
        parse=TaskSize.parse,
        repeat=True,
        help="task sizes by object size, one per option, smallest first: "
        "up_to_bytes=1GiB,cpu=1024,memory_limit_mib=4096[,ephemeral_storage_gib=50]; the last "
        "without up_to_bytes. A task killed for memory runs one size up",
    )
    spot_fallback_after: int | None = option(
        c.DEFAULT_SPOT_FALLBACK_AFTER,
        group=PROPS,
        metavar="N",
        parse=parse_fallback,
        help=f"on Fargate Spot, a job's attempts after N interruptions run On-Demand "
        f"({NEVER!r}: all on Spot)",
    )

    @property
    def sizes(self) -> TaskSizes:
        """The task sizes, as the ledger escalates through them."""
        return TaskSizes(tuple(self.task_sizes))

    def problems(self, names: Mapping[str, str] | None = None) -> list[str]:
        """What the pipeline would refuse, naming each prop by ``names`` (its flag, say) or
        by its own name. Values known only at deployment (CDK tokens) are not judged."""
        names = names or {}
        problems: list[str] = []
        for item in dataclasses.fields(self):
            name = names.get(item.name, item.name)
            value = getattr(self, item.name)
            if item.name == "task_sizes":
                problems += [p.replace("task_sizes", name) for p in self.sizes.problems()]
            elif item.name == "spot_fallback_after":
                # None is never; 0 would read as never in the functions' variable: refused, so
                # that a value means one thing.
                problems += _range_problems(name, item.name, value, low=1)
                if value == 0:
                    problems[-1] += f" (for never: None; on the command line {NEVER!r})"
            elif item.name != "track_running":
                problems += _range_problems(name, item.name, value)
        return problems

    def checked(self) -> Self:
        """These props, when valid.

        Raises:
            PropsError: naming every invalid prop.
        """
        problems = self.problems()
        if problems:
            raise PropsError("; ".join(problems))
        return self

    def to_settings(self, **deployment: Any) -> PipelineSettings:
        """The functions' settings: these props, and what the deployment adds (``deployment``:
        the cluster, the table, the queue and the other :class:`PipelineSettings` fields)."""
        return PipelineSettings(
            max_running_tasks=self.max_running_tasks,
            max_receive_count=self.max_receive_count,
            max_attempts=self.max_attempts,
            retry_exit_codes=tuple(sorted(set(self.retry_exit_codes))),
            retry_delay_s=self.retry_delay_s,
            task_sizes=self.sizes,
            # The functions' variable: 0 means never.
            spot_fallback_after=self.spot_fallback_after or 0,
            **deployment,
        )


def _range_problems(name: str, setting: str, value: Any, *, low: int | None = None) -> list[str]:
    """``value`` (a number, or a list of them) against its setting's range (from ``low``
    where the prop allows less than the setting)."""
    spec = spec_of(setting)
    low, high = (low, spec.bounds[1]) if low is not None else spec.bounds
    what = f"{spec.expected} " if spec.expected else ""
    values = value if isinstance(value, tuple | list) else (value,)
    problems = []
    for part in values:
        if part is None or is_placeholder(part):
            continue
        if isinstance(part, bool) or not isinstance(part, int):
            problems.append(f"{name} must be {what}{low}-{high} (a whole number), got {part!r}")
        elif not low <= part <= high:
            problems.append(f"{name} must be {what}{low}-{high}, got {part}")
    return problems
