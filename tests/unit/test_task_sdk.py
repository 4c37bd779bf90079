"""Task SDK pieces without I/O: configuration, result keys, line counting, stream resume."""

from __future__ import annotations

from dataclasses import replace

import pytest

from s3fargate.contracts import PrefixOverlapError, result_key
from s3fargate.examples.fingerprint import fingerprint_chunks
from s3fargate.task import ObjectUnavailableError, TaskConfig, TaskConfigError
from s3fargate.task.stream import S3Object
from tests.fakes import FakeS3


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


CONFIG = TaskConfig(bucket="b", key="incoming/k", read_concurrency=1)


def test_one_stream_resumes_a_dropped_connection_from_the_last_byte_of_the_same_object() -> None:
    data = bytes(range(256)) * 10_000
    s3 = FakeS3(data, drops={1: 700_000})
    obj = S3Object(s3=s3, config=CONFIG)  # type: ignore[arg-type]
    assert b"".join(obj.chunks(chunk_size=100_000)) == data
    assert len(s3.calls) == 2
    assert "Range" not in s3.calls[0]
    assert s3.calls[1]["Range"] == "bytes=700000-"
    assert s3.calls[1]["IfMatch"] == '"etag-1"'


@pytest.mark.parametrize("code", ["NoSuchKey", "AccessDenied", "NoSuchBucket", "NoSuchVersion"])
@pytest.mark.parametrize("concurrency", [1, 8])
def test_unavailable_objects_map_to_exit_3(code: str, concurrency: int) -> None:
    config = replace(CONFIG, read_concurrency=concurrency)
    with pytest.raises(ObjectUnavailableError, match=code) as info:
        S3Object(s3=FakeS3(b"", error=code), config=config)  # type: ignore[arg-type]
    assert info.value.exit_code == 3


def test_stream_can_be_read_once() -> None:
    obj = S3Object(s3=FakeS3(b"abc"), config=CONFIG)  # type: ignore[arg-type]
    assert b"".join(obj.chunks()) == b"abc"
    with pytest.raises(RuntimeError, match="read once"):
        next(obj.chunks())


def test_abandoning_the_stream_stops_the_reader() -> None:
    s3 = FakeS3(b"x" * 10_000_000)
    obj = S3Object(s3=s3, config=CONFIG)  # type: ignore[arg-type]
    stream = obj.chunks(chunk_size=1000)
    next(stream)
    stream.close()  # the generator's finally stops and joins the read-ahead thread
    assert s3.bytes_served < 10_000_000
    assert s3.open_bodies == 0
