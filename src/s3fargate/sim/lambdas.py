"""Lambda in the simulation: the SQS event source mapping, and invocations of our code."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from s3fargate.sim import bridge
from s3fargate.sim.sqs import LONG_POLL_S, lambda_record

if TYPE_CHECKING:
    from collections.abc import Callable, Generator

    import simpy

    from s3fargate.sim.metrics import Requests
    from s3fargate.sim.sqs import Queue

#: Lambda's own time per invocation beyond the function's requests (warm start).
INVOKE_OVERHEAD_S = 0.01


class Functions:
    """Runs functions as Lambda does, counting invocations and their duration."""

    def __init__(
        self,
        env: simpy.Environment,
        requests: Requests,
        perform: Callable[[bridge.Call], Any],
        latency: Callable[[bridge.Call], float],
    ) -> None:
        self.env = env
        self._requests = requests
        self._perform = perform
        self._latency = latency
        self.seconds = 0.0
        self.in_flight = 0

    def invoke(
        self, function: Callable[..., Any], *args: Any
    ) -> Generator[simpy.Event, Any, bridge.Invocation]:
        """One invocation of ``function(*args)`` (a SimPy process body)."""
        self._requests.add("lambda", "Invoke")
        self.in_flight += 1
        try:
            yield self.env.timeout(INVOKE_OVERHEAD_S)
            invocation: bridge.Invocation = yield self.env.process(
                bridge.run(self.env, self._perform, self._latency, function, *args)
            )
        finally:
            self.in_flight -= 1
        self.seconds += invocation.seconds + INVOKE_OVERHEAD_S
        return invocation


class EventSourceMapping:
    """Lambda's SQS event source: long polls, batches, at most ``max_concurrency`` at once.

    Each of ``max_concurrency`` pollers long-polls (20 s), invokes the function with what it
    received, deletes what succeeded and leaves the reported failures to reappear after the
    visibility timeout. A failed invocation leaves the whole batch. With a batching window, a
    poller that received less than a batch waits that long and receives again before invoking.
    Each poller has its own execution environment (``environment()`` builds the function once
    per poller), as each concurrent Lambda invocation has its own container.
    """

    def __init__(
        self,
        *,
        functions: Functions,
        queue: Queue,
        environment: Callable[[], Callable[[dict[str, Any]], Any]],
        batch_size: int,
        max_concurrency: int,
        requests: Requests,
        batching_window_s: float = 0.0,
    ) -> None:
        self._functions = functions
        self._queue = queue
        self._environment = environment
        self._batch_size = batch_size
        self._window = batching_window_s
        self._requests = requests
        for _ in range(max_concurrency):
            functions.env.process(self._poller())

    def _poller(self) -> Generator[simpy.Event, Any, None]:
        env, queue = self._functions.env, self._queue
        function = self._environment()
        while True:
            deadline = env.now + LONG_POLL_S
            while True:
                messages = queue.receive(self._batch_size)
                if messages or env.now >= deadline:
                    break
                yield queue.arrival() | env.timeout(deadline - env.now)
            self._requests.add("sqs", "ReceiveMessage")
            if not messages:
                continue
            if self._window > 0 and len(messages) < self._batch_size:
                # The batching window: gather more records, up to a full batch, before invoking.
                yield env.timeout(self._window)
                more = queue.receive(self._batch_size - len(messages))
                self._requests.add("sqs", "ReceiveMessage")
                messages += more
            event = {"Records": [lambda_record(queue, m) for m in messages]}
            invocation = yield env.process(self._functions.invoke(function, event))
            if invocation.error is not None or not isinstance(invocation.result, dict):
                continue
            failed = {
                f.get("itemIdentifier") for f in invocation.result.get("batchItemFailures", [])
            }
            done = [m for m in messages if m.message_id not in failed]
            for message in done:
                if message.receipt is not None:
                    queue.delete(message.receipt)
            if done:
                self._requests.add("sqs", "DeleteMessageBatch", math.ceil(len(done) / 10))
