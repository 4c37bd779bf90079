"""AWS's wire format for stand-ins: requests checked as botocore checks them, answers parsed as
botocore parses them.

A stand-in for an AWS service (the local ECS, the simulator's services, test fakes) hands our
code what boto3 would hand it from AWS: it builds the service's wire document (for the JSON
protocols: epoch-second numbers for timestamps, absent fields absent) and lets botocore's own
parser turn it into the response, so timestamps are ``datetime`` and numbers are numbers.
Every request is validated against the operation's input shape as a botocore client does
before sending it (required members, types, minimums); limits only the service checks
(maximum lengths, patterns, enums) are each stand-in's own to refuse.
"""

from __future__ import annotations

import json
from datetime import datetime
from email.utils import format_datetime
from functools import cache
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

import botocore.session
from botocore import xform_name
from botocore.awsrequest import HeadersDict
from botocore.exceptions import ClientError, ParamValidationError
from botocore.parsers import create_parser
from botocore.validate import ParamValidator

if TYPE_CHECKING:
    from collections.abc import Mapping

    from botocore.model import OperationModel, ServiceModel

_REQUEST_ID = "00000000-0000-4000-8000-000000000000"
#: The HTTP status AWS answers a client error with, by error code (others: 400).
_STATUS = {"ThrottlingException": 400, "ServerException": 500, "InternalServerError": 500}


class WireFormat:
    """One service's operations as botocore knows them (validation, parsing, errors)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.model = _service_model(service)
        self._operations = {xform_name(name): name for name in self.model.operation_names}

    def operation(self, name: str) -> OperationModel:
        """The model of ``name`` (``run_task`` or ``RunTask``)."""
        return self.model.operation_model(self._operations.get(name, name))

    def check_request(self, operation: str, params: Mapping[str, Any]) -> None:
        """Refuse a request AWS would refuse before it reaches the service.

        Raises:
            ParamValidationError: exactly as a boto3 client raises it, naming every problem.
        """
        model = self.operation(operation)
        if model.input_shape is None:
            if params:
                raise ParamValidationError(report=f"{model.name} takes no parameters")
            return
        report = ParamValidator().validate(dict(params), model.input_shape)
        if report.has_errors():
            raise ParamValidationError(report=report.generate_report())

    def response(self, operation: str, document: Mapping[str, Any]) -> dict[str, Any]:
        """The answer boto3 hands back for ``document``, the body the service would send.

        ``document`` is the JSON body for JSON services; for query services (SNS) a flat
        mapping of the result's scalar members, which is rendered as the service's XML; for
        S3's header-only answers (HeadObject), the members carried in headers.
        """
        model = self.operation(operation)
        headers = self._headers()
        if self.model.protocol == "query":
            body = _query_xml(model, document)
        elif self.model.protocol == "rest-xml":
            body, headers = b"", {**headers, **_rest_headers(model, document)}
        else:
            body = json.dumps(document).encode("utf-8")
        parsed: dict[str, Any] = self._parser().parse(
            {"body": body, "headers": HeadersDict(headers), "status_code": 200},
            model.output_shape,
        )
        return parsed

    def error(
        self,
        operation: str,
        code: str,
        message: str,
        status: int | None = None,
        **fields: Any,
    ) -> ClientError:
        """The ``ClientError`` boto3 raises for an error answer ``code`` of ``operation``.

        ``fields`` are the error's modeled members (ECS's ``ConflictException`` names the
        ``resourceIds``); they reach the response as botocore's endpoint adds them.
        """
        model = self.operation(operation)
        if self.model.protocol == "rest-xml":
            # S3 answers a HEAD with no body: botocore names the error by its status.
            body = b""
        elif self.model.protocol == "query":
            body = (
                f"<ErrorResponse><Error><Type>Sender</Type><Code>{escape(code)}</Code>"
                f"<Message>{escape(message)}</Message></Error>"
                f"<RequestId>{_REQUEST_ID}</RequestId></ErrorResponse>"
            ).encode()
        else:
            body = json.dumps({"__type": code, "message": message, **fields}).encode("utf-8")
        response = {
            "body": body,
            "headers": HeadersDict(self._headers()),
            "status_code": status or _STATUS.get(code, 400),
        }
        parser = self._parser()
        parsed: dict[str, Any] = parser.parse(response, model.output_shape)
        # (botocore-stubs type the code as int; botocore takes the error code string.)
        error_shape = self.model.shape_for_error_code(code)  # type: ignore[arg-type]
        if error_shape is not None:
            parsed.update(parser.parse(response, error_shape))
        return ClientError(parsed, model.name)  # type: ignore[arg-type]

    def _parser(self) -> Any:
        protocol = self.model.protocol
        if protocol not in ("json", "query", "rest-xml"):
            raise NotImplementedError(f"{self.service}: wire documents for {protocol} not built")
        return create_parser(protocol)

    def _headers(self) -> dict[str, str]:
        if self.model.protocol == "rest-xml":
            return {"x-amz-request-id": _REQUEST_ID}
        if self.model.protocol == "query":
            return {"x-amzn-requestid": _REQUEST_ID, "content-type": "text/xml"}
        version = self.model.metadata.get("jsonVersion", "1.0")
        return {
            "x-amzn-requestid": _REQUEST_ID,
            "content-type": f"application/x-amz-json-{version}",
        }


def _query_xml(model: OperationModel, document: Mapping[str, Any]) -> bytes:
    """A query-protocol answer (``<OpResponse><OpResult>…``) for scalar result members."""
    members = model.output_shape.members if model.output_shape is not None else {}
    parts = []
    for name, value in document.items():
        shape = members.get(name)
        if shape is None or shape.type_name in ("structure", "list", "map"):
            raise NotImplementedError(f"{model.name}: only scalar result members, not {name!r}")
        if value is None:
            continue  # absent on the wire
        text = str(value).lower() if isinstance(value, bool) else str(value)
        parts.append(f"<{name}>{escape(text)}</{name}>")
    op = model.name
    return (
        f'<{op}Response xmlns="https://{model.service_model.endpoint_prefix}.amazonaws.com/doc/'
        f'{model.service_model.api_version}/"><{op}Result>{"".join(parts)}</{op}Result>'
        f"<ResponseMetadata><RequestId>{_REQUEST_ID}</RequestId></ResponseMetadata>"
        f"</{op}Response>"
    ).encode()


def _rest_headers(model: OperationModel, document: Mapping[str, Any]) -> dict[str, str]:
    """A REST answer carried in headers (S3's HeadObject): each member in its header."""
    members = model.output_shape.members if model.output_shape is not None else {}
    headers: dict[str, str] = {}
    for name, value in document.items():
        shape = members.get(name)
        if shape is None or shape.serialization.get("location") != "header":
            raise NotImplementedError(f"{model.name}: only header members, not {name!r}")
        text = format_datetime(value, usegmt=True) if isinstance(value, datetime) else str(value)
        headers[shape.serialization.get("name", name)] = text
    return headers


@cache
def _service_model(service: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(service)


@cache
def wire_format(service: str) -> WireFormat:
    """The (shared) :class:`WireFormat` of ``service``."""
    return WireFormat(service)
