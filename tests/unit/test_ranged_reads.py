"""Parallel ranged reads: in order, pinned to one object version, resumed per part, bounded."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s3fargate.task import TaskConfig, TaskConfigError
from s3fargate.task.exceptions import ObjectChangedError
from s3fargate.task.stream import S3Object
from tests.fakes import FakeS3

PART = 64 * 1024


def _config(concurrency: int = 4, part: int = PART) -> TaskConfig:
    return TaskConfig(bucket="b", key="incoming/k", read_concurrency=concurrency, part_size=part)


def _data(size: int) -> bytes:
    # Not periodic in the part size, so a part delivered out of place changes the bytes.
    return bytes((i * 7 + i // 251) % 256 for i in range(size))


def _starts_on_a_part_boundary(call: dict[str, str]) -> bool:
    return int(call["Range"].removeprefix("bytes=").split("-")[0]) % PART == 0


def _ranges(s3: FakeS3) -> list[str]:
    return sorted(call.get("Range", "") for call in s3.calls)


@pytest.mark.parametrize(
    "size",
    [0, 1, PART - 1, PART, PART + 1, 2 * PART - 1, 2 * PART, 2 * PART + 1, 10 * PART + 123],
)
@pytest.mark.parametrize("chunk_size", [1000, PART, 3 * PART])
def test_parts_are_reassembled_in_order(size: int, chunk_size: int) -> None:
    # GIVEN an object of a size around the part boundaries
    data = _data(size)
    s3 = FakeS3(data)
    # WHEN it is read with concurrent ranged GETs
    obj = S3Object(s3=s3, config=_config())  # type: ignore[arg-type]
    chunks = list(obj.chunks(chunk_size=chunk_size))
    # THEN the bytes are the object's, in order, in chunks no larger than asked
    assert b"".join(chunks) == data
    assert all(0 < len(c) <= chunk_size for c in chunks)
    assert obj.size == size
    assert obj.bytes_read == size
    parts = max(1, -(-size // PART))
    # One GET per part (an empty object: a plain GET after the range is refused)
    assert len(s3.calls) == (2 if size == 0 else parts)
    assert s3.open_bodies == 0


def test_small_objects_take_one_get() -> None:
    s3 = FakeS3(_data(PART))
    obj = S3Object(s3=s3, config=_config())  # type: ignore[arg-type]
    assert not obj.parallel
    assert b"".join(obj.chunks()) == _data(PART)
    assert _ranges(s3) == [f"bytes=0-{PART - 1}"]


def test_every_part_after_the_first_is_pinned_to_the_etag_and_version() -> None:
    s3 = FakeS3(_data(5 * PART))
    config = TaskConfig(
        bucket="b", key="incoming/k", version_id="v7", read_concurrency=3, part_size=PART
    )
    obj = S3Object(s3=s3, config=config)  # type: ignore[arg-type]
    assert b"".join(obj.chunks()) == _data(5 * PART)
    assert all(call["VersionId"] == "v7" for call in s3.calls)
    assert all(call["IfMatch"] == '"etag-1"' for call in s3.calls[1:])
    assert _ranges(s3) == sorted(f"bytes={i * PART}-{(i + 1) * PART - 1}" for i in range(5))


def test_a_dropped_connection_rereads_only_the_rest_of_its_part() -> None:
    # GIVEN the third GET (a part in flight beside others) drops 1000 bytes into its body
    data = _data(6 * PART)
    s3 = FakeS3(data, drops={3: 1000})
    # WHEN the object is read
    obj = S3Object(s3=s3, config=_config(concurrency=4))  # type: ignore[arg-type]
    assert b"".join(obj.chunks(chunk_size=500)) == data
    # THEN exactly one extra GET asked for the rest of that part, pinned to the same object
    assert len(s3.calls) == 7
    dropped_start = int(s3.calls[2]["Range"].removeprefix("bytes=").split("-")[0])
    resumed = [call for call in s3.calls if not _starts_on_a_part_boundary(call)]
    assert [call["Range"] for call in resumed] == [
        f"bytes={dropped_start + 1000}-{dropped_start + PART - 1}"
    ]
    assert resumed[0]["IfMatch"] == '"etag-1"'


def test_object_overwritten_during_the_read_ends_superseded_and_no_wrong_bytes() -> None:
    # GIVEN the object is replaced after the first two GETs
    data = _data(8 * PART)
    s3 = FakeS3(data, overwrite_after_calls=2)
    obj = S3Object(s3=s3, config=_config(concurrency=2))  # type: ignore[arg-type]
    received: list[bytes] = []
    # WHEN it is read, THEN the read fails as superseded (exit 4) naming the change
    with pytest.raises(ObjectChangedError, match="superseded by a newer upload") as info:
        received.extend(obj.chunks())
    assert info.value.exit_code == 4
    # AND every byte handed out before the failure was the original object's
    assert data.startswith(b"".join(received))
    assert s3.open_bodies == 0


def test_concurrency_one_is_a_single_stream() -> None:
    s3 = FakeS3(_data(10 * PART))
    obj = S3Object(s3=s3, config=_config(concurrency=1))  # type: ignore[arg-type]
    assert not obj.parallel
    assert b"".join(obj.chunks()) == _data(10 * PART)
    assert s3.calls == [{"Bucket": "b", "Key": "incoming/k"}]


def test_memory_stays_bounded_when_processing_is_slower_than_the_download() -> None:
    # GIVEN a 64-part object, 4 connections, and a consumer that is slow on every chunk
    size = 64 * PART
    s3 = FakeS3(_data(size))
    obj = S3Object(s3=s3, config=_config(concurrency=4))  # type: ignore[arg-type]
    peak_ahead = 0
    for chunk in obj.chunks(chunk_size=PART // 4):
        time.sleep(0.0005)
        # bytes fetched from S3 but not yet handed to the caller
        peak_ahead = max(peak_ahead, s3.bytes_served - obj.bytes_read + len(chunk))
    # THEN no more than the window of 4 parts (the one being read included) was ever held
    assert peak_ahead <= 4 * PART
    assert s3.max_open_bodies <= 4


def test_abandoned_parallel_read_stops_every_connection() -> None:
    s3 = FakeS3(_data(64 * PART))
    obj = S3Object(s3=s3, config=_config(concurrency=4))  # type: ignore[arg-type]
    stream = obj.chunks(chunk_size=1000)
    next(stream)
    stream.close()
    assert s3.open_bodies == 0
    assert s3.bytes_served <= 4 * PART
    assert not [t for t in threading.enumerate() if t.name.startswith("s3-part")]


@settings(max_examples=40, deadline=None)
@given(
    size=st.integers(min_value=0, max_value=6 * 4096),
    part=st.integers(min_value=1, max_value=5000),
    concurrency=st.integers(min_value=1, max_value=6),
    chunk=st.integers(min_value=1, max_value=7000),
)
def test_any_size_part_and_concurrency_give_the_same_bytes(
    size: int, part: int, concurrency: int, chunk: int
) -> None:
    data = _data(size)
    config = TaskConfig(bucket="b", key="incoming/k", read_concurrency=concurrency, part_size=part)
    obj = S3Object(s3=FakeS3(data), config=config)  # type: ignore[arg-type]
    assert b"".join(obj.chunks(chunk_size=chunk)) == data


@pytest.mark.parametrize(
    ("env", "concurrency", "part"),
    [
        ({}, 10, 8 * 2**20),
        ({"S3_READ_CONCURRENCY": "16", "S3_PART_SIZE": "16MiB"}, 16, 16 * 2**20),
        ({"S3_PART_SIZE": "8388608"}, 10, 8 * 2**20),
        ({"S3_PART_SIZE": "16 MB"}, 10, 16_000_000),
        ({"S3_READ_CONCURRENCY": "1"}, 1, 8 * 2**20),
        ({"S3_PART_SIZE": "1"}, 1, 1),
    ],
)
def test_read_settings_from_the_environment(
    env: dict[str, str], concurrency: int, part: int
) -> None:
    config = TaskConfig.from_env({"S3_BUCKET": "b", "S3_KEY": "k", **env})
    assert (config.read_concurrency, config.part_size) == (concurrency, part)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"S3_READ_CONCURRENCY": "0"}, "S3_READ_CONCURRENCY must be 1-64"),
        ({"S3_READ_CONCURRENCY": "many"}, "S3_READ_CONCURRENCY must be a whole number"),
        ({"S3_PART_SIZE": "100"}, "S3_PART_SIZE must be 1 (one stream) or 64 KiB"),
        ({"S3_PART_SIZE": "8 parsecs"}, "S3_PART_SIZE must be bytes or a size"),
        ({"S3_PART_SIZE": "2GiB"}, "S3_PART_SIZE must be 1 (one stream)"),
    ],
)
def test_bad_read_settings_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(TaskConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TaskConfig.from_env({"S3_BUCKET": "b", "S3_KEY": "k", **env})


def test_an_object_overwritten_before_the_task_starts_is_never_read() -> None:
    # GIVEN the upload's ETag (as the event carries it, unquoted), and an object since replaced
    s3 = FakeS3(_data(3 * PART), etag='"etag-2"')
    config = dataclasses.replace(_config(concurrency=2), etag="etag-1")
    # WHEN the task opens it, THEN even the first GET is pinned, and refused: superseded
    with pytest.raises(ObjectChangedError, match="superseded") as info:
        S3Object(s3=s3, config=config)  # type: ignore[arg-type]
    assert info.value.exit_code == 4
    assert s3.calls[0]["IfMatch"] == '"etag-1"'
    assert s3.bytes_served == 0
    # AND with the right ETag the first GET carries it and succeeds
    same = FakeS3(_data(3 * PART), etag='"etag-1"')
    obj = S3Object(s3=same, config=config)  # type: ignore[arg-type]
    assert b"".join(obj.chunks()) == _data(3 * PART)
    assert all(call["IfMatch"] == '"etag-1"' for call in same.calls)
