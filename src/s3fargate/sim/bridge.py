"""Runs synchronous code (our runner and tracker) inside SimPy's virtual time.

The code runs in a greenlet. Each call on a simulated client switches back to the SimPy
process driving it, which lets the call's latency pass in virtual time, performs the call on
the simulated service at that moment, and switches back with the answer. So every request
happens at its own instant, in order with every other Lambda's, and the code under test is
exactly the code that runs in AWS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from greenlet import greenlet

from s3fargate.lambda_runtime.paginators import botocore_paginator
from s3fargate.wire import wire_format

if TYPE_CHECKING:
    import random
    from collections.abc import Callable, Generator

    import simpy
    from botocore.paginate import Paginator

#: What botocore's standard retry mode retries (throttling and transient errors).
RETRYABLE = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "ServiceUnavailable",
        "InternalError",
    }
)


@dataclass(frozen=True, slots=True)
class Call:
    """One API request from the code in the greenlet."""

    service: str
    operation: str
    kwargs: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Sleep:
    """The code waits (botocore's retry backoff)."""

    seconds: float


@dataclass(slots=True)
class Failed:
    """The service answered with an error."""

    error: ClientError


@dataclass
class Invocation:
    """What one run of the code did: its result or exception, and how long it took."""

    result: Any = None
    error: BaseException | None = None
    calls: int = 0
    seconds: float = 0.0
    by_operation: dict[str, int] = field(default_factory=dict)


def client_error(
    code: str, message: str, operation: str, status: int = 400, **fields: Any
) -> ClientError:
    """A ClientError as a simulated service raises it (``fields``: the error's modeled members,
    such as ``CancellationReasons``); :meth:`World.perform` hands it on as botocore parses it."""
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
        **fields,
    }
    return ClientError(response, operation)


class SimClient:
    """A stand-in for a botocore client of ``service``: same method names, same answers.

    Retries like botocore's standard mode (up to ``max_attempts`` with full-jitter backoff,
    capped at 20 s), so throttling costs what it costs in AWS: time and requests.
    """

    def __init__(self, service: str, *, rng: random.Random, max_attempts: int = 5) -> None:
        self.service = service
        self._rng = rng
        self._max_attempts = max_attempts

    def __getattr__(self, operation: str) -> Callable[..., Any]:
        if operation.startswith("_"):
            raise AttributeError(operation)

        def call(**kwargs: Any) -> Any:
            return self._call(operation, kwargs)

        return call

    def get_paginator(self, operation: str) -> Paginator[Any]:
        """botocore's own paginator over this client's method."""
        return botocore_paginator(self.service, operation, getattr(self, operation))

    def _call(self, operation: str, kwargs: dict[str, Any]) -> Any:
        parent = greenlet.getcurrent().parent
        if parent is None:
            raise RuntimeError("simulated clients are called only from simulated code")
        # As botocore does before sending: a request AWS would refuse never leaves.
        wire_format(self.service).check_request(operation, kwargs)
        for attempt in range(1, self._max_attempts + 1):
            answer = parent.switch(Call(self.service, operation, kwargs))
            if not isinstance(answer, Failed):
                return answer
            code = answer.error.response.get("Error", {}).get("Code", "")
            if code not in RETRYABLE or attempt == self._max_attempts:
                raise answer.error
            parent.switch(Sleep(self._rng.random() * min(2 ** (attempt - 1), 20)))
        raise AssertionError("unreachable")


def run(
    env: simpy.Environment,
    perform: Callable[[Call], Any],
    latency: Callable[[Call], float],
    function: Callable[..., Any],
    *args: Any,
) -> Generator[simpy.Event, Any, Invocation]:
    """A SimPy process running ``function(*args)`` with its requests in virtual time.

    ``perform`` answers a call (returning a value, or raising ClientError for an error);
    ``latency`` says how long the call takes.
    """
    started = env.now
    invocation = Invocation()
    code = greenlet(function)
    try:
        message = code.switch(*args)
        while not code.dead:
            if isinstance(message, Sleep):
                yield env.timeout(message.seconds)
                message = code.switch(None)
                continue
            yield env.timeout(latency(message))
            invocation.calls += 1
            key = f"{message.service}:{message.operation}"
            invocation.by_operation[key] = invocation.by_operation.get(key, 0) + 1
            try:
                answer: Any = perform(message)
            except ClientError as exc:
                answer = Failed(exc)
            message = code.switch(answer)
        invocation.result = message
    except Exception as exc:  # the code raised: the Lambda invocation fails
        invocation.error = exc
    invocation.seconds = env.now - started
    return invocation
