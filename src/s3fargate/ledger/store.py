"""The ledger in DynamoDB: read a row, apply a change, write it only if nobody else did."""

from __future__ import annotations

import dataclasses
import random
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from s3fargate.ledger.changes import Admitted
from s3fargate.ledger.models import Job, JobStatus
from s3fargate.ledger.transitions import NO_CHANGE, Decision, Policy, apply

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from mypy_boto3_dynamodb import DynamoDBClient

    from s3fargate.ledger.changes import Change

#: The table's partition key, its status index (for the reconciler and listings), and the
#: attribute DynamoDB's TTL reads. The construct and the local pipeline create exactly this.
KEY_ATTRIBUTE = "job_id"
STATUS_INDEX = "by-status"
STATUS_ATTRIBUTE = "status"
UPDATED_ATTRIBUTE = "updated_at"
TTL_ATTRIBUTE = "expires_at"
PARKED_ATTRIBUTE = "parked"
PARKED_FILTER = "#p = :p"
#: Rows read per query of the waiting room (before the filter on ``parked``).
PARKED_PAGE = 25
#: Concurrent writers to one row retry this many times; more means something is looping.
MAX_WRITE_TRIES = 25
#: A write DynamoDB cancels for contention alone (another transaction on an item, throttling)
#: is sent again this many times, after jittered backoff: the slot counter is one hot item.
CONTENTION_TRIES = 8
CONTENTION_BASE_S = 0.025
CONTENTION_CAP_S = 1.0
#: Cancellation reasons (TransactWriteItems) and errors (PutItem) that mean contention only:
#: nothing was written, and the same request may succeed a moment later.
CONTENTION_REASONS = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
)
CONTENTION_ERRORS = frozenset(
    {
        "TransactionConflictException",
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
    }
)
#: The item that counts a pipeline's slots under the cap: ``slots#<pipeline id>``. It has no
#: ``status``, so the status index never shows it; listings skip it.
SLOTS_PREFIX = "slots#"
HELD_ATTRIBUTE = "held"
#: A claim on an object version (``version#…``, see ``identity.version_claim_key``): which job
#: has it, since when, and the upload's own mark. No ``status`` either.
CLAIM_JOB = "claim_job"
CLAIMED_AT = "claimed_at"
CLAIM_TOKEN = "claim_token"  # noqa: S105 -- an attribute name, not a secret
#: The claim's conditions (the simulator's table answers exactly these).
CLAIM_NAMES = {"#cj": CLAIM_JOB, "#ct": CLAIM_TOKEN, "#ca": CLAIMED_AT}
CLAIM_IF_FREE = "attribute_not_exists(#cj) OR #cj = :job"
CLAIM_IF_OTHER_UPLOAD = f"{CLAIM_IF_FREE} OR (attribute_exists(#ct) AND #ct <> :token)"
CLAIM_IF_LATER_UPLOAD = f"{CLAIM_IF_OTHER_UPLOAD} OR (attribute_not_exists(#ct) AND #ca < :event)"
CLAIM_TAKE_OVER = "#cj = :old"

_FIELDS = {f.name for f in dataclasses.fields(Job)}
_serialize = TypeSerializer().serialize
_deserialize = TypeDeserializer().deserialize


class LedgerConflictError(RuntimeError):
    """A row kept changing under this writer; the change is retried with its message."""


class LedgerContentionError(LedgerConflictError):
    """DynamoDB kept cancelling a write for contention (transaction conflicts, throttling)."""


class SlotsFullError(RuntimeError):
    """Every slot under the cap is held: the job was not admitted (nothing was written)."""


class VersionClaimedError(RuntimeError):
    """Another job has this object version (nothing was written)."""

    def __init__(self, claimed_by: str | None) -> None:
        self.claimed_by = claimed_by
        super().__init__(f"the object version is claimed by job {claimed_by}")


@dataclass(frozen=True, slots=True)
class Claim:
    """A job's claim on its object version, written in the same transaction as its first row.

    The rule (docs/design.md, "One processing per object version"): an upload (``token``: its
    sequencer, or its event time where a server sends none) claims its version unless another
    upload's job with the same token has it, or an object found by backfill was claimed after
    this upload happened; an object found by backfill or catch-up (``token`` None) claims it
    only if no other job has it. A job that ended without success can be taken over.
    """

    key: str
    job_id: str
    token: str | None
    #: When the upload happened (epoch ms), if known.
    event_at: int | None = None
    #: Take the claim over from this job (it ended without success).
    takeover_from: str | None = None

    def put(self, table: str, now_ms: int) -> dict[str, Any]:
        """The conditional Put of the claim item."""
        item: dict[str, Any] = {
            KEY_ATTRIBUTE: {"S": self.key},
            CLAIM_JOB: {"S": self.job_id},
            CLAIMED_AT: {"N": str(now_ms)},
        }
        values: dict[str, Any] = {":job": {"S": self.job_id}}
        if self.takeover_from is not None:
            condition = CLAIM_TAKE_OVER
            values = {":old": {"S": self.takeover_from}}
        elif self.token is None:
            condition = CLAIM_IF_FREE
        else:
            item[CLAIM_TOKEN] = {"S": self.token}
            values[":token"] = {"S": self.token}
            condition = CLAIM_IF_OTHER_UPLOAD
            if self.event_at is not None:
                condition = CLAIM_IF_LATER_UPLOAD
                values[":event"] = {"N": str(self.event_at)}
        names = {k: v for k, v in CLAIM_NAMES.items() if k in condition}
        return {
            "TableName": table,
            "Item": item,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }


@dataclass(frozen=True, slots=True)
class HandOver:
    """What :meth:`LedgerStore.apply_handing_over` did."""

    decision: Decision
    #: The parked job now admitted in the freed slot (its row as written), if any.
    heir: Job | None
    #: Whether the waiting room was looked at (False: the change freed no slot).
    looked: bool


@dataclass(frozen=True, slots=True)
class Slots:
    """The cap as the ledger keeps it: one counter item per pipeline, changed only in the same
    transaction as a row that takes or gives back a slot. So the counter always equals the
    number of rows holding a slot, and it can never pass ``limit``."""

    pipeline_id: str
    #: None: no cap (nothing is admitted; slots still held are given back).
    limit: int | None = None

    @property
    def key(self) -> dict[str, Any]:
        """The counter item's key."""
        return {KEY_ATTRIBUTE: {"S": f"{SLOTS_PREFIX}{self.pipeline_id}"}}


def now_ms() -> int:
    """Milliseconds since the epoch (the ledger's clock)."""
    return int(time.time() * 1000)


class LedgerStore:
    """Reads and writes job rows; every status change goes through :func:`apply`.

    Writes are conditional on the revision read (or on the row not existing yet): when two
    writers race, one write fails its condition, re-reads and re-applies its change to the
    row the other wrote, so no update is lost and no row moves backwards.
    """

    def __init__(
        self,
        *,
        dynamodb: DynamoDBClient,
        table: str,
        policy: Policy | None = None,
        clock: Callable[[], int] = now_ms,
        slots: Slots | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._dynamodb = dynamodb
        self.table = table
        self.policy = policy or Policy()
        self._clock = clock
        self.slots = slots
        self._sleep = sleep

    def get(self, job_id: str) -> Job | None:
        """The row of ``job_id`` (a strongly consistent read), or None."""
        response = self._dynamodb.get_item(
            TableName=self.table, Key={KEY_ATTRIBUTE: {"S": job_id}}, ConsistentRead=True
        )
        item = response.get("Item")
        return from_item(item) if item else None

    def apply(
        self, job_id: str, change: Change, *, new: bool = False, claim: Claim | None = None
    ) -> Decision:
        """Apply ``change`` to the job's row and write the result; return the decision.

        With ``new`` (the row most likely does not exist yet), the first try skips the read.
        If the guess was wrong, the write's condition fails and the change is applied to the
        row as it is: the guess saves a request and never changes the outcome. A ``claim`` on
        the job's object version is written in the same transaction as the row.

        Raises:
            LedgerConflictError: the row changed under every one of ``MAX_WRITE_TRIES`` writes.
            SlotsFullError: the change takes a slot and every slot is held.
            VersionClaimedError: another job has the object version.
        """
        guessing = new
        for _ in range(MAX_WRITE_TRIES):
            guessed, guessing = guessing, False
            row = None if guessed else self.get(job_id)
            decision = apply(row, change, job_id=job_id, policy=self.policy, now_ms=self._clock())
            if decision.row is None:
                if guessed:
                    continue  # nothing to do on the guess: make sure on the row as it is
                return NO_CHANGE
            if self._put(decision.row, old=row, claim=claim):
                return decision
        raise LedgerConflictError(f"job {job_id}: the row kept changing; giving up this write")

    def claim_holder(self, key: str) -> str | None:
        """The job that has the object version's claim ``key`` (a strongly consistent read)."""
        item = self._dynamodb.get_item(
            TableName=self.table, Key={KEY_ATTRIBUTE: {"S": key}}, ConsistentRead=True
        ).get("Item")
        return str(item[CLAIM_JOB]["S"]) if item and CLAIM_JOB in item else None

    def apply_handing_over(
        self, job_id: str, change: Change, successor: Callable[[], Job | None]
    ) -> HandOver:
        """:meth:`apply`, and when the change gives back the job's slot, hand the slot straight
        to the job ``successor()`` names (the longest-parked one): both rows are written in one
        transaction and the slot counter does not move, so a freed slot is never seen free by
        anyone else, and costs one write instead of two.

        Raises:
            LedgerConflictError: the row changed under every one of ``MAX_WRITE_TRIES`` writes.
        """
        looked = False
        heir: Job | None = None
        for _ in range(MAX_WRITE_TRIES):
            row = self.get(job_id)
            decision = apply(row, change, job_id=job_id, policy=self.policy, now_ms=self._clock())
            if decision.row is None:
                return HandOver(NO_CHANGE, None, looked=looked)
            frees = row is not None and row.holds_slot and not decision.row.holds_slot
            if frees and self.slots is not None and not looked:
                heir, looked = successor(), True
            if frees and heir is not None:
                admitted = apply(
                    heir,
                    Admitted(heir.ref, heir.attempts + 1),
                    job_id=heir.job_id,
                    policy=self.policy,
                    now_ms=self._clock(),
                )
                if admitted.row is not None and admitted.row.holds_slot:
                    written = self._put_both(decision.row, row, admitted.row, heir)
                    if written == "both":
                        return HandOver(decision, admitted.row, looked=True)
                    if written == "first":
                        continue  # the stopped job's row changed: re-read it
                heir = None  # another tracker took the heir: give the slot back instead
            if self._put(decision.row, old=row):
                return HandOver(decision, None, looked=looked)
        raise LedgerConflictError(f"job {job_id}: the row kept changing; giving up this write")

    def _put_both(self, first: Job, first_old: Job | None, second: Job, second_old: Job) -> str:
        """Write two rows in one transaction: ``"both"``, or which one's condition failed."""
        items: Any = [
            {"Put": self._conditional_put(first, first_old)},
            {"Put": self._conditional_put(second, second_old)},
        ]
        try:
            self._transact(items)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            return "first" if reasons[:1] == ["ConditionalCheckFailed"] else "second"
        return "both"

    def apply_if_unchanged(self, row: Job, change: Change) -> Decision | None:
        """Apply ``change`` to ``row`` as read, and write it only if nobody wrote since.

        Returns the decision, or None when the row had changed (nothing written): the caller
        lost a race and decides what that means.
        """
        decision = apply(row, change, job_id=row.job_id, policy=self.policy, now_ms=self._clock())
        if decision.row is None:
            return NO_CHANGE
        return decision if self._put(decision.row, old=row) else None

    def jobs(self) -> Iterator[Job]:
        """Every row (a paginated scan)."""
        for page in self._dynamodb.get_paginator("scan").paginate(TableName=self.table):
            for item in page.get("Items", []):
                if STATUS_ATTRIBUTE in item:  # not a slots counter
                    yield from_item(item)

    def slots_held(self) -> int:
        """How many slots the pipeline's jobs hold now (a strongly consistent read)."""
        if self.slots is None:
            return 0
        item = self._dynamodb.get_item(
            TableName=self.table, Key=self.slots.key, ConsistentRead=True
        ).get("Item")
        return int(item[HELD_ATTRIBUTE]["N"]) if item and HELD_ATTRIBUTE in item else 0

    def jobs_with_status(
        self,
        status: JobStatus,
        *,
        updated_before: int | None = None,
        updated_since: int | None = None,
    ) -> Iterator[Job]:
        """Rows in ``status``, optionally only those last updated before ``updated_before`` ms
        (quiet ones) or at or after ``updated_since`` ms (recent changes); oldest first."""
        condition = "#s = :s"
        names = {"#s": STATUS_ATTRIBUTE}
        values: dict[str, Any] = {":s": {"S": status.value}}
        if updated_before is not None:
            condition += " AND #u < :u"
            values[":u"] = {"N": str(updated_before)}
        elif updated_since is not None:
            condition += " AND #u >= :u"
            values[":u"] = {"N": str(updated_since)}
        if ":u" in values:
            names["#u"] = UPDATED_ATTRIBUTE
        pages = self._dynamodb.get_paginator("query").paginate(
            TableName=self.table,
            IndexName=STATUS_INDEX,
            KeyConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
        for page in pages:
            for item in page.get("Items", []):
                yield from_item(item)

    def count_with_status(self, status: JobStatus) -> int:
        """How many rows are in ``status`` (the index's count; no rows are read back)."""
        pages = self._dynamodb.get_paginator("query").paginate(
            TableName=self.table,
            IndexName=STATUS_INDEX,
            KeyConditionExpression="#s = :s",
            ExpressionAttributeNames={"#s": STATUS_ATTRIBUTE},
            ExpressionAttributeValues={":s": {"S": status.value}},
            Select="COUNT",
        )
        return sum(int(page.get("Count", 0)) for page in pages)

    def parked_jobs(self, limit: int) -> list[Job]:
        """Up to ``limit`` jobs of the waiting room, longest waiting first.

        Waiting rows whose message is still in the queue are filtered out by DynamoDB; pages
        of ``PARKED_PAGE`` rows keep the common case to one small query.
        """
        if limit < 1:
            return []
        found: list[Job] = []
        pages = self._dynamodb.get_paginator("query").paginate(
            TableName=self.table,
            IndexName=STATUS_INDEX,
            KeyConditionExpression="#s = :s",
            FilterExpression=PARKED_FILTER,
            ExpressionAttributeNames={"#s": STATUS_ATTRIBUTE, "#p": PARKED_ATTRIBUTE},
            ExpressionAttributeValues={":s": {"S": JobStatus.WAITING.value}, ":p": {"BOOL": True}},
            PaginationConfig={"PageSize": max(limit, PARKED_PAGE)},
        )
        for page in pages:
            for item in page.get("Items", []):
                found.append(from_item(item))
                if len(found) == limit:
                    return found
        return found

    def changed_since(self, since_ms: int) -> Iterator[Job]:
        """Rows written at or after ``since_ms`` (one small index query per status)."""
        for status in JobStatus:
            yield from self.jobs_with_status(status, updated_since=since_ms)

    def _put(self, row: Job, *, old: Job | None, claim: Claim | None = None) -> bool:
        """Write ``row`` if the stored row is still ``old``; take or give back its slot, and
        write its ``claim``, in the same transaction. False: the row changed under this writer.

        Raises:
            SlotsFullError: the row takes a slot and every slot is held.
            VersionClaimedError: the claim's version is another job's.
        """
        put = self._conditional_put(row, old)
        delta = int(row.holds_slot) - int(old.holds_slot if old else False)
        items: list[dict[str, Any]] = [{"Put": put}]
        if claim is not None:
            items.append({"Put": claim.put(self.table, self._clock())})
        if delta and self.slots is not None:
            items.append({"Update": self._slot_update(delta)})
        if len(items) == 1:
            return self._put_row(put)
        try:
            self._transact(items)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            failed = [
                r.get("Code") == "ConditionalCheckFailed"
                for r in exc.response.get("CancellationReasons", [])
            ]
            failed += [False] * (len(items) - len(failed))
            if failed[0]:
                return False  # the row changed: re-read and re-apply
            if claim is not None and failed[1]:
                raise VersionClaimedError(self.claim_holder(claim.key)) from exc
            if not failed[-1]:
                raise
            if delta > 0:
                assert self.slots is not None  # noqa: S101 -- a slot update was sent
                raise SlotsFullError(
                    f"all {self.slots.limit} slots under the cap are held"
                ) from exc
            # Nothing to give back (no counter): write the row (and claim) without it.
            return self._put(dataclasses.replace(row, holds_slot=False), old=old, claim=claim)
        return True

    def _conditional_put(self, row: Job, old: Job | None) -> dict[str, Any]:
        """A Put of ``row`` that succeeds only if the stored row is still ``old``."""
        put: dict[str, Any] = {"TableName": self.table, "Item": to_item(row)}
        if old is None:
            put["ConditionExpression"] = f"attribute_not_exists({KEY_ATTRIBUTE})"
        else:
            put["ConditionExpression"] = "revision = :revision"
            put["ExpressionAttributeValues"] = {":revision": {"N": str(old.revision)}}
        return put

    def _slot_update(self, delta: int) -> dict[str, Any]:
        assert self.slots is not None  # noqa: S101 -- only called with slots
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": self.slots.key,
            "UpdateExpression": "ADD #held :delta",
            "ExpressionAttributeNames": {"#held": HELD_ATTRIBUTE},
            "ExpressionAttributeValues": {":delta": {"N": str(delta)}},
        }
        if delta > 0:
            if self.slots.limit is None:
                raise SlotsFullError("no cap: jobs are not admitted")
            update["ConditionExpression"] = "attribute_not_exists(#held) OR #held < :limit"
            update["ExpressionAttributeValues"][":limit"] = {"N": str(self.slots.limit)}
        else:
            update["ConditionExpression"] = "#held > :zero"
            update["ExpressionAttributeValues"][":zero"] = {"N": "0"}
        return update

    def _put_row(self, put: dict[str, Any]) -> bool:
        try:
            self._contended(lambda: self._dynamodb.put_item(**put))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _transact(self, items: list[dict[str, Any]]) -> None:
        """TransactWriteItems of ``items``, sent again while it is cancelled for contention."""
        self._contended(
            lambda: self._dynamodb.transact_write_items(TransactItems=cast("Any", items))
        )

    def _contended(self, write: Callable[[], object]) -> None:
        """Run ``write``; when DynamoDB cancels it for contention alone (no condition failed),
        wait a jittered, growing moment and send it again, up to ``CONTENTION_TRIES`` times.

        Raises:
            LedgerContentionError: still contended after every try.
        """
        for attempt in range(CONTENTION_TRIES):
            try:
                write()
            except ClientError as exc:
                if not _contention(exc):
                    raise
                if attempt == CONTENTION_TRIES - 1:
                    raise LedgerContentionError(
                        f"DynamoDB cancelled the write {CONTENTION_TRIES} times for contention "
                        f"({_reasons(exc)}); it is retried with its message"
                    ) from exc
                # Full jitter (AWS's advice): writers that collided do not collide again.
                ceiling = min(CONTENTION_CAP_S, CONTENTION_BASE_S * 2**attempt)
                self._sleep(random.uniform(0, ceiling))  # noqa: S311 -- not for secrets
            else:
                return


def _contention(exc: ClientError) -> bool:
    """Whether DynamoDB refused a write for contention alone (no condition failed)."""
    error = exc.response.get("Error", {}).get("Code", "")
    if error in CONTENTION_ERRORS:
        return True
    if error != "TransactionCanceledException":
        return False
    reasons = {r.get("Code") for r in exc.response.get("CancellationReasons", [])}
    return bool(reasons & CONTENTION_REASONS) and "ConditionalCheckFailed" not in reasons


def _reasons(exc: ClientError) -> str:
    reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
    return ", ".join(str(r) for r in reasons) or str(exc.response.get("Error", {}).get("Code"))


def to_item(job: Job) -> dict[str, Any]:
    """A row as a DynamoDB item (absent values are left out)."""
    item: dict[str, Any] = {}
    for name, value in dataclasses.asdict(job).items():
        if value is None or value == ():
            continue
        plain = list(value) if isinstance(value, tuple) else value
        if isinstance(plain, float):
            plain = Decimal(repr(plain))  # DynamoDB numbers: boto3 refuses floats
        item[name] = _serialize(plain.value if isinstance(plain, JobStatus) else plain)
    return item


def from_item(item: dict[str, Any]) -> Job:
    """A DynamoDB item as a row; attributes this version does not know are ignored."""
    values: dict[str, Any] = {}
    for name, raw in item.items():
        if name not in _FIELDS:
            continue
        value = _deserialize(raw)
        values[name] = (
            _number(name, value)
            if isinstance(value, Decimal)
            else tuple(value)
            if isinstance(value, list)
            else value
        )
    values["status"] = JobStatus(values["status"])
    return Job(**values)


def _number(name: str, value: Decimal) -> int | float:
    """A DynamoDB number as the row's type: whole numbers are ints, except the cost."""
    return int(value) if name not in _FLOAT_FIELDS else float(value)


_FLOAT_FIELDS = frozenset({"cost_usd"})
