"""The pipeline's settings: one home for each setting's default, valid range and variable name.

:class:`PipelineSettings` is rendered into each function's environment
(:meth:`PipelineSettings.environment`: the construct, the simulator and the local pipeline all
call it) and parsed back by the functions (:meth:`PipelineSettings.from_environment`, at cold
start), so what a function reads is exactly what its deployer wrote.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

from s3fargate import contracts as c
from s3fargate.lambda_runtime.exceptions import ConfigurationError
from s3fargate.ledger import Policy
from s3fargate.sizing import FargatePrices, TaskSizes

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


class Function(enum.StrEnum):
    """The pipeline's Lambda functions."""

    RUNNER = "runner"
    TRACKER = "tracker"
    RECONCILER = "reconciler"


RUNNER: Final = frozenset({Function.RUNNER})
TRACKING: Final = frozenset({Function.TRACKER, Function.RECONCILER})
EVERY_FUNCTION: Final = RUNNER | TRACKING
#: Powertools reads the service name of a function's log lines from this variable.
ENV_SERVICE_NAME: Final = "POWERTOOLS_SERVICE_NAME"
SERVICE_NAMES: Final = {function: f"s3fargate-{function.value}" for function in Function}

Kind = Literal["text", "number", "texts", "numbers", "encoded"]


@dataclass(frozen=True, slots=True)
class Spec:
    """How one setting travels: its variable, who reads it, and what values are valid."""

    env: str
    kind: Kind
    #: The functions whose code reads it: only they get the variable.
    used_by: frozenset[Function]
    #: The functions that cannot start without it.
    required_by: frozenset[Function] = frozenset()
    low: int | None = None
    high: int | None = None
    choices: tuple[str, ...] = ()
    pattern: str | None = None
    #: What a valid value looks like, for error messages.
    expected: str = ""
    #: For an ``encoded`` setting: reads the variable back (its value has ``encode()`` and
    #: ``problems()``); raises ``ValueError`` on text it cannot read.
    decode: Callable[[str], Any] | None = None

    @property
    def bounds(self) -> tuple[int, int]:
        """The valid range of a numeric setting."""
        if self.low is None or self.high is None:
            raise ValueError(f"{self.env} is not a numeric setting")
        return self.low, self.high


def _setting(default: Any, spec: Spec) -> Any:
    return field(default=default, metadata={"spec": spec})


AssignPublicIp = Literal["ENABLED", "DISABLED"]


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    """Every setting of the pipeline's functions, with its default (docs/design.md, "Settings").

    Values may be deploy-time placeholders (CDK tokens) where the construct does not know them
    yet; :meth:`problems` checks only what can be checked before deployment.
    """

    # --- where and how tasks are launched (the runner; the tracker launches parked jobs) -----
    cluster_arn: str = _setting("", Spec(c.ENV_CLUSTER_ARN, "text", EVERY_FUNCTION, EVERY_FUNCTION))
    task_definition_arn: str = _setting(
        "", Spec(c.ENV_TASK_DEFINITION_ARN, "text", EVERY_FUNCTION, RUNNER)
    )
    container_name: str = _setting("", Spec(c.ENV_CONTAINER_NAME, "text", EVERY_FUNCTION, RUNNER))
    subnets: tuple[str, ...] = _setting(
        (),
        Spec(
            c.ENV_SUBNETS,
            "texts",
            EVERY_FUNCTION,
            RUNNER,
            expected="a comma-separated list of subnet ids",
        ),
    )
    security_groups: tuple[str, ...] = _setting(
        (), Spec(c.ENV_SECURITY_GROUPS, "texts", EVERY_FUNCTION)
    )
    assign_public_ip: AssignPublicIp = _setting(  # noqa: RUF009 -- a field() with its spec
        "ENABLED",
        Spec(c.ENV_ASSIGN_PUBLIC_IP, "text", EVERY_FUNCTION, choices=("ENABLED", "DISABLED")),
    )
    capacity_provider: str | None = _setting(
        None, Spec(c.ENV_CAPACITY_PROVIDER, "text", EVERY_FUNCTION)
    )
    max_running_tasks: int | None = _setting(
        None, Spec(c.ENV_MAX_RUNNING_TASKS, "number", EVERY_FUNCTION, low=1, high=100_000)
    )
    #: RunTask ``startedBy``: this pipeline's tasks, and only them, for the cap and the tracker.
    pipeline_id: str = _setting(
        c.STARTED_BY,
        Spec(
            c.ENV_PIPELINE_ID,
            "text",
            EVERY_FUNCTION,
            pattern=c.PIPELINE_ID_PATTERN,
            expected="1-128 letters, digits, '-', '_' or '/' (it is ECS's startedBy)",
        ),
    )
    # --- the ledger ------------------------------------------------------------------------
    #: The job ledger's table; the runner launches with no ledger without it.
    jobs_table: str | None = _setting(
        None, Spec(c.ENV_JOBS_TABLE, "text", EVERY_FUNCTION, TRACKING)
    )
    notification_topic_arn: str | None = _setting(
        None, Spec(c.ENV_NOTIFICATION_TOPIC_ARN, "text", EVERY_FUNCTION)
    )
    job_ttl_days: int = _setting(
        c.DEFAULT_JOB_TTL_DAYS, Spec(c.ENV_JOB_TTL_DAYS, "number", EVERY_FUNCTION, low=1, high=3650)
    )
    input_prefix: str = _setting(
        c.DEFAULT_INPUT_PREFIX, Spec(c.ENV_INPUT_PREFIX, "text", EVERY_FUNCTION)
    )
    results_prefix: str = _setting(
        c.DEFAULT_RESULTS_PREFIX, Spec(c.ENV_RESULTS_PREFIX, "text", EVERY_FUNCTION)
    )
    #: The upload queue's ``maxReceiveCount``: a record failing its last receive is dead-lettered.
    max_receive_count: int | None = _setting(
        None, Spec(c.ENV_MAX_RECEIVE_COUNT, "number", RUNNER, low=1, high=1000)
    )
    # --- retries and tracking (the tracker and the reconciler) ------------------------------
    #: Where retry requests go: the upload queue.
    queue_url: str | None = _setting(None, Spec(c.ENV_QUEUE_URL, "text", TRACKING, TRACKING))
    task_log_group: str | None = _setting(None, Spec(c.ENV_TASK_LOG_GROUP, "text", TRACKING))
    max_attempts: int = _setting(
        c.DEFAULT_MAX_ATTEMPTS, Spec(c.ENV_MAX_ATTEMPTS, "number", TRACKING, low=1, high=100)
    )
    retry_exit_codes: tuple[int, ...] = _setting(
        (),
        Spec(c.ENV_RETRY_EXIT_CODES, "numbers", TRACKING, low=1, high=255, expected="exit codes"),
    )
    #: The first retry's delay; each later one doubles it, up to SQS's longest delay.
    retry_delay_s: int = _setting(
        c.DEFAULT_RETRY_DELAY_S,
        Spec(c.ENV_RETRY_DELAY_S, "number", TRACKING, low=0, high=c.SQS_MAX_DELAY_S),
    )
    #: Sizes by object size; empty: every task runs at the task definition's size.
    task_sizes: TaskSizes = _setting(  # noqa: RUF009 -- a field() with its spec
        TaskSizes(),
        Spec(
            c.ENV_TASK_SIZES,
            "encoded",
            EVERY_FUNCTION,
            decode=TaskSizes.decode,
            expected="up_to_bytes:cpu:memory_limit_mib[:ephemeral_storage_gib],... (last '*')",
        ),
    )
    #: Spot interruptions of one job after which its next attempts run On-Demand (0: never).
    spot_fallback_after: int = _setting(
        c.DEFAULT_SPOT_FALLBACK_AFTER,
        Spec(c.ENV_SPOT_FALLBACK_AFTER, "number", TRACKING, low=0, high=100),
    )
    #: The prices the tracker bills tasks at; None: the list prices of the cluster's region.
    fargate_prices: FargatePrices | None = _setting(  # noqa: RUF009 -- a field() with its spec
        None,
        Spec(
            c.ENV_FARGATE_PRICES,
            "encoded",
            TRACKING,
            decode=FargatePrices.decode,
            expected="a JSON object with vcpu_hour, gb_hour and storage_gb_hour",
        ),
    )
    #: A pending or running job with no event for this long is checked with DescribeTasks.
    reconcile_after_s: int = _setting(
        c.DEFAULT_RECONCILE_AFTER_S,
        Spec(c.ENV_RECONCILE_AFTER_S, "number", TRACKING, low=1, high=86_400),
    )

    # --- rendering and parsing -------------------------------------------------------------
    def environment(self, function: Function) -> dict[str, str]:
        """The variables ``function`` reads, as strings (unset optional settings are left out)."""
        environment: dict[str, str] = {}
        for item, spec in _specs():
            if function not in spec.used_by:
                continue
            value = getattr(self, item.name)
            if value is None or value == () or (spec.kind == "encoded" and not value):
                continue
            if spec.kind == "encoded":
                environment[spec.env] = value.encode()
            elif spec.kind in ("texts", "numbers"):
                environment[spec.env] = ",".join(str(part) for part in value)
            else:
                environment[spec.env] = str(value)
        environment[ENV_SERVICE_NAME] = SERVICE_NAMES[function]
        return environment

    @classmethod
    def from_environment(cls, environ: Mapping[str, str], function: Function) -> PipelineSettings:
        """Read the settings ``function`` uses; the others keep their defaults.

        Raises:
            ConfigurationError: naming every missing or invalid variable at once.
        """
        values: dict[str, Any] = {}
        problems: list[str] = []
        for item, spec in _specs():
            if function not in spec.used_by:
                continue
            raw = environ.get(spec.env, "").strip()
            if not raw:
                if function in spec.required_by:
                    problems.append(f"{spec.env} is required but not set" + _expect(spec))
                continue
            value = _parse(raw, spec, problems)
            if value is not None:
                values[item.name] = value
        settings = cls(**values)
        problems.extend(settings.problems(naming="env", only=function, placeholders=False))
        if problems:
            raise ConfigurationError(list(dict.fromkeys(problems)))
        return settings

    def used_by(self, function: Function) -> PipelineSettings:
        """These settings as ``function`` sees them: the ones it does not read at their defaults."""
        kept = {
            item.name: getattr(self, item.name)
            for item, spec in _specs()
            if function in spec.used_by
        }
        return PipelineSettings(**kept)

    def problems(
        self,
        *,
        naming: Literal["env", "prop"] = "prop",
        only: Function | None = None,
        placeholders: bool = True,
    ) -> list[str]:
        """What is invalid, naming each setting by its variable (``env``) or its name (``prop``).

        With ``placeholders`` (the construct's case), values known only at deployment (CDK
        tokens) are not judged; a function's environment has none.
        """
        problems: list[str] = []
        for item, spec in _specs():
            if only is not None and only not in spec.used_by:
                continue
            value = getattr(self, item.name)
            if value is None:
                continue
            if spec.kind == "encoded":
                what = spec.env if naming == "env" else item.name
                problems.extend(f"{what}: {problem}" for problem in value.problems())
                continue
            listed = spec.kind in ("texts", "numbers")
            for index, part in enumerate(value) if listed else ((None, value),):
                if placeholders and is_placeholder(part):
                    continue
                reason = _check(part, spec)
                if reason is None:
                    continue
                if naming == "env":
                    problems.append(f"{spec.env} {reason}, got {part!r}")
                else:
                    at = "" if index is None else f"[{index}]"
                    problems.append(f"{item.name}{at}={part!r} {reason}")
        try:
            c.check_prefixes(self.input_prefix, self.results_prefix)
        except c.PrefixOverlapError as exc:
            problems.append(str(exc))
        return problems

    def check(self) -> None:
        """Raise :class:`ConfigurationError` (a ``ValueError``) naming every invalid setting."""
        problems = self.problems()
        if problems:
            raise ConfigurationError(problems)

    @property
    def policy(self) -> Policy:
        """How the ledger retries jobs, where results land and how long rows are kept."""
        return Policy(
            max_attempts=self.max_attempts,
            retry_exit_codes=frozenset(self.retry_exit_codes),
            base_delay_s=self.retry_delay_s,
            input_prefix=self.input_prefix,
            results_prefix=self.results_prefix,
            ttl_days=self.job_ttl_days,
            task_sizes=self.task_sizes,
            spot_fallback_after=self.spot_fallback_after or None,
        )


def spec_of(name: str) -> Spec:
    """The spec of the setting called ``name`` (its valid range, its variable)."""
    for item, spec in _specs():
        if item.name == name:
            return spec
    raise KeyError(name)


def _specs() -> list[tuple[dataclasses.Field[Any], Spec]]:
    return [(item, item.metadata["spec"]) for item in dataclasses.fields(PipelineSettings)]


def _expect(spec: Spec) -> str:
    return f": {spec.expected}" if spec.expected else ""


def _parse(raw: str, spec: Spec, problems: list[str]) -> Any:
    if spec.kind == "encoded" and spec.decode is not None:
        try:
            return spec.decode(raw)
        except ValueError as exc:
            problems.append(f"{spec.env} must be {spec.expected}: {exc}")
            return None
    if spec.kind == "text":
        return raw.upper() if spec.choices else raw
    parts = (
        [part.strip() for part in raw.split(",") if part.strip()]
        if spec.kind != "number"
        else [raw]
    )
    if spec.kind == "texts":
        return tuple(parts)
    numbers: list[int] = []
    for part in parts:
        if not (part.isascii() and part.isdigit()):
            problems.append(f"{spec.env} must be {_range(spec)}, got {part!r}")
            continue
        numbers.append(int(part))
    if spec.kind == "number":
        return numbers[0] if numbers else None
    return tuple(numbers)


def _check(value: Any, spec: Spec) -> str | None:
    """Why ``value`` is not valid for ``spec`` (None: it is)."""
    if isinstance(value, str):
        if spec.choices and value not in spec.choices:
            return f"must be {' or '.join(spec.choices)}"
        if spec.pattern and not re.match(spec.pattern, value):
            return f"must be {spec.expected}"
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        return f"must be {_range(spec)}"
    if (spec.low is not None and value < spec.low) or (spec.high is not None and value > spec.high):
        return f"is out of range {spec.low}-{spec.high}"
    return None


def _range(spec: Spec) -> str:
    what = spec.expected or "a whole number"
    return f"{what} {spec.low}-{spec.high}" if spec.low is not None else what


def is_placeholder(value: Any) -> bool:
    """A value known only at deployment: a CDK token renders as ``${Token[...]}`` in text and
    as a huge negative number in place of a number."""
    if isinstance(value, str):
        return "${Token[" in value
    return isinstance(value, int | float) and value < -1e200


@dataclass(frozen=True, slots=True)
class EventSourceLimits:
    """Lambda's limits on an SQS event source (the construct's and the simulator's options)."""

    max_concurrency: tuple[int, int] = (2, 1000)
    batching_window_s: tuple[int, int] = (0, 300)

    @staticmethod
    def batch_size(*, windowed: bool) -> tuple[int, int]:
        """Without a batching window Lambda takes at most 10 SQS messages a batch."""
        return (1, 10_000) if windowed else (1, 10)


EVENT_SOURCE_LIMITS: Final = EventSourceLimits()
