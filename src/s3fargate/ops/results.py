"""``s3fargate results KEY [--download DIR]``: a job's result document and its output files."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from s3fargate.display import safe
from s3fargate.exit_codes import UsageError
from s3fargate.ops.jobs import latest_for_key

if TYPE_CHECKING:
    from collections.abc import Callable

    from s3fargate.ops.target import Target

_HASH_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Downloaded:
    """One output written to disk."""

    name: str
    path: Path
    size: int


def result_document(target: Target, key: str) -> dict[str, Any]:
    """The result document of the latest job of ``key``.

    Raises:
        UsageError: no such job, no result yet, or the document is gone or not JSON.
    """
    job = latest_for_key(target.store.jobs(), key, target.input_prefix)
    if job.result_key is None:
        why = f": {job.reason}" if job.reason else ""
        raise UsageError(f"the job for {safe(job.key)!r} has no result ({job.status.value}{why})")
    try:
        body = target.s3.get_object(Bucket=target.bucket, Key=job.result_key)["Body"].read()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        raise UsageError(
            f"the result s3://{target.bucket}/{safe(job.result_key)} cannot be read: {code}"
        ) from exc
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise UsageError(f"the result {safe(job.result_key)} is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise UsageError(f"the result {safe(job.result_key)} is not a JSON object")
    return document


def output_path(folder: Path, name: str) -> Path:
    """Where output ``name`` goes under ``folder``; a name that would leave it is refused."""
    parts = PurePosixPath(name).parts
    if not parts or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise UsageError(f"output name {safe(name)!r} is not a relative path: not downloaded")
    return folder.joinpath(*parts)


def download_outputs(
    target: Target,
    document: dict[str, Any],
    folder: Path,
    *,
    on_file: Callable[[Downloaded], None] | None = None,
) -> list[Downloaded]:
    """Download every output the document lists into ``folder``, keeping relative names, and
    check each against the size and SHA-256 the document records.

    Raises:
        UsageError: ``folder`` is a file, an output is missing or differs from its record.
    """
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--download {folder}: not a folder")
    outputs = document.get("outputs") or []
    done: list[Downloaded] = []
    if not isinstance(outputs, list) or not all(isinstance(e, dict) for e in outputs):
        raise UsageError("the result document's `outputs` is not a list of objects")
    for entry in outputs:
        name, key = str(entry.get("name", "")), str(entry.get("key", ""))
        path = output_path(folder, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            target.s3.download_file(target.bucket, key, str(path))
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise UsageError(f"output {safe(name)!r} cannot be read ({code}): {safe(key)}") from exc
        size = path.stat().st_size
        expected = entry.get("sha256")
        if (entry.get("size") is not None and size != entry["size"]) or (
            expected and _sha256(path) != expected
        ):
            path.unlink()
            raise UsageError(
                f"output {safe(name)!r} differs from what the task recorded: it was "
                "overwritten since (a later attempt or upload?)"
            )
        item = Downloaded(name=name, path=path, size=size)
        done.append(item)
        if on_file is not None:
            on_file(item)
    return done


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
