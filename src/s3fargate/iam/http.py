"""An AWS API request as it arrives over HTTP (a WSGI environ): who signed it, which operation
of which service it is, its parameters; and the AccessDenied answer each service sends.

For the embedded server's IAM check, which sees every client's requests (boto3, the AWS CLI,
any tool a task runs), not only the pipeline's own clients.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlparse
from xml.sax.saxutils import escape

if TYPE_CHECKING:
    from collections.abc import Mapping

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/[^/]+/([^/]+)/aws4_request")
_REQUEST_ID = "0000000000000000"


@dataclass(frozen=True)
class ApiCall:
    """One request: the signer's access key, the service, the operation and its parameters."""

    access_key: str | None
    service: str
    operation: str
    params: dict[str, Any]
    #: How the request is written: "rest" (S3), "json" or "query".
    protocol: str


def signer(environ: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The access key and service of the request's SigV4 signature (header or presigned)."""
    match = _CREDENTIAL.search(str(environ.get("HTTP_AUTHORIZATION", "")))
    if match:
        return match.group(1), match.group(2)
    query = parse_qs(str(environ.get("QUERY_STRING", "")))
    credential = (query.get("X-Amz-Credential") or [""])[0]
    parts = credential.split("/")
    if len(parts) == 5:
        return parts[0], parts[3]
    return None, None


def api_call(environ: dict[str, Any]) -> ApiCall | None:
    """The request as an API call, or None when it is not signed. The body, when read, is put
    back for the server to read again."""
    access_key, service = signer(environ)
    if access_key is None or service is None:
        return None
    if service == "s3":
        operation, params = _s3(environ)
        protocol = "rest"
    elif "HTTP_X_AMZ_TARGET" in environ:
        operation = str(environ["HTTP_X_AMZ_TARGET"]).rsplit(".", 1)[-1]
        body = _body(environ)
        params = json.loads(body) if body.strip() else {}
        protocol = "json"
    else:  # the query protocol (SNS; SQS from older clients)
        form = {k: v[0] for k, v in parse_qs(_body(environ).decode("utf-8")).items()}
        operation = form.pop("Action", "")
        params = dict(form)
        if service == "sqs" and "QueueUrl" not in params:
            params["QueueUrl"] = str(environ.get("PATH_INFO", ""))
        protocol = "query"
    return ApiCall(access_key, service, operation, params, protocol)


def _body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return bytes(body)


def _s3(environ: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """S3's REST operation from the method, path and query (path-style addressing)."""
    raw = str(environ.get("REQUEST_URI") or environ.get("RAW_URI") or environ.get("PATH_INFO"))
    path = unquote(urlparse(raw).path, encoding="utf-8", errors="surrogateescape")
    query = parse_qs(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
    method = str(environ.get("REQUEST_METHOD", "GET"))
    bucket, _, key = path.lstrip("/").partition("/")
    params: dict[str, Any] = {"Bucket": bucket}
    for name, field in (
        ("versionId", "VersionId"),
        ("prefix", "Prefix"),
        ("delimiter", "Delimiter"),
    ):
        if name in query:
            params[field] = query[name][0]
    if not bucket:
        return "ListBuckets", {}
    copying = "HTTP_X_AMZ_COPY_SOURCE" in environ
    if not key:
        return _s3_bucket(method, query), params
    params["Key"] = key
    for verb, marker, copy, operation in _OBJECT_OPERATIONS:
        if verb == method and (marker is None or marker in query) and copy in (None, copying):
            return operation, params
    return f"{method} object", params


#: Query parameters that are API parameters IAM looks at.
_S3_QUERY_PARAMS = {"versionId": "VersionId", "prefix": "Prefix", "delimiter": "Delimiter"}
#: S3's object operations: (method, a query parameter it has, whether it copies, operation),
#: the first that matches wins.
_OBJECT_OPERATIONS: tuple[tuple[str, str | None, bool | None, str], ...] = (
    ("HEAD", None, None, "HeadObject"),
    ("GET", "uploadId", None, "ListParts"),
    ("GET", "tagging", None, "GetObjectTagging"),
    ("GET", None, None, "GetObject"),
    ("PUT", "uploadId", True, "UploadPartCopy"),
    ("PUT", "uploadId", None, "UploadPart"),
    ("PUT", "tagging", None, "PutObjectTagging"),
    ("PUT", "acl", None, "PutObjectAcl"),
    ("PUT", None, True, "CopyObject"),
    ("PUT", None, None, "PutObject"),
    ("POST", "uploads", None, "CreateMultipartUpload"),
    ("POST", "uploadId", None, "CompleteMultipartUpload"),
    ("DELETE", "uploadId", None, "AbortMultipartUpload"),
    ("DELETE", None, None, "DeleteObject"),
)


def _s3_bucket(method: str, query: Mapping[str, Any]) -> str:
    if method == "GET":
        for name, operation in (
            ("uploads", "ListMultipartUploads"),
            ("versions", "ListObjectVersions"),
            ("notification", "GetBucketNotificationConfiguration"),
        ):
            if name in query:
                return operation
        return "ListObjectsV2" if query.get("list-type") == ["2"] else "ListObjects"
    if method == "HEAD":
        return "HeadBucket"
    if method == "POST" and "delete" in query:
        return "DeleteObjects"
    return f"{method} bucket"


def access_denied(
    call: ApiCall, message: str, *, head: bool = False
) -> tuple[str, list[tuple[str, str]], bytes]:
    """The status line, headers and body the service answers a call IAM refused with, as
    botocore parses them into the ``ClientError`` boto3 raises on AWS."""
    if call.service == "s3":
        body = b"" if head else _xml("Error", "AccessDenied", message)
        return "403 Forbidden", [("Content-Type", "application/xml")], body
    if call.protocol == "query":
        code = "AuthorizationError" if call.service == "sns" else "AccessDenied"
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
            f"<Message>{escape(message)}</Message></Error>"
            f"<RequestId>{_REQUEST_ID}</RequestId></ErrorResponse>"
        ).encode()
        return "403 Forbidden", [("Content-Type", "text/xml")], body
    body = json.dumps(
        {"__type": "com.amazon.coral.service#AccessDeniedException", "message": message}
    ).encode()
    headers = [("Content-Type", "application/x-amz-json-1.0")]
    if call.service == "sqs":  # SQS's JSON protocol names its query-era code in a header
        headers.append(("x-amzn-query-error", "AccessDenied;Sender"))
        return "403 Forbidden", headers, body
    return "400 Bad Request", headers, body


def _xml(root: str, code: str, message: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><{root}><Code>{code}</Code>'
        f"<Message>{escape(message)}</Message><RequestId>{_REQUEST_ID}</RequestId></{root}>"
    ).encode()
