"""Launch one Fargate task per object with ECS RunTask, and classify what ECS answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from s3fargate.launching.exceptions import LaunchError
from s3fargate.launching.request import (
    OverridesTooLargeError,
    ResultKeyTooLongError,
    run_task_request,
)

if TYPE_CHECKING:
    from s3fargate.events import ObjectCreated
    from s3fargate.launching.config import RunnerConfig
    from s3fargate.launching.ecs_api import EcsApi

#: Error codes after which the same request can succeed later without any change.
RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ServerException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalError",
        "LimitExceededException",
    }
)


#: Fargate refuses a launch beyond the account's vCPU quota in RunTask's ``failures`` with
#: "You've reached the limit on the number of vCPUs you can run concurrently".
VCPU_QUOTA_MARKER = "limit on the number of vCPUs"
#: The :class:`LaunchError` code of that refusal.
VCPU_QUOTA_REACHED = "VcpuQuotaReached"


@dataclass(frozen=True, slots=True)
class Launched:
    """A task exists for the object: started now, or earlier for the same ``clientToken``."""

    task_arn: str | None
    duplicate: bool = False


class RunTaskLauncher:
    """Starts one ECS task for an object and turns every ECS answer into an outcome.

    RunTask answers HTTP 200 with a ``failures`` list when placement fails (capacity,
    ``RESOURCE:*``): that is a failure, never a success.
    """

    def __init__(self, *, ecs: EcsApi, config: RunnerConfig) -> None:
        self._ecs = ecs
        self._config = config

    def launch(self, obj: ObjectCreated) -> Launched:
        """Launch the task for ``obj``.

        Raises:
            LaunchError: no task was started; ``retryable`` tells whether waiting can help.
        """
        try:
            request = run_task_request(obj, self._config)
        except OverridesTooLargeError as exc:
            raise LaunchError(str(exc), retryable=False, code="OverridesTooLarge") from exc
        except ResultKeyTooLongError as exc:
            raise LaunchError(str(exc), retryable=False, code="ResultKeyTooLong") from exc
        try:
            response = self._ecs.run_task(**request)
        except ClientError as exc:
            return _from_client_error(exc)
        except BotoCoreError as exc:  # connection reset, read timeout after boto3's retries
            raise LaunchError(
                f"ECS unreachable: {exc}", retryable=True, code=type(exc).__name__
            ) from exc
        return _from_response(response)


def _from_response(response: Any) -> Launched:
    tasks = response.get("tasks") or []
    if tasks:
        return Launched(task_arn=tasks[0].get("taskArn"))
    failures = response.get("failures") or []
    if failures:
        reasons = "; ".join(
            f"{f.get('reason', 'unknown')}" + (f" ({f['detail']})" if f.get("detail") else "")
            for f in failures
        )
        quota = any(VCPU_QUOTA_MARKER in str(f.get("reason", "")) for f in failures)
        raise LaunchError(
            f"RunTask failures: {reasons}",
            retryable=True,
            code=VCPU_QUOTA_REACHED if quota else "RunTaskFailures",
        )
    raise LaunchError("RunTask returned neither tasks nor failures", retryable=True)


def _from_client_error(exc: ClientError) -> Launched:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    message = str(error.get("Message", str(exc)))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if code == "ConflictException":
        # Same clientToken seen before: the task for this event already exists.
        arns: Any = exc.response.get("resourceIds") or []
        return Launched(task_arn=str(arns[0]) if arns else None, duplicate=True)
    retryable = code in RETRYABLE_CODES or status >= 500
    raise LaunchError(f"{code}: {message}", retryable=retryable, code=code) from exc
