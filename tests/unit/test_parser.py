"""Parsing S3 notifications, EventBridge events and SQS bodies into typed references."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s3fargate import contracts as c
from s3fargate.events import (
    EventSourceKind,
    MalformedEventError,
    ObjectCreated,
    Skipped,
    SkipReason,
    parse_event,
    parse_message_body,
)
from tests.builders import (
    TRICKY_KEYS,
    encode_key,
    eventbridge_object_created,
    load_event,
    s3_notification,
)


def _only(items: list) -> ObjectCreated:
    assert len(items) == 1
    assert isinstance(items[0], ObjectCreated)
    return items[0]


def test_sample_notification_decodes_key_and_reads_every_field() -> None:
    # GIVEN the sample S3 notification (key "incoming/red+flower+%C3%BC.jpg")
    event = load_event("s3-notification-put")
    # WHEN parsed
    obj = _only(parse_event(event))
    # THEN the key is decoded and the other fields are carried through
    assert obj == ObjectCreated(
        bucket="example-inbox",
        key="incoming/red flower ü.jpg",
        size=1024,
        etag="d41d8cd98f00b204e9800998ecf8427e",
        version_id="096fKKXTRTtl3on89fVO.nfljtsv6qko",
        sequencer="0055AED6DCD90281E5",
        event_name="ObjectCreated:Put",
        event_time="2026-11-29T10:15:30.123Z",
        source=EventSourceKind.S3_NOTIFICATION,
    )


@pytest.mark.parametrize("key", TRICKY_KEYS)
@pytest.mark.parametrize("encode_slash", [False, True], ids=["aws", "moto"])
def test_tricky_keys_round_trip_through_notification_encoding(key: str, encode_slash: bool) -> None:
    event = s3_notification(key, raw_key=encode_key(key, encode_slash=encode_slash))
    assert _only(parse_event(event)).key == key


def test_plus_in_notification_key_is_a_space_and_percent_2b_is_a_plus() -> None:
    event = s3_notification("", raw_key="incoming/a+b%2Bc.txt")
    assert _only(parse_event(event)).key == "incoming/a b+c.txt"


def test_key_of_1024_bytes_is_kept_whole() -> None:
    key = "incoming/" + "é" * ((1024 - len("incoming/")) // 2)
    key += "x" * (1024 - len(key.encode()))
    assert len(key.encode("utf-8")) == 1024
    assert _only(parse_event(s3_notification(key))).key == key


def test_invalid_utf8_escape_is_malformed() -> None:
    event = s3_notification("", raw_key="incoming/%FF%FE.txt")
    with pytest.raises(MalformedEventError, match="not valid URL-encoded UTF-8"):
        parse_event(event, message_id="m-1")


def test_empty_key_is_malformed() -> None:
    with pytest.raises(MalformedEventError, match="non-empty"):
        parse_event(s3_notification("", raw_key=""), message_id="m")


def test_empty_eventbridge_key_is_malformed() -> None:
    with pytest.raises(MalformedEventError, match="non-empty"):
        parse_event(eventbridge_object_created(""), message_id="m")


def test_folder_marker_is_skipped() -> None:
    items = parse_event(s3_notification("incoming/sub/", size=0))
    assert items == [
        Skipped(
            SkipReason.FOLDER_MARKER,
            "zero-byte folder marker",
            bucket="example-inbox",
            key="incoming/sub/",
        )
    ]


def test_zero_byte_object_that_is_not_a_folder_launches() -> None:
    obj = _only(parse_event(s3_notification("incoming/empty.csv", size=0)))
    assert obj.size == 0


def test_non_empty_key_ending_in_slash_is_not_a_folder_marker() -> None:
    obj = _only(parse_event(s3_notification("incoming/odd/", size=12)))
    assert obj.key == "incoming/odd/"


def test_test_event_is_recognised_and_skipped() -> None:
    items = parse_message_body(json.dumps(load_event("s3-test-event")), message_id="m-1")
    assert len(items) == 1
    assert isinstance(items[0], Skipped)
    assert items[0].reason is SkipReason.TEST_EVENT
    assert items[0].bucket == "example-inbox"


@pytest.mark.parametrize(
    "event_name", ["ObjectRemoved:Delete", "ObjectRestore:Completed", "ObjectTagging:Put"]
)
def test_other_event_names_are_skipped(event_name: str) -> None:
    items = parse_event(s3_notification("incoming/x.csv", event_name=event_name))
    assert len(items) == 1
    assert isinstance(items[0], Skipped)
    assert items[0].reason is SkipReason.NOT_OBJECT_CREATED
    assert items[0].key == "incoming/x.csv"


@pytest.mark.parametrize(
    "event_name",
    [
        "ObjectCreated:Put",
        "ObjectCreated:Post",
        "ObjectCreated:Copy",
        "ObjectCreated:CompleteMultipartUpload",
    ],
)
def test_every_object_created_variant_launches(event_name: str) -> None:
    obj = _only(parse_event(s3_notification("incoming/x", event_name=event_name)))
    assert obj.event_name == event_name


def test_notification_with_several_records_yields_each() -> None:
    first = s3_notification("incoming/a.csv")
    second = s3_notification("incoming/b.csv", event_name="ObjectRemoved:Delete")
    event = {"Records": first["Records"] + second["Records"]}
    items = parse_event(event)
    assert [type(i) for i in items] == [ObjectCreated, Skipped]


def test_unversioned_object_has_no_version_id() -> None:
    assert _only(parse_event(s3_notification("incoming/a", version_id=None))).version_id is None


def test_eventbridge_sample_key_is_raw() -> None:
    obj = _only(parse_event(load_event("eventbridge-object-created")))
    assert obj.key == "incoming/red flower ü.jpg"
    assert obj.source is EventSourceKind.EVENTBRIDGE
    assert obj.version_id == "096fKKXTRTtl3on89fVO.nfljtsv6qko"
    assert obj.sequencer == "0055AED6DCD90281E5"
    assert obj.event_time == "2026-11-29T10:15:30Z"


@pytest.mark.parametrize("key", ["incoming/a+b.csv", "incoming/100%25.txt", "incoming/x%2By"])
def test_eventbridge_keys_are_never_decoded(key: str) -> None:
    assert _only(parse_event(eventbridge_object_created(key))).key == key


def test_eventbridge_as_sqs_body() -> None:
    body = json.dumps(eventbridge_object_created("incoming/a+b.csv"))
    assert _only(parse_message_body(body, message_id="m")).key == "incoming/a+b.csv"


def test_eventbridge_other_detail_types_are_skipped() -> None:
    items = parse_event(eventbridge_object_created("incoming/a", detail_type="Object Deleted"))
    assert isinstance(items[0], Skipped)
    assert items[0].reason is SkipReason.NOT_OBJECT_CREATED


def test_eventbridge_folder_marker_is_skipped() -> None:
    items = parse_event(eventbridge_object_created("incoming/dir/", size=0))
    assert isinstance(items[0], Skipped)
    assert items[0].reason is SkipReason.FOLDER_MARKER


def test_sns_wrapped_notification_is_unwrapped() -> None:
    inner = json.dumps(s3_notification("incoming/via sns.csv"))
    body = json.dumps({"Type": "Notification", "MessageId": "x", "Message": inner})
    assert _only(parse_message_body(body, message_id="m")).key == "incoming/via sns.csv"


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("not json at all", "body is not JSON"),
        ("", "body is not JSON"),
        ("[1, 2]", "expected a JSON object, got list"),
        ('"a string"', "expected a JSON object, got str"),
        ('{"hello": "world"}', "not an S3 notification"),
        ('{"Records": []}', "non-empty list"),
        ('{"Records": [{"eventSource": "aws:sns"}]}', "expected 'aws:s3'"),
        ('{"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}]}', "missing"),
        ('{"source": "aws.s3", "detail-type": "Object Created", "detail": {}}', "missing"),
    ],
)
def test_bodies_that_are_not_supported_events_name_the_message(body: str, match: str) -> None:
    with pytest.raises(MalformedEventError, match=match) as info:
        parse_message_body(body, message_id="msg-42")
    assert info.value.message_id == "msg-42"
    assert str(info.value).startswith("message msg-42: ")


# Any valid key: 1..1024 bytes of UTF-8 text without surrogates (S3's rule).
valid_keys = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=300,
).filter(lambda k: len(k.encode("utf-8")) <= 1024)


@settings(max_examples=300)
@given(key=valid_keys, encode_slash=st.booleans())
def test_any_valid_key_survives_notification_encoding(key: str, encode_slash: bool) -> None:
    event = s3_notification(key, raw_key=encode_key(key, encode_slash=encode_slash), size=5)
    assert _only(parse_event(event)).key == key


@settings(max_examples=200)
@given(key=valid_keys)
def test_any_valid_key_survives_eventbridge_unchanged(key: str) -> None:
    assert _only(parse_event(eventbridge_object_created(key, size=5))).key == key


def test_a_retry_carries_its_size_step_and_capacity_and_refuses_bad_ones() -> None:
    body = c.retry_request(
        job_id="j",
        attempt=2,
        bucket="b",
        key="incoming/a",
        version_id=None,
        etag=None,
        size=10,
        reason="r",
        requested_at="2026-12-03T00:00:00Z",
        size_up=2,
        on_demand=True,
    )
    (obj,) = parse_message_body(json.dumps(body))
    assert isinstance(obj, ObjectCreated)
    assert (obj.size_up, obj.on_demand, obj.attempt) == (2, True, 2)
    for bad in ({"size_up": -1}, {"size_up": "1"}, {"on_demand": "yes"}):
        with pytest.raises(MalformedEventError):
            parse_message_body(json.dumps({**body, **bad}))
    older = {k: v for k, v in body.items() if k not in ("size_up", "on_demand")}
    (obj,) = parse_message_body(json.dumps(older))
    assert isinstance(obj, ObjectCreated)
    assert (obj.size_up, obj.on_demand) == (0, False)
