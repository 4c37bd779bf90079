"""Simulated SQS standard queues: visibility timeouts, receive counts, redrive, delays."""

from __future__ import annotations

import hashlib
import heapq
import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from s3fargate.sim.bridge import client_error
from s3fargate.sim.ecs import EPOCH

if TYPE_CHECKING:
    import simpy

#: ReceiveMessage's longest wait (long polling).
LONG_POLL_S = 20.0


@dataclass(eq=False)
class Message:
    """One message and its SQS bookkeeping."""

    message_id: str
    body: str
    sent_at: float
    receive_count: int = 0
    receipt: str | None = None
    deleted: bool = False
    visible_at: float = 0.0
    first_received_at: float | None = None


@dataclass(eq=False)
class Queue:
    """One standard queue (``dead_letter`` with ``max_receive_count``: its redrive policy)."""

    env: simpy.Environment
    name: str
    visibility_timeout: float
    dead_letter: Queue | None = None
    max_receive_count: int | None = None
    _ready: deque[Message] = field(default_factory=deque)
    _later: list[tuple[float, int, Message]] = field(default_factory=list)
    _inflight: dict[str, Message] = field(default_factory=dict)
    _order: itertools.count[int] = field(default_factory=itertools.count)
    _arrival: simpy.Event | None = None

    @property
    def url(self) -> str:
        """The queue's URL."""
        return f"https://sqs.sim.amazonaws.com/000000000000/{self.name}"

    @property
    def arn(self) -> str:
        """The queue's ARN."""
        return f"arn:aws:sqs:sim:000000000000:{self.name}"

    def depth(self) -> int:
        """Messages stored: visible, delayed and in flight (ApproximateNumberOfMessages*)."""
        self._promote()
        return len(self._ready) + sum(1 for _, _, m in self._later if not m.deleted)

    def send(self, body: str, delay_s: float = 0.0) -> str:
        """Store a message (visible after ``delay_s``); return its id."""
        n = next(self._order)
        message = Message(message_id=f"{self.name}-{n}", body=body, sent_at=self.env.now)
        if delay_s > 0:
            message.visible_at = self.env.now + delay_s
            heapq.heappush(self._later, (message.visible_at, n, message))
            self._wake_after(delay_s)
        else:
            self._ready.append(message)
            self._wake()
        return message.message_id

    def receive(self, limit: int) -> list[Message]:
        """Up to ``limit`` visible messages; each becomes invisible for the visibility timeout.

        A message received more than ``max_receive_count`` times moves to the dead-letter
        queue instead, as SQS's redrive policy does.
        """
        self._promote()
        taken: list[Message] = []
        while self._ready and len(taken) < limit:
            message = self._ready.popleft()
            if message.deleted:
                continue
            if (
                self.dead_letter is not None
                and self.max_receive_count is not None
                and message.receive_count >= self.max_receive_count
            ):
                self.dead_letter.adopt(message)
                continue
            message.receive_count += 1
            if message.first_received_at is None:
                message.first_received_at = self.env.now
            message.receipt = f"{message.message_id}#{message.receive_count}"
            message.visible_at = self.env.now + self.visibility_timeout
            self._inflight[message.receipt] = message
            heapq.heappush(self._later, (message.visible_at, next(self._order), message))
            self._wake_after(self.visibility_timeout)
            taken.append(message)
        return taken

    def delete(self, receipt: str) -> None:
        """Delete a received message (an old receipt of a re-received message does nothing)."""
        message = self._inflight.pop(receipt, None)
        if message is not None and message.receipt == receipt:
            message.deleted = True

    def adopt(self, message: Message) -> None:
        """Take a message moved here by a redrive policy (receive count and id kept)."""
        moved = Message(
            message_id=message.message_id,
            body=message.body,
            sent_at=message.sent_at,
            receive_count=message.receive_count,
        )
        message.deleted = True
        self._ready.append(moved)
        self._wake()

    def messages(self) -> list[Message]:
        """Every stored message (for the final accounting)."""
        self._promote()
        later = [m for _, _, m in self._later if not m.deleted]
        return [m for m in self._ready if not m.deleted] + later

    def arrival(self) -> simpy.Event:
        """An event that fires when a message becomes visible."""
        if self._arrival is None or self._arrival.triggered:
            self._arrival = self.env.event()
        return self._arrival

    def _promote(self) -> None:
        now = self.env.now
        while self._later and self._later[0][0] <= now:
            _, _, message = heapq.heappop(self._later)
            if message.deleted or message.visible_at > now:
                continue
            if message.receipt is not None:
                self._inflight.pop(message.receipt, None)
                message.receipt = None
            self._ready.append(message)

    def _wake_after(self, seconds: float) -> None:
        """Long polls return when a delayed or in-flight message becomes visible."""
        self.env.timeout(seconds).callbacks.append(lambda _: self._wake())

    def _wake(self) -> None:
        if self._arrival is not None and not self._arrival.triggered:
            self._arrival.succeed()


class Sqs:
    """The SQS API our code calls (SendMessage), over the simulated queues."""

    def __init__(self, queues: list[Queue]) -> None:
        self._by_url = {q.url: q for q in queues}

    def queue(self, url: str) -> Queue:
        """The queue at ``url``."""
        try:
            return self._by_url[url]
        except KeyError:
            raise client_error(
                "AWS.SimpleQueueService.NonExistentQueue", f"no queue {url}", "SendMessage"
            ) from None

    def send_message(self, QueueUrl: str, MessageBody: str, DelaySeconds: int = 0, **_: Any) -> Any:
        """SendMessage."""
        if not 0 <= DelaySeconds <= 900:
            raise client_error("InvalidParameterValue", "DelaySeconds must be 0-900", "SendMessage")
        message_id = self.queue(QueueUrl).send(MessageBody, DelaySeconds)
        return {
            "MessageId": message_id,
            "MD5OfMessageBody": hashlib.md5(
                MessageBody.encode(), usedforsecurity=False
            ).hexdigest(),
        }


def lambda_record(queue: Queue, message: Message) -> dict[str, Any]:
    """A message as Lambda's SQS event source hands it to the function (AWS's documented
    record: every attribute a string, ``md5OfBody`` the body's MD5)."""
    first = message.first_received_at if message.first_received_at is not None else 0.0
    return {
        "messageId": message.message_id,
        "receiptHandle": message.receipt,
        "body": message.body,
        "attributes": {
            "ApproximateReceiveCount": str(message.receive_count),
            "SentTimestamp": str(int((EPOCH.timestamp() + message.sent_at) * 1000)),
            "SenderId": "AIDASIMULATEDSENDER0",
            "ApproximateFirstReceiveTimestamp": str(int((EPOCH.timestamp() + first) * 1000)),
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(message.body.encode("utf-8"), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue.arn,
        "awsRegion": "sim",
    }
