"""Job ids and RunTask client tokens: deterministic, so every retry of a step is idempotent."""

from __future__ import annotations

import hashlib


def job_id(
    *,
    bucket: str,
    key: str,
    version_id: str | None,
    etag: str | None,
    sequencer: str | None,
    event_time: str | None = None,
    origin_id: str | None = None,
) -> str:
    """The id of the job for one upload event (64 hex characters).

    S3 gives every event a ``sequencer``; with it, a redelivered notification maps to the same
    job. Where a server sends none (moto), the event's time and the id of the message that
    carried it tell uploads apart, so three uploads of the same bytes are three jobs.
    """
    distinct = sequencer or f"{event_time or ''}|{origin_id or ''}"
    parts = (bucket, key, version_id or etag or "", distinct)
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()


def client_token(job: str, attempt: int) -> str:
    """RunTask's ``clientToken`` for attempt ``attempt`` of ``job`` (64 ASCII characters).

    The first attempt uses the job id itself; each later attempt gets its own token, so ECS
    starts a new task for it while a repeated request for the same attempt starts none.
    """
    if attempt <= 1:
        return job
    return hashlib.sha256(f"{job}\x00attempt\x00{attempt}".encode()).hexdigest()


def version_claim_key(*, bucket: str, key: str, etag: str) -> str:
    """The ledger key of the claim on one object version (bucket, key and ETag: a listing,
    which backfill reads, names no version id, and equal ETags mean equal bytes)."""
    digest = hashlib.sha256("\x00".join((bucket, key, etag.strip('"'))).encode()).hexdigest()
    return f"version#{digest}"
