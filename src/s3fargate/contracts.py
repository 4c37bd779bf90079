"""Names and rules that the runner, the task, the infrastructure and the local pipeline share.

Everything here is part of the public contract in docs/design.md: change a name and every
component (and every deployed task image) must change with it.
"""

from __future__ import annotations

from typing import Final

# --- Task environment (set by the runner as container overrides) -------------------------
ENV_S3_BUCKET: Final = "S3_BUCKET"
ENV_S3_KEY: Final = "S3_KEY"
ENV_S3_VERSION_ID: Final = "S3_VERSION_ID"
ENV_S3_ETAG: Final = "S3_ETAG"
ENV_S3_SIZE: Final = "S3_SIZE"
ENV_INPUT_PREFIX: Final = "INPUT_PREFIX"
ENV_RESULTS_PREFIX: Final = "RESULTS_PREFIX"
#: How the task SDK reads the object: concurrent ranged GETs of a part size (1 = one stream).
ENV_S3_READ_CONCURRENCY: Final = "S3_READ_CONCURRENCY"
ENV_S3_PART_SIZE: Final = "S3_PART_SIZE"
DEFAULT_READ_CONCURRENCY: Final = 10
DEFAULT_PART_SIZE: Final = 8 * 1024 * 1024

DEFAULT_INPUT_PREFIX: Final = "incoming/"
DEFAULT_RESULTS_PREFIX: Final = "results/"
RESULT_SUFFIX: Final = ".json"

# --- Runner configuration (the Lambda's environment) -------------------------------------
ENV_CLUSTER_ARN: Final = "CLUSTER_ARN"
ENV_TASK_DEFINITION_ARN: Final = "TASK_DEFINITION_ARN"
ENV_CONTAINER_NAME: Final = "CONTAINER_NAME"
ENV_SUBNETS: Final = "SUBNETS"
ENV_SECURITY_GROUPS: Final = "SECURITY_GROUPS"
ENV_ASSIGN_PUBLIC_IP: Final = "ASSIGN_PUBLIC_IP"
ENV_CAPACITY_PROVIDER: Final = "CAPACITY_PROVIDER"
ENV_MAX_RUNNING_TASKS: Final = "MAX_RUNNING_TASKS"

#: Value of RunTask ``startedBy``; ListTasks filters on it to count this runner's tasks.
STARTED_BY: Final = "s3fargate"

# --- Queue defaults shared by the CDK construct and the local pipeline -------------------
DEFAULT_MAX_RECEIVE_COUNT: Final = 5
DLQ_RETENTION_DAYS: Final = 14


class PrefixOverlapError(ValueError):
    """The results prefix and the input prefix overlap, so a result could re-trigger a task."""


def check_prefixes(input_prefix: str, results_prefix: str) -> None:
    """Refuse prefixes under which a result object could land inside the input prefix.

    A result key always starts with ``results_prefix``; it can never start with
    ``input_prefix`` exactly when neither prefix is a prefix of the other (an empty
    prefix is a prefix of everything, so both must be non-empty).
    """
    if not input_prefix or not results_prefix:
        raise PrefixOverlapError(
            f"input prefix {input_prefix!r} and results prefix {results_prefix!r} must both be "
            "non-empty: an empty prefix covers the whole bucket, so results would re-trigger tasks"
        )
    if results_prefix.startswith(input_prefix) or input_prefix.startswith(results_prefix):
        raise PrefixOverlapError(
            f"results prefix {results_prefix!r} overlaps input prefix {input_prefix!r}: results "
            "written there would trigger new tasks. Use disjoint prefixes such as "
            f"{DEFAULT_INPUT_PREFIX!r} and {DEFAULT_RESULTS_PREFIX!r}"
        )


def result_key(key: str, *, input_prefix: str, results_prefix: str) -> str:
    """Return where the result for object ``key`` is written.

    ``results/<key without the input prefix>.json``; a key outside the input prefix keeps
    its full name. The prefixes are checked first, so the result can never re-trigger.
    """
    check_prefixes(input_prefix, results_prefix)
    relative = key[len(input_prefix) :] if key.startswith(input_prefix) else key
    return f"{results_prefix}{relative}{RESULT_SUFFIX}"
