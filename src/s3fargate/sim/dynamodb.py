"""A simulated DynamoDB table with the ledger's status index.

It answers exactly the requests :class:`s3fargate.ledger.LedgerStore` makes (GetItem, the two
conditional PutItems, TransactWriteItems of a row and its pipeline's slot counter, Query on the
status index, Scan); any other expression raises, so a change in the store fails loudly here
instead of being simulated wrongly.
"""

from __future__ import annotations

import bisect
from typing import Any

from s3fargate.ledger.store import (
    CLAIM_IF_FREE,
    CLAIM_IF_LATER_UPLOAD,
    CLAIM_IF_OTHER_UPLOAD,
    CLAIM_JOB,
    CLAIM_TAKE_OVER,
    CLAIM_TOKEN,
    CLAIMED_AT,
    HELD_ATTRIBUTE,
    KEY_ATTRIBUTE,
    PARKED_ATTRIBUTE,
    PARKED_FILTER,
    SLOTS_PREFIX,
    STATUS_ATTRIBUTE,
    STATUS_INDEX,
    UPDATED_ATTRIBUTE,
)
from s3fargate.sim.bridge import client_error

_CREATE = f"attribute_not_exists({KEY_ATTRIBUTE})"
_ON_REVISION = "revision = :revision"
_STATUS = "#s = :s"
_BEFORE = "#s = :s AND #u < :u"
_SINCE = "#s = :s AND #u >= :u"
_ADD_HELD = "ADD #held :delta"
_TAKE = "attribute_not_exists(#held) OR #held < :limit"
_GIVE = "#held > :zero"


class UnsupportedRequestError(NotImplementedError):
    """The simulated table was asked something the ledger store never asks."""


class DynamoDb:
    """One table: items by key, and per status a list sorted by ``updated_at``."""

    def __init__(self, table: str) -> None:
        self.table = table
        self._items: dict[str, dict[str, Any]] = {}
        self._index: dict[str, list[tuple[int, str]]] = {}

    def items(self) -> list[dict[str, Any]]:
        """Every job's item (for the final accounting; slot counters left out)."""
        return [item for item in self._items.values() if STATUS_ATTRIBUTE in item]

    def held(self, pipeline_id: str) -> int:
        """The slots the pipeline's counter says are held."""
        counter = self._items.get(f"{SLOTS_PREFIX}{pipeline_id}", {})
        return int(counter.get(HELD_ATTRIBUTE, {"N": "0"})["N"])

    def items_with_status(self, status: str) -> list[dict[str, Any]]:
        """The items in ``status``, from the index (for sampling without a scan)."""
        return [self._items[key] for _, key in self._index.get(status, [])]

    def get_item(self, TableName: str, Key: dict[str, Any], **_: Any) -> Any:
        """GetItem."""
        self._check(TableName)
        item = self._items.get(Key[KEY_ATTRIBUTE]["S"])
        return {"Item": item} if item is not None else {}

    def put_item(
        self,
        TableName: str,
        Item: dict[str, Any],
        ConditionExpression: str | None = None,
        ExpressionAttributeValues: dict[str, Any] | None = None,
        **_: Any,
    ) -> Any:
        """PutItem with the store's conditions."""
        self._check(TableName)
        if not self._put_allowed(Item, ConditionExpression, ExpressionAttributeValues):
            raise client_error(
                "ConditionalCheckFailedException", "The conditional request failed", "PutItem"
            )
        self._write(Item)
        return {}

    def transact_write_items(self, TransactItems: list[dict[str, Any]], **_: Any) -> Any:
        """TransactWriteItems: a row's Put and its pipeline's slot counter Update, all or none."""
        checks: list[bool] = []
        for entry in TransactItems:
            if "Put" in entry:
                put = entry["Put"]
                self._check(put["TableName"])
                checks.append(
                    self._put_allowed(
                        put["Item"],
                        put.get("ConditionExpression"),
                        put.get("ExpressionAttributeValues"),
                    )
                )
            elif "Update" in entry:
                checks.append(self._update_allowed(entry["Update"]))
            else:
                raise UnsupportedRequestError(f"transaction item {sorted(entry)}")
        if not all(checks):
            reasons = [
                {"Code": "None"}
                if ok
                else {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}
                for ok in checks
            ]
            raise client_error(
                "TransactionCanceledException",
                "Transaction cancelled, please refer cancellation reasons for specific reasons",
                "TransactWriteItems",
                CancellationReasons=reasons,
            )
        for entry in TransactItems:
            if "Put" in entry:
                self._write(entry["Put"]["Item"])
            else:
                update = entry["Update"]
                key = update["Key"][KEY_ATTRIBUTE]["S"]
                counter = self._items.setdefault(key, {KEY_ATTRIBUTE: {"S": key}})
                held = int(counter.get(HELD_ATTRIBUTE, {"N": "0"})["N"])
                delta = int(update["ExpressionAttributeValues"][":delta"]["N"])
                counter[HELD_ATTRIBUTE] = {"N": str(held + delta)}
        return {}

    def _put_allowed(
        self, item: dict[str, Any], condition: str | None, values: dict[str, Any] | None
    ) -> bool:
        old = self._items.get(item[KEY_ATTRIBUTE]["S"])
        if condition in _CLAIMS:
            return _claim_allowed(old, condition, values or {})
        if condition == _CREATE:
            return old is None
        if condition == _ON_REVISION:
            return old is not None and old.get("revision") == (values or {})[":revision"]
        if condition is None:
            return True
        raise UnsupportedRequestError(f"condition {condition!r}")

    def _update_allowed(self, update: dict[str, Any]) -> bool:
        self._check(update["TableName"])
        if update.get("UpdateExpression") != _ADD_HELD:
            raise UnsupportedRequestError(f"update {update.get('UpdateExpression')!r}")
        counter = self._items.get(update["Key"][KEY_ATTRIBUTE]["S"], {})
        held = counter.get(HELD_ATTRIBUTE)
        values = update["ExpressionAttributeValues"]
        condition = update.get("ConditionExpression")
        if condition == _TAKE:
            return held is None or int(held["N"]) < int(values[":limit"]["N"])
        if condition == _GIVE:
            return held is not None and int(held["N"]) > int(values[":zero"]["N"])
        raise UnsupportedRequestError(f"update condition {condition!r}")

    def _write(self, item: dict[str, Any]) -> None:
        key = item[KEY_ATTRIBUTE]["S"]
        old = self._items.get(key)
        if old is not None and STATUS_ATTRIBUTE in old:
            entries = self._index[old[STATUS_ATTRIBUTE]["S"]]
            entries.pop(bisect.bisect_left(entries, _entry(old)))
        self._items[key] = item
        if STATUS_ATTRIBUTE in item:  # a job's row, not a claim
            bisect.insort(self._index.setdefault(item[STATUS_ATTRIBUTE]["S"], []), _entry(item))

    def query(
        self,
        *,
        TableName: str,
        IndexName: str,
        KeyConditionExpression: str,
        ExpressionAttributeValues: dict[str, Any],
        Limit: int | None = None,
        ExclusiveStartKey: dict[str, Any] | None = None,
        FilterExpression: str | None = None,
        **_: Any,
    ) -> Any:
        """Query the status index, oldest ``updated_at`` first (``Limit`` before the filter)."""
        self._check(TableName)
        if IndexName != STATUS_INDEX:
            raise UnsupportedRequestError(f"index {IndexName!r}")
        entries = self._index.get(ExpressionAttributeValues[":s"]["S"], [])
        low, high = 0, len(entries)
        if KeyConditionExpression == _BEFORE:
            high = bisect.bisect_left(entries, (int(ExpressionAttributeValues[":u"]["N"]), ""))
        elif KeyConditionExpression == _SINCE:
            low = bisect.bisect_left(entries, (int(ExpressionAttributeValues[":u"]["N"]), ""))
        elif KeyConditionExpression != _STATUS:
            raise UnsupportedRequestError(f"key condition {KeyConditionExpression!r}")
        if ExclusiveStartKey is not None:
            after = (
                int(ExclusiveStartKey[UPDATED_ATTRIBUTE]["N"]),
                ExclusiveStartKey[KEY_ATTRIBUTE]["S"],
            )
            low = max(low, bisect.bisect_right(entries, after))
        stop = high if Limit is None else min(high, low + Limit)
        page = [self._items[key] for _, key in entries[low:stop]]
        answer: dict[str, Any] = {
            "Items": _filtered(page, FilterExpression, ExpressionAttributeValues)
        }
        if stop < high and page:
            last = page[-1]
            answer["LastEvaluatedKey"] = {
                KEY_ATTRIBUTE: last[KEY_ATTRIBUTE],
                STATUS_ATTRIBUTE: last[STATUS_ATTRIBUTE],
                UPDATED_ATTRIBUTE: last[UPDATED_ATTRIBUTE],
            }
        return answer

    def scan(self, TableName: str, **_: Any) -> Any:
        """Scan (one page: the simulated table has no 1 MB limit)."""
        self._check(TableName)
        return {"Items": list(self._items.values())}

    def _check(self, table: str) -> None:
        if table != self.table:
            raise client_error("ResourceNotFoundException", f"no table {table}", "GetItem")


_CLAIMS = (CLAIM_IF_FREE, CLAIM_IF_OTHER_UPLOAD, CLAIM_IF_LATER_UPLOAD, CLAIM_TAKE_OVER)


def _claim_allowed(old: dict[str, Any] | None, condition: str, values: dict[str, Any]) -> bool:
    """The store's claim conditions, as DynamoDB evaluates them."""
    holder = old.get(CLAIM_JOB, {}).get("S") if old else None
    if condition == CLAIM_TAKE_OVER:
        return bool(holder == values[":old"]["S"])
    if holder is None or holder == values[":job"]["S"]:
        return True
    assert old is not None  # noqa: S101 -- a holder means an item
    token = old.get(CLAIM_TOKEN, {}).get("S")
    if condition != CLAIM_IF_FREE and token is not None and token != values[":token"]["S"]:
        return True
    if condition == CLAIM_IF_LATER_UPLOAD and token is None:
        return int(old[CLAIMED_AT]["N"]) < int(values[":event"]["N"])
    return False


def _filtered(
    items: list[dict[str, Any]], expression: str | None, values: dict[str, Any]
) -> list[dict[str, Any]]:
    if expression is None:
        return items
    if expression != PARKED_FILTER:
        raise UnsupportedRequestError(f"filter {expression!r}")
    return [i for i in items if i.get(PARKED_ATTRIBUTE) == values[":p"]]


def _entry(item: dict[str, Any]) -> tuple[int, str]:
    return int(item[UPDATED_ATTRIBUTE]["N"]), item[KEY_ATTRIBUTE]["S"]
