"""Task SDK pieces without I/O: configuration, result keys, line counting, stream resume."""

from __future__ import annotations

import io
from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from s3fargate.contracts import PrefixOverlapError, result_key
from s3fargate.examples.fingerprint import fingerprint_chunks
from s3fargate.task import ObjectUnavailableError, TaskConfig, TaskConfigError
from s3fargate.task.stream import S3Object


def test_config_reads_contract_environment() -> None:
    config = TaskConfig.from_env(
        {
            "S3_BUCKET": "b",
            "S3_KEY": "incoming/x y",
            "S3_VERSION_ID": "v",
            "S3_ETAG": '"e"',
            "S3_SIZE": "42",
        }
    )
    assert config == TaskConfig(bucket="b", key="incoming/x y", version_id="v", etag='"e"', size=42)
    assert config.result_key == "results/x y.json"


def test_config_names_every_problem() -> None:
    with pytest.raises(TaskConfigError) as info:
        TaskConfig.from_env({"S3_SIZE": "lots", "INPUT_PREFIX": ""})
    text = str(info.value)
    for name in ("S3_BUCKET", "S3_KEY", "S3_SIZE", "INPUT_PREFIX"):
        assert name in text
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("input_prefix", "results_prefix"),
    [("", "results/"), ("in/", ""), ("in/", "in/out/"), ("data/in/", "data/"), ("a/", "a/")],
)
def test_overlapping_prefixes_are_refused(input_prefix: str, results_prefix: str) -> None:
    with pytest.raises(PrefixOverlapError):
        result_key("in/x", input_prefix=input_prefix, results_prefix=results_prefix)


def test_sibling_prefixes_that_share_letters_are_fine() -> None:
    # "in" vs "input/" share characters but neither is a prefix of the other.
    assert result_key("in/x", input_prefix="in/", results_prefix="input/") == "input/x.json"


@pytest.mark.parametrize(
    ("chunks", "lines"),
    [
        ([], 0),
        ([b"a"], 1),
        ([b"a\n"], 1),
        ([b"a\nb"], 2),
        ([b"a", b"\n", b"b\n"], 2),
        ([b"\n\n"], 2),
        ([b"x\n", b"y"], 2),
    ],
)
def test_line_count(chunks: list[bytes], lines: int) -> None:
    assert fingerprint_chunks(chunks)["lines"] == lines


class _DroppingBody:
    """A GetObject body that times out once after ``fail_after`` bytes."""

    def __init__(self, data: bytes, fail_after: int | None) -> None:
        self._io = io.BytesIO(data)
        self._fail_after = fail_after

    def read(self, size: int) -> bytes:
        if self._fail_after is not None and self._io.tell() >= self._fail_after:
            self._fail_after = None
            raise ReadTimeoutError(endpoint_url="http://s3")
        return self._io.read(size)

    def close(self) -> None:
        pass


class _FakeS3:
    def __init__(self, data: bytes, *, fail_after: int | None = None, error: str | None = None):
        self.data = data
        self.fail_after = fail_after
        self.error = error
        self.calls: list[dict[str, Any]] = []

    def get_object(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.error:
            raise ClientError({"Error": {"Code": self.error, "Message": "nope"}}, "GetObject")
        start = int(kwargs["Range"].split("=")[1].rstrip("-")) if "Range" in kwargs else 0
        fail = self.fail_after if len(self.calls) == 1 else None
        return {
            "Body": _DroppingBody(self.data[start:], fail),
            "ContentLength": len(self.data) - start,
            "ETag": '"etag"',
        }


CONFIG = TaskConfig(bucket="b", key="incoming/k")


def test_dropped_connection_resumes_from_the_last_byte_of_the_same_object() -> None:
    data = bytes(range(256)) * 10_000
    s3 = _FakeS3(data, fail_after=700_000)
    obj = S3Object(s3=s3, config=CONFIG)  # type: ignore[arg-type]
    assert b"".join(obj.chunks(chunk_size=100_000)) == data
    assert len(s3.calls) == 2
    assert s3.calls[1]["Range"] == "bytes=700000-"
    assert s3.calls[1]["IfMatch"] == '"etag"'


@pytest.mark.parametrize("code", ["NoSuchKey", "AccessDenied", "NoSuchBucket", "NoSuchVersion"])
def test_unavailable_objects_map_to_exit_3(code: str) -> None:
    with pytest.raises(ObjectUnavailableError, match=code) as info:
        S3Object(s3=_FakeS3(b"", error=code), config=CONFIG)  # type: ignore[arg-type]
    assert info.value.exit_code == 3


def test_stream_can_be_read_once() -> None:
    obj = S3Object(s3=_FakeS3(b"abc"), config=CONFIG)  # type: ignore[arg-type]
    assert b"".join(obj.chunks()) == b"abc"
    with pytest.raises(RuntimeError, match="read once"):
        next(obj.chunks())


def test_abandoning_the_stream_stops_the_reader() -> None:
    obj = S3Object(s3=_FakeS3(b"x" * 10_000_000), config=CONFIG)  # type: ignore[arg-type]
    stream = obj.chunks(chunk_size=1000)
    next(stream)
    stream.close()  # the generator's finally stops and joins the read-ahead thread
    assert obj.bytes_read < 10_000_000
