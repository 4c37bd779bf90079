"""AWS documents in their wire form: ECS API responses and the events S3, EventBridge and SQS
deliver, each with the documentation page that describes it (see README.md beside this file).

``load_response`` parses an ECS response body with botocore's own parser for the operation's
output shape, so a test gets exactly what boto3 would hand back (timestamps as ``datetime``);
``load_event`` returns an event as the JSON it is. ``validate_request`` checks request
parameters against an operation's input shape as botocore does before sending them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.awsrequest import HeadersDict
from botocore.parsers import create_parser

from s3fargate.wire import wire_format

if TYPE_CHECKING:
    from collections.abc import Callable

    from botocore.model import OperationModel, Shape

CORPUS_DIR = Path(__file__).parent
RESPONSES_DIR = CORPUS_DIR / "responses"
EVENTS_DIR = CORPUS_DIR / "events"

#: The JSON type each botocore scalar shape is sent as on the wire (JSON 1.1 protocol).
_WIRE_SCALARS: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "blob": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "long": (int,),
    "float": (int, float),
    "double": (int, float),
    "timestamp": (int, float),
}


@dataclass(frozen=True, slots=True)
class Document:
    """One corpus file: the wire document and where it comes from."""

    name: str
    kind: str
    service: str
    source: str
    note: str
    body: dict[str, Any]
    see_also: tuple[str, ...] = ()
    operation: str | None = None
    event: str | None = None
    http_status: int | None = None
    headers: dict[str, str] | None = None
    request: dict[str, Any] | None = None


def response_names() -> list[str]:
    """The name of every response in the corpus, sorted."""
    return sorted(path.stem for path in RESPONSES_DIR.glob("*.json"))


def event_names() -> list[str]:
    """The name of every event in the corpus, sorted."""
    return sorted(path.stem for path in EVENTS_DIR.glob("*.json"))


def load_document(name: str) -> Document:
    """The corpus file ``name`` (a response or an event) with its metadata.

    Raises:
        FileNotFoundError: no document has that name.
    """
    for folder in (RESPONSES_DIR, EVENTS_DIR):
        path = folder / f"{name}.json"
        if path.is_file():
            raw = json.loads(path.read_text(encoding="utf-8"))
            return Document(
                name=name,
                kind=raw["kind"],
                service=raw["service"],
                source=raw["source"],
                note=raw["note"],
                body=raw["body"],
                see_also=tuple(raw.get("see_also", ())),
                operation=raw.get("operation"),
                event=raw.get("event"),
                http_status=raw.get("http_status"),
                headers=raw.get("headers"),
                request=raw.get("request"),
            )
    raise FileNotFoundError(f"no AWS corpus document named {name!r} under {CORPUS_DIR}")


def load_response(name: str) -> dict[str, Any]:
    """The response ``name`` as boto3 returns it: parsed by botocore for its operation.

    Timestamps are ``datetime`` objects (botocore's default timestamp parser) and
    ``ResponseMetadata`` carries the request id and HTTP status, as on a real call.
    """
    document = load_document(name)
    if document.kind != "response" or document.operation is None:
        raise ValueError(f"{name!r} is not an API response")
    operation = operation_model(document.service, document.operation)
    parser = create_parser(operation.service_model.protocol)
    parsed: dict[str, Any] = parser.parse(
        {
            "body": json.dumps(document.body).encode("utf-8"),
            "headers": HeadersDict(document.headers or {}),
            "status_code": document.http_status or 200,
        },
        operation.output_shape,
    )
    return parsed


def load_event(name: str) -> dict[str, Any]:
    """The event ``name`` exactly as AWS delivers it (decoded JSON, nothing converted)."""
    document = load_document(name)
    if document.kind != "event":
        raise ValueError(f"{name!r} is not an event")
    return document.body


def validate_request(service: str, operation: str, params: dict[str, Any]) -> None:
    """Check ``params`` against the operation's input shape, as botocore does before a call
    (the stand-ins' own check, :mod:`s3fargate.wire`).

    Raises:
        ParamValidationError: a parameter is unknown, missing, of the wrong type or out of range.
    """
    wire_format(service).check_request(operation, params)


def wire_problems(shape: Shape | None, value: Any, path: str = "body") -> list[str]:
    """Where the wire document ``value`` departs from ``shape`` (empty when it conforms).

    botocore's parser silently drops members its model does not know, so a misspelt field
    would go unnoticed; this walk names every member the model lacks, every value whose JSON
    type is not the one the protocol sends (timestamps must be epoch-second numbers) and every
    string outside its shape's enum.
    """
    if shape is None:
        return [f"{path}: no shape to check against"]
    container = _CONTAINERS.get(shape.type_name)
    if container is not None:
        expected, walk = container
        if not isinstance(value, expected):
            return [f"{path}: expected {shape.type_name} {shape.name}, got {type(value).__name__}"]
        return walk(shape, value, path)
    return _scalar_problems(shape, value, path)


def _structure_problems(shape: Any, value: dict[str, Any], path: str) -> list[str]:
    problems: list[str] = []
    for key, item in value.items():
        if key in shape.members:
            problems.extend(wire_problems(shape.members[key], item, f"{path}.{key}"))
        else:
            problems.append(f"{path}.{key}: not a member of {shape.name}")
    return problems


def _list_problems(shape: Any, value: list[Any], path: str) -> list[str]:
    return [
        p for i, item in enumerate(value) for p in wire_problems(shape.member, item, f"{path}[{i}]")
    ]


def _map_problems(shape: Any, value: dict[str, Any], path: str) -> list[str]:
    problems: list[str] = []
    for key, item in value.items():
        problems.extend(wire_problems(shape.key, key, f"{path}<key>"))
        problems.extend(wire_problems(shape.value, item, f"{path}[{key!r}]"))
    return problems


_CONTAINERS: dict[str, tuple[type, Callable[[Any, Any, str], list[str]]]] = {
    "structure": (dict, _structure_problems),
    "list": (list, _list_problems),
    "map": (dict, _map_problems),
}


def _scalar_problems(shape: Shape, value: Any, path: str) -> list[str]:
    kind = shape.type_name
    allowed = _WIRE_SCALARS.get(kind)
    if allowed is None:
        return [f"{path}: unchecked shape type {kind}"]
    if isinstance(value, bool) is not (bool in allowed) or not isinstance(value, allowed):
        return [f"{path}: expected {kind} on the wire, got {type(value).__name__} {value!r}"]
    enum = shape.enum if kind == "string" else []
    if enum and value not in enum:
        return [f"{path}: {value!r} is not one of {shape.name}'s values"]
    return []


def operation_model(service: str, operation: str) -> OperationModel:
    """botocore's model of ``operation`` (``"DescribeTasks"``) in ``service`` (``"ecs"``)."""
    return wire_format(service).operation(operation)
