"""Long-poll a queue and hand each batch to a handler, with Lambda's SQS semantics.

As Lambda's SQS event source does: records the runner reports in ``batchItemFailures`` stay
in the queue and come back after the visibility timeout; the others are deleted; a runner
crash leaves the whole batch to be redelivered. SQS itself moves a message to the
dead-letter queue once it has been received ``maxReceiveCount`` times.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

log = logging.getLogger(__name__)
#: SQS's maximum batch, and Lambda's default batch size for SQS.
BATCH_SIZE = 10


class Dispatcher:
    """Feeds a queue's batches to a Lambda-style handler until stopped, as Lambda's SQS event
    source does: full batches, partial batch failures, and no knowledge of the cap (uploads
    over it are parked by the runner, as on AWS)."""

    def __init__(
        self,
        *,
        name: str,
        sqs: SQSClient,
        queue_url: str,
        queue_arn: str,
        handler: Callable[[dict[str, Any]], dict[str, Any]],
        region: str,
        wait_seconds: int = 1,
    ) -> None:
        self.name = name
        self._sqs = sqs
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._handler = handler
        self._region = region
        self._wait_seconds = wait_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.batches = 0

    def start(self) -> None:
        """Run :meth:`poll_once` in a background thread."""
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current long poll (at most ``wait_seconds``)."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=self._wait_seconds + 30)

    def drain(self) -> None:
        """Process what is visible in the queue now, then return (used at shutdown)."""
        while self.poll_once(wait_seconds=0):
            pass

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # keep dispatching: a failed poll is retried, never fatal
                log.exception("%s: poll failed; retrying in 1 s", self.name)
                self._stop.wait(1)

    def poll_once(self, wait_seconds: int | None = None) -> int:
        """Receive one batch and process it; return the number of messages received."""
        response = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=BATCH_SIZE,
            WaitTimeSeconds=self._wait_seconds if wait_seconds is None else wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            return 0
        self.batches += 1
        records = [self._lambda_record(m) for m in messages]
        try:
            result = self._handler({"Records": records})
        except Exception:
            # As in Lambda: the whole batch returns to the queue after the visibility timeout.
            log.exception("%s: handler failed on a whole batch; it will be redelivered", self.name)
            return len(messages)
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        self._delete([m for m in messages if m["MessageId"] not in failed])
        return len(messages)

    def _lambda_record(self, message: MessageTypeDef) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": dict(message.get("Attributes", {})),
            "messageAttributes": dict(message.get("MessageAttributes", {})),
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self._queue_arn,
            "awsRegion": self._region,
        }

    def _delete(self, messages: list[MessageTypeDef]) -> None:
        for start in range(0, len(messages), BATCH_SIZE):
            chunk = messages[start : start + BATCH_SIZE]
            if not chunk:
                continue
            response = self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)
                ],
            )
            for failure in response.get("Failed", []):
                # Redelivered later; the clientToken keeps it from starting a second task.
                log.warning("could not delete a processed message: %s", failure)
